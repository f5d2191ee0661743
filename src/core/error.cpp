// SPDX-License-Identifier: Apache-2.0
#include "qforge/error.h"

namespace qforge {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidModel: return "invalid model";
    case ErrorKind::UnsupportedOp: return "unsupported op";
    case ErrorKind::Shape: return "shape error";
    case ErrorKind::IO: return "I/O error";
    case ErrorKind::Argument: return "invalid argument";
    case ErrorKind::Internal: return "internal error";
  }
  return "error";
}

Error::Error(ErrorKind kind, std::string message) : kind_(kind), message_(std::move(message)) {
  rebuild();
}

Error& Error::with_context(std::string where) {
  if (!where.empty()) context_.insert(context_.begin(), std::move(where));
  rebuild();
  return *this;
}

void Error::rebuild() {
  full_.clear();
  for (const auto& where : context_) full_ += where + ": ";
  full_ += message_;
}

}  // namespace qforge
