// SPDX-License-Identifier: Apache-2.0
// TensorProto <-> Tensor. Decoding checks every count and length against the declared shape
// before allocating or copying, so a malformed file gives an error, never a huge allocation or
// an out-of-bounds read. Tested in tests/frontend/test_onnx_import_errors.cpp and the fuzzer.
#include "tensor_proto.h"

#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "qforge/file_io.h"
#include "qforge/tensor_io.h"

namespace qforge {

namespace {

// Dims as a Shape. The product of the non-zero dims is bounded too, so that an empty tensor
// cannot carry dims whose strides overflow later.
Shape checked_dims(const google::protobuf::RepeatedField<int64_t>& dims, const std::string& what) {
  constexpr int64_t kMaxElements = int64_t{1} << 40;
  Shape shape;
  int64_t nonzero = 1;
  for (int64_t d : dims) {
    if (d < 0) fail(ErrorKind::InvalidModel, "{}: negative dimension {}", what, d);
    if (d > 0 && nonzero > kMaxElements / d)
      fail(ErrorKind::InvalidModel, "{}: shape {} is too large", what, fmt::join(dims, "x"));
    if (d > 0) nonzero *= d;
    shape.push_back(d);
  }
  return shape;
}

// Strict decimal for external data offsets and lengths ("12abc", "-1" and "" are errors).
int64_t parse_external_number(const onnx::StringStringEntryProto& entry, const std::string& what) {
  const std::string& text = entry.value();
  int64_t value = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0)
    fail(ErrorKind::InvalidModel, "{}: external data {} '{}' is not a non-negative number", what,
         entry.key(), text);
  return value;
}

// Reads an external tensor's bytes, checking location, offset and length against the file
// (and the length against the `expected` size) before reading anything.
std::string read_external(const onnx::TensorProto& proto, const std::string& base_dir,
                          const std::string& what, int64_t expected) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& entry : proto.external_data()) {
    if (entry.key() == "location") location = entry.value();
    if (entry.key() == "offset") offset = parse_external_number(entry, what);
    if (entry.key() == "length") length = parse_external_number(entry, what);
  }
  namespace fs = std::filesystem;
  const fs::path relative(location);
  if (location.empty() || location.find('\0') != std::string::npos || relative.is_absolute() ||
      std::any_of(relative.begin(), relative.end(), [](const fs::path& p) { return p == ".."; }))
    fail(ErrorKind::InvalidModel,
         "{}: external data location '{}' must be a relative path inside the model's folder", what,
         location);
  const std::string path = (fs::path(base_dir.empty() ? "." : base_dir) / relative).string();
  std::error_code ec;
  if (!fs::exists(path, ec))
    fail(ErrorKind::IO, "{}: external data file {} is missing", what, path);
  if (!fs::is_regular_file(path, ec))
    fail(ErrorKind::InvalidModel, "{}: external data {} is not a regular file", what, path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::IO, "{}: cannot open external data file {}", what, path);
  in.seekg(0, std::ios::end);
  const int64_t file_size = static_cast<int64_t>(in.tellg());
  if (offset > file_size)
    fail(ErrorKind::InvalidModel, "{}: external data offset {} is outside {} ({} bytes)", what,
         offset, path, file_size);
  if (length < 0) length = file_size - offset;
  if (length > file_size - offset)
    fail(ErrorKind::InvalidModel,
         "{}: external data {}+{} bytes runs past the end of {} ({} bytes)", what, offset, length,
         path, file_size);
  if (length != expected)
    fail(ErrorKind::InvalidModel, "{}: external data has {} bytes, the tensor needs {}", what,
         length, expected);
  std::string bytes(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(bytes.data(), length);
  if (!in)
    fail(ErrorKind::IO, "{}: reading {} bytes at {} of {} failed", what, length, offset, path);
  return bytes;
}

template <typename Field>
void expect_count(const Field& field, int64_t count, const std::string& what,
                  const char* field_name) {
  if (static_cast<int64_t>(field.size()) != count)
    fail(ErrorKind::InvalidModel, "{}: {} holds {} values, the shape needs {}", what, field_name,
         field.size(), count);
}

