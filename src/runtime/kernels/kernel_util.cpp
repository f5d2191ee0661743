// SPDX-License-Identifier: Apache-2.0
// Shared kernel helpers declared in kernel_util.h: axes, strides, broadcasting, int lists.
// Tested in tests/runtime/test_elementwise.cpp (KernelUtil.*).
#include "kernel_util.h"

namespace qforge::kernels {

int normalize_axis(int64_t axis, int64_t rank, const Operation& op) {
  if (axis < -rank || axis >= rank)
    fail(ErrorKind::InvalidModel, "{}: axis {} is out of range for a tensor of rank {}",
         op.describe(), axis, rank);
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

std::vector<int> normalize_axes(const std::vector<int64_t>& axes, int64_t rank,
                                const Operation& op) {
  std::vector<int> out;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t axis : axes) {
    const int a = normalize_axis(axis, rank, op);
    if (seen[static_cast<size_t>(a)])
      fail(ErrorKind::InvalidModel, "{}: axis {} is repeated", op.describe(), axis);
    seen[static_cast<size_t>(a)] = true;
    out.push_back(a);
  }
  return out;
}

std::vector<int64_t> contiguous_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) strides[d - 1] = strides[d] * shape[d];
  return strides;
}

int64_t dims_product(const Shape& shape, int begin, int end) {
  int64_t product = 1;
  for (int d = begin; d < end; ++d) product *= shape[static_cast<size_t>(d)];
  return product;
}

Shape broadcast_shapes(const std::vector<Shape>& shapes, const Operation& op) {
  size_t rank = 0;
  for (const Shape& s : shapes) rank = std::max(rank, s.size());
  Shape out(rank, 1);
  for (const Shape& s : shapes) {
    const size_t shift = rank - s.size();
    for (size_t d = 0; d < s.size(); ++d) {
      int64_t& o = out[shift + d];
      if (s[d] == o || s[d] == 1) continue;
      if (o == 1) {
        o = s[d];
        continue;
      }
      std::vector<std::string> all;
      for (const Shape& t : shapes) all.push_back(shape_to_string(t));
      fail(ErrorKind::Shape, "{}: shapes {} cannot be broadcast together", op.describe(),
           fmt::join(all, ", "));
    }
  }
  return out;
}

std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  const std::vector<int64_t> own = contiguous_strides(in);
  const size_t shift = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) strides[shift + d] = in[d] == 1 ? 0 : own[d];
  return strides;
}

BroadcastPlan::BroadcastPlan(const std::vector<Shape>& input_shapes, const Operation& op)
    : out_shape_(broadcast_shapes(input_shapes, op)), numel_(shape_numel(out_shape_)) {
  const size_t n = input_shapes.size();
  std::vector<std::vector<int64_t>> full(n);
  for (size_t k = 0; k < n; ++k) full[k] = broadcast_strides(input_shapes[k], out_shape_);
  // Walk from the innermost dim outwards, dropping size-1 dims and merging a dim into the
  // previous merged one when every input continues contiguously (or stays broadcast).
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> strides(n);
  for (size_t d = out_shape_.size(); d-- > 0;) {
    if (out_shape_[d] == 1) continue;
    bool merge = !dims.empty();
    for (size_t k = 0; merge && k < n; ++k) merge = full[k][d] == strides[k].back() * dims.back();
    if (merge) {
      dims.back() *= out_shape_[d];
      continue;
    }
    dims.push_back(out_shape_[d]);
    for (size_t k = 0; k < n; ++k) strides[k].push_back(full[k][d]);
  }
  if (dims.empty()) {  // scalar output
    dims.push_back(1);
    for (size_t k = 0; k < n; ++k) strides[k].push_back(0);
  }
  std::reverse(dims.begin(), dims.end());
  for (auto& s : strides) std::reverse(s.begin(), s.end());
  dims_ = std::move(dims);
  strides_ = std::move(strides);
}

void BroadcastPlan::seek_row(int64_t row, int64_t* index, int64_t* offsets) const {
  for (size_t k = 0; k < strides_.size(); ++k) offsets[k] = 0;
  for (size_t d = dims_.size() - 1; d-- > 0;) {
    index[d] = row % dims_[d];
    row /= dims_[d];
    for (size_t k = 0; k < strides_.size(); ++k) offsets[k] += index[d] * strides_[k][d];
  }
}

void BroadcastPlan::next_row(int64_t* index, int64_t* offsets) const {
  for (size_t d = dims_.size() - 1; d-- > 0;) {
    ++index[d];
    for (size_t k = 0; k < strides_.size(); ++k) offsets[k] += strides_[k][d];
    if (index[d] < dims_[d]) return;
    for (size_t k = 0; k < strides_.size(); ++k) offsets[k] -= strides_[k][d] * dims_[d];
    index[d] = 0;
  }
}

std::vector<int64_t> read_int_list(const Tensor& tensor, const Operation& op, const char* what) {
  if (!dtype_is_integer(tensor.dtype()))
    fail(ErrorKind::InvalidModel, "{}: {} must be an integer tensor, got {}", op.describe(), what,
         dtype_name(tensor.dtype()));
  return tensor.to_int64_vector();
}

int64_t read_int_scalar(const Tensor& tensor, const Operation& op, const char* what) {
  const std::vector<int64_t> values = read_int_list(tensor, op, what);
  if (values.size() != 1)
    fail(ErrorKind::InvalidModel, "{}: {} must hold one value, got shape {}", op.describe(), what,
         shape_to_string(tensor.shape()));
  return values[0];
}

}  // namespace qforge::kernels
