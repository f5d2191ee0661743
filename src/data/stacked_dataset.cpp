// SPDX-License-Identifier: Apache-2.0
// Stacked arrays (one .npy per input, or the members of a .npz) read one row at a time: only
// the .npy header stays in memory, each sample seeks to its row. Used by open_folder and
// open_npz (data_internal.h); tested in tests/data/test_calibration_data.cpp.
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "data/data_internal.h"
#include "qforge/tensor_io.h"

namespace qforge::data {

namespace {

class FileSource : public ByteSource {
 public:
  explicit FileSource(std::string path) : path_(std::move(path)), in_(path_, std::ios::binary) {
    if (!in_) fail(ErrorKind::IO, "{}: cannot open ({})", path_, std::strerror(errno));
    std::error_code ec;
    size_ = fs::file_size(path_, ec);
    if (ec) fail(ErrorKind::IO, "{}: cannot read its size ({})", path_, ec.message());
  }
  uint64_t size() const override { return size_; }
  void read(uint64_t offset, void* dst, size_t count) override {
    if (offset + count > size_) fail(ErrorKind::Argument, "{}: truncated file", path_);
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(static_cast<char*>(dst), static_cast<std::streamsize>(count));
    if (!in_) fail(ErrorKind::IO, "{}: read failed at byte {}", path_, offset);
  }

