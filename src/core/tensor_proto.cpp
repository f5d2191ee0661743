// SPDX-License-Identifier: Apache-2.0
// TensorProto decoding checks every count and length against the declared shape before
// copying, so a malformed file gives an error, never an out-of-bounds read.
#include "tensor_proto.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "qforge/file_io.h"
#include "qforge/tensor_io.h"

namespace qforge {

namespace {

Shape checked_dims(const google::protobuf::RepeatedField<int64_t>& dims, const std::string& what) {
  Shape shape;
  int64_t count = 1;
  for (int64_t d : dims) {
    if (d < 0) fail(ErrorKind::InvalidModel, "{}: negative dimension {}", what, d);
    if (d > 0 && count > (int64_t{1} << 40) / d)
      fail(ErrorKind::InvalidModel, "{}: shape is too large", what);
    count *= d;
    shape.push_back(d);
  }
  return shape;
}

std::string read_external(const onnx::TensorProto& proto, const std::string& base_dir,
                          const std::string& what) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& entry : proto.external_data()) {
    if (entry.key() == "location") location = entry.value();
    try {
      if (entry.key() == "offset") offset = std::stoll(entry.value());
      if (entry.key() == "length") length = std::stoll(entry.value());
    } catch (const std::exception&) {
      fail(ErrorKind::InvalidModel, "{}: external data {} '{}' is not a number", what, entry.key(),
           entry.value());
    }
  }
  namespace fs = std::filesystem;
  const fs::path relative(location);
  if (location.empty() || relative.is_absolute() ||
      std::any_of(relative.begin(), relative.end(), [](const fs::path& p) { return p == ".."; }))
    fail(ErrorKind::InvalidModel, "{}: external data location '{}' must be a relative path inside the model's folder",
         what, location);
  const std::string path = (fs::path(base_dir.empty() ? "." : base_dir) / relative).string();
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::IO, "{}: external data file {} is missing", what, path);
  in.seekg(0, std::ios::end);
  const int64_t file_size = static_cast<int64_t>(in.tellg());
  if (offset < 0 || offset > file_size)
    fail(ErrorKind::InvalidModel, "{}: external data offset {} is outside {} ({} bytes)", what, offset,
         path, file_size);
  if (length < 0) length = file_size - offset;
  if (length > file_size - offset)
    fail(ErrorKind::InvalidModel, "{}: external data {}+{} bytes runs past the end of {} ({} bytes)", what,
         offset, length, path, file_size);
  std::string bytes(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(bytes.data(), length);
  return bytes;
}

