// SPDX-License-Identifier: Apache-2.0
// Kernel family: elementwise, Cast and CastLike (numeric dtypes, and string in both directions).
// Registered through register_cast_kernels, called by register_elementwise_kernels
// (elementwise.cpp); tested in tests/runtime/test_elementwise.cpp (Cast*).

// GCC does not if-convert floating-point arithmetic that may trap, so `x < 0 ? a * x : x`
// stays a branch and the loop does not vectorize; these kernels never read FP exception
// flags (clang's default is the same). Before the includes so that templates get it too.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

namespace {

// Float -> integer is undefined in C++ out of range; NaN gives 0, values beyond int64
// saturate, and narrower types wrap from int64 (what x86 engines do for in-range int32).
template <typename To>
To float_to_integer(double v) {
  if (std::isnan(v)) return To{0};
  if constexpr (std::is_same_v<To, uint64_t>) {
    if (v >= 18446744073709551616.0) return std::numeric_limits<uint64_t>::max();
    if (v >= 9223372036854775808.0) return static_cast<uint64_t>(v);
  }
  if (v >= 9223372036854775808.0) return static_cast<To>(std::numeric_limits<int64_t>::max());
  if (v < -9223372036854775808.0) return static_cast<To>(std::numeric_limits<int64_t>::min());
  return static_cast<To>(static_cast<int64_t>(v));
}

template <typename To, typename From>
To cast_element(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return static_cast<compute_t<From>>(v) != compute_t<From>{0};
  } else if constexpr (is_float_type_v<From> && std::is_integral_v<To>) {
    return float_to_integer<To>(static_cast<double>(static_cast<compute_t<From>>(v)));
  } else {
    return convert_to<To>(v);
  }
}

// Floats print as the shortest text that reads back to the same value (numpy's str()), with
// ONNX's spellings of the special values.
template <typename T>
std::string to_text(T v) {
  if constexpr (is_float_type_v<T>) {
    const auto c = static_cast<compute_t<T>>(v);
    if (std::isnan(c)) return "NaN";
    if (std::isinf(c)) return c > 0 ? "INF" : "-INF";
    return fmt::format("{}", c);
  } else if constexpr (std::is_same_v<T, bool>) {
    return v ? "1" : "0";
  } else {
    return fmt::format("{}", v);
  }
}

template <typename T>
T from_text(const std::string& text, const Operation& op) {
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  T value{};
  if constexpr (is_float_type_v<T>) {
    // strtod reads "NaN", "INF", "+INF", "-INF" (any case) as ONNX wants.
    value = convert_to<T>(std::strtod(begin, &end));
  } else if constexpr (std::is_same_v<T, bool>) {
    value = std::strtod(begin, &end) != 0.0;
  } else if constexpr (std::is_signed_v<T>) {
    value = static_cast<T>(std::strtoll(begin, &end, 10));
  } else {
    value = static_cast<T>(std::strtoull(begin, &end, 10));
  }
  if (end == begin || *end != '\0')
    fail(ErrorKind::InvalidModel, "{}: cannot cast string '{}' to {}", op.describe(), text,
         dtype_name(dtype_of<T>()));
  return value;
}

void cast_to(KernelContext& ctx, const Tensor& x, DataType to) {
  if (to == x.dtype()) {
    ctx.set_output(0, x);
    return;
  }
  Tensor& out = ctx.allocate_output(0, to, x.shape());
  const int64_t count = x.numel();
  if (x.dtype() == DataType::String) {
    visit_numeric_dtype(to, [&](auto to_tag) {
      using To = decltype(to_tag);
      To* dst = out.data<To>();
      for (int64_t i = 0; i < count; ++i)
        dst[i] = from_text<To>(x.strings()[static_cast<size_t>(i)], ctx.op());
    });
    return;
  }
  visit_numeric_dtype(x.dtype(), [&](auto from_tag) {
    using From = decltype(from_tag);
    const From* src = x.data<From>();
    if (to == DataType::String) {
      for (int64_t i = 0; i < count; ++i) out.strings()[static_cast<size_t>(i)] = to_text(src[i]);
      return;
    }
    visit_numeric_dtype(to, [&](auto to_tag) {
      using To = decltype(to_tag);
      To* dst = out.data<To>();
      parallel_for(ctx.num_threads(), count, kElementwiseGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) dst[i] = cast_element<To>(src[i]);
      });
    });
  });
}

// Opset 1 names the target type with a string ("FLOAT"); later opsets use the enum value.
DataType cast_target(const KernelContext& ctx) {
  const Attribute* to = ctx.op().find_attr("to");
  if (!to) fail(ErrorKind::InvalidModel, "{}: attribute 'to' is missing", ctx.op().describe());
  if (to->type == AttributeType::String) {
    static const std::pair<const char*, DataType> kNames[] = {
        {"FLOAT", DataType::Float},     {"UINT8", DataType::UInt8},   {"INT8", DataType::Int8},
        {"UINT16", DataType::UInt16},   {"INT16", DataType::Int16},   {"INT32", DataType::Int32},
        {"INT64", DataType::Int64},     {"STRING", DataType::String}, {"BOOL", DataType::Bool},
        {"FLOAT16", DataType::Float16}, {"DOUBLE", DataType::Double}, {"UINT32", DataType::UInt32},
        {"UINT64", DataType::UInt64},
    };
    for (const auto& [name, type] : kNames)
      if (to->s == name) return type;
    fail(ErrorKind::InvalidModel, "{}: unknown cast target '{}'", ctx.op().describe(), to->s);
  }
  const int64_t value = ctx.attr_int("to", 0);
  if (value < 0 || value > std::numeric_limits<int32_t>::max() ||
      !dtype_is_known(static_cast<int32_t>(value)) || value == 0)
    fail(ErrorKind::InvalidModel, "{}: unknown cast target {}", ctx.op().describe(), value);
  return static_cast<DataType>(value);
}

void cast_kernel(KernelContext& ctx) {
  cast_to(ctx, ctx.input(0), cast_target(ctx));
}
void cast_like_kernel(KernelContext& ctx) {
  cast_to(ctx, ctx.input(0), ctx.input(1).dtype());
}

}  // namespace

void register_cast_kernels(KernelRegistry& registry) {
  registry.add("", "Cast", 1, kLatestOpset, cast_kernel);
  registry.add("", "CastLike", 15, kLatestOpset, cast_like_kernel);
}

}  // namespace qforge::kernels
