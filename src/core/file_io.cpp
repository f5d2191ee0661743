// SPDX-License-Identifier: Apache-2.0
#include "qforge/file_io.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "qforge/error.h"

namespace qforge {

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail(ErrorKind::IO, "{}: is a directory, expected a file", path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::IO, "{}: cannot open ({})", path, std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail(ErrorKind::IO, "{}: read failed", path);
  return bytes;
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(ErrorKind::IO, "{}: folder {} does not exist", path, dir.string());
  std::random_device rd;
  const fs::path temp = dir / fmt::format(".{}.{:x}.tmp", target.filename().string(), rd());
  {
    FILE* f = std::fopen(temp.c_str(), "wb");
    if (!f) fail(ErrorKind::IO, "{}: cannot create ({})", temp.string(), std::strerror(errno));
    const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() &&
                    std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
    std::fclose(f);
    if (!ok) {
      fs::remove(temp, ec);
      fail(ErrorKind::IO, "{}: write failed", path);
    }
  }
  fs::rename(temp, target, ec);
  if (ec) {
    fs::remove(temp, ec);
    fail(ErrorKind::IO, "{}: cannot rename temporary file into place", path);
  }
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

void ensure_not_same_file(const std::string& input, const std::string& output) {
  std::error_code ec;
  if (std::filesystem::exists(output, ec) && std::filesystem::equivalent(input, output, ec))
    fail(ErrorKind::Argument, "output {} is the input model; refusing to overwrite it", output);
}

}  // namespace qforge
