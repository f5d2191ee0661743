// SPDX-License-Identifier: Apache-2.0
// Kernel family: pooling. Windowed MaxPool (with Indices), AveragePool and LpPool over 1-3
// spatial dims, their Global forms, and MaxUnpool; MaxRoiPool and RoiAlign are in roi_pool.cpp.
// Registered in register_pooling_kernels (listed in src/runtime/kernel_registry.cpp); tested in
// tests/runtime/test_pooling.cpp.
#include <cmath>
#include <limits>

#include "kernel_families.h"
#include "kernel_util.h"
#include "nn_util.h"
#include "pooling_channels_last.h"

namespace qforge::kernels {

void register_roi_pool_kernels(KernelRegistry& registry);  // roi_pool.cpp

namespace {

// Kernel taps [lo, hi) of output `o` along slot s whose input position lies in
// [-extra_begin, in + extra_end): the whole padded window when the extras are the pads.
struct Taps {
  int64_t lo, hi, base;  // input position of tap k is base + k * dilation
};
Taps taps(const WindowGeometry& g, int s, int64_t o, int64_t extra_begin = 0,
          int64_t extra_end = 0) {
  const int64_t base = o * g.stride[s] - g.pad_begin[s], d = g.dilation[s];
  const int64_t first = -extra_begin - base,
                last = g.in[s] + extra_end - 1 - base;  // pos - base range
  int64_t lo = first <= 0 ? 0 : (first + d - 1) / d;
  int64_t hi = last < 0 ? 0 : last / d + 1;
  lo = std::min(lo, g.kernel[s]);
  hi = std::clamp(hi, lo, g.kernel[s]);
  return {lo, hi, base};
}

struct PoolShape {
  WindowGeometry g;
  int64_t planes = 0;  // N * C
  Shape out_shape;
};

PoolShape pool_shape(const KernelContext& ctx, const Tensor& x, bool allow_ceil) {
  const std::vector<int64_t> kernel = ctx.attr_ints("kernel_shape");
  if (kernel.empty())
    fail(ErrorKind::InvalidModel, "{}: kernel_shape is required", ctx.op().describe());
  PoolShape p;
  p.g = window_geometry(ctx, x.shape(), kernel, allow_ceil && ctx.attr_int("ceil_mode", 0) != 0);
  p.planes = x.dim(0) * x.dim(1);
  p.out_shape = {x.dim(0), x.dim(1)};
  for (int64_t d : p.g.out_dims()) p.out_shape.push_back(d);
  return p;
}

// The taps of every output position along each slot, computed once per kernel call (the
// divisions in taps() would otherwise dominate small windows).
struct WindowTaps {
  std::vector<Taps> slot[3];
};
WindowTaps window_taps(const WindowGeometry& g) {
  WindowTaps t;
  for (int s = 0; s < 3; ++s)
    for (int64_t o = 0; o < g.out[s]; ++o) t.slot[s].push_back(taps(g, s, o));
  return t;
}

// Calls visit(out_index, coords, taps_d, taps_h, taps_w) for every output position of a plane.
template <typename Fn>
void for_each_window(const WindowGeometry& g, const WindowTaps& t, Fn&& visit) {
  int64_t o = 0, coord[3];
  for (coord[0] = 0; coord[0] < g.out[0]; ++coord[0])
    for (coord[1] = 0; coord[1] < g.out[1]; ++coord[1])
      for (coord[2] = 0; coord[2] < g.out[2]; ++coord[2], ++o)
        visit(o, static_cast<const int64_t*>(coord), t.slot[0][coord[0]], t.slot[1][coord[1]],
              t.slot[2][coord[2]]);
}

int64_t plane_grain(const WindowGeometry& g) {
  return std::max<int64_t>(1, 8192 / std::max<int64_t>(1, g.out_size() * g.kernel_size()));
}

// ---- MaxPool ----

// Max over one window; `Track` also records the first position of the maximum.
template <typename T, bool Track>
T window_max(const T* plane, const WindowGeometry& g, const Taps& td, const Taps& th,
             const Taps& tw, bool column_major, int64_t* best_pos) {
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  T best = std::numeric_limits<T>::lowest();
  for (int64_t kd = td.lo; kd < td.hi; ++kd) {
    const int64_t id = td.base + kd * g.dilation[0];
    for (int64_t kh = th.lo; kh < th.hi; ++kh) {
      const int64_t ih = th.base + kh * g.dilation[1];
      const T* row = plane + (id * H + ih) * W + tw.base;
      for (int64_t kw = tw.lo; kw < tw.hi; ++kw) {
        const T v = row[kw * g.dilation[2]];
        if constexpr (Track) {
          if (v > best || *best_pos < 0) {
            best = v;
            const int64_t iw = tw.base + kw * g.dilation[2];
            *best_pos = column_major ? id + D * (ih + H * iw) : (id * H + ih) * W + iw;
          }
        } else {
          best = v > best ? v : best;
        }
      }
    }
  }
  return best;
}

// MaxPool over one 2-D plane without Indices, separably: the max of the window's rows first
// (a vectorizable pass over whole rows), then the max along each output's columns.
template <typename T>
void max_pool_plane_2d(const T* plane, const WindowGeometry& g, const WindowTaps& t, T* rowmax,
                       T* out) {
  const int64_t W = g.in[2];
  for (int64_t oh = 0; oh < g.out[1]; ++oh) {
    const Taps& th = t.slot[1][oh];
    std::fill(rowmax, rowmax + W, std::numeric_limits<T>::lowest());
    for (int64_t kh = th.lo; kh < th.hi; ++kh) {
      const T* row = plane + (th.base + kh * g.dilation[1]) * W;
      for (int64_t iw = 0; iw < W; ++iw) rowmax[iw] = row[iw] > rowmax[iw] ? row[iw] : rowmax[iw];
    }
    T* o = out + oh * g.out[2];
    for (int64_t ow = 0; ow < g.out[2]; ++ow) {
      const Taps& tw = t.slot[2][ow];
      T best = std::numeric_limits<T>::lowest();
      for (int64_t kw = tw.lo; kw < tw.hi; ++kw) {
        const T v = rowmax[tw.base + kw * g.dilation[2]];
        best = v > best ? v : best;
      }
      o[ow] = best;
    }
  }
}

template <typename T>
void max_pool(const T* x, T* y, int64_t* indices, const PoolShape& p, bool column_major,
              int threads) {
  const WindowGeometry& g = p.g;
  const WindowTaps t = window_taps(g);
  if (!indices && g.in[0] == 1 && g.kernel[0] == 1) {
    parallel_for(threads, p.planes, plane_grain(g), [&](int64_t begin, int64_t end) {
      std::vector<T> rowmax(static_cast<size_t>(g.in[2]));
      for (int64_t c = begin; c < end; ++c)
        max_pool_plane_2d(x + c * g.in_size(), g, t, rowmax.data(), y + c * g.out_size());
    });
    return;
  }
  parallel_for(threads, p.planes, plane_grain(g), [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const T* plane = x + c * g.in_size();
      T* out = y + c * g.out_size();
      for_each_window(
          g, t, [&](int64_t o, const int64_t*, const Taps& td, const Taps& th, const Taps& tw) {
            if (!indices) {
              out[o] = window_max<T, false>(plane, g, td, th, tw, column_major, nullptr);
              return;
            }
            int64_t pos = -1;
            out[o] = window_max<T, true>(plane, g, td, th, tw, column_major, &pos);
            indices[c * g.out_size() + o] = pos < 0 ? -1 : c * g.in_size() + pos;
          });
    }
  });
}

void max_pool_op(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, max_pool_op);
  const Tensor& x = ctx.input(0);
  const PoolShape p = pool_shape(ctx, x, true);
  const bool column_major = ctx.attr_int("storage_order", 0) != 0;
  const auto run = [&](auto tag) {
    using T = decltype(tag);
    Tensor& y =
        ctx.allocate_output(0, x.dtype(), p.out_shape, KernelContext::OutputInit::Uninitialized);
    int64_t* indices = nullptr;
    if (ctx.output_wanted(1))
      indices = ctx.allocate_output(1, DataType::Int64, p.out_shape).data<int64_t>();
    max_pool<T>(x.data<T>(), y.data<T>(), indices, p, column_major, ctx.num_threads());
  };
  switch (x.dtype()) {
    case DataType::Float:
      return run(float{});
    case DataType::Double:
      return run(double{});
    case DataType::Int8:
      return run(int8_t{});
    case DataType::UInt8:
      return run(uint8_t{});
    default:
      fail(ErrorKind::UnsupportedOp, "{}: dtype {} is not supported", ctx.op().describe(),
           dtype_name(x.dtype()));
  }
}

