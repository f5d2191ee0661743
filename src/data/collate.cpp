// SPDX-License-Identifier: Apache-2.0
// collate (PPQ's collate_fn): stacks samples [begin, end) of a data set along axis 0.
// Also batch_is_finite. Used by the calibration passes and error analysis; tested in
// tests/data/test_calibration_data.cpp.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "qforge/calibration_data.h"

namespace qforge {

namespace {

void check_same_layout(const Tensor& first, const Tensor& other, const std::string& name,
                       size_t first_index, size_t other_index, const CalibrationDataset& dataset) {
  const bool same_tail =
      first.rank() == other.rank() && first.rank() > 0 &&
      std::equal(first.shape().begin() + 1, first.shape().end(), other.shape().begin() + 1);
  if (first.dtype() != other.dtype() || !same_tail)
    fail(ErrorKind::Argument,
         "{}: cannot stack input '{}': sample {} is {} {} but sample {} is {} {} (samples may "
         "differ "
         "only along axis 0)",
         dataset.describe(), name, first_index, dtype_name(first.dtype()),
         shape_to_string(first.shape()), other_index, dtype_name(other.dtype()),
         shape_to_string(other.shape()));
}

Tensor concatenate(const std::vector<Tensor>& parts) {
  Shape shape = parts[0].shape();
  shape[0] = 0;
  for (const Tensor& t : parts) shape[0] += t.dim(0);
  Tensor out(parts[0].dtype(), shape);
  if (out.dtype() == DataType::String) {
    size_t at = 0;  // the constructor sized the vector already
    for (const Tensor& t : parts)
      for (const std::string& text : t.strings()) out.strings()[at++] = text;
    return out;
  }
  auto* dst = static_cast<std::byte*>(out.raw());
  for (const Tensor& t : parts) {
    if (t.nbytes()) std::memcpy(dst, t.raw(), t.nbytes());
    dst += t.nbytes();
  }
  return out;
}

}  // namespace

Batch collate(CalibrationDataset& dataset, size_t begin, size_t end) {
  if (begin >= end || end > dataset.size())
    fail(ErrorKind::Argument, "{}: cannot collate samples [{}, {}) of {}", dataset.describe(),
         begin, end, dataset.size());
  Batch first = dataset.sample(begin);
  if (end - begin == 1) return first;
  std::map<std::string, std::vector<Tensor>> parts;
  for (auto& [name, tensor] : first) parts[name].push_back(tensor);
  for (size_t i = begin + 1; i < end; ++i) {
    Batch next = dataset.sample(i);
    for (const auto& [name, tensor] : next)
      if (!first.count(name))
        fail(ErrorKind::Argument, "{}: sample {} has input '{}' that sample {} lacks",
             dataset.describe(), i, name, begin);
    for (auto& [name, tensor] : first) {
      auto it = next.find(name);
      if (it == next.end())
        fail(ErrorKind::Argument, "{}: sample {} lacks input '{}'", dataset.describe(), i, name);
      check_same_layout(tensor, it->second, name, begin, i, dataset);
      parts[name].push_back(std::move(it->second));
    }
  }
  Batch batch;
  for (auto& [name, tensors] : parts) batch[name] = concatenate(tensors);
  return batch;
}

bool batch_is_finite(const Batch& batch) {
  for (const auto& [name, tensor] : batch) {
    if (tensor.dtype() != DataType::Float) continue;
    const float* p = tensor.data<float>();
    for (int64_t i = 0; i < tensor.numel(); ++i)
      if (!std::isfinite(p[i])) return false;
  }
  return true;
}

}  // namespace qforge
