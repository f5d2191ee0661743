// SPDX-License-Identifier: Apache-2.0
// Helpers shared by every kernel family (src/runtime/kernels/*.cpp): axis normalization,
// strides, numpy (multidirectional) broadcasting with a row iterator, reading int lists from
// tensors, and dtype dispatch. Implemented in kernel_util.cpp; tested in
// tests/runtime/test_elementwise.cpp (KernelUtil.*).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "qforge/graph.h"
#include "qforge/kernel.h"
#include "qforge/tensor.h"

namespace qforge::kernels {

// `axis` in [-rank, rank) mapped to [0, rank); an InvalidModel error naming `op` otherwise.
int normalize_axis(int64_t axis, int64_t rank, const Operation& op);
// Several axes, each normalized; a repeated axis is an error.
std::vector<int> normalize_axes(const std::vector<int64_t>& axes, int64_t rank,
                                const Operation& op);

// Row-major element strides of `shape`.
std::vector<int64_t> contiguous_strides(const Shape& shape);
// Product of shape[begin, end) (1 for an empty range).
int64_t dims_product(const Shape& shape, int begin, int end);

// numpy broadcast of all `shapes`; a Shape error naming `op` when they are incompatible.
Shape broadcast_shapes(const std::vector<Shape>& shapes, const Operation& op);
// Element strides of `in` read as `out` (right-aligned, 0 on broadcast dims). `in` must
// broadcast to `out`.
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out);

// Iteration over an output of shape broadcast_shapes(inputs) as "rows": the innermost merged
// dimension, along which every input has stride 0 (broadcast) or 1 (contiguous). Dimensions of
// size 1 are dropped and neighbours with compatible strides are merged, so same-shape inputs
// give one row covering the whole tensor and a trailing broadcast stays a vectorizable loop.
class BroadcastPlan {
 public:
  BroadcastPlan(const std::vector<Shape>& input_shapes, const Operation& op);

  const Shape& out_shape() const { return out_shape_; }
  int64_t numel() const { return numel_; }
  size_t num_inputs() const { return strides_.size(); }
  // Stride (0 or 1) of input k along a row.
  int64_t inner_stride(size_t k) const { return strides_[k].back(); }

  // Calls fn(out_offset, in_offsets, count) for consecutive output runs covering the whole
  // output, where input k's elements are in_offsets[k] + i * inner_stride(k), i < count. Runs
  // are spread over `threads` (each run at least about `grain` elements when possible).
  template <typename Fn>
  void for_each_run(int threads, int64_t grain, Fn&& fn) const;

 private:
  // Odometer over the outer (row) dims: `index` has dims_.size() - 1 entries.
  void seek_row(int64_t row, int64_t* index, int64_t* offsets) const;
  void next_row(int64_t* index, int64_t* offsets) const;
  Shape out_shape_;
  int64_t numel_ = 0;
  std::vector<int64_t> dims_;                  // merged dims, innermost last, never empty
  std::vector<std::vector<int64_t>> strides_;  // per input, per merged dim
};

// Elements of an integer tensor (int8..uint64) as int64, e.g. axes, shapes, repeats. `what`
// names the input in the error raised for other dtypes.
std::vector<int64_t> read_int_list(const Tensor& tensor, const Operation& op, const char* what);
// The single element of a scalar or one-element integer tensor.
int64_t read_int_scalar(const Tensor& tensor, const Operation& op, const char* what);

// The type arithmetic is done in: float for the 16-bit float storage types, T otherwise.
template <typename T>
using compute_t =
    std::conditional_t<std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>, float, T>;
template <typename T>
constexpr bool is_float_type_v =
    std::is_floating_point_v<T> || std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;

// Elements per parallel chunk for cheap elementwise work: below this, threads cost more than
// they save.
constexpr int64_t kElementwiseGrain = 1 << 15;

// Element conversion that also handles the 16-bit float storage types (through float).
template <typename To, typename From>
inline To convert_to(From value) {
  if constexpr (std::is_same_v<To, Float16> || std::is_same_v<To, BFloat16>)
    return To(static_cast<float>(value));
  else if constexpr (std::is_same_v<From, Float16> || std::is_same_v<From, BFloat16>)
    return static_cast<To>(static_cast<float>(value));
  else
    return static_cast<To>(value);
}