// ---- AveragePool and LpPool ----

// Sum over the valid taps of f(x); the divisor for AveragePool (count_include_pad counts the
// taps inside the padded input, otherwise only the valid ones).
template <typename T, typename F, typename Finish>
void sum_pool(const T* x, T* y, const PoolShape& p, bool include_pad, int threads, F f,
              Finish finish) {
  const WindowGeometry& g = p.g;
  const WindowTaps t = window_taps(g);
  // Divisor per slot and output index: taps inside the input, or inside the padded input.
  std::vector<int64_t> counts[3];
  for (int s = 0; s < 3; ++s)
    for (int64_t o = 0; o < g.out[s]; ++o) {
      const Taps k = include_pad ? taps(g, s, o, g.pad_begin[s], g.pad_end[s]) : taps(g, s, o);
      counts[s].push_back(k.hi - k.lo);
    }
  parallel_for(threads, p.planes, plane_grain(g), [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const T* plane = x + c * g.in_size();
      T* out = y + c * g.out_size();
      for_each_window(
          g, t,
          [&](int64_t o, const int64_t* coord, const Taps& td, const Taps& th, const Taps& tw) {
            double sum = 0;
            for (int64_t kd = td.lo; kd < td.hi; ++kd)
              for (int64_t kh = th.lo; kh < th.hi; ++kh) {
                const T* row =
                    plane +
                    ((td.base + kd * g.dilation[0]) * g.in[1] + th.base + kh * g.dilation[1]) *
                        g.in[2] +
                    tw.base;
                for (int64_t kw = tw.lo; kw < tw.hi; ++kw)
                  sum += f(static_cast<double>(row[kw * g.dilation[2]]));
              }
            const int64_t count = counts[0][coord[0]] * counts[1][coord[1]] * counts[2][coord[2]];
            out[o] = static_cast<T>(finish(sum, count));
          });
    }
  });
}

