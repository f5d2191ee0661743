// SPDX-License-Identifier: Apache-2.0
// File helpers: whole-file reads with clear errors, and atomic writes (temp file + rename), so
// an output is never left half-written and an input is never overwritten by accident.
#pragma once

#include <string>
#include <string_view>

namespace qforge {

std::string read_file(const std::string& path);
// Writes to a temporary file next to `path`, then renames it over `path`.
void write_file_atomic(const std::string& path, std::string_view bytes);
bool file_exists(const std::string& path);
// Fails with an Argument error when two paths name the same existing file.
void ensure_not_same_file(const std::string& input, const std::string& output);

}  // namespace qforge
