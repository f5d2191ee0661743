// SPDX-License-Identifier: Apache-2.0
// Kernel family: resize: Resize (opset 10, 11, 13, 18, 19 forms) and Upsample (7-10); GridSample
// is in grid_sample.cpp. Nearest resizes any dtype through per-axis index tables; linear and
// cubic interpolate one axis at a time (the filters are separable). Registered in
// register_resize_kernels (src/runtime/kernel_registry.cpp); tested in
// tests/runtime/test_resize.cpp.
#include <algorithm>
#include <cmath>

#include "axis_copy.h"
#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

void register_grid_sample_kernels(KernelRegistry& registry);  // grid_sample.cpp

namespace {

enum class Mode { Nearest, Linear, Cubic };
enum class Transform {
  HalfPixel,
  HalfPixelSymmetric,
  PytorchHalfPixel,
  AlignCorners,
  Asymmetric,
  TfHalfPixelForNn,
  TfCropAndResize
};
// Simple: Resize-10 / Upsample, which had no nearest_mode (truncate; ceil when downsampling).
enum class NearestMode { RoundPreferFloor, RoundPreferCeil, Floor, Ceil, Simple };

struct ResizeParams {
  Mode mode = Mode::Nearest;
  Transform transform = Transform::HalfPixel;
  NearestMode nearest = NearestMode::RoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;
  float extrapolation = 0.0f;
  std::vector<double> scales;  // per axis
  // Per axis: the resized length the coordinate transforms divide by. The spec's
  // length_resized is input * scale, not the floored output size, when scales are given.
  std::vector<double> lengths;
  std::vector<double> roi_start, roi_end;  // per axis (tf_crop_and_resize)
  Shape out_shape;
};

template <typename E>
E lookup(const std::string& name, std::initializer_list<std::pair<const char*, E>> table,
         const Operation& op, const char* what) {
  for (const auto& [key, value] : table)
    if (name == key) return value;
  fail(ErrorKind::InvalidModel, "{}: unknown {} '{}'", op.describe(), what, name);
}

void read_modes(KernelContext& ctx, ResizeParams& p) {
  const Operation& op = ctx.op();
  p.mode = lookup<Mode>(ctx.attr_string("mode", "nearest"),
                        {{"nearest", Mode::Nearest},
                         {"linear", Mode::Linear},
                         {"bilinear", Mode::Linear},
                         {"cubic", Mode::Cubic}},
                        op, "mode");
  if (op.type == "Upsample" || op.opset < 11) {
    p.transform = Transform::Asymmetric;
    p.nearest = NearestMode::Simple;
    if (p.mode == Mode::Cubic)
      fail(ErrorKind::InvalidModel, "{}: cubic needs opset 11", op.describe());
    return;
  }
  p.transform = lookup<Transform>(ctx.attr_string("coordinate_transformation_mode", "half_pixel"),
                                  {{"half_pixel", Transform::HalfPixel},
                                   {"half_pixel_symmetric", Transform::HalfPixelSymmetric},
                                   {"pytorch_half_pixel", Transform::PytorchHalfPixel},
                                   {"align_corners", Transform::AlignCorners},
                                   {"asymmetric", Transform::Asymmetric},
                                   {"tf_half_pixel_for_nn", Transform::TfHalfPixelForNn},
                                   {"tf_crop_and_resize", Transform::TfCropAndResize}},
                                  op, "coordinate_transformation_mode");
  p.nearest = lookup<NearestMode>(ctx.attr_string("nearest_mode", "round_prefer_floor"),
                                  {{"round_prefer_floor", NearestMode::RoundPreferFloor},
                                   {"round_prefer_ceil", NearestMode::RoundPreferCeil},
                                   {"floor", NearestMode::Floor},
                                   {"ceil", NearestMode::Ceil}},
                                  op, "nearest_mode");
  p.cubic_a = ctx.attr_float("cubic_coeff_a", -0.75f);
  p.exclude_outside = ctx.attr_int("exclude_outside", 0) != 0;
  p.extrapolation = ctx.attr_float("extrapolation_value", 0.0f);
  p.antialias = op.opset >= 18 && ctx.attr_int("antialias", 0) != 0;
}

std::vector<double> read_doubles(const Tensor* t) {
  std::vector<double> out;
  if (t)
    for (float v : t->to_float_vector()) out.push_back(v);
  return out;
}

// Sizes given (with opset 18's keep_aspect_ratio_policy) -> output shape and per-axis scales.
void apply_sizes(KernelContext& ctx, const Shape& in, const std::vector<int>& axes,
                 const std::vector<int64_t>& sizes, ResizeParams& p) {
  const std::string policy =
      ctx.op().opset >= 18 ? ctx.attr_string("keep_aspect_ratio_policy", "stretch") : "stretch";
  if (policy == "stretch") {
    for (size_t i = 0; i < axes.size(); ++i) {
      const size_t d = static_cast<size_t>(axes[i]);
      p.out_shape[d] = sizes[i];
      p.lengths[d] = static_cast<double>(sizes[i]);
      p.scales[d] = in[d] == 0 ? 1.0 : static_cast<double>(sizes[i]) / static_cast<double>(in[d]);
    }
    return;
  }
  if (policy != "not_larger" && policy != "not_smaller")
    fail(ErrorKind::InvalidModel, "{}: unknown keep_aspect_ratio_policy '{}'", ctx.op().describe(),
         policy);
  double scale = policy == "not_larger" ? 1e300 : 0.0;
  for (size_t i = 0; i < axes.size(); ++i) {
    const double s =
        static_cast<double>(sizes[i]) / static_cast<double>(in[static_cast<size_t>(axes[i])]);
    scale = policy == "not_larger" ? std::min(scale, s) : std::max(scale, s);
  }
  for (int a : axes) {
    const size_t d = static_cast<size_t>(a);
    p.scales[d] = scale;
    p.lengths[d] = scale * static_cast<double>(in[d]);
    p.out_shape[d] = static_cast<int64_t>(std::floor(p.lengths[d] + 0.5));
  }
}

ResizeParams read_params(KernelContext& ctx, const Tensor& x) {
  const Operation& op = ctx.op();
  const size_t rank = x.shape().size();
  ResizeParams p;
  read_modes(ctx, p);
  p.scales.assign(rank, 1.0);
  p.roi_start.assign(rank, 0.0);
  p.roi_end.assign(rank, 1.0);
  p.out_shape = x.shape();
  for (int64_t d : x.shape()) p.lengths.push_back(static_cast<double>(d));
  std::vector<double> scales, roi;
  std::vector<int64_t> sizes;
  if (op.type == "Upsample" && op.opset < 9) {
    for (float s : ctx.attr_floats("scales")) scales.push_back(s);
  } else if (op.type == "Upsample" || op.opset < 11) {
    scales = read_doubles(&ctx.input(1));
  } else {
    roi = read_doubles(ctx.optional_input(1));
    scales = read_doubles(ctx.optional_input(2));
    if (const Tensor* s = ctx.optional_input(3)) sizes = read_int_list(*s, op, "sizes");
  }
  std::vector<int> axes;
  if (op.opset >= 18 && op.has_attr("axes")) {
    axes = normalize_axes(ctx.attr_ints("axes"), static_cast<int64_t>(rank), op);
  } else {
    for (size_t d = 0; d < rank; ++d) axes.push_back(static_cast<int>(d));
  }
  if (!scales.empty() && !sizes.empty())
    fail(ErrorKind::InvalidModel, "{}: only one of scales and sizes may be given", op.describe());
  const std::vector<int64_t>& given = sizes.empty() ? std::vector<int64_t>(scales.size()) : sizes;
  if ((scales.empty() && sizes.empty()) || given.size() != axes.size())
    fail(ErrorKind::InvalidModel, "{}: needs {} scales or sizes, got {} and {}", op.describe(),
         axes.size(), scales.size(), sizes.size());
  // roi only matters for tf_crop_and_resize; exporters often pass placeholders otherwise.
  if (!roi.empty() && p.transform == Transform::TfCropAndResize) {
    if (roi.size() != 2 * axes.size())
      fail(ErrorKind::InvalidModel, "{}: roi has {} values for {} axes", op.describe(), roi.size(),
           axes.size());
    for (size_t i = 0; i < axes.size(); ++i) {
      p.roi_start[static_cast<size_t>(axes[i])] = roi[i];
      p.roi_end[static_cast<size_t>(axes[i])] = roi[i + axes.size()];
    }
  }
  if (!sizes.empty()) {
    for (int64_t s : sizes)
      if (s < 0) fail(ErrorKind::Shape, "{}: negative output size {}", op.describe(), s);
    apply_sizes(ctx, x.shape(), axes, sizes, p);
    return p;
  }
  for (size_t i = 0; i < axes.size(); ++i) {
    const size_t d = static_cast<size_t>(axes[i]);
    if (!(scales[i] > 0.0))
      fail(ErrorKind::InvalidModel, "{}: scale {} is not positive", op.describe(), scales[i]);
    p.scales[d] = scales[i];
    p.lengths[d] = static_cast<double>(x.shape()[d]) * scales[i];
    p.out_shape[d] = static_cast<int64_t>(std::floor(p.lengths[d]));
  }
  return p;
}

// Output position x of axis d in input coordinates.
double source_coordinate(const ResizeParams& p, size_t d, int64_t x, int64_t in, int64_t out) {
  const double s = p.scales[d], xf = static_cast<double>(x), in_f = static_cast<double>(in);
  const double length = p.lengths[d], out_f = static_cast<double>(out);
  switch (p.transform) {
    case Transform::HalfPixel:
      return (xf + 0.5) / s - 0.5;
    case Transform::HalfPixelSymmetric: {
      const double adjustment = out_f / (s * in_f);
      return in_f / 2.0 * (1.0 - adjustment) + (xf + 0.5) / s - 0.5;
    }
    case Transform::PytorchHalfPixel:
      return length > 1.0 ? (xf + 0.5) / s - 0.5 : 0.0;
    case Transform::AlignCorners:
      return length == 1.0 ? 0.0 : xf * (in_f - 1.0) / (length - 1.0);
    case Transform::Asymmetric:
      return xf / s;
    case Transform::TfHalfPixelForNn:
      return (xf + 0.5) / s;
    case Transform::TfCropAndResize: {
      const double a = p.roi_start[d], b = p.roi_end[d];
      return length == 1.0 ? 0.5 * (a + b) * (in_f - 1.0)
                           : a * (in_f - 1.0) + xf * (b - a) * (in_f - 1.0) / (length - 1.0);
    }
  }
  return xf;
}

bool outside(const ResizeParams& p, double x, int64_t in) {
  return p.transform == Transform::TfCropAndResize && (x < 0.0 || x > static_cast<double>(in - 1));
}

int64_t nearest_index(const ResizeParams& p, double x, double scale) {
  const double f = std::floor(x);
  switch (p.nearest) {
    case NearestMode::RoundPreferFloor:
      return static_cast<int64_t>(x == f + 0.5 ? f : std::round(x));
    case NearestMode::RoundPreferCeil:
      return static_cast<int64_t>(x == f + 0.5 ? f + 1.0 : std::round(x));
    case NearestMode::Floor:
      return static_cast<int64_t>(f);
    case NearestMode::Ceil:
      return static_cast<int64_t>(std::ceil(x));
    case NearestMode::Simple:
      return static_cast<int64_t>(scale < 1.0 ? std::ceil(x) : x);
  }
  return static_cast<int64_t>(f);
}

bool is_identity_axis(const ResizeParams& p, size_t d, int64_t in) {
  return p.out_shape[d] == in && p.scales[d] == 1.0 && p.transform != Transform::TfCropAndResize;
}

void resize_nearest(KernelContext& ctx, const Tensor& x, const ResizeParams& p) {
  const std::vector<int64_t> strides = contiguous_strides(x.shape());
  std::vector<std::vector<int64_t>> offsets(x.shape().size());
  for (size_t d = 0; d < offsets.size(); ++d) {
    const int64_t in = x.shape()[d], out = p.out_shape[d];
    offsets[d].resize(static_cast<size_t>(out));
    for (int64_t o = 0; o < out; ++o) {
      int64_t i = o;
      if (!is_identity_axis(p, d, in)) {
        const double c = source_coordinate(p, d, o, in, out);
        i = outside(p, c, in) ? -1
                              : std::clamp<int64_t>(nearest_index(p, c, p.scales[d]), 0, in - 1);
      }
      offsets[d][static_cast<size_t>(o)] = i < 0 ? -1 : i * strides[d];
    }
  }
  Tensor& y = ctx.allocate_output(0, x.dtype(), p.out_shape);
  Tensor fill;
  if (x.dtype() != DataType::String) fill = Tensor::scalar(p.extrapolation).cast(x.dtype());
  copy_by_axis_offsets(x, y, std::move(offsets), fill.defined() ? &fill : nullptr,
                       ctx.num_threads());
}

// ---- linear and cubic: per-axis taps ----

// Each output position of one axis reads `taps` input positions with weights; `skip` marks
// positions outside a tf_crop_and_resize box (they take the extrapolation value).
struct AxisTaps {
  int taps = 0;
  std::vector<int64_t> index;
  std::vector<double> weight;
  std::vector<uint8_t> skip;
};

double cubic_kernel(double x, double a) {
  x = std::abs(x);
  if (x <= 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
  return 0.0;
}

// Filter support (first tap offset, tap count) and kernel for one axis. Antialiasing widens the
// filter by 1/scale when downsampling (opset 18).
AxisTaps axis_taps(const ResizeParams& p, size_t d, int64_t in, int64_t out) {
  const bool cubic = p.mode == Mode::Cubic;
  const double scale = p.antialias ? std::min(p.scales[d], 1.0) : 1.0;
  const int64_t first = static_cast<int64_t>(std::floor((cubic ? -2.0 : -1.0) / scale)) + 1;
  AxisTaps t;
  t.taps = static_cast<int>(2 - 2 * first);
  t.index.resize(static_cast<size_t>(out * t.taps));
  t.weight.resize(t.index.size());
  t.skip.resize(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    const double c = source_coordinate(p, d, o, in, out);
    if (outside(p, c, in)) {
      t.skip[static_cast<size_t>(o)] = 1;
      continue;
    }
    const double base = std::floor(c), ratio = c - base;
    double sum = 0.0;
    for (int k = 0; k < t.taps; ++k) {
      const int64_t i = static_cast<int64_t>(base) + first + k;
      const double u = scale * (static_cast<double>(first + k) - ratio);
      double w = cubic ? cubic_kernel(u, p.cubic_a) : std::max(0.0, 1.0 - std::abs(u));
      if (p.exclude_outside && (i < 0 || i >= in)) w = 0.0;
      const size_t at = static_cast<size_t>(o * t.taps + k);
      t.index[at] = std::clamp<int64_t>(i, 0, in - 1);  // edge padding
      t.weight[at] = w;
      sum += w;
    }
    // Antialiased and exclude_outside filters are renormalized (the plain ones sum to 1).
    if ((p.antialias || p.exclude_outside) && sum != 0.0)
      for (int k = 0; k < t.taps; ++k) t.weight[static_cast<size_t>(o * t.taps + k)] /= sum;
  }
  return t;
}

// Interpolates axis `d` of `src` (shape `shape`) into `dst`: shape[d] becomes `out`.
template <typename C>
void interpolate_axis(const std::vector<C>& src, std::vector<C>& dst, const Shape& shape, size_t d,
                      int64_t out, const AxisTaps& taps, C extrapolation, int threads) {
  const int64_t in = shape[d];
  const int64_t outer = dims_product(shape, 0, static_cast<int>(d));
  const int64_t inner =
      dims_product(shape, static_cast<int>(d) + 1, static_cast<int>(shape.size()));
  dst.assign(static_cast<size_t>(outer * out * inner), C{});
  std::vector<C> weight(taps.weight.begin(), taps.weight.end());
  const int n = taps.taps;
  if (inner == 1) {
    // Interpolating along the last axis: one line at a time, one dot product per output.
    parallel_for(threads, outer, std::max<int64_t>(1, (1 << 13) / (out * n)),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t o = begin; o < end; ++o) {
                     const C* line = src.data() + o * in;
                     C* y = dst.data() + o * out;
                     for (int64_t x = 0; x < out; ++x) {
                       const int64_t* index = taps.index.data() + x * n;
                       const C* w = weight.data() + x * n;
                       C sum = 0;
                       for (int k = 0; k < n; ++k) sum += w[k] * line[index[k]];
                       y[x] = taps.skip[static_cast<size_t>(x)] ? extrapolation : sum;
                     }
                   }
                 });
    return;
  }
  parallel_for(threads, outer * out, std::max<int64_t>(1, (1 << 13) / (inner * n)),
               [&](int64_t begin, int64_t end) {
                 int64_t o = begin / out, x = begin % out;
                 for (int64_t r = begin; r < end; ++r, ++x) {
                   if (x == out) {
                     x = 0;
                     ++o;
                   }
                   C* y = dst.data() + r * inner;
                   if (taps.skip[static_cast<size_t>(x)]) {
                     std::fill_n(y, inner, extrapolation);
                     continue;
                   }
                   const C* base = src.data() + o * in * inner;
                   const int64_t* index = taps.index.data() + x * n;
                   const C* w = weight.data() + x * n;
                   for (int k = 0; k < n; ++k) {
                     const C* row = base + index[k] * inner;
                     const C wk = w[k];
                     for (int64_t j = 0; j < inner; ++j) y[j] += wk * row[j];
                   }
                 }
               });
}

