// SPDX-License-Identifier: Apache-2.0
// Kernel family: reduce. The Reduce* ops (axes as an attribute before opset 18, 13 for
// ReduceSum, and as an input since); ArgMax/ArgMin/CumSum live in reduce_axis.cpp. Registered
// in register_reduce_kernels (listed in src/runtime/kernel_registry.cpp); tested in
// tests/runtime/test_reduce.cpp.

// GCC does not if-convert floating-point arithmetic that may trap, so `x < 0 ? a * x : x`
// stays a branch and the loop does not vectorize; these kernels never read FP exception
// flags (clang's default is the same). Before the includes so that templates get it too.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <cmath>
#include <limits>

#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

void register_axis_reduce_kernels(KernelRegistry& registry);  // reduce_axis.cpp

namespace {

enum class Kind { Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare };

// Accumulation type: double for floating inputs, 64-bit for integers (wrapping back to T gives
// the same result as accumulating in T).
template <typename T>
using acc_t = std::conditional_t<is_float_type_v<T>, double,
                                 std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

// One reduction: acc = combine(acc, map(x)); the output is finish(acc, count).
template <Kind K, typename T>
struct Reducer {
  using C = compute_t<T>;
  using A = std::conditional_t<K == Kind::Max || K == Kind::Min, C, acc_t<T>>;
  static A init() {
    if constexpr (K == Kind::Prod) return A{1};
    if constexpr (K == Kind::Max)
      return std::numeric_limits<A>::has_infinity ? -std::numeric_limits<A>::infinity()
                                                  : std::numeric_limits<A>::lowest();
    if constexpr (K == Kind::Min)
      return std::numeric_limits<A>::has_infinity ? std::numeric_limits<A>::infinity()
                                                  : std::numeric_limits<A>::max();
    return A{0};
  }
  // `shift` is the row maximum for LogSumExp (0 otherwise).
  static A map(C x, A shift) {
    const A v = static_cast<A>(x);
    if constexpr (K == Kind::L1) return v < 0 ? static_cast<A>(0 - v) : v;
    if constexpr (K == Kind::L2 || K == Kind::SumSquare) return static_cast<A>(v * v);
    if constexpr (K == Kind::LogSumExp) return static_cast<A>(std::exp(v - shift));
    return v;
  }
  // Max/Min keep a NaN once seen.
  static A combine(A a, A v) {
    if constexpr (K == Kind::Max) return (v > a || v != v) ? v : a;
    if constexpr (K == Kind::Min) return (v < a || v != v) ? v : a;
    if constexpr (K == Kind::Prod) return static_cast<A>(a * v);
    return static_cast<A>(a + v);
  }
  static T finish(A a, int64_t count, A shift) {
    if constexpr (K == Kind::Mean) return convert_to<T>(a / static_cast<A>(count));
    if constexpr (K == Kind::L2) return convert_to<T>(std::sqrt(static_cast<double>(a)));
    if constexpr (K == Kind::LogSum) return convert_to<T>(std::log(static_cast<double>(a)));
    if constexpr (K == Kind::LogSumExp)
      return convert_to<T>(std::log(static_cast<double>(a)) + static_cast<double>(shift));
    return convert_to<T>(a);
  }
};

// The input seen as alternating groups of kept and reduced dims (size-1 dims dropped,
// neighbours of the same kind merged), innermost last.
struct Group {
  int64_t size, in_stride, out_stride;  // out_stride 0 for reduced groups
  bool reduced;
};

std::vector<Group> make_groups(const Shape& shape, const std::vector<bool>& reduced) {
  std::vector<Group> groups;  // built innermost first
  int64_t in_stride = 1, out_stride = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] == 1) continue;
    if (!groups.empty() && groups.back().reduced == reduced[d]) {
      groups.back().size *= shape[d];
    } else {
      groups.push_back({shape[d], in_stride, reduced[d] ? 0 : out_stride, reduced[d]});
    }
    in_stride *= shape[d];
    if (!reduced[d]) out_stride *= shape[d];
  }
  if (groups.empty()) groups.push_back({1, 1, 1, false});
  std::reverse(groups.begin(), groups.end());
  return groups;
}

