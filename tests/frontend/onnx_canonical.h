// SPDX-License-Identifier: Apache-2.0
// Canonical form of an onnx::ModelProto for the round-trip test (test_onnx_roundtrip.cpp):
// rewrites only representations that carry the same model, so that comparing an original with
// qforge's export shows real losses and nothing else. Written independently of qforge's own
// TensorProto code so that a decoding bug cannot hide itself.
#pragma once

#include <google/protobuf/util/field_comparator.h>
#include <google/protobuf/util/message_differencer.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace qforge::testing {

// Little-endian bytes of `count` values, each narrowed to `size` bytes (x86 is little-endian).
template <typename Field>
std::string field_bytes(const Field& field, size_t size) {
  std::string out;
  for (const auto value : field) {
    char bytes[sizeof(value)];
    std::memcpy(bytes, &value, sizeof(value));
    out.append(bytes, std::min(size, sizeof(value)));
  }
  return out;
}

inline size_t onnx_element_size(int32_t type) {
  switch (type) {
    case onnx::TensorProto::DOUBLE:
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::UINT64:
    case onnx::TensorProto::COMPLEX64:
      return 8;
    case onnx::TensorProto::COMPLEX128:
      return 16;
    case onnx::TensorProto::FLOAT:
    case onnx::TensorProto::INT32:
    case onnx::TensorProto::UINT32:
      return 4;
    case onnx::TensorProto::INT16:
    case onnx::TensorProto::UINT16:
    case onnx::TensorProto::FLOAT16:
    case onnx::TensorProto::BFLOAT16:
      return 2;
    default:
      return 1;
  }
}

// Canonicalization 1: typed value fields (float_data, int32_data, ...) become raw_data, the
// representation qforge writes; both hold the same little-endian values. An absent raw_data of
// an empty tensor becomes an empty raw_data.
inline void canonicalize_tensor(onnx::TensorProto* t) {
  if (t->data_type() == onnx::TensorProto::STRING ||
      t->data_location() == onnx::TensorProto::EXTERNAL)
    return;
  if (t->has_raw_data()) return;
  const size_t size = onnx_element_size(t->data_type());
  std::string raw;
  switch (t->data_type()) {
    case onnx::TensorProto::FLOAT:
    case onnx::TensorProto::COMPLEX64:
      raw = field_bytes(t->float_data(), 4);
      break;
    case onnx::TensorProto::DOUBLE:
    case onnx::TensorProto::COMPLEX128:
      raw = field_bytes(t->double_data(), 8);
      break;
    case onnx::TensorProto::INT64:
      raw = field_bytes(t->int64_data(), 8);
      break;
    case onnx::TensorProto::UINT32:
    case onnx::TensorProto::UINT64:
      raw = field_bytes(t->uint64_data(), size);
      break;
    default:
      raw = field_bytes(t->int32_data(), size);
      break;
  }
  t->clear_float_data();
  t->clear_double_data();
  t->clear_int32_data();
  t->clear_int64_data();
  t->clear_uint64_data();
  t->set_raw_data(raw);
}

// Canonicalization 2: a sparse initializer becomes the dense initializer it stands for
// (qforge keeps parameters dense). Indices are linear or [nnz, rank] coordinates.
inline onnx::TensorProto densify(const onnx::SparseTensorProto& sparse) {
  onnx::TensorProto values = sparse.values(), indices = sparse.indices();
  canonicalize_tensor(&values);
  canonicalize_tensor(&indices);
  onnx::TensorProto dense;
  dense.set_name(values.name());
  dense.set_data_type(values.data_type());
  int64_t total = 1;
  for (int64_t d : sparse.dims()) {
    dense.add_dims(d);
    total *= d;
  }
  const size_t size = onnx_element_size(values.data_type());
  std::string raw(static_cast<size_t>(total) * size, '\0');
  const int64_t nnz = values.dims_size() ? values.dims(0) : 0;
  const auto* idx = reinterpret_cast<const int64_t*>(indices.raw_data().data());
  const int rank = sparse.dims_size();
  for (int64_t i = 0; i < nnz; ++i) {
    int64_t flat = 0;
    if (indices.dims_size() == 1) {
      flat = idx[i];
    } else {
      for (int axis = 0; axis < rank; ++axis)
        flat = flat * sparse.dims(axis) + idx[i * rank + axis];
    }
    std::memcpy(raw.data() + flat * static_cast<int64_t>(size),
                values.raw_data().data() + i * static_cast<int64_t>(size), size);
  }
  dense.set_raw_data(raw);
  return dense;
}

inline void canonicalize_graph(onnx::GraphProto* g);

inline void canonicalize_attribute(onnx::AttributeProto* a) {
  if (a->has_t()) canonicalize_tensor(a->mutable_t());
  for (auto& t : *a->mutable_tensors()) canonicalize_tensor(&t);
  if (a->has_g()) canonicalize_graph(a->mutable_g());
  for (auto& g : *a->mutable_graphs()) canonicalize_graph(&g);
}

inline void canonicalize_graph(onnx::GraphProto* g) {
  for (const auto& sparse : g->sparse_initializer()) *g->add_initializer() = densify(sparse);
  g->clear_sparse_initializer();
  for (auto& t : *g->mutable_initializer()) canonicalize_tensor(&t);
  // Canonicalization 3: the order of initializers and of value_info entries carries no meaning
  // (both are keyed by name); qforge writes them in its variable order.
  auto by_name = [](const auto& x, const auto& y) { return x.name() < y.name(); };
  std::stable_sort(g->mutable_initializer()->begin(), g->mutable_initializer()->end(), by_name);
  std::stable_sort(g->mutable_value_info()->begin(), g->mutable_value_info()->end(), by_name);
  for (auto& node : *g->mutable_node())
    for (auto& a : *node.mutable_attribute()) canonicalize_attribute(&a);
}

inline void canonicalize_model(onnx::ModelProto* m) {
  canonicalize_graph(m->mutable_graph());
}

// Semantic equality of two canonical models: fields set to their default equal unset fields
// (proto2 presence of an empty doc_string means nothing), NaN equals NaN (attribute floats).
// Returns "" when equal, else the differences.
inline std::string diff_models(const onnx::ModelProto& expected, const onnx::ModelProto& actual) {
  google::protobuf::util::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_field_comparator(&comparator);
  differencer.set_message_field_comparison(google::protobuf::util::MessageDifferencer::EQUIVALENT);
  std::string report;
  differencer.ReportDifferencesToString(&report);
  return differencer.Compare(expected, actual) ? "" : (report.empty() ? "differ" : report);
}

}  // namespace qforge::testing
