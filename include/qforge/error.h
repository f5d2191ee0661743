// SPDX-License-Identifier: Apache-2.0
// qforge's one error type: a kind plus a context chain (file, node, port), thrown inside the
// library and caught at the API/CLI boundary, which prints one line and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace qforge {

enum class ErrorKind { InvalidModel, UnsupportedOp, Shape, IO, Argument, Internal };

const char* error_kind_name(ErrorKind kind);

class Error : public std::exception {
 public:
  Error(ErrorKind kind, std::string message);

  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }
  // Outermost context first, e.g. {"model.onnx", "node 'conv1' (Conv)", "input 1"}.
  const std::vector<std::string>& context() const { return context_; }

  // Prepends a context entry (callers add context as the error travels outwards).
  Error& with_context(std::string where);

  const char* what() const noexcept override { return full_.c_str(); }

 private:
  void rebuild();
  ErrorKind kind_;
  std::string message_;
  std::vector<std::string> context_;
  std::string full_;
};

template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(kind, fmt::format(format, std::forward<Args>(args)...));
}

// Runs `body`; if it throws a qforge::Error, adds `where` to its context and rethrows.
template <typename Body>
auto with_error_context(const std::string& where, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (Error& error) {
    error.with_context(where);
    throw;
  }
}

}  // namespace qforge

// Checks one of qforge's own invariants (never user input: use fail() for that).
#define QF_ASSERT(cond)                                                                    \
  do {                                                                                     \
    if (!(cond))                                                                           \
      ::qforge::fail(::qforge::ErrorKind::Internal, "internal check failed: {} ({}:{})", \
                     #cond, __FILE__, __LINE__);                                           \
  } while (0)
