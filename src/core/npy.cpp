// SPDX-License-Identifier: Apache-2.0
// NumPy .npy format (versions 1-3): magic, header length, a Python-dict header naming descr,
// fortran_order and shape, then C-order data. Every length is checked before use.
#include <cstring>
#include <regex>

#include "qforge/file_io.h"
#include "qforge/tensor_io.h"

namespace qforge {

namespace {

struct NpyType {
  const char* descr;
  DataType dtype;
};
constexpr NpyType kNpyTypes[] = {
    {"f4", DataType::Float}, {"f8", DataType::Double}, {"f2", DataType::Float16},
    {"i1", DataType::Int8},  {"u1", DataType::UInt8},  {"i2", DataType::Int16},
    {"u2", DataType::UInt16}, {"i4", DataType::Int32}, {"u4", DataType::UInt32},
    {"i8", DataType::Int64}, {"u8", DataType::UInt64}, {"b1", DataType::Bool},
};

DataType dtype_from_descr(const std::string& descr, const std::string& name) {
  if (descr.size() == 3 && (descr[0] == '<' || descr[0] == '|' || descr[0] == '='))
    for (const NpyType& t : kNpyTypes)
      if (descr.substr(1) == t.descr) return t.dtype;
  fail(ErrorKind::Argument, "{}: unsupported .npy dtype '{}' (expected little-endian numeric)", name,
       descr);
}

const char* descr_from_dtype(DataType dtype) {
  for (const NpyType& t : kNpyTypes)
    if (t.dtype == dtype) return t.descr;
  fail(ErrorKind::Argument, ".npy cannot store dtype {}", dtype_name(dtype));
}

}  // namespace

Tensor parse_npy(std::string_view bytes, const std::string& name) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0)
    fail(ErrorKind::Argument, "{}: not a .npy file (bad magic)", name);
  const uint8_t major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail(ErrorKind::Argument, "{}: truncated .npy header", name);
    uint32_t len32;
    std::memcpy(&len32, bytes.data() + 8, 4);
    header_len = len32;
    header_start = 12;
  } else {
    fail(ErrorKind::Argument, "{}: unsupported .npy version {}", name, major);
  }
  if (header_start + header_len > bytes.size()) fail(ErrorKind::Argument, "{}: truncated .npy header", name);
  const std::string header(bytes.substr(header_start, header_len));

  std::smatch m;
  static const std::regex descr_re(R"('descr'\s*:\s*'([^']*)')");
  static const std::regex fortran_re(R"('fortran_order'\s*:\s*(True|False))");
  static const std::regex shape_re(R"('shape'\s*:\s*\(([^)]*)\))");
  if (!std::regex_search(header, m, descr_re)) fail(ErrorKind::Argument, "{}: .npy header has no descr", name);
  const DataType dtype = dtype_from_descr(m[1].str(), name);
  if (std::regex_search(header, m, fortran_re) && m[1].str() == "True")
    fail(ErrorKind::Argument, "{}: Fortran-ordered .npy arrays are not supported; save with C order", name);
  if (!std::regex_search(header, m, shape_re)) fail(ErrorKind::Argument, "{}: .npy header has no shape", name);
  Shape shape;
  const std::string dims = m[1].str();
  static const std::regex int_re(R"(\d+)");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), int_re); it != std::sregex_iterator(); ++it) {
    const std::string digits = it->str();
    if (digits.size() > 12) fail(ErrorKind::Argument, "{}: .npy dimension {} is too large", name, digits);
    shape.push_back(std::stoll(digits));
  }
  const size_t data_start = header_start + header_len;
  const int64_t count = shape_numel(shape);
  const size_t need = static_cast<size_t>(count) * dtype_size(dtype);
  if (bytes.size() - data_start != need)
    fail(ErrorKind::Argument, "{}: .npy data has {} bytes, {} {} needs {}", name, bytes.size() - data_start,
         dtype_name(dtype), shape_to_string(shape), need);
  Tensor tensor(dtype, shape);
  if (need) std::memcpy(tensor.raw(), bytes.data() + data_start, need);
  return tensor;
}

Tensor read_npy(const std::string& path) { return parse_npy(read_file(path), path); }

std::string serialize_npy(const Tensor& tensor) {
  // Python tuple syntax: "()", "(4,)", "(2, 3)".
  std::string shape = fmt::format("{}", fmt::join(tensor.shape(), ", "));
  if (tensor.rank() == 1) shape += ",";
  const bool single_byte = dtype_size(tensor.dtype()) == 1;
  std::string header = fmt::format("{{'descr': '{}{}', 'fortran_order': False, 'shape': ({}), }}",
                                   single_byte ? "|" : "<", descr_from_dtype(tensor.dtype()), shape);
  // Pad with spaces so that the data starts on a 64-byte boundary, newline-terminated.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string out = "\x93NUMPY";
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>((header.size() >> 8) & 0xff));
  out += header;
  out.append(static_cast<const char*>(tensor.raw()), tensor.nbytes());
  return out;
}

void write_npy(const std::string& path, const Tensor& tensor) { write_file_atomic(path, serialize_npy(tensor)); }

}  // namespace qforge
