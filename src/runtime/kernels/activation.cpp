// SPDX-License-Identifier: Apache-2.0
// Kernel family: activation. Pointwise activations here; Softmax, LogSoftmax and Hardmax in
// softmax.cpp. Registered in register_activation_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_activation.cpp.

// GCC does not if-convert floating-point arithmetic that may trap, so `x < 0 ? a * x : x`
// stays a branch and the loop does not vectorize; these kernels never read FP exception
// flags (clang's default is the same). Before the includes so that templates get it too.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <cmath>

#include "fast_math.h"
#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

void register_softmax_kernels(KernelRegistry& registry);  // softmax.cpp

namespace {

// y = f(x) over a float tensor; f is a generic lambda on the compute type (float or double).
template <typename F>
void float_activation(KernelContext& ctx, F f) {
  const Tensor& x = ctx.input(0);
  visit_float_dtype(x.dtype(), ctx.op(), [&](auto tag) {
    using T = decltype(tag);
    Tensor& out = ctx.allocate_output_in_place(0, 0, x.dtype(), x.shape());
    parallel_map(ctx.num_threads(), x.data<T>(), out.data<T>(), x.numel(), f);
  });
}

// Comparisons with NaN are false, so every `x < 0 ? a : x` form below returns NaN for NaN.
void relu(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  visit_numeric_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_unsigned_v<T>) {  // also bool
      fail(ErrorKind::UnsupportedOp, "{}: dtype {} is not supported", ctx.op().describe(),
           dtype_name(x.dtype()));
    } else {
      Tensor& out = ctx.allocate_output_in_place(0, 0, x.dtype(), x.shape());
      parallel_map(ctx.num_threads(), x.data<T>(), out.data<T>(), x.numel(),
                   [](auto v) { return v < 0 ? decltype(v){0} : v; });
    }
  });
}

void leaky_relu(KernelContext& ctx) {
  const float alpha = ctx.attr_float("alpha", 0.01f);
  float_activation(ctx, [alpha](auto v) {
    using C = decltype(v);
    return v < 0 ? static_cast<C>(alpha) * v : v;
  });
}

void sigmoid(KernelContext& ctx) {
  float_activation(ctx, [](auto v) {
    using C = decltype(v);
    return C{1} / (C{1} + exp_fast(-v));
  });
}

void hard_sigmoid(KernelContext& ctx) {
  const float alpha = ctx.attr_float("alpha", 0.2f), beta = ctx.attr_float("beta", 0.5f);
  float_activation(ctx, [alpha, beta](auto v) {
    using C = decltype(v);
    return std::min(std::max(static_cast<C>(alpha) * v + static_cast<C>(beta), C{0}), C{1});
  });
}

void hard_swish(KernelContext& ctx) {
  float_activation(ctx, [](auto v) {
    using C = decltype(v);
    return v * std::min(std::max(v / C{6} + C{0.5}, C{0}), C{1});
  });
}

void tanh_kernel(KernelContext& ctx) {
  float_activation(ctx, [](auto v) { return tanh_fast(v); });
}

// exp_fast and friends (fast_math.h) keep these loops vectorized for float.
// exp(x) - 1 rather than expm1: numpy and ONNX Runtime compute it that way.
void elu(KernelContext& ctx) {
  const float alpha = ctx.attr_float("alpha", 1.0f);
  float_activation(ctx, [alpha](auto v) {
    using C = decltype(v);
    return v < 0 ? static_cast<C>(alpha) * (exp_fast(v) - C{1}) : v;
  });
}

void selu(KernelContext& ctx) {
  const float alpha = ctx.attr_float("alpha", 1.67326319217681884765625f);
  const float gamma = ctx.attr_float("gamma", 1.05070102214813232421875f);
  float_activation(ctx, [alpha, gamma](auto v) {
    using C = decltype(v);
    const C a = static_cast<C>(alpha), g = static_cast<C>(gamma);
    return v <= 0 ? g * (a * exp_fast(v) - a) : g * v;
  });
}

void celu(KernelContext& ctx) {
  const float alpha = ctx.attr_float("alpha", 1.0f);
  float_activation(ctx, [alpha](auto v) {
    using C = decltype(v);
    const C a = static_cast<C>(alpha);
    return v < 0 ? a * (exp_fast(v / a) - C{1}) : v;
  });
}

void thresholded_relu(KernelContext& ctx) {
  const float alpha = ctx.attr_float("alpha", 1.0f);
  float_activation(ctx, [alpha](auto v) {
    using C = decltype(v);
    return (v > static_cast<C>(alpha) || v != v) ? v : C{0};
  });
}

// log(1 + exp(x)) without overflow for large x.
template <typename C>
C softplus_value(C v) {
  return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
}

void softplus(KernelContext& ctx) {
  float_activation(ctx, [](auto v) { return softplus_value(v); });
}