// Accumulates x into acc (one entry per output element) for the index range [begin, end) of
// kept group `split` (all of every other group); different ranges touch different outputs.
template <typename R, typename T>
void accumulate(const T* x, typename R::A* acc, const typename R::A* shift,
                const std::vector<Group>& groups, size_t split, int64_t begin, int64_t end) {
  using A = typename R::A;
  using C = typename R::C;
  const size_t outer = groups.size() - 1;
  const Group& last = groups.back();
  const int64_t lo = split == outer ? begin : 0, hi = split == outer ? end : last.size;
  std::vector<int64_t> index(outer, 0);
  int64_t in = 0, out = 0;
  if (split < outer) {
    index[split] = begin;
    in = begin * groups[split].in_stride;
    out = begin * groups[split].out_stride;
  }
  while (true) {
    if (last.reduced) {
      const A s = shift ? shift[out] : A{0};
      A lanes[4] = {R::init(), R::init(), R::init(), R::init()};
      int64_t i = 0;
      for (; i + 4 <= last.size; i += 4)
        for (int l = 0; l < 4; ++l)
          lanes[l] = R::combine(lanes[l], R::map(convert_to<C>(x[in + i + l]), s));
      for (; i < last.size; ++i)
        lanes[0] = R::combine(lanes[0], R::map(convert_to<C>(x[in + i]), s));
      const A run = R::combine(R::combine(lanes[0], lanes[1]), R::combine(lanes[2], lanes[3]));
      acc[out] = R::combine(acc[out], run);
    } else {
      for (int64_t j = lo; j < hi; ++j)
        acc[out + j] = R::combine(acc[out + j],
                                  R::map(convert_to<C>(x[in + j]), shift ? shift[out + j] : A{0}));
    }
    // Odometer over the outer groups (group `split` limited to [begin, end)).
    size_t d = outer;
    while (d-- > 0) {
      const int64_t stop = d == split ? end : groups[d].size;
      ++index[d];
      in += groups[d].in_stride;
      out += groups[d].out_stride;
      if (index[d] < stop) break;
      const int64_t start = d == split ? begin : 0;
      in -= (index[d] - start) * groups[d].in_stride;
      out -= (index[d] - start) * groups[d].out_stride;
      index[d] = start;
    }
    if (d == static_cast<size_t>(-1)) return;
  }
}

// A reduction of everything: fixed chunks (set by the size, not the thread count, so the
// result does not depend on it) reduced in parallel, then combined in order.
template <typename R, typename T>
typename R::A reduce_all(const T* x, int64_t total, const typename R::A* shift, int threads) {
  using A = typename R::A;
  constexpr int64_t kChunk = 1 << 16;
  const int64_t chunks = (total + kChunk - 1) / kChunk;
  std::vector<A> partial(static_cast<size_t>(chunks), R::init());
  parallel_for(threads, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const std::vector<Group> run = {{std::min(kChunk, total - c * kChunk), 1, 0, true}};
      accumulate<R>(x + c * kChunk, &partial[static_cast<size_t>(c)], shift, run, 1, 0, 0);
    }
  });
  A acc = R::init();
  for (const A& p : partial) acc = R::combine(acc, p);
  return acc;
}

// Reduces x (of `shape`) over the dims flagged in `reduced` into `out` (the kept elements in
// order).
template <Kind K, typename T>
void reduce(const T* x, T* out, const Shape& shape, const std::vector<bool>& reduced, int threads) {
  using R = Reducer<K, T>;
  using A = typename R::A;
  const int64_t total = shape_numel(shape);
  int64_t out_count = 1;
  for (size_t d = 0; d < shape.size(); ++d)
    if (!reduced[d]) out_count *= shape[d];
  const int64_t count = out_count == 0 ? 0 : total / out_count;
  std::vector<A> acc(static_cast<size_t>(out_count), R::init());
  std::vector<A> shift;
  if (total > 0) {
    const std::vector<Group> groups = make_groups(shape, reduced);
    // Split the largest kept group over the threads: its index ranges write disjoint outputs.
    size_t split = groups.size();
    for (size_t g = 0; g < groups.size(); ++g)
      if (!groups[g].reduced && (split == groups.size() || groups[g].size > groups[split].size))
        split = g;
    auto pass = [&](auto reducer, auto* accumulators, auto shifts) {
      using RR = decltype(reducer);
      if (groups.size() == 1 && groups[0].reduced) {
        *accumulators = reduce_all<RR>(x, total, shifts, threads);
        return;
      }
      if (split == groups.size()) {
        accumulate<RR>(x, accumulators, shifts, groups, split, 0, 0);
        return;
      }
      const int64_t per_index = std::max<int64_t>(1, total / groups[split].size);
      parallel_for(threads, groups[split].size, std::max<int64_t>(1, kElementwiseGrain / per_index),
                   [&](int64_t b, int64_t e) {
                     accumulate<RR>(x, accumulators, shifts, groups, split, b, e);
                   });
    };
    if constexpr (K == Kind::LogSumExp) {
      // Shift by the maximum so exp does not overflow (by 0 where the maximum is not finite).
      using Max = Reducer<Kind::Max, T>;
      std::vector<typename Max::A> maxima(acc.size(), Max::init());
      pass(Max{}, maxima.data(), nullptr);
      shift.resize(acc.size());
      for (size_t i = 0; i < maxima.size(); ++i)
        shift[i] = std::isfinite(static_cast<double>(maxima[i])) ? static_cast<A>(maxima[i]) : A{0};
    }
    pass(R{}, acc.data(), shift.empty() ? nullptr : shift.data());
  }
  for (int64_t i = 0; i < out_count; ++i)
    out[i] = R::finish(acc[static_cast<size_t>(i)], count,
                       shift.empty() ? A{0} : shift[static_cast<size_t>(i)]);
}