// out[i] = f(in[i]) for i < count, in parallel chunks. f maps compute_t<In> to a value
// convertible to Out, so 16-bit floats are computed in float.
template <typename In, typename Out, typename F>
void parallel_map(int threads, const In* in, Out* out, int64_t count, F f) {
  parallel_for(threads, count, kElementwiseGrain, [&](int64_t begin, int64_t end) {
    // Locals, not captures: stores to `y` could otherwise alias f's parameters (e.g. an
    // alpha), which would be reloaded every iteration and block vectorizing.
    const F fn = f;
    const In* x = in;
    Out* y = out;
    for (int64_t i = begin; i < end; ++i)
      y[i] = convert_to<Out>(fn(convert_to<compute_t<In>>(x[i])));
  });
}

// out = f(a, b) with broadcasting; `out` already has the plan's shape (it may alias `a` when
// `a` has that shape too). f works on compute_t of its inputs and returns something
// convertible to R.
template <typename TA, typename TB, typename R, typename F>
void broadcast_binary(int threads, const BroadcastPlan& plan, const TA* a, const TB* b, R* out,
                      F f) {
  using CA = compute_t<TA>;
  using CB = compute_t<TB>;
  const bool sa = plan.inner_stride(0) != 0, sb = plan.inner_stride(1) != 0;
  plan.for_each_run(threads, kElementwiseGrain, [&](int64_t o, const int64_t* in, int64_t n) {
    const F f_local = f;  // a local, so stores to z cannot alias its parameters
    const TA* x = a + in[0];
    const TB* y = b + in[1];
    R* z = out + o;
    // Four branch-free loops, so the common shapes vectorize.
    if (sa && sb) {
      for (int64_t i = 0; i < n; ++i)
        z[i] = convert_to<R>(f_local(convert_to<CA>(x[i]), convert_to<CB>(y[i])));
    } else if (sa) {
      const CB yv = convert_to<CB>(*y);
      for (int64_t i = 0; i < n; ++i) z[i] = convert_to<R>(f_local(convert_to<CA>(x[i]), yv));
    } else if (sb) {
      const CA xv = convert_to<CA>(*x);
      for (int64_t i = 0; i < n; ++i) z[i] = convert_to<R>(f_local(xv, convert_to<CB>(y[i])));
    } else {
      const R v = convert_to<R>(f_local(convert_to<CA>(*x), convert_to<CB>(*y)));
      for (int64_t i = 0; i < n; ++i) z[i] = v;
    }
  });
}

// Calls fn(T{}) for the floating dtypes (float, double, Float16, BFloat16); an UnsupportedOp
// error naming `op` for any other dtype.
template <typename Fn>
decltype(auto) visit_float_dtype(DataType type, const Operation& op, Fn&& fn);

// ---- implementation of the templates ----

template <typename Fn>
void BroadcastPlan::for_each_run(int threads, int64_t grain, Fn&& fn) const {
  if (numel_ == 0) return;
  const size_t n = strides_.size();
  const int64_t inner = dims_.back();
  const int64_t rows = numel_ / inner;
  if (rows == 1) {
    // One row: split it into chunks.
    parallel_for(threads, inner, grain, [&](int64_t begin, int64_t end) {
      std::vector<int64_t> offsets(n);
      for (size_t k = 0; k < n; ++k) offsets[k] = begin * strides_[k].back();
      fn(begin, static_cast<const int64_t*>(offsets.data()), end - begin);
    });
    return;
  }
  const int64_t row_grain = std::max<int64_t>(1, grain / inner);
  parallel_for(threads, rows, row_grain, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> offsets(n), index(dims_.size() - 1);
    seek_row(begin, index.data(), offsets.data());
    for (int64_t row = begin; row < end; ++row) {
      fn(row * inner, static_cast<const int64_t*>(offsets.data()), inner);
      next_row(index.data(), offsets.data());
    }
  });
}

template <typename Fn>
decltype(auto) visit_float_dtype(DataType type, const Operation& op, Fn&& fn) {
  switch (type) {
    case DataType::Float:
      return fn(float{});
    case DataType::Double:
      return fn(double{});
    case DataType::Float16:
      return fn(Float16{});
    case DataType::BFloat16:
      return fn(BFloat16{});
    default:
      break;
  }
  fail(ErrorKind::UnsupportedOp, "{}: dtype {} is not supported (floating types only)",
       op.describe(), dtype_name(type));
}

}  // namespace qforge::kernels
