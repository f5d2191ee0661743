// SPDX-License-Identifier: Apache-2.0
// Kernel family: elementwise. This file: broadcasting binary ops (arithmetic, comparison,
// logical, bitwise), the variadic Max/Min/Sum/Mean, Where and Clip; unary math lives in
// elementwise_unary.cpp, Cast/CastLike in cast.cpp. Registered in register_elementwise_kernels
// (listed in src/runtime/kernel_registry.cpp); tested in tests/runtime/test_elementwise.cpp.

// GCC does not if-convert floating-point arithmetic that may trap, so `x < 0 ? a * x : x`
// stays a branch and the loop does not vectorize; these kernels never read FP exception
// flags (clang's default is the same). Before the includes so that templates get it too.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <cmath>
#include <cstring>
#include <limits>

#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

void register_unary_kernels(KernelRegistry& registry);  // elementwise_unary.cpp
void register_cast_kernels(KernelRegistry& registry);   // cast.cpp

namespace {

template <typename T>
constexpr bool is_integral_v = std::is_integral_v<T> && !std::is_same_v<T, bool>;

void check_same_dtype(const KernelContext& ctx, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    fail(ErrorKind::InvalidModel, "{}: inputs have different dtypes {} and {}", ctx.op().describe(),
         dtype_name(a.dtype()), dtype_name(b.dtype()));
}

[[noreturn]] void unsupported_dtype(const KernelContext& ctx, DataType type) {
  fail(ErrorKind::UnsupportedOp, "{}: dtype {} is not supported", ctx.op().describe(),
       dtype_name(type));
}

// Before opset 7, binary ops broadcast only B onto A, and only with broadcast=1: B's dims
// match A's starting at `axis` (default: A's trailing dims). Returns B's shape padded with
// 1s so that numpy broadcasting gives that result.
Shape legacy_b_shape(const KernelContext& ctx, const Shape& a, const Shape& b) {
  if (ctx.op().opset >= 7 || ctx.attr_int("broadcast", 0) == 0) return b;
  const int64_t rank = static_cast<int64_t>(a.size());
  const int64_t b_rank = static_cast<int64_t>(b.size());
  const int64_t axis =
      ctx.op().has_attr("axis")
          ? normalize_axis(ctx.attr_int("axis", 0), std::max<int64_t>(rank, 1), ctx.op())
          : rank - b_rank;
  if (axis < 0 || axis + b_rank > rank)
    fail(ErrorKind::Shape, "{}: cannot broadcast {} onto {} at axis {}", ctx.op().describe(),
         shape_to_string(b), shape_to_string(a), axis);
  Shape padded = b;
  padded.resize(static_cast<size_t>(rank - axis), 1);
  return padded;
}

// A binary op: `Op::supports<T>` says which element types it takes, `Op::Result<T>` the output
// element type (T for arithmetic, bool for comparisons), operator() computes one element.
template <typename Op>
void binary_kernel(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  check_same_dtype(ctx, a, b);
  const BroadcastPlan plan({a.shape(), legacy_b_shape(ctx, a.shape(), b.shape())}, ctx.op());
  visit_numeric_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (Op::template supports<T>) {
      using R = typename Op::template Result<T>;
      Tensor& out = ctx.allocate_output_in_place(0, a.shape() == plan.out_shape() ? 0 : 1,
                                                 dtype_of<R>(), plan.out_shape());
      broadcast_binary<T, T, R>(ctx.num_threads(), plan, a.data<T>(), b.data<T>(), out.data<R>(),
                                Op{});
    } else {
      unsupported_dtype(ctx, a.dtype());
    }
  });
}

template <typename T>
using Same = T;
template <typename T>
using Boolean = bool;