void average_pool_op(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, average_pool_op);
  const Tensor& x = ctx.input(0);
  const PoolShape p = pool_shape(ctx, x, true);
  const bool include_pad = ctx.attr_int("count_include_pad", 0) != 0;
  visit_float_dtype(x.dtype(), ctx.op(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      Tensor& y =
          ctx.allocate_output(0, x.dtype(), p.out_shape, KernelContext::OutputInit::Uninitialized);
      sum_pool<T>(
          x.data<T>(), y.data<T>(), p, include_pad, ctx.num_threads(), [](double v) { return v; },
          [](double sum, int64_t count) {
            return count > 0 ? sum / static_cast<double>(count) : 0.0;
          });
    }
  });
}

double lp_order(const KernelContext& ctx) {
  // Opset 1 stored p as a float, later opsets as an int.
  const Attribute* a = ctx.op().find_attr("p");
  const double p = !a ? 2.0 : a->type == AttributeType::Float ? a->f : static_cast<double>(a->i);
  if (!(p > 0))
    fail(ErrorKind::InvalidModel, "{}: p must be positive, got {}", ctx.op().describe(), p);
  return p;
}

void lp_pool_op(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, lp_pool_op);
  const Tensor& x = ctx.input(0);
  const PoolShape p = pool_shape(ctx, x, true);
  const double order = lp_order(ctx);
  visit_float_dtype(x.dtype(), ctx.op(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      Tensor& y =
          ctx.allocate_output(0, x.dtype(), p.out_shape, KernelContext::OutputInit::Uninitialized);
      sum_pool<T>(
          x.data<T>(), y.data<T>(), p, false, ctx.num_threads(),
          [order](double v) { return order == 2.0 ? v * v : std::pow(std::abs(v), order); },
          [order](double sum, int64_t) {
            return order == 2.0 ? std::sqrt(sum) : std::pow(sum, 1.0 / order);
          });
    }
  });
}