// The axes to reduce: an attribute, or from `axes_input_since` the optional input 1.
std::vector<int64_t> read_axes(const KernelContext& ctx, int axes_input_since) {
  if (ctx.op().opset < axes_input_since) return ctx.attr_ints("axes");
  const Tensor* axes = ctx.optional_input(1);
  return axes ? read_int_list(*axes, ctx.op(), "axes") : std::vector<int64_t>{};
}

template <Kind K, int axes_input_since>
void reduce_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int rank = x.rank();
  const std::vector<int64_t> axes = read_axes(ctx, axes_input_since);
  const bool keepdims = ctx.attr_int("keepdims", 1) != 0;
  const bool noop = ctx.attr_int("noop_with_empty_axes", 0) != 0;
  // No axes: reduce all, or none with noop_with_empty_axes (then each element is "reduced"
  // alone, so ReduceSumSquare still squares, as the ONNX reference does).
  std::vector<bool> reduced(static_cast<size_t>(rank), axes.empty() && !noop);
  for (int a : normalize_axes(axes, rank, ctx.op())) reduced[static_cast<size_t>(a)] = true;
  Shape out_shape;
  for (int d = 0; d < rank; ++d) {
    if (!reduced[static_cast<size_t>(d)])
      out_shape.push_back(x.dim(d));
    else if (keepdims)
      out_shape.push_back(1);
  }
  visit_numeric_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      fail(ErrorKind::UnsupportedOp, "{}: bool is not supported", ctx.op().describe());
    } else {
      Tensor& out = ctx.allocate_output(0, x.dtype(), out_shape);
      reduce<K, T>(x.data<T>(), out.data<T>(), x.shape(), reduced, ctx.num_threads());
    }
  });
}

}  // namespace

void register_reduce_kernels(KernelRegistry& registry) {
  registry.add("", "ReduceSum", 1, kLatestOpset, reduce_kernel<Kind::Sum, 13>);
  registry.add("", "ReduceMean", 1, kLatestOpset, reduce_kernel<Kind::Mean, 18>);
  registry.add("", "ReduceMax", 1, kLatestOpset, reduce_kernel<Kind::Max, 18>);
  registry.add("", "ReduceMin", 1, kLatestOpset, reduce_kernel<Kind::Min, 18>);
  registry.add("", "ReduceProd", 1, kLatestOpset, reduce_kernel<Kind::Prod, 18>);
  registry.add("", "ReduceL1", 1, kLatestOpset, reduce_kernel<Kind::L1, 18>);
  registry.add("", "ReduceL2", 1, kLatestOpset, reduce_kernel<Kind::L2, 18>);
  registry.add("", "ReduceLogSum", 1, kLatestOpset, reduce_kernel<Kind::LogSum, 18>);
  registry.add("", "ReduceLogSumExp", 1, kLatestOpset, reduce_kernel<Kind::LogSumExp, 18>);
  registry.add("", "ReduceSumSquare", 1, kLatestOpset, reduce_kernel<Kind::SumSquare, 18>);
  register_axis_reduce_kernels(registry);
}

}  // namespace qforge::kernels
