// SPDX-License-Identifier: Apache-2.0
// Kernel family: reduce, single-axis part: ArgMax, ArgMin (keepdims, select_last_index) and
// CumSum (exclusive, reverse). Registered through register_axis_reduce_kernels (called by
// register_reduce_kernels in reduce.cpp); tested in tests/runtime/test_reduce.cpp.

// GCC does not if-convert floating-point arithmetic that may trap, so `x < 0 ? a * x : x`
// stays a branch and the loop does not vectorize; these kernels never read FP exception
// flags (clang's default is the same). Before the includes so that templates get it too.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <cmath>

#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

namespace {

// Whether v replaces the current best. A NaN counts as the extreme value (numpy's argmax):
// the first NaN wins, or the last one with select_last_index.
template <bool is_max, typename C>
bool replaces(C v, C best, bool last) {
  if (best != best) return last && v != v;
  if (v != v) return true;
  if constexpr (is_max)
    return last ? v >= best : v > best;
  else
    return last ? v <= best : v < best;
}

// x viewed as (outer, n, inner); out is (outer, inner) indices along n.
template <bool is_max, typename T>
void arg_reduce(const T* x, int64_t* out, int64_t outer, int64_t n, int64_t inner, bool last,
                int threads) {
  using C = compute_t<T>;
  parallel_for(threads, outer,
               std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, n * inner)),
               [&](int64_t begin, int64_t end) {
                 std::vector<C> best(static_cast<size_t>(inner));
                 for (int64_t o = begin; o < end; ++o) {
                   const T* row = x + o * n * inner;
                   int64_t* index = out + o * inner;
                   for (int64_t j = 0; j < inner; ++j) best[j] = convert_to<C>(row[j]);
                   for (int64_t r = 1; r < n; ++r)
                     for (int64_t j = 0; j < inner; ++j) {
                       const C v = convert_to<C>(row[r * inner + j]);
                       if (replaces<is_max>(v, best[j], last)) {
                         best[j] = v;
                         index[j] = r;
                       }
                     }
                 }
               });
}

template <bool is_max>
void arg_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int rank = x.rank();
  const int axis = normalize_axis(ctx.attr_int("axis", 0), std::max(rank, 1), ctx.op());
  const bool keepdims = ctx.attr_int("keepdims", 1) != 0;
  const bool last = ctx.attr_int("select_last_index", 0) != 0;
  const Shape& shape = x.shape();
  const int64_t n = rank == 0 ? 1 : shape[axis];
  if (n == 0)
    fail(ErrorKind::Shape, "{}: cannot take the arg{} over an empty axis of shape {}",
         ctx.op().describe(), is_max ? "max" : "min", shape_to_string(shape));
  Shape out_shape;
  for (int d = 0; d < rank; ++d)
    if (d != axis)
      out_shape.push_back(shape[d]);
    else if (keepdims)
      out_shape.push_back(1);
  Tensor& out = ctx.allocate_output(0, DataType::Int64, out_shape);
  const int64_t outer = rank == 0 ? 1 : dims_product(shape, 0, axis);
  const int64_t inner = rank == 0 ? 1 : dims_product(shape, axis + 1, rank);
  visit_numeric_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      fail(ErrorKind::UnsupportedOp, "{}: bool is not supported", ctx.op().describe());
    } else {
      arg_reduce<is_max>(x.data<T>(), out.data<int64_t>(), outer, n, inner, last,
                         ctx.num_threads());
    }
  });
}

// Running sums along n of x viewed as (outer, n, inner), in the element type (as the engines
// do), the inner dimension innermost so the loop vectorizes.
template <typename T>
void cumsum(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool exclusive, bool reverse,
            int threads) {
  using C = compute_t<T>;
  parallel_for(threads, outer,
               std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, n * inner)),
               [&](int64_t begin, int64_t end) {
                 std::vector<C> acc(static_cast<size_t>(inner));
                 for (int64_t o = begin; o < end; ++o) {
                   std::fill(acc.begin(), acc.end(), C{0});
                   for (int64_t step = 0; step < n; ++step) {
                     const int64_t r = reverse ? n - 1 - step : step;
                     const int64_t base = (o * n + r) * inner;
                     for (int64_t j = 0; j < inner; ++j) {
                       const C v = convert_to<C>(x[base + j]);
                       if (exclusive) {
                         y[base + j] = convert_to<T>(acc[j]);
                         acc[j] = static_cast<C>(acc[j] + v);
                       } else {
                         acc[j] = static_cast<C>(acc[j] + v);
                         y[base + j] = convert_to<T>(acc[j]);
                       }
                     }
                   }
                 }
               });
}

void cumsum_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int rank = x.rank();
  if (rank == 0) fail(ErrorKind::Shape, "{}: input must have rank >= 1", ctx.op().describe());
  const int axis = normalize_axis(read_int_scalar(ctx.input(1), ctx.op(), "axis"), rank, ctx.op());
  const bool exclusive = ctx.attr_int("exclusive", 0) != 0;
  const bool reverse = ctx.attr_int("reverse", 0) != 0;
  const Shape& shape = x.shape();
  visit_numeric_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      fail(ErrorKind::UnsupportedOp, "{}: bool is not supported", ctx.op().describe());
    } else {
      Tensor& out = ctx.allocate_output(0, x.dtype(), shape);
      cumsum(x.data<T>(), out.data<T>(), dims_product(shape, 0, axis), shape[axis],
             dims_product(shape, axis + 1, rank), exclusive, reverse, ctx.num_threads());
    }
  });
}

}  // namespace

void register_axis_reduce_kernels(KernelRegistry& registry) {
  registry.add("", "ArgMax", 1, kLatestOpset, arg_kernel<true>);
  registry.add("", "ArgMin", 1, kLatestOpset, arg_kernel<false>);
  registry.add("", "CumSum", 11, kLatestOpset, cumsum_kernel);
}

}  // namespace qforge::kernels
