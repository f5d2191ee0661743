// SPDX-License-Identifier: Apache-2.0
// Kernel family: elementwise, unary part: math functions, IsNaN/IsInf, Not and BitwiseNot.
// Registered through register_unary_kernels, called by register_elementwise_kernels
// (elementwise.cpp); tested in tests/runtime/test_elementwise.cpp.

// GCC does not if-convert floating-point arithmetic that may trap, so `x < 0 ? a * x : x`
// stays a branch and the loop does not vectorize; these kernels never read FP exception
// flags (clang's default is the same). Before the includes so that templates get it too.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <cmath>
#include <limits>

#include "fast_math.h"
#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

namespace {

template <typename T>
constexpr bool is_number_v = !std::is_same_v<T, bool>;
template <typename T>
constexpr bool is_int_v = std::is_integral_v<T> && !std::is_same_v<T, bool>;

// A unary op: `supports<T>` lists its element types, `Result<T>` its output element type,
// operator() maps one compute_t<T> value.
template <typename Op>
void unary_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  visit_numeric_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (Op::template supports<T>) {
      using R = typename Op::template Result<T>;
      Tensor& out = ctx.allocate_output_in_place(0, 0, dtype_of<R>(), x.shape());
      parallel_map(ctx.num_threads(), x.data<T>(), out.data<R>(), x.numel(), Op{ctx});
    } else {
      fail(ErrorKind::UnsupportedOp, "{}: dtype {} is not supported", ctx.op().describe(),
           dtype_name(x.dtype()));
    }
  });
}

template <template <typename> class Supports>
struct UnaryBase {
  explicit UnaryBase(const KernelContext&) {}
  template <typename T>
  static constexpr bool supports = Supports<T>::value;
  template <typename T>
  using Result = T;
};
template <typename T>
struct AnyNumber : std::bool_constant<is_number_v<T>> {};
template <typename T>
struct FloatOnly : std::bool_constant<is_float_type_v<T>> {};
template <typename T>
struct IntOnly : std::bool_constant<is_int_v<T>> {};
template <typename T>
struct BoolOnly : std::bool_constant<std::is_same_v<T, bool>> {};

// Float functions: one line each (C is float for float/Float16/BFloat16, double for double).
#define QF_FLOAT_UNARY(Name, expr)     \
  struct Name : UnaryBase<FloatOnly> { \
    using UnaryBase::UnaryBase;        \
    template <typename C>              \
    C operator()(C x) const {          \
      return static_cast<C>(expr);     \
    }                                  \
  };
QF_FLOAT_UNARY(SqrtOp, std::sqrt(x))
QF_FLOAT_UNARY(ReciprocalOp, C{1} / x)
QF_FLOAT_UNARY(ExpOp, exp_fast(x))  // fast_math.h: vectorizable for float
QF_FLOAT_UNARY(LogOp, std::log(x))
QF_FLOAT_UNARY(CeilOp, std::ceil(x))
QF_FLOAT_UNARY(FloorOp, std::floor(x))
QF_FLOAT_UNARY(RoundOp, std::nearbyint(x))  // default rounding mode: half to even
QF_FLOAT_UNARY(ErfOp, erf_fast(x))
QF_FLOAT_UNARY(SinOp, std::sin(x))
QF_FLOAT_UNARY(CosOp, std::cos(x))
QF_FLOAT_UNARY(TanOp, std::tan(x))
QF_FLOAT_UNARY(AsinOp, std::asin(x))
QF_FLOAT_UNARY(AcosOp, std::acos(x))
QF_FLOAT_UNARY(AtanOp, std::atan(x))
QF_FLOAT_UNARY(SinhOp, std::sinh(x))
QF_FLOAT_UNARY(CoshOp, std::cosh(x))
QF_FLOAT_UNARY(AsinhOp, std::asinh(x))
QF_FLOAT_UNARY(AcoshOp, std::acosh(x))
QF_FLOAT_UNARY(AtanhOp, std::atanh(x))
#undef QF_FLOAT_UNARY