template <typename T>
T store(double v) {
  if constexpr (std::is_integral_v<T>) {
    // Integer results are rounded and saturated (quantized tensors resize like ONNX Runtime's).
    const double r = std::round(v);
    if (r <= static_cast<double>(std::numeric_limits<T>::lowest()))
      return std::numeric_limits<T>::lowest();
    if (r >= static_cast<double>(std::numeric_limits<T>::max()))
      return std::numeric_limits<T>::max();
    return static_cast<T>(r);
  } else {
    return T(static_cast<compute_t<T>>(v));
  }
}

template <typename T>
void resize_filtered(KernelContext& ctx, const Tensor& x, const ResizeParams& p) {
  using C =
      std::conditional_t<std::is_same_v<T, double> || std::is_same_v<T, int64_t>, double, float>;
  const T* in = x.data<T>();
  std::vector<C> cur(static_cast<size_t>(x.numel()));
  for (size_t i = 0; i < cur.size(); ++i) cur[i] = static_cast<C>(static_cast<compute_t<T>>(in[i]));
  Shape shape = x.shape();
  // Shrinking axes first keeps the intermediate buffers small.
  std::vector<size_t> order;
  for (size_t d = 0; d < shape.size(); ++d)
    if (!is_identity_axis(p, d, shape[d])) order.push_back(d);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return p.out_shape[a] * shape[b] < p.out_shape[b] * shape[a];
  });
  std::vector<C> next;
  for (size_t d : order) {
    if (shape[d] == 0)
      fail(ErrorKind::Shape, "{}: cannot interpolate an empty axis", ctx.op().describe());
    const AxisTaps taps = axis_taps(p, d, shape[d], p.out_shape[d]);
    interpolate_axis<C>(cur, next, shape, d, p.out_shape[d], taps, static_cast<C>(p.extrapolation),
                        ctx.num_threads());
    shape[d] = p.out_shape[d];
    cur.swap(next);
  }
  T* y = ctx.allocate_output(0, x.dtype(), p.out_shape).template data<T>();
  for (size_t i = 0; i < cur.size(); ++i) y[i] = store<T>(static_cast<double>(cur[i]));
}

void resize(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const ResizeParams p = read_params(ctx, x);
  if (p.mode == Mode::Nearest) return resize_nearest(ctx, x, p);
  visit_numeric_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>)
      fail(ErrorKind::UnsupportedOp, "{}: cannot interpolate bool data", ctx.op().describe());
    else
      resize_filtered<T>(ctx, x, p);
  });
}

}  // namespace

void register_resize_kernels(KernelRegistry& registry) {
  registry.add("", "Resize", 10, kLatestOpset, resize);
  registry.add("", "Upsample", 7, 10, resize);
  register_grid_sample_kernels(registry);
}

}  // namespace qforge::kernels