// ---- Global pools ----

enum class GlobalKind { Average, Max, Lp };

template <typename T>
void global_pool(const T* x, T* y, int64_t planes, int64_t size, GlobalKind kind, double order,
                 int threads) {
  parallel_for(threads, planes, std::max<int64_t>(1, 16384 / std::max<int64_t>(size, 1)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t c = begin; c < end; ++c) {
                   const T* v = x + c * size;
                   if (kind == GlobalKind::Max) {
                     T best = size > 0 ? v[0] : T(0);
                     for (int64_t i = 1; i < size; ++i) best = v[i] > best ? v[i] : best;
                     y[c] = best;
                   } else if (kind == GlobalKind::Average) {
                     double sum = 0;
                     for (int64_t i = 0; i < size; ++i) sum += static_cast<double>(v[i]);
                     y[c] = static_cast<T>(size > 0 ? sum / static_cast<double>(size) : 0.0);
                   } else {
                     double sum = 0;
                     for (int64_t i = 0; i < size; ++i)
                       sum += std::pow(std::abs(static_cast<double>(v[i])), order);
                     y[c] = static_cast<T>(std::pow(sum, 1.0 / order));
                   }
                 }
               });
}

template <GlobalKind kKind>
void global_pool_op(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, global_pool_op<kKind>);
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) fail(ErrorKind::Shape, "{}: input needs rank >= 2", ctx.op().describe());
  Shape out_shape = x.shape();
  for (size_t d = 2; d < out_shape.size(); ++d) out_shape[d] = 1;
  const double order = kKind == GlobalKind::Lp ? lp_order(ctx) : 2.0;
  const int64_t planes = x.dim(0) * x.dim(1), size = dims_product(x.shape(), 2, x.rank());
  const auto run = [&](auto tag) {
    using T = decltype(tag);
    Tensor& y = ctx.allocate_output(0, x.dtype(), out_shape);
    global_pool<T>(x.data<T>(), y.data<T>(), planes, size, kKind, order, ctx.num_threads());
  };
  if (x.dtype() == DataType::Float) return run(float{});
  if (x.dtype() == DataType::Double) return run(double{});
  if (kKind == GlobalKind::Max && x.dtype() == DataType::Int8) return run(int8_t{});
  if (kKind == GlobalKind::Max && x.dtype() == DataType::UInt8) return run(uint8_t{});
  fail(ErrorKind::UnsupportedOp, "{}: dtype {} is not supported", ctx.op().describe(),
       dtype_name(x.dtype()));
}

// ---- MaxUnpool ----