// Checks that the typed value field of `dtype` holds `count` elements (before allocating).
void check_typed_count(const onnx::TensorProto& proto, DataType dtype, int64_t count,
                       const std::string& what) {
  switch (dtype) {
    case DataType::Float:
      expect_count(proto.float_data(), count, what, "float_data");
      break;
    case DataType::Complex64:
      expect_count(proto.float_data(), count * 2, what, "float_data");
      break;
    case DataType::Double:
      expect_count(proto.double_data(), count, what, "double_data");
      break;
    case DataType::Complex128:
      expect_count(proto.double_data(), count * 2, what, "double_data");
      break;
    case DataType::Int64:
      expect_count(proto.int64_data(), count, what, "int64_data");
      break;
    case DataType::UInt32:
    case DataType::UInt64:
      expect_count(proto.uint64_data(), count, what, "uint64_data");
      break;
    default:
      expect_count(proto.int32_data(), count, what, "int32_data");
      break;
  }
}

// Copies the typed value field into `out` (sizes already checked). Narrow types travel in
// int32_data (fp16/bf16/fp8 as raw bits), uint32 in uint64_data.
void copy_typed(const onnx::TensorProto& proto, DataType dtype, int64_t count, std::byte* out) {
  const size_t n = static_cast<size_t>(count);
  switch (dtype) {
    case DataType::Float:
    case DataType::Complex64:
      if (n)
        std::memcpy(out, proto.float_data().data(),
                    static_cast<size_t>(proto.float_data_size()) * 4);
      return;
    case DataType::Double:
    case DataType::Complex128:
      if (n)
        std::memcpy(out, proto.double_data().data(),
                    static_cast<size_t>(proto.double_data_size()) * 8);
      return;
    case DataType::Int64:
      if (n) std::memcpy(out, proto.int64_data().data(), n * 8);
      return;
    case DataType::UInt32:
      for (size_t i = 0; i < n; ++i) {
        const uint32_t narrow = static_cast<uint32_t>(proto.uint64_data(static_cast<int>(i)));
        std::memcpy(out + i * 4, &narrow, 4);
      }
      return;
    case DataType::UInt64:
      if (n) std::memcpy(out, proto.uint64_data().data(), n * 8);
      return;
    default:
      break;
  }
  const size_t element = dtype_size(dtype);
  for (size_t i = 0; i < n; ++i) {
    const int32_t v = proto.int32_data(static_cast<int>(i));
    if (element == 4) std::memcpy(out + i * 4, &v, 4);
    if (element == 2) {
      const uint16_t narrow = static_cast<uint16_t>(v);
      std::memcpy(out + i * 2, &narrow, 2);
    }
    if (element == 1) {
      const uint8_t narrow = static_cast<uint8_t>(v);
      std::memcpy(out + i, &narrow, 1);
    }
  }
}

}  // namespace

// Every size is checked against the data actually present before anything is allocated, so a
// few bytes declaring a huge shape give an error, not a huge allocation.
Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& base_dir,
                         const std::string& what) {
  if (proto.has_segment())
    fail(ErrorKind::InvalidModel, "{}: segmented tensors are not supported", what);
  const int32_t type_value = proto.data_type();
  if (!dtype_is_known(type_value) || type_value == 0)
    fail(ErrorKind::InvalidModel, "{}: unknown data_type {}", what, type_value);
  const DataType dtype = static_cast<DataType>(type_value);
  if (dtype == DataType::Int4 || dtype == DataType::UInt4)
    fail(ErrorKind::UnsupportedOp, "{}: 4-bit tensors are not supported", what);
  const Shape shape = checked_dims(proto.dims(), what);
  const int64_t count = shape_numel(shape);

  if (dtype == DataType::String) {
    if (proto.data_location() == onnx::TensorProto::EXTERNAL)
      fail(ErrorKind::InvalidModel, "{}: string tensors cannot use external data", what);
    expect_count(proto.string_data(), count, what, "string_data");
    Tensor tensor(dtype, shape);
    for (int64_t i = 0; i < count; ++i)
      tensor.strings()[static_cast<size_t>(i)] = proto.string_data(static_cast<int>(i));
    return tensor;
  }

  const int64_t nbytes = count * static_cast<int64_t>(dtype_size(dtype));
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    const std::string bytes = read_external(proto, base_dir, what, nbytes);
    Tensor tensor(dtype, shape);
    if (!bytes.empty()) std::memcpy(tensor.raw(), bytes.data(), bytes.size());
    return tensor;
  }
  if (proto.has_raw_data()) {
    const std::string& raw = proto.raw_data();
    if (static_cast<int64_t>(raw.size()) != nbytes)
      fail(ErrorKind::InvalidModel, "{}: raw data has {} bytes, {} {} needs {}", what, raw.size(),
           dtype_name(dtype), shape_to_string(shape), nbytes);
    Tensor tensor(dtype, shape);
    if (!raw.empty()) std::memcpy(tensor.raw(), raw.data(), raw.size());
    return tensor;
  }
  check_typed_count(proto, dtype, count, what);
  Tensor tensor(dtype, shape);
  copy_typed(proto, dtype, count, static_cast<std::byte*>(tensor.raw()));
  return tensor;
}