 private:
  std::string path_;
  std::ifstream in_;
  uint64_t size_ = 0;
};

uint32_t little_endian(const unsigned char* bytes, int count) {
  uint32_t value = 0;
  for (int i = count - 1; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

// A version 2 .npy (4-byte header length) holding `header` and no data.
std::string npy_from_header(const std::string& header) {
  std::string npy = "\x93NUMPY";
  npy += '\x02';
  npy += '\x00';
  const uint32_t len = static_cast<uint32_t>(header.size());
  for (int b = 0; b < 4; ++b) npy += static_cast<char>((len >> (8 * b)) & 0xff);
  return npy + header;
}

}  // namespace

std::unique_ptr<ByteSource> open_file_source(const std::string& path) {
  return std::make_unique<FileSource>(path);
}

StackedNpy::StackedNpy(std::unique_ptr<ByteSource> source, std::string display_name)
    : source_(std::move(source)), name_(std::move(display_name)) {
  unsigned char prefix[12] = {};
  if (source_->size() < 12) fail(ErrorKind::Argument, "{}: not a .npy file (too short)", name_);
  source_->read(0, prefix, 12);
  if (std::memcmp(prefix, "\x93NUMPY", 6) != 0)
    fail(ErrorKind::Argument, "{}: not a .npy file (bad magic)", name_);
  if (prefix[6] < 1 || prefix[6] > 3)
    fail(ErrorKind::Argument, "{}: unsupported .npy version {}", name_, prefix[6]);
  const bool v1 = prefix[6] == 1;
  const uint64_t start = v1 ? 10 : 12;
  const uint32_t header_len = little_endian(prefix + 8, v1 ? 2 : 4);
  if (header_len > (1u << 20) || start + header_len > source_->size())
    fail(ErrorKind::Argument, "{}: truncated .npy header", name_);
  std::string header(header_len, '\0');
  source_->read(start, header.data(), header_len);

  // parse_npy owns the header grammar; feeding it the header with an empty leading axis checks
  // descr, byte order and Fortran order, and gives the dtype without touching the data.
  const size_t key = header.find("'shape'");
  const size_t open = key == std::string::npos ? key : header.find('(', key);
  const size_t close = open == std::string::npos ? open : header.find(')', open);
  if (close == std::string::npos) fail(ErrorKind::Argument, "{}: .npy header has no shape", name_);
  const std::string dims = header.substr(open + 1, close - open - 1);
  for (size_t at = 0; at < dims.size();) {
    if (!std::isdigit(static_cast<unsigned char>(dims[at]))) {
      ++at;
      continue;
    }
    const size_t end = dims.find_first_not_of("0123456789", at);
    const std::string digits = dims.substr(at, end == std::string::npos ? end : end - at);
    if (digits.size() > 12) fail(ErrorKind::Argument, "{}: .npy dimension too large", name_);
    shape_.push_back(std::stoll(digits));
    at += digits.size();
  }
  if (shape_.empty())
    fail(ErrorKind::Argument, "{}: a stacked array needs a batch axis, found a scalar", name_);
  std::string dims_text = "0,";
  for (size_t i = 1; i < shape_.size(); ++i) dims_text += fmt::format(" {},", shape_[i]);
  const std::string probe_header = header.substr(0, open + 1) + dims_text + header.substr(close);
  const Tensor probe = parse_npy(npy_from_header(probe_header), name_);
  dtype_ = probe.dtype();
  uint64_t elements = 1, need = 0;
  bool overflow = false;
  for (size_t i = 1; i < shape_.size(); ++i)
    overflow |= __builtin_mul_overflow(elements, static_cast<uint64_t>(shape_[i]), &elements);
  uint64_t row_bytes = 0;
  overflow |=
      __builtin_mul_overflow(elements, static_cast<uint64_t>(dtype_size(dtype_)), &row_bytes);
  row_bytes_ = static_cast<size_t>(row_bytes);
  data_offset_ = start + header_len;
  overflow |= __builtin_mul_overflow(static_cast<uint64_t>(rows()), row_bytes_, &need);
  need += data_offset_;
  if (overflow)
    fail(ErrorKind::Argument, "{}: .npy shape {} is too large", name_, shape_to_string(shape_));
  if (source_->size() != need)
    fail(ErrorKind::Argument, "{}: .npy data has {} bytes, {} {} needs {}", name_,
         source_->size() - data_offset_, dtype_name(dtype_), shape_to_string(shape_),
         need - data_offset_);
}

Tensor StackedNpy::row(int64_t index) {
  if (index < 0 || index >= rows())
    fail(ErrorKind::Argument, "{}: row {} out of range ({} rows)", name_, index, rows());
  Shape shape = shape_;
  shape[0] = 1;
  Tensor tensor(dtype_, std::move(shape));
  if (row_bytes_)
    source_->read(data_offset_ + static_cast<uint64_t>(index) * row_bytes_, tensor.raw(),
                  row_bytes_);
  return tensor;
}

namespace {

class StackedDataset : public CalibrationDataset {
 public:
  StackedDataset(std::vector<StackedArray> arrays, std::string source)
      : arrays_(std::move(arrays)), source_(std::move(source)) {
    for (const StackedArray& a : arrays_)
      if (a.array->rows() != arrays_[0].array->rows())
        fail(ErrorKind::Argument, "{}: {} holds {} samples but {} holds {}", source_,
             arrays_[0].array->name(), arrays_[0].array->rows(), a.array->name(), a.array->rows());
  }
  size_t size() const override {
    return arrays_.empty() ? 0 : static_cast<size_t>(arrays_[0].array->rows());
  }
  Batch sample(size_t index) override {
    if (index >= size())
      fail(ErrorKind::Argument, "{}: sample {} out of range ({} samples)", source_, index, size());
    Batch batch;
    for (StackedArray& a : arrays_) {
      const std::string where = fmt::format("{} (sample {})", a.array->name(), index);
      batch[a.input->name] =
          conform_to_input(a.array->row(static_cast<int64_t>(index)), *a.input, where);
    }
    return batch;
  }
  std::string describe() const override {
    ModelInputs inputs;
    for (const StackedArray& a : arrays_) inputs.push_back(a.input);
    return fmt::format("{}: {} samples for input{} {}", source_, size(),
                       inputs.size() == 1 ? "" : "s", quoted_names(inputs));
  }

 private:
  std::vector<StackedArray> arrays_;
  std::string source_;
};

}  // namespace

std::unique_ptr<CalibrationDataset> make_stacked_dataset(std::vector<StackedArray> arrays,
                                                         std::string source_description) {
  return std::make_unique<StackedDataset>(std::move(arrays), std::move(source_description));
}

}  // namespace qforge::data