// The MaxPool input shape this unpool inverts: (in - 1) * stride + kernel - pads.
Shape unpool_shape(const KernelContext& ctx, const Tensor& x) {
  const std::vector<int64_t> kernel = ctx.attr_ints("kernel_shape");
  const size_t spatial = x.shape().size() - 2;
  if (kernel.size() != spatial)
    fail(ErrorKind::InvalidModel, "{}: kernel_shape needs {} values", ctx.op().describe(), spatial);
  const std::vector<int64_t> strides = ctx.attr_ints("strides", std::vector<int64_t>(spatial, 1));
  const std::vector<int64_t> pads = ctx.attr_ints("pads", std::vector<int64_t>(2 * spatial, 0));
  if (strides.size() != spatial || pads.size() != 2 * spatial)
    fail(ErrorKind::InvalidModel, "{}: strides or pads have the wrong length", ctx.op().describe());
  Shape shape = {x.dim(0), x.dim(1)};
  for (size_t i = 0; i < spatial; ++i)
    shape.push_back((x.dim(static_cast<int>(i + 2)) - 1) * strides[i] + kernel[i] - pads[i] -
                    pads[i + spatial]);
  return shape;
}

// Indices address the inferred shape; an explicit output_shape pads (or crops) it at the end
// of each dim, as the ONNX reference does.
std::vector<int64_t> unpool_targets(const KernelContext& ctx, const std::vector<int64_t>& idx,
                                    const Shape& inferred, const Shape& out) {
  const int64_t total = shape_numel(inferred);
  const std::vector<int64_t> out_strides = contiguous_strides(out);
  std::vector<int64_t> targets(idx.size(), -1);
  for (size_t i = 0; i < idx.size(); ++i) {
    if (idx[i] < 0 || idx[i] >= total)
      fail(ErrorKind::Argument, "{}: index {} is outside the unpooled tensor of {} elements",
           ctx.op().describe(), idx[i], total);
    int64_t rest = idx[i], target = 0;
    for (size_t d = inferred.size(); d-- > 0;) {
      const int64_t coord = rest % inferred[d];
      rest /= inferred[d];
      if (coord >= out[d]) {
        target = -1;
        break;
      }
      target += coord * out_strides[d];
    }
    targets[i] = target;
  }
  return targets;
}

void max_unpool_op(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, max_unpool_op);
  const Tensor& x = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  if (indices.shape() != x.shape() || x.rank() < 3)
    fail(ErrorKind::Shape, "{}: X {} and I {} need the same shape of rank >= 3",
         ctx.op().describe(), shape_to_string(x.shape()), shape_to_string(indices.shape()));
  const Shape inferred = unpool_shape(ctx, x);
  Shape out_shape = inferred;
  if (const Tensor* os = ctx.optional_input(2)) {
    out_shape = read_int_list(*os, ctx.op(), "output_shape");
    if (out_shape.size() != inferred.size())
      fail(ErrorKind::Shape, "{}: output_shape {} has the wrong rank", ctx.op().describe(),
           shape_to_string(out_shape));
  }
  const std::vector<int64_t> targets =
      unpool_targets(ctx, read_int_list(indices, ctx.op(), "I"), inferred, out_shape);
  visit_numeric_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    Tensor& y = ctx.allocate_output(0, x.dtype(), out_shape);
    const T* src = x.data<T>();
    T* dst = y.data<T>();
    for (size_t i = 0; i < targets.size(); ++i)
      if (targets[i] >= 0) dst[targets[i]] = src[i];
  });
}

}  // namespace

void register_pooling_kernels(KernelRegistry& registry) {
  registry.add("", "MaxPool", 1, kLatestOpset, max_pool_op);
  registry.add("", "AveragePool", 1, kLatestOpset, average_pool_op);
  registry.add("", "LpPool", 1, kLatestOpset, lp_pool_op);
  registry.add("", "GlobalAveragePool", 1, kLatestOpset, global_pool_op<GlobalKind::Average>);
  registry.add("", "GlobalMaxPool", 1, kLatestOpset, global_pool_op<GlobalKind::Max>);
  registry.add("", "GlobalLpPool", 1, kLatestOpset, global_pool_op<GlobalKind::Lp>);
  registry.add("", "MaxUnpool", 9, kLatestOpset, max_unpool_op);
  register_roi_pool_kernels(registry);
  register_channels_last_pooling_kernels(registry);
}

}  // namespace qforge::kernels