template <typename Field>
void expect_count(const Field& field, int64_t count, const std::string& what, const char* field_name) {
  if (static_cast<int64_t>(field.size()) != count)
    fail(ErrorKind::InvalidModel, "{}: {} holds {} values, the shape needs {}", what, field_name,
         field.size(), count);
}

}  // namespace

Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& base_dir,
                         const std::string& what) {
  if (proto.has_segment()) fail(ErrorKind::InvalidModel, "{}: segmented tensors are not supported", what);
  const int32_t type_value = proto.data_type();
  if (!dtype_is_known(type_value) || type_value == 0)
    fail(ErrorKind::InvalidModel, "{}: unknown data_type {}", what, type_value);
  const DataType dtype = static_cast<DataType>(type_value);
  if (dtype == DataType::Int4 || dtype == DataType::UInt4)
    fail(ErrorKind::UnsupportedOp, "{}: 4-bit tensors are not supported", what);
  Shape shape = checked_dims(proto.dims(), what);
  Tensor tensor(dtype, shape);
  const int64_t count = tensor.numel();

  if (dtype == DataType::String) {
    expect_count(proto.string_data(), count, what, "string_data");
    for (int64_t i = 0; i < count; ++i) tensor.strings()[static_cast<size_t>(i)] = proto.string_data(static_cast<int>(i));
    return tensor;
  }

  const bool external = proto.data_location() == onnx::TensorProto::EXTERNAL;
  if (external || proto.has_raw_data()) {
    const std::string bytes = external ? read_external(proto, base_dir, what) : std::string();
    const std::string& raw = external ? bytes : proto.raw_data();
    if (raw.size() != tensor.nbytes())
      fail(ErrorKind::InvalidModel, "{}: raw data has {} bytes, {} {} needs {}", what, raw.size(),
           dtype_name(dtype), shape_to_string(shape), tensor.nbytes());
    if (!raw.empty()) std::memcpy(tensor.raw(), raw.data(), raw.size());
    return tensor;
  }

  auto* out = static_cast<std::byte*>(tensor.raw());
  switch (dtype) {
    case DataType::Float:
      expect_count(proto.float_data(), count, what, "float_data");
      if (count) std::memcpy(out, proto.float_data().data(), static_cast<size_t>(count) * 4);
      break;
    case DataType::Complex64:
      expect_count(proto.float_data(), count * 2, what, "float_data");
      if (count) std::memcpy(out, proto.float_data().data(), static_cast<size_t>(count) * 8);
      break;
    case DataType::Double:
      expect_count(proto.double_data(), count, what, "double_data");
      if (count) std::memcpy(out, proto.double_data().data(), static_cast<size_t>(count) * 8);
      break;
    case DataType::Complex128:
      expect_count(proto.double_data(), count * 2, what, "double_data");
      if (count) std::memcpy(out, proto.double_data().data(), static_cast<size_t>(count) * 16);
      break;
    case DataType::Int64:
      expect_count(proto.int64_data(), count, what, "int64_data");
      if (count) std::memcpy(out, proto.int64_data().data(), static_cast<size_t>(count) * 8);
      break;
    case DataType::UInt32:
    case DataType::UInt64: {
      expect_count(proto.uint64_data(), count, what, "uint64_data");
      for (int64_t i = 0; i < count; ++i) {
        const uint64_t v = proto.uint64_data(static_cast<int>(i));
        if (dtype == DataType::UInt32) {
          const uint32_t narrow = static_cast<uint32_t>(v);
          std::memcpy(out + i * 4, &narrow, 4);
        } else {
          std::memcpy(out + i * 8, &v, 8);
        }
      }
      break;
    }
    default: {
      // int32_data carries int32 and every narrower type (fp16/bf16/fp8 as raw bits).
      expect_count(proto.int32_data(), count, what, "int32_data");
      const size_t element = dtype_size(dtype);
      for (int64_t i = 0; i < count; ++i) {
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
      break;
    }
  }
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
                                const std::string& what) {
  const Tensor values = tensor_from_proto(proto.values(), base_dir, what + " values");
  const Tensor indices = tensor_from_proto(proto.indices(), base_dir, what + " indices");
  const Shape shape = checked_dims(proto.dims(), what);
  Tensor dense(values.dtype(), shape);
  const int64_t nnz = values.numel();
  const int64_t total = dense.numel();
  if (values.rank() != 1) fail(ErrorKind::InvalidModel, "{}: sparse values must be 1-D", what);
  if (indices.dtype() != DataType::Int64)
    fail(ErrorKind::InvalidModel, "{}: sparse indices must be int64", what);
  const int64_t* idx = indices.data<int64_t>();
  std::vector<int64_t> linear(static_cast<size_t>(nnz));
  if (indices.rank() == 1 && indices.dim(0) == nnz) {
    for (int64_t i = 0; i < nnz; ++i) linear[static_cast<size_t>(i)] = idx[i];
  } else if (indices.rank() == 2 && indices.dim(0) == nnz &&
             indices.dim(1) == static_cast<int64_t>(shape.size())) {
    for (int64_t i = 0; i < nnz; ++i) {
      int64_t flat = 0;
      for (size_t axis = 0; axis < shape.size(); ++axis) {
        const int64_t coordinate = idx[i * static_cast<int64_t>(shape.size()) + static_cast<int64_t>(axis)];
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
  const size_t element = dtype_size(values.dtype());
  for (int64_t i = 0; i < nnz; ++i) {
    const int64_t at = linear[static_cast<size_t>(i)];
    if (at < 0 || at >= total) fail(ErrorKind::InvalidModel, "{}: sparse index out of range", what);
    if (values.dtype() == DataType::String)
      dense.strings()[static_cast<size_t>(at)] = values.strings()[static_cast<size_t>(i)];
    else
      std::memcpy(static_cast<std::byte*>(dense.raw()) + at * static_cast<int64_t>(element),
                  static_cast<const std::byte*>(values.raw()) + i * static_cast<int64_t>(element), element);
  }
  return dense;
}

Tensor read_tensor_pb(const std::string& path, std::string* name) {
  const std::string bytes = read_file(path);
  onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes)) fail(ErrorKind::InvalidModel, "{}: not a serialized TensorProto", path);
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