struct Arithmetic {
  template <typename T>
  static constexpr bool supports = !std::is_same_v<T, bool>;
  template <typename T>
  using Result = Same<T>;
};
struct AddOp : Arithmetic {
  template <typename C>
  C operator()(C x, C y) const {
    return static_cast<C>(x + y);
  }
};
struct SubOp : Arithmetic {
  template <typename C>
  C operator()(C x, C y) const {
    return static_cast<C>(x - y);
  }
};
struct MulOp : Arithmetic {
  template <typename C>
  C operator()(C x, C y) const {
    return static_cast<C>(x * y);
  }
};
struct DivOp : Arithmetic {
  template <typename C>
  C operator()(C x, C y) const {
    if constexpr (std::is_integral_v<C>) {
      // Integer division by zero gives 0 (as numpy) instead of trapping; MIN / -1 wraps.
      if (y == 0) return 0;
      if constexpr (std::is_signed_v<C>)
        if (y == -1) return static_cast<C>(0 - static_cast<std::make_unsigned_t<C>>(x));
    }
    return static_cast<C>(x / y);
  }
};
// Max/Min propagate NaN like numpy's maximum/minimum.
struct MaxOp : Arithmetic {
  template <typename C>
  C operator()(C x, C y) const {
    return (x > y || x != x) ? x : y;
  }
};
struct MinOp : Arithmetic {
  template <typename C>
  C operator()(C x, C y) const {
    return (x < y || x != x) ? x : y;
  }
};

// Mod with fmod=0: the result takes the divisor's sign (Python); fmod=1: the dividend's (C).
struct ModOp : Arithmetic {
  template <typename C>
  C operator()(C x, C y) const {
    if constexpr (std::is_floating_point_v<C>) {
      C r = std::fmod(x, y);
      if (r != 0 && ((r < 0) != (y < 0))) r += y;
      return r;
    } else {
      if (y == 0) return 0;
      if constexpr (std::is_signed_v<C>) {
        if (y == -1) return 0;
        C r = static_cast<C>(x % y);
        if (r != 0 && ((r < 0) != (y < 0))) r = static_cast<C>(r + y);
        return r;
      } else {
        return static_cast<C>(x % y);
      }
    }
  }
};
struct FmodOp : Arithmetic {
  template <typename C>
  C operator()(C x, C y) const {
    if constexpr (std::is_floating_point_v<C>) {
      return std::fmod(x, y);
    } else {
      if (y == 0) return 0;
      if constexpr (std::is_signed_v<C>)
        if (y == -1) return 0;
      return static_cast<C>(x % y);
    }
  }
};

struct Comparison {
  template <typename T>
  static constexpr bool supports = true;
  template <typename T>
  using Result = Boolean<T>;
};
struct EqualOp : Comparison {
  template <typename C>
  bool operator()(C x, C y) const {
    return x == y;
  }
};
struct GreaterOp : Comparison {
  template <typename C>
  bool operator()(C x, C y) const {
    return x > y;
  }
};
struct GreaterOrEqualOp : Comparison {
  template <typename C>
  bool operator()(C x, C y) const {
    return x >= y;
  }
};
struct LessOp : Comparison {
  template <typename C>
  bool operator()(C x, C y) const {
    return x < y;
  }
};
struct LessOrEqualOp : Comparison {
  template <typename C>
  bool operator()(C x, C y) const {
    return x <= y;
  }
};

struct Logical {
  template <typename T>
  static constexpr bool supports = std::is_same_v<T, bool>;
  template <typename T>
  using Result = bool;
};
struct AndOp : Logical {
  bool operator()(bool x, bool y) const { return x && y; }
};
struct OrOp : Logical {
  bool operator()(bool x, bool y) const { return x || y; }
};
struct XorOp : Logical {
  bool operator()(bool x, bool y) const { return x != y; }
};

struct Bitwise {
  template <typename T>
  static constexpr bool supports = is_integral_v<T>;
  template <typename T>
  using Result = Same<T>;
};
struct BitwiseAndOp : Bitwise {
  template <typename C>
  C operator()(C x, C y) const {
    return static_cast<C>(x & y);
  }
};
struct BitwiseOrOp : Bitwise {
  template <typename C>
  C operator()(C x, C y) const {
    return static_cast<C>(x | y);
  }
};
struct BitwiseXorOp : Bitwise {
  template <typename C>
  C operator()(C x, C y) const {
    return static_cast<C>(x ^ y);
  }
};

// BitShift is defined for unsigned types; shifting by the bit width or more gives 0.
struct ShiftBase {
  template <typename T>
  static constexpr bool supports = std::is_unsigned_v<T> && !std::is_same_v<T, bool>;
  template <typename T>
  using Result = Same<T>;
};
struct ShiftLeftOp : ShiftBase {
  template <typename C>
  C operator()(C x, C y) const {
    return y >= sizeof(C) * 8 ? C{0} : static_cast<C>(x << y);
  }
};
struct ShiftRightOp : ShiftBase {
  template <typename C>
  C operator()(C x, C y) const {
    return y >= sizeof(C) * 8 ? C{0} : static_cast<C>(x >> y);
  }
};

