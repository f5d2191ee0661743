// SPDX-License-Identifier: Apache-2.0
// Kernel family: quantization (QuantizeLinear, DequantizeLinear: per tensor, per axis and
// blocked; DynamicQuantizeLinear). Registered in register_quantization_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_quantization.cpp.
#include <cmath>
#include <limits>

#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

namespace {

// Integer range of a quantized dtype; 4-bit types are stored one value per byte.
struct QuantRange {
  int64_t qmin;
  int64_t qmax;
};

QuantRange quant_range(DataType type, const Operation& op) {
  switch (type) {
    case DataType::UInt8:
      return {0, 255};
    case DataType::Int8:
      return {-128, 127};
    case DataType::UInt16:
      return {0, 65535};
    case DataType::Int16:
      return {-32768, 32767};
    case DataType::UInt4:
      return {0, 15};
    case DataType::Int4:
      return {-8, 7};
    case DataType::Int32:
      return {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
    default:
      break;
  }
  fail(ErrorKind::UnsupportedOp, "{}: quantized dtype {} is not supported", op.describe(),
       dtype_name(type));
}

// Reads/writes element i of an integer tensor of any quantized dtype (4-bit types unpacked).
int64_t load_int(const Tensor& t, int64_t i) {
  const void* p = t.raw();
  switch (t.dtype()) {
    case DataType::UInt8:
    case DataType::UInt4:
      return static_cast<const uint8_t*>(p)[i];
    case DataType::Int8:
    case DataType::Int4:
      return static_cast<const int8_t*>(p)[i];
    case DataType::UInt16:
      return static_cast<const uint16_t*>(p)[i];
    case DataType::Int16:
      return static_cast<const int16_t*>(p)[i];
    case DataType::Int32:
      return static_cast<const int32_t*>(p)[i];
    default:
      QF_ASSERT(false);
  }
  return 0;
}

// Where the scale/zero point of each element comes from: x is viewed as [outer, channels,
// inner]; per tensor is channels == 1. Blocked (opset 21) groups `block` channels per scale.
struct QuantLayout {
  int64_t outer = 1, channels = 1, inner = 1;
  bool per_tensor = true;
  int64_t block = 0;           // > 0: blocked quantization
  int64_t scale_channels = 1;  // scale's dim at axis when blocked
};

QuantLayout quant_layout(const KernelContext& ctx, const Tensor& x, const Tensor& scale) {
  const Operation& op = ctx.op();
  QuantLayout layout;
  const int64_t block = ctx.attr_int("block_size", 0);
  if (scale.numel() == 1 && block <= 0) {
    layout.inner = x.numel();
    return layout;
  }
  const int axis = normalize_axis(ctx.attr_int("axis", 1), x.rank(), op);
  layout.per_tensor = false;
  layout.outer = dims_product(x.shape(), 0, axis);
  layout.channels = x.dim(axis);
  layout.inner = dims_product(x.shape(), axis + 1, x.rank());
  if (block <= 0) {
    if (scale.rank() != 1 || scale.dim(0) != layout.channels)
      fail(ErrorKind::Shape, "{}: per-axis scale of shape {} does not match dim {} ({}) of {}",
           op.describe(), shape_to_string(scale.shape()), axis, layout.channels,
           shape_to_string(x.shape()));
    return layout;
  }
  Shape expected = x.shape();
  expected[axis] = (layout.channels + block - 1) / block;
  if (scale.shape() != expected)
    fail(ErrorKind::Shape, "{}: blocked scale has shape {}, expected {} for block_size {}",
         op.describe(), shape_to_string(scale.shape()), shape_to_string(expected), block);
  layout.block = block;
  layout.scale_channels = expected[axis];
  return layout;
}

// Calls fn(element_begin, count, param_index, param_stride): a run of `count` contiguous
// elements whose scale/zero point index is param_index + i * param_stride.
template <typename Fn>
void for_each_param_run(const QuantLayout& l, Fn&& fn) {
  if (l.per_tensor) {
    fn(int64_t{0}, l.inner, int64_t{0}, int64_t{0});
    return;
  }
  for (int64_t o = 0; o < l.outer; ++o)
    for (int64_t c = 0; c < l.channels; ++c) {
      const int64_t begin = (o * l.channels + c) * l.inner;
      if (l.block > 0)
        fn(begin, l.inner, (o * l.scale_channels + c / l.block) * l.inner, int64_t{1});
      else
        fn(begin, l.inner, c, int64_t{0});
    }
}

void check_zero_point(const KernelContext& ctx, const Tensor* zp, const Tensor& scale) {
  if (zp && zp->shape() != scale.shape() && !(zp->numel() == 1 && scale.numel() == 1))
    fail(ErrorKind::Shape, "{}: zero point shape {} differs from scale shape {}",
         ctx.op().describe(), shape_to_string(zp->shape()), shape_to_string(scale.shape()));
}

// ONNX Runtime's formula (MLAS): v = x / scale as a float division, clamped in float to
// [qmin - zp, qmax - zp] (NaN goes to the low end, like MAXPS), rounded half to even, + zp.
inline int64_t quantize_one(float x, float scale, int64_t zp, QuantRange range) {
  const float lo = static_cast<float>(range.qmin - zp);
  const float hi = static_cast<float>(range.qmax - zp);
  float v = x / scale;
  v = v >= lo ? v : lo;
  v = v <= hi ? v : hi;
  return static_cast<int64_t>(std::nearbyint(v)) + zp;
}

template <typename Q>
void quantize_run(const float* x, Q* y, int64_t count, const float* scale, const Tensor* zp,
                  int64_t param, int64_t stride, QuantRange range) {
  if (stride == 0) {
    const float s = scale[param];
    const int64_t z = zp ? load_int(*zp, param) : 0;
    for (int64_t i = 0; i < count; ++i) y[i] = static_cast<Q>(quantize_one(x[i], s, z, range));
    return;
  }
  for (int64_t i = 0; i < count; ++i) {
    const int64_t p = param + i * stride;
    y[i] = static_cast<Q>(quantize_one(x[i], scale[p], zp ? load_int(*zp, p) : 0, range));
  }
}

template <typename Q>
void quantize_into(const float* x, Tensor& y, const QuantLayout& layout,
                   const std::vector<float>& scale, const Tensor* zp, QuantRange range,
                   int threads) {
  Q* out = reinterpret_cast<Q*>(y.raw());
  if (layout.per_tensor) {
    parallel_for(threads, y.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
      quantize_run(x + begin, out + begin, end - begin, scale.data(), zp, 0, 0, range);
    });
    return;
  }
  for_each_param_run(layout, [&](int64_t begin, int64_t count, int64_t param, int64_t stride) {
    quantize_run(x + begin, out + begin, count, scale.data(), zp, param, stride, range);
  });
}

DataType quantize_output_dtype(const KernelContext& ctx, const Tensor* zp) {
  if (zp) return zp->dtype();
  const int64_t attr = ctx.attr_int("output_dtype", 0);
  return attr == 0 ? DataType::UInt8 : static_cast<DataType>(attr);
}

void quantize_linear(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* zp = ctx.optional_input(2);
  if (x.dtype() != DataType::Float && x.dtype() != DataType::Float16 &&
      x.dtype() != DataType::BFloat16 && x.dtype() != DataType::Int32)
    fail(ErrorKind::UnsupportedOp, "{}: input dtype {} is not supported", ctx.op().describe(),
         dtype_name(x.dtype()));
  check_zero_point(ctx, zp, scale);
  const DataType out_type = quantize_output_dtype(ctx, zp);
  const QuantRange range = quant_range(out_type, ctx.op());
  const QuantLayout layout = quant_layout(ctx, x, scale);
  // Float input is read in place; other dtypes go through a float copy.
  std::vector<float> converted;
  if (x.dtype() != DataType::Float) converted = x.to_float_vector();
  const float* xs = x.dtype() == DataType::Float ? x.data<float>() : converted.data();
  const std::vector<float> scales = scale.to_float_vector();
  Tensor& y = ctx.allocate_output(0, out_type, x.shape());
  const int threads = ctx.num_threads();
  switch (out_type) {
    case DataType::UInt8:
    case DataType::UInt4:
      quantize_into<uint8_t>(xs, y, layout, scales, zp, range, threads);
      break;
    case DataType::Int8:
    case DataType::Int4:
      quantize_into<int8_t>(xs, y, layout, scales, zp, range, threads);
      break;
    case DataType::UInt16:
      quantize_into<uint16_t>(xs, y, layout, scales, zp, range, threads);
      break;
    case DataType::Int16:
      quantize_into<int16_t>(xs, y, layout, scales, zp, range, threads);
      break;
    default:
      quantize_into<int32_t>(xs, y, layout, scales, zp, range, threads);
      break;
  }
}

// (q - zp) in integers, converted to float, times scale (ONNX Runtime's order).
void dequantize_linear(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* zp = ctx.optional_input(2);
  quant_range(x.dtype(), ctx.op());  // rejects unsupported input dtypes
  if (zp && zp->dtype() != x.dtype())
    fail(ErrorKind::InvalidModel, "{}: zero point dtype {} differs from input dtype {}",
         ctx.op().describe(), dtype_name(zp->dtype()), dtype_name(x.dtype()));
  check_zero_point(ctx, zp, scale);
  const QuantLayout layout = quant_layout(ctx, x, scale);
  const std::vector<float> scales = scale.to_float_vector();
  Tensor result(DataType::Float, x.shape());
  float* out = result.data<float>();
  auto run_typed = [&](auto tag, int64_t begin, int64_t count, int64_t param, int64_t stride) {
    using Q = decltype(tag);
    const Q* q = static_cast<const Q*>(x.raw()) + begin;
    if (stride == 0) {
      const int64_t z = zp ? load_int(*zp, param) : 0;
      const float s = scales[param];
      for (int64_t i = 0; i < count; ++i)
        out[begin + i] = static_cast<float>(static_cast<int64_t>(q[i]) - z) * s;
      return;
    }
    for (int64_t i = 0; i < count; ++i) {
      const int64_t p = param + i * stride;
      const int64_t z = zp ? load_int(*zp, p) : 0;
      out[begin + i] = static_cast<float>(static_cast<int64_t>(q[i]) - z) * scales[p];
    }
  };
  auto run = [&](int64_t begin, int64_t count, int64_t param, int64_t stride) {
    switch (x.dtype()) {
      case DataType::UInt8:
      case DataType::UInt4:
        run_typed(uint8_t{}, begin, count, param, stride);
        break;
      case DataType::Int8:
      case DataType::Int4:
        run_typed(int8_t{}, begin, count, param, stride);
        break;
      case DataType::UInt16:
        run_typed(uint16_t{}, begin, count, param, stride);
        break;
      case DataType::Int16:
        run_typed(int16_t{}, begin, count, param, stride);
        break;
      default:
        run_typed(int32_t{}, begin, count, param, stride);
        break;
    }
  };
  if (layout.per_tensor)
    parallel_for(ctx.num_threads(), x.numel(), kElementwiseGrain,
                 [&](int64_t begin, int64_t end) { run(begin, end - begin, 0, 0); });
  else
    for_each_param_run(layout, run);
  const DataType out_type = dtype_is_floating(scale.dtype()) ? scale.dtype() : DataType::Float;
  ctx.set_output(0, out_type == DataType::Float ? result : result.cast(out_type));
}

// uint8 dynamic quantization with ONNX Runtime's parameters: the range always includes 0, a
// zero range gives scale 1, the zero point is rounded half to even after clamping.
void dynamic_quantize_linear(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DataType::Float)
    fail(ErrorKind::UnsupportedOp, "{}: input dtype {} is not supported (float only)",
         ctx.op().describe(), dtype_name(x.dtype()));
  const float* data = x.data<float>();
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < x.numel(); ++i) {
    lo = std::min(lo, data[i]);
    hi = std::max(hi, data[i]);
  }
  const float scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
  const float initial_zp = 0.0f - lo / scale;
  const float zp = std::nearbyint(std::max(0.0f, std::min(255.0f, initial_zp)));
  const Tensor zp_tensor = Tensor::scalar<uint8_t>(static_cast<uint8_t>(zp));
  Tensor& y = ctx.allocate_output(0, DataType::UInt8, x.shape());
  const std::vector<float> scales{scale};
  QuantLayout layout;
  layout.inner = x.numel();
  quantize_into<uint8_t>(data, y, layout, scales, &zp_tensor, {0, 255}, ctx.num_threads());
  ctx.set_output(1, Tensor::scalar<float>(scale));
  ctx.set_output(2, zp_tensor);
}

}  // namespace

void register_quantization_kernels(KernelRegistry& registry) {
  registry.add("", "QuantizeLinear", 10, kLatestOpset, quantize_linear);
  registry.add("", "DequantizeLinear", 10, kLatestOpset, dequantize_linear);
  registry.add("", "DynamicQuantizeLinear", 11, kLatestOpset, dynamic_quantize_linear);
}

}  // namespace qforge::kernels