void softsign(KernelContext& ctx) {
  float_activation(ctx, [](auto v) {
    using C = decltype(v);
    return v / (C{1} + std::abs(v));
  });
}

void mish(KernelContext& ctx) {
  float_activation(ctx, [](auto v) { return v * tanh_fast(softplus_value(v)); });
}

void gelu(KernelContext& ctx) {
  const std::string approximate = ctx.attr_string("approximate", "none");
  if (approximate == "tanh") {
    float_activation(ctx, [](auto v) {
      using C = decltype(v);
      const C k = static_cast<C>(0.7978845608028654);  // sqrt(2 / pi)
      return C{0.5} * v * (C{1} + tanh_fast(k * (v + static_cast<C>(0.044715) * v * v * v)));
    });
  } else if (approximate == "none") {
    float_activation(ctx, [](auto v) {
      using C = decltype(v);
      return C{0.5} * v * (C{1} + erf_fast(v * static_cast<C>(0.7071067811865476)));
    });
  } else {
    fail(ErrorKind::InvalidModel, "{}: approximate must be 'none' or 'tanh', got '{}'",
         ctx.op().describe(), approximate);
  }
}

void shrink(KernelContext& ctx) {
  const double bias = ctx.attr_float("bias", 0.0f), lambd = ctx.attr_float("lambd", 0.5f);
  const Tensor& x = ctx.input(0);
  visit_numeric_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      fail(ErrorKind::UnsupportedOp, "{}: bool is not supported", ctx.op().describe());
    } else {
      Tensor& out = ctx.allocate_output_in_place(0, 0, x.dtype(), x.shape());
      parallel_map(ctx.num_threads(), x.data<T>(), out.data<T>(), x.numel(), [=](auto v) {
        using C = decltype(v);
        const double d = static_cast<double>(v);
        if (d < -lambd) return static_cast<C>(d + bias);
        if (d > lambd) return static_cast<C>(d - bias);
        return d != d ? v : C{0};
      });
    }
  });
}

// PRelu: slope broadcasts to X (numpy rules since opset 7; before, a 1-D slope is per channel).
void prelu(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& slope = ctx.input(1);
  if (slope.dtype() != x.dtype())
    fail(ErrorKind::InvalidModel, "{}: slope dtype {} differs from input dtype {}",
         ctx.op().describe(), dtype_name(slope.dtype()), dtype_name(x.dtype()));
  Shape slope_shape = slope.shape();
  if (ctx.op().opset < 7 && slope.rank() == 1 && x.rank() >= 2 && slope.dim(0) == x.dim(1) &&
      slope.dim(0) != 1)
    slope_shape.resize(static_cast<size_t>(x.rank() - 1), 1);
  const BroadcastPlan plan({x.shape(), slope_shape}, ctx.op());
  if (plan.out_shape() != x.shape())
    fail(ErrorKind::Shape, "{}: slope {} does not broadcast to input {}", ctx.op().describe(),
         shape_to_string(slope.shape()), shape_to_string(x.shape()));
  visit_numeric_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_unsigned_v<T>) {
      fail(ErrorKind::UnsupportedOp, "{}: dtype {} is not supported", ctx.op().describe(),
           dtype_name(x.dtype()));
    } else {
      Tensor& out = ctx.allocate_output_in_place(0, 0, x.dtype(), x.shape());
      broadcast_binary<T, T, T>(ctx.num_threads(), plan, x.data<T>(), slope.data<T>(),
                                out.data<T>(), [](auto v, auto s) { return v < 0 ? s * v : v; });
    }
  });
}

}  // namespace

void register_activation_kernels(KernelRegistry& registry) {
  registry.add("", "Relu", 1, kLatestOpset, relu);
  registry.add("", "LeakyRelu", 1, kLatestOpset, leaky_relu);
  registry.add("", "PRelu", 1, kLatestOpset, prelu);
  registry.add("", "Sigmoid", 1, kLatestOpset, sigmoid);
  registry.add("", "HardSigmoid", 1, kLatestOpset, hard_sigmoid);
  registry.add("", "HardSwish", 14, kLatestOpset, hard_swish);
  registry.add("", "Tanh", 1, kLatestOpset, tanh_kernel);
  registry.add("", "Elu", 1, kLatestOpset, elu);
  registry.add("", "Selu", 1, kLatestOpset, selu);
  registry.add("", "Celu", 12, kLatestOpset, celu);
  registry.add("", "ThresholdedRelu", 10, kLatestOpset, thresholded_relu);
  registry.add("", "Softplus", 1, kLatestOpset, softplus);
  registry.add("", "Softsign", 1, kLatestOpset, softsign);
  registry.add("", "Mish", 18, kLatestOpset, mish);
  registry.add("", "Gelu", 20, kLatestOpset, gelu);
  registry.add("", "Shrink", 9, kLatestOpset, shrink);
  register_softmax_kernels(registry);
}

}  // namespace qforge::kernels