// Pow: base and exponent may have different types (opset 12+); the result has the base's.
template <typename C, typename E>
C pow_element(C x, E y) {
  if constexpr (std::is_integral_v<C> && std::is_integral_v<E>) {
    // Exact integer power by squaring (wrapping like the engines' integer multiply).
    if constexpr (std::is_signed_v<E>) {
      if (y < 0) return x == 1 ? C{1} : (x == static_cast<C>(-1) ? (y % 2 ? x : C{1}) : C{0});
    }
    using U = std::make_unsigned_t<C>;
    U result = 1, base = static_cast<U>(x);
    for (auto e = static_cast<uint64_t>(y); e != 0; e >>= 1) {
      if (e & 1) result = static_cast<U>(result * base);
      base = static_cast<U>(base * base);
    }
    return static_cast<C>(result);
  } else if constexpr (std::is_integral_v<C>) {
    const double r = std::pow(static_cast<double>(x), static_cast<double>(y));
    // Out-of-range and NaN results are undefined in C++; give 0 rather than trap.
    if (!(r >= static_cast<double>(std::numeric_limits<C>::lowest()) &&
          r <= static_cast<double>(std::numeric_limits<C>::max())))
      return C{0};
    return static_cast<C>(r);
  } else {
    using P = std::conditional_t<std::is_same_v<C, double> || std::is_same_v<E, double>, double, C>;
    return static_cast<C>(std::pow(static_cast<P>(x), static_cast<P>(y)));
  }
}

void pow_kernel(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (ctx.op().opset < 12) check_same_dtype(ctx, a, b);
  const BroadcastPlan plan({a.shape(), legacy_b_shape(ctx, a.shape(), b.shape())}, ctx.op());
  Tensor& out = ctx.allocate_output(0, a.dtype(), plan.out_shape());
  visit_numeric_dtype(a.dtype(), [&](auto base_tag) {
    using T = decltype(base_tag);
    visit_numeric_dtype(b.dtype(), [&](auto exp_tag) {
      using E = decltype(exp_tag);
      if constexpr (std::is_same_v<T, bool> || std::is_same_v<E, bool>) {
        unsupported_dtype(ctx, DataType::Bool);
      } else {
        broadcast_binary<T, E, T>(ctx.num_threads(), plan, a.data<T>(), b.data<E>(), out.data<T>(),
                                  [](auto x, auto y) { return pow_element(x, y); });
      }
    });
  });
}

// Max, Min, Sum, Mean: folds the inputs pairwise into the output, which has the broadcast
// shape of all of them.
template <typename Op>
void variadic_fold(KernelContext& ctx, bool mean) {
  std::vector<const Tensor*> inputs;
  std::vector<Shape> shapes;
  for (size_t k = 0; k < ctx.num_inputs(); ++k) {
    inputs.push_back(&ctx.input(k));
    shapes.push_back(inputs.back()->shape());
    check_same_dtype(ctx, *inputs[0], *inputs.back());
  }
  if (inputs.empty())
    fail(ErrorKind::InvalidModel, "{}: needs at least one input", ctx.op().describe());
  const Shape out_shape = broadcast_shapes(shapes, ctx.op());
  visit_numeric_dtype(inputs[0]->dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!Op::template supports<T>) {
      unsupported_dtype(ctx, inputs[0]->dtype());
    } else {
      Tensor& out = ctx.allocate_output(0, inputs[0]->dtype(), out_shape);
      T* o = out.data<T>();
      const int threads = ctx.num_threads();
      size_t next = 1;
      if (inputs.size() >= 2 && broadcast_shapes({shapes[0], shapes[1]}, ctx.op()) == out_shape) {
        const BroadcastPlan plan({shapes[0], shapes[1]}, ctx.op());
        broadcast_binary<T, T, T>(threads, plan, inputs[0]->data<T>(), inputs[1]->data<T>(), o,
                                  Op{});
        next = 2;
      } else {  // copy (broadcast) the first input into the output
        const BroadcastPlan plan({out_shape, shapes[0]}, ctx.op());
        broadcast_binary<T, T, T>(threads, plan, o, inputs[0]->data<T>(), o,
                                  [](auto, auto y) { return y; });
      }
      for (size_t k = next; k < inputs.size(); ++k) {
        const BroadcastPlan plan({out_shape, shapes[k]}, ctx.op());
        broadcast_binary<T, T, T>(threads, plan, o, inputs[k]->data<T>(), o, Op{});
      }
      if (mean) {
        const auto scale = static_cast<compute_t<T>>(inputs.size());
        parallel_map(threads, o, o, out.numel(), [scale](auto v) { return v / scale; });
      }
    }
  });
}
void max_kernel(KernelContext& ctx) {
  variadic_fold<MaxOp>(ctx, false);
}
void min_kernel(KernelContext& ctx) {
  variadic_fold<MinOp>(ctx, false);
}
void sum_kernel(KernelContext& ctx) {
  variadic_fold<AddOp>(ctx, false);
}
void mean_kernel(KernelContext& ctx) {
  variadic_fold<AddOp>(ctx, true);
}