void tensor_to_proto(const Tensor& tensor, onnx::TensorProto* proto) {
  proto->clear_dims();
  for (int64_t d : tensor.shape()) proto->add_dims(d);
  proto->set_data_type(static_cast<int32_t>(tensor.dtype()));
  if (tensor.dtype() == DataType::String) {
    for (const std::string& s : tensor.strings()) proto->add_string_data(s);
    return;
  }
  proto->set_raw_data(static_cast<const char*>(tensor.raw()), tensor.nbytes());
}

Tensor tensor_from_sparse_proto(const onnx::SparseTensorProto& proto, const std::string& base_dir,
                                const std::string& what, int64_t max_dense_bytes) {
  const Tensor values = tensor_from_proto(proto.values(), base_dir, what + " values");
  const Tensor indices = tensor_from_proto(proto.indices(), base_dir, what + " indices");
  const Shape shape = checked_dims(proto.dims(), what);
  if (values.rank() != 1) fail(ErrorKind::InvalidModel, "{}: sparse values must be 1-D", what);
  if (indices.dtype() != DataType::Int64)
    fail(ErrorKind::InvalidModel, "{}: sparse indices must be int64", what);
  const int64_t nnz = values.numel();
  const int64_t total = shape_numel(shape);
  // A few bytes of sparse data can declare a huge dense shape: bound it before allocating.
  const int64_t element = values.dtype() == DataType::String
                              ? static_cast<int64_t>(sizeof(std::string))
                              : static_cast<int64_t>(dtype_size(values.dtype()));
  if (total * element > max_dense_bytes)
    fail(ErrorKind::InvalidModel,
         "{}: densified sparse tensor {} would take {} bytes, over the {}-byte limit", what,
         shape_to_string(shape), total * element, max_dense_bytes);
  Tensor dense(values.dtype(), shape);
  const int64_t* idx = indices.data<int64_t>();
  std::vector<int64_t> linear(static_cast<size_t>(nnz));
  if (indices.rank() == 1 && indices.dim(0) == nnz) {
    for (int64_t i = 0; i < nnz; ++i) linear[static_cast<size_t>(i)] = idx[i];
  } else if (indices.rank() == 2 && indices.dim(0) == nnz &&
             indices.dim(1) == static_cast<int64_t>(shape.size())) {
    for (int64_t i = 0; i < nnz; ++i) {
      int64_t flat = 0;
      for (size_t axis = 0; axis < shape.size(); ++axis) {
        const int64_t coordinate =
            idx[i * static_cast<int64_t>(shape.size()) + static_cast<int64_t>(axis)];
        if (coordinate < 0 || coordinate >= shape[axis])
          fail(ErrorKind::InvalidModel, "{}: sparse index out of range", what);
        flat = flat * shape[axis] + coordinate;
      }
      linear[static_cast<size_t>(i)] = flat;
    }
  } else {
    fail(ErrorKind::InvalidModel, "{}: sparse indices shape {} does not match {} values", what,
         shape_to_string(indices.shape()), nnz);
  }
  const int64_t size = static_cast<int64_t>(dtype_size(values.dtype()));
  for (int64_t i = 0; i < nnz; ++i) {
    const int64_t at = linear[static_cast<size_t>(i)];
    if (at < 0 || at >= total) fail(ErrorKind::InvalidModel, "{}: sparse index out of range", what);
    if (values.dtype() == DataType::String)
      dense.strings()[static_cast<size_t>(at)] = values.strings()[static_cast<size_t>(i)];
    else
      std::memcpy(static_cast<std::byte*>(dense.raw()) + at * size,
                  static_cast<const std::byte*>(values.raw()) + i * size,
                  static_cast<size_t>(size));
  }
  return dense;
}

Tensor read_tensor_pb(const std::string& path, std::string* name) {
  const std::string bytes = read_file(path);
  onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes))
    fail(ErrorKind::InvalidModel, "{}: not a serialized TensorProto", path);
  if (name) *name = proto.name();
  const std::string base = std::filesystem::path(path).parent_path().string();
  return tensor_from_proto(proto, base, path);
}

void write_tensor_pb(const std::string& path, const Tensor& tensor, const std::string& name) {
  onnx::TensorProto proto;
  tensor_to_proto(tensor, &proto);
  proto.set_name(name);
  write_file_atomic(path, proto.SerializeAsString());
}

}  // namespace qforge
