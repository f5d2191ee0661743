// SPDX-License-Identifier: Apache-2.0
// .npz archives (numpy.savez / savez_compressed): a zip of one .npy per input, the batch along
// axis 0. Members are read with libzip one row at a time: stored members seek, deflated ones
// decompress forward (calibration reads in order) and restart only when asked to go back.
// Opened by open_calibration_data; tested in tests/data/test_calibration_data.cpp.
#include <zip.h>

#include <algorithm>

#include "data/data_internal.h"

namespace qforge::data {

namespace {

std::string zip_error_text(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

// The open archive, shared by its member readers.
class ZipArchive {
 public:
  explicit ZipArchive(std::string path) : path_(std::move(path)) {
    int code = 0;
    zip_ = zip_open(path_.c_str(), ZIP_RDONLY, &code);
    if (!zip_)
      fail(ErrorKind::IO, "{}: cannot open as a .npz (zip) archive: {}", path_,
           zip_error_text(code));
  }
  ~ZipArchive() { zip_discard(zip_); }
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;
  zip_t* get() const { return zip_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  zip_t* zip_ = nullptr;
};

class ZipMemberSource : public ByteSource {
 public:
  ZipMemberSource(std::shared_ptr<ZipArchive> archive, const zip_stat_t& stat, std::string name)
      : archive_(std::move(archive)),
        index_(stat.index),
        size_(stat.size),
        stored_(stat.comp_method == ZIP_CM_STORE),
        name_(std::move(name)) {}
  ~ZipMemberSource() override { close(); }
  uint64_t size() const override { return size_; }

  void read(uint64_t offset, void* dst, size_t count) override {
    if (offset + count > size_) fail(ErrorKind::Argument, "{}: truncated member", name_);
    if (!file_ || (offset < position_ && !stored_)) reopen();
    if (offset != position_) {
      if (stored_) {
        if (zip_fseek(file_, static_cast<zip_int64_t>(offset), SEEK_SET) != 0) fail_read();
        position_ = offset;
      } else {
        skip(offset - position_);
      }
    }
    read_exact(static_cast<char*>(dst), count);
  }

 private:
  void close() {
    if (file_) zip_fclose(file_);
    file_ = nullptr;
    position_ = 0;
  }
  void reopen() {
    close();
    file_ = zip_fopen_index(archive_->get(), index_, 0);
    if (!file_)
      fail(ErrorKind::IO, "{}: cannot open member: {}", name_, zip_strerror(archive_->get()));
  }
  [[noreturn]] void fail_read() {
    fail(ErrorKind::IO, "{}: read failed: {}", name_, zip_file_strerror(file_));
  }
  void read_exact(char* dst, size_t count) {
    while (count > 0) {
      const zip_int64_t got = zip_fread(file_, dst, count);
      if (got <= 0) fail_read();
      dst += got;
      count -= static_cast<size_t>(got);
      position_ += static_cast<uint64_t>(got);
    }
  }
  void skip(uint64_t count) {
    std::vector<char> scratch(static_cast<size_t>(std::min<uint64_t>(count, 1 << 16)));
    while (count > 0) {
      const size_t step = static_cast<size_t>(std::min<uint64_t>(count, scratch.size()));
      read_exact(scratch.data(), step);
      count -= step;
    }
  }

  std::shared_ptr<ZipArchive> archive_;
  zip_uint64_t index_;
  uint64_t size_;
  bool stored_;
  std::string name_;
  zip_file_t* file_ = nullptr;
  uint64_t position_ = 0;
};

struct Member {
  std::string array_name;  // member name without ".npy"
  zip_stat_t stat;
};

std::vector<Member> list_members(const ZipArchive& archive) {
  std::vector<Member> members;
  const zip_int64_t count = zip_get_num_entries(archive.get(), 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    Member m;
    zip_stat_init(&m.stat);
    if (zip_stat_index(archive.get(), static_cast<zip_uint64_t>(i), 0, &m.stat) != 0)
      fail(ErrorKind::IO, "{}: cannot read entry {}: {}", archive.path(), i,
           zip_strerror(archive.get()));
    const std::string name = m.stat.name ? m.stat.name : "";
    if (!name.empty() && name.back() == '/') continue;  // a folder entry
    if (name.size() < 5 || name.substr(name.size() - 4) != ".npy")
      fail(ErrorKind::Argument, "{}: member '{}' is not a .npy array", archive.path(), name);
    if (m.stat.encryption_method != ZIP_EM_NONE)
      fail(ErrorKind::Argument, "{}: member '{}' is encrypted", archive.path(), name);
    if (m.stat.comp_method != ZIP_CM_STORE && m.stat.comp_method != ZIP_CM_DEFLATE)
      fail(ErrorKind::Argument,
           "{}: member '{}' uses compression method {}; only stored and deflated members are "
           "supported",
           archive.path(), name, m.stat.comp_method);
    m.array_name = name.substr(0, name.size() - 4);
    members.push_back(m);
  }
  return members;
}

}  // namespace

std::unique_ptr<CalibrationDataset> open_npz(const std::string& path, const ModelInputs& inputs) {
  auto archive = std::make_shared<ZipArchive>(path);
  const std::vector<Member> members = list_members(*archive);
  if (members.empty()) fail(ErrorKind::Argument, "{}: the archive holds no arrays", path);
  std::vector<StackedArray> arrays;
  for (const Member& m : members) {
    // numpy.savez(file, array) names a lone array arr_0; a single-input model takes it.
    InputRef input = find_input(inputs, m.array_name);
    if (!input && inputs.size() == 1 && members.size() == 1) input = inputs[0];
    if (!input)
      fail(ErrorKind::Argument, "{}: array '{}' is not a model input (inputs: {})", path,
           m.array_name, quoted_names(inputs));
    const std::string name = fmt::format("{}:{}", path, m.stat.name);
    arrays.push_back({input, std::make_unique<StackedNpy>(
                                 std::make_unique<ZipMemberSource>(archive, m.stat, name), name)});
  }
  for (const InputRef& v : inputs)
    if (std::none_of(arrays.begin(), arrays.end(),
                     [&](const StackedArray& a) { return a.input == v; }))
      fail(ErrorKind::Argument, "{}: no array for model input '{}' ({})", path, v->name,
           describe_input(*v));
  return make_stacked_dataset(std::move(arrays), fmt::format("archive {}", path));
}

}  // namespace qforge::data