// Where copies elements, so it works on same-sized unsigned integers for every dtype.
template <typename E>
void where_loop(int threads, const BroadcastPlan& plan, const bool* c, const E* x, const E* y,
                E* out) {
  const int64_t sc = plan.inner_stride(0), sx = plan.inner_stride(1), sy = plan.inner_stride(2);
  plan.for_each_run(threads, kElementwiseGrain, [&](int64_t o, const int64_t* in, int64_t n) {
    const bool* cc = c + in[0];
    const E* xx = x + in[1];
    const E* yy = y + in[2];
    E* z = out + o;
    if (sc && sx && sy) {
      for (int64_t i = 0; i < n; ++i) z[i] = cc[i] ? xx[i] : yy[i];
    } else {
      for (int64_t i = 0; i < n; ++i) z[i] = cc[i * sc] ? xx[i * sx] : yy[i * sy];
    }
  });
}

void where_kernel(KernelContext& ctx) {
  const Tensor& cond = ctx.input(0);
  const Tensor& x = ctx.input(1);
  const Tensor& y = ctx.input(2);
  if (cond.dtype() != DataType::Bool)
    fail(ErrorKind::InvalidModel, "{}: condition must be bool, got {}", ctx.op().describe(),
         dtype_name(cond.dtype()));
  check_same_dtype(ctx, x, y);
  const BroadcastPlan plan({cond.shape(), x.shape(), y.shape()}, ctx.op());
  Tensor& out =
      ctx.allocate_output(0, x.dtype(), plan.out_shape(), KernelContext::OutputInit::Uninitialized);
  const bool* c = cond.data<bool>();
  if (x.dtype() == DataType::String) {
    plan.for_each_run(1, kElementwiseGrain, [&](int64_t o, const int64_t* in, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        const bool pick = c[in[0] + i * plan.inner_stride(0)];
        out.strings()[static_cast<size_t>(o + i)] =
            pick ? x.strings()[static_cast<size_t>(in[1] + i * plan.inner_stride(1))]
                 : y.strings()[static_cast<size_t>(in[2] + i * plan.inner_stride(2))];
      }
    });
    return;
  }
  const int threads = ctx.num_threads();
  auto run = [&](auto tag) {
    using E = decltype(tag);
    where_loop<E>(threads, plan, c, static_cast<const E*>(x.raw()), static_cast<const E*>(y.raw()),
                  static_cast<E*>(out.raw()));
  };
  switch (dtype_size(x.dtype())) {
    case 1:
      return run(uint8_t{});
    case 2:
      return run(uint16_t{});
    case 4:
      return run(uint32_t{});
    case 8:
      return run(uint64_t{});
    default:
      unsupported_dtype(ctx, x.dtype());
  }
}