struct AbsOp : UnaryBase<AnyNumber> {
  using UnaryBase::UnaryBase;
  template <typename C>
  C operator()(C x) const {
    if constexpr (std::is_unsigned_v<C>)
      return x;
    else if constexpr (std::is_floating_point_v<C>)
      return std::abs(x);
    else
      return static_cast<C>(x < 0 ? -x : x);
  }
};
struct NegOp : UnaryBase<AnyNumber> {
  using UnaryBase::UnaryBase;
  template <typename C>
  C operator()(C x) const {
    if constexpr (std::is_integral_v<C>)  // wraps for MIN instead of overflowing
      return static_cast<C>(0 - static_cast<std::make_unsigned_t<C>>(x));
    else
      return -x;
  }
};
// Sign keeps NaN (x compares false both ways).
struct SignOp : UnaryBase<AnyNumber> {
  using UnaryBase::UnaryBase;
  template <typename C>
  C operator()(C x) const {
    return x > C{0} ? C{1} : (x < C{0} ? static_cast<C>(-1) : x);
  }
};
struct NotOp : UnaryBase<BoolOnly> {
  using UnaryBase::UnaryBase;
  bool operator()(bool x) const { return !x; }
};
struct BitwiseNotOp : UnaryBase<IntOnly> {
  using UnaryBase::UnaryBase;
  template <typename C>
  C operator()(C x) const {
    return static_cast<C>(~x);
  }
};

struct IsNaNOp : UnaryBase<FloatOnly> {
  using UnaryBase::UnaryBase;
  template <typename T>
  using Result = bool;
  template <typename C>
  bool operator()(C x) const {
    return std::isnan(x);
  }
};
struct IsInfOp : UnaryBase<FloatOnly> {
  explicit IsInfOp(const KernelContext& ctx)
      : UnaryBase(ctx),
        negative(ctx.attr_int("detect_negative", 1) != 0),
        positive(ctx.attr_int("detect_positive", 1) != 0) {}
  template <typename T>
  using Result = bool;
  bool negative, positive;
  template <typename C>
  bool operator()(C x) const {
    return std::isinf(x) && (x > 0 ? positive : negative);
  }
};

}  // namespace

void register_unary_kernels(KernelRegistry& registry) {
  registry.add("", "Abs", 1, kLatestOpset, unary_kernel<AbsOp>);
  registry.add("", "Neg", 1, kLatestOpset, unary_kernel<NegOp>);
  registry.add("", "Sign", 9, kLatestOpset, unary_kernel<SignOp>);
  registry.add("", "Sqrt", 1, kLatestOpset, unary_kernel<SqrtOp>);
  registry.add("", "Reciprocal", 1, kLatestOpset, unary_kernel<ReciprocalOp>);
  registry.add("", "Exp", 1, kLatestOpset, unary_kernel<ExpOp>);
  registry.add("", "Log", 1, kLatestOpset, unary_kernel<LogOp>);
  registry.add("", "Ceil", 1, kLatestOpset, unary_kernel<CeilOp>);
  registry.add("", "Floor", 1, kLatestOpset, unary_kernel<FloorOp>);
  registry.add("", "Round", 11, kLatestOpset, unary_kernel<RoundOp>);
  registry.add("", "Erf", 9, kLatestOpset, unary_kernel<ErfOp>);
  registry.add("", "Sin", 7, kLatestOpset, unary_kernel<SinOp>);
  registry.add("", "Cos", 7, kLatestOpset, unary_kernel<CosOp>);
  registry.add("", "Tan", 7, kLatestOpset, unary_kernel<TanOp>);
  registry.add("", "Asin", 7, kLatestOpset, unary_kernel<AsinOp>);
  registry.add("", "Acos", 7, kLatestOpset, unary_kernel<AcosOp>);
  registry.add("", "Atan", 7, kLatestOpset, unary_kernel<AtanOp>);
  registry.add("", "Sinh", 9, kLatestOpset, unary_kernel<SinhOp>);
  registry.add("", "Cosh", 9, kLatestOpset, unary_kernel<CoshOp>);
  registry.add("", "Asinh", 9, kLatestOpset, unary_kernel<AsinhOp>);
  registry.add("", "Acosh", 9, kLatestOpset, unary_kernel<AcoshOp>);
  registry.add("", "Atanh", 9, kLatestOpset, unary_kernel<AtanhOp>);
  registry.add("", "IsNaN", 9, kLatestOpset, unary_kernel<IsNaNOp>);
  registry.add("", "IsInf", 10, kLatestOpset, unary_kernel<IsInfOp>);
  registry.add("", "Not", 1, kLatestOpset, unary_kernel<NotOp>);
  registry.add("", "BitwiseNot", 18, kLatestOpset, unary_kernel<BitwiseNotOp>);
}

}  // namespace qforge::kernels