// Clip bounds: attributes before opset 11, optional scalar inputs since.
template <typename T>
compute_t<T> clip_bound(const KernelContext& ctx, size_t index, const char* attr,
                        compute_t<T> fallback) {
  using C = compute_t<T>;
  if (ctx.op().opset < 11)
    return static_cast<C>(ctx.attr_float(attr, static_cast<float>(fallback)));
  const Tensor* bound = ctx.optional_input(index);
  if (!bound) return fallback;
  if (bound->dtype() != ctx.input(0).dtype() || bound->numel() != 1)
    fail(ErrorKind::InvalidModel, "{}: {} must be a scalar of the input's dtype, got {} {}",
         ctx.op().describe(), attr, dtype_name(bound->dtype()), shape_to_string(bound->shape()));
  return convert_to<C>(bound->data<T>()[0]);
}

void clip_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor& out = ctx.allocate_output_in_place(0, 0, x.dtype(), x.shape());
  visit_numeric_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = compute_t<T>;
    if constexpr (std::is_same_v<T, bool>) {
      unsupported_dtype(ctx, x.dtype());
    } else {
      const C lo = clip_bound<T>(ctx, 1, "min", std::numeric_limits<C>::lowest());
      const C hi = clip_bound<T>(ctx, 2, "max", std::numeric_limits<C>::max());
      // max-then-min keeps NaN, and gives `hi` everywhere when lo > hi (as the spec says).
      parallel_map(ctx.num_threads(), x.data<T>(), out.data<T>(), x.numel(),
                   [lo, hi](C v) { return std::min(std::max(v, lo), hi); });
    }
  });
}

void mod(KernelContext& ctx) {
  if (ctx.attr_int("fmod", 0) != 0)
    binary_kernel<FmodOp>(ctx);
  else
    binary_kernel<ModOp>(ctx);
}

void bit_shift(KernelContext& ctx) {
  const std::string direction = ctx.attr_string("direction", "");
  if (direction == "LEFT")
    binary_kernel<ShiftLeftOp>(ctx);
  else if (direction == "RIGHT")
    binary_kernel<ShiftRightOp>(ctx);
  else
    fail(ErrorKind::InvalidModel, "{}: direction must be LEFT or RIGHT, got '{}'",
         ctx.op().describe(), direction);
}

}  // namespace

void register_elementwise_kernels(KernelRegistry& registry) {
  registry.add("", "Add", 1, kLatestOpset, binary_kernel<AddOp>);
  registry.add("", "Sub", 1, kLatestOpset, binary_kernel<SubOp>);
  registry.add("", "Mul", 1, kLatestOpset, binary_kernel<MulOp>);
  registry.add("", "Div", 1, kLatestOpset, binary_kernel<DivOp>);
  registry.add("", "Mod", 10, kLatestOpset, mod);
  registry.add("", "Equal", 1, kLatestOpset, binary_kernel<EqualOp>);
  registry.add("", "Greater", 1, kLatestOpset, binary_kernel<GreaterOp>);
  registry.add("", "GreaterOrEqual", 12, kLatestOpset, binary_kernel<GreaterOrEqualOp>);
  registry.add("", "Less", 1, kLatestOpset, binary_kernel<LessOp>);
  registry.add("", "LessOrEqual", 12, kLatestOpset, binary_kernel<LessOrEqualOp>);
  registry.add("", "And", 1, kLatestOpset, binary_kernel<AndOp>);
  registry.add("", "Or", 1, kLatestOpset, binary_kernel<OrOp>);
  registry.add("", "Xor", 1, kLatestOpset, binary_kernel<XorOp>);
  registry.add("", "BitwiseAnd", 18, kLatestOpset, binary_kernel<BitwiseAndOp>);
  registry.add("", "BitwiseOr", 18, kLatestOpset, binary_kernel<BitwiseOrOp>);
  registry.add("", "BitwiseXor", 18, kLatestOpset, binary_kernel<BitwiseXorOp>);
  registry.add("", "BitShift", 11, kLatestOpset, bit_shift);
  registry.add("", "Pow", 1, kLatestOpset, pow_kernel);
  registry.add("", "Max", 1, kLatestOpset, max_kernel);
  registry.add("", "Min", 1, kLatestOpset, min_kernel);
  registry.add("", "Sum", 1, kLatestOpset, sum_kernel);
  registry.add("", "Mean", 1, kLatestOpset, mean_kernel);
  registry.add("", "Where", 9, kLatestOpset, where_kernel);
  registry.add("", "Clip", 1, kLatestOpset, clip_kernel);
  register_unary_kernels(registry);
  register_cast_kernels(registry);
}

}  // namespace qforge::kernels
