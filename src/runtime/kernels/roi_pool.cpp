// SPDX-License-Identifier: Apache-2.0
// Kernel family: pooling (this file: region-of-interest pooling). MaxRoiPool (Caffe's rounded
// bins) and RoiAlign (bilinear samples averaged or maxed per bin). Registered through
// register_pooling_kernels (pooling.cpp); tested in tests/runtime/test_pooling.cpp.
#include <cmath>
#include <limits>

#include "kernel_families.h"
#include "kernel_util.h"
#include "nn_util.h"

namespace qforge::kernels {

namespace {

void check_rois(const KernelContext& ctx, const Tensor& x, const Tensor& rois, int64_t cols) {
  if (x.rank() != 4)
    fail(ErrorKind::Shape, "{}: X must be 4-D, got {}", ctx.op().describe(),
         shape_to_string(x.shape()));
  if (rois.rank() != 2 || rois.dim(1) != cols)
    fail(ErrorKind::Shape, "{}: rois must be [num_rois, {}], got {}", ctx.op().describe(), cols,
         shape_to_string(rois.shape()));
}

int64_t checked_batch(const KernelContext& ctx, double value, int64_t batch) {
  const int64_t b = static_cast<int64_t>(value);
  if (b < 0 || b >= batch)
    fail(ErrorKind::Argument, "{}: roi batch index {} is outside [0, {})", ctx.op().describe(), b,
         batch);
  return b;
}

// ---- MaxRoiPool ----

template <typename T>
void max_roi_pool(const KernelContext& ctx, const Tensor& x, const std::vector<double>& rois,
                  int64_t ph_count, int64_t pw_count, double scale, T* y) {
  const int64_t C = x.dim(1), H = x.dim(2), W = x.dim(3),
                num = static_cast<int64_t>(rois.size() / 5);
  const T* data = x.data<T>();
  for (int64_t r = 0; r < num; ++r) {
    const double* roi = &rois[r * 5];
    const int64_t b = checked_batch(ctx, roi[0], x.dim(0));
    // Caffe: corners rounded to the feature map, bins of a float size floored/ceiled.
    const int64_t x1 = std::llround(roi[1] * scale), y1 = std::llround(roi[2] * scale);
    const int64_t x2 = std::llround(roi[3] * scale), y2 = std::llround(roi[4] * scale);
    const double bin_h =
        static_cast<double>(std::max<int64_t>(y2 - y1 + 1, 1)) / static_cast<double>(ph_count);
    const double bin_w =
        static_cast<double>(std::max<int64_t>(x2 - x1 + 1, 1)) / static_cast<double>(pw_count);
    for (int64_t c = 0; c < C; ++c) {
      const T* plane = data + (b * C + c) * H * W;
      for (int64_t ph = 0; ph < ph_count; ++ph)
        for (int64_t pw = 0; pw < pw_count; ++pw) {
          const int64_t hs =
              std::clamp<int64_t>(static_cast<int64_t>(std::floor(ph * bin_h)) + y1, 0, H);
          const int64_t he =
              std::clamp<int64_t>(static_cast<int64_t>(std::ceil((ph + 1) * bin_h)) + y1, 0, H);
          const int64_t ws =
              std::clamp<int64_t>(static_cast<int64_t>(std::floor(pw * bin_w)) + x1, 0, W);
          const int64_t we =
              std::clamp<int64_t>(static_cast<int64_t>(std::ceil((pw + 1) * bin_w)) + x1, 0, W);
          T best = (he <= hs || we <= ws) ? T(0) : std::numeric_limits<T>::lowest();
          for (int64_t h = hs; h < he; ++h)
            for (int64_t w = ws; w < we; ++w) best = std::max(best, plane[h * W + w]);
          y[((r * C + c) * ph_count + ph) * pw_count + pw] = best;
        }
    }
  }
}

void max_roi_pool_op(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, max_roi_pool_op);
  const Tensor& x = ctx.input(0);
  const Tensor& rois = ctx.input(1);
  check_rois(ctx, x, rois, 5);
  const std::vector<int64_t> pooled = ctx.attr_ints("pooled_shape");
  if (pooled.size() != 2 || pooled[0] < 1 || pooled[1] < 1)
    fail(ErrorKind::InvalidModel, "{}: pooled_shape needs two positive values",
         ctx.op().describe());
  const double scale = ctx.attr_float("spatial_scale", 1.0f);
  visit_float_dtype(x.dtype(), ctx.op(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      Tensor& y = ctx.allocate_output(0, x.dtype(), {rois.dim(0), x.dim(1), pooled[0], pooled[1]});
      max_roi_pool<T>(ctx, x, to_double_vector(rois), pooled[0], pooled[1], scale, y.data<T>());
    }
  });
}

// ---- RoiAlign ----

// One bilinear sample: four corner offsets in the plane and their weights (all 0 outside).
struct Sample {
  int64_t pos[4] = {0, 0, 0, 0};
  double w[4] = {0, 0, 0, 0};
};

Sample bilinear_sample(double y, double x, int64_t H, int64_t W) {
  Sample s;
  if (y < -1.0 || y > static_cast<double>(H) || x < -1.0 || x > static_cast<double>(W)) return s;
  y = std::max(y, 0.0);
  x = std::max(x, 0.0);
  int64_t y0 = static_cast<int64_t>(y), x0 = static_cast<int64_t>(x), y1 = y0 + 1, x1 = x0 + 1;
  if (y0 >= H - 1) y = static_cast<double>(y0 = y1 = H - 1);
  if (x0 >= W - 1) x = static_cast<double>(x0 = x1 = W - 1);
  const double ly = y - static_cast<double>(y0), lx = x - static_cast<double>(x0), hy = 1 - ly,
               hx = 1 - lx;
  s.pos[0] = y0 * W + x0;
  s.pos[1] = y0 * W + x1;
  s.pos[2] = y1 * W + x0;
  s.pos[3] = y1 * W + x1;
  s.w[0] = hy * hx;
  s.w[1] = hy * lx;
  s.w[2] = ly * hx;
  s.w[3] = ly * lx;
  return s;
}

struct RoiAlignParams {
  int64_t out_h, out_w, sampling_ratio;
  double scale, offset;  // offset 0.5 for half_pixel
  bool max_mode;
  bool legacy;  // output_half_pixel: malformed rois forced to at least 1x1
};

// Samples of one roi: per output cell, grid_h * grid_w bilinear samples.
std::vector<Sample> roi_samples(const double* box, int64_t H, int64_t W, const RoiAlignParams& p,
                                int64_t* per_cell) {
  const double x1 = box[0] * p.scale - p.offset, y1 = box[1] * p.scale - p.offset;
  double rw = box[2] * p.scale - p.offset - x1, rh = box[3] * p.scale - p.offset - y1;
  if (p.legacy) {
    rw = std::max(rw, 1.0);
    rh = std::max(rh, 1.0);
  }
  const double bin_h = rh / static_cast<double>(p.out_h), bin_w = rw / static_cast<double>(p.out_w);
  const int64_t gh = p.sampling_ratio > 0
                         ? p.sampling_ratio
                         : static_cast<int64_t>(std::ceil(rh / static_cast<double>(p.out_h)));
  const int64_t gw = p.sampling_ratio > 0
                         ? p.sampling_ratio
                         : static_cast<int64_t>(std::ceil(rw / static_cast<double>(p.out_w)));
  std::vector<Sample> samples;
  for (int64_t ph = 0; ph < p.out_h; ++ph)
    for (int64_t pw = 0; pw < p.out_w; ++pw)
      for (int64_t iy = 0; iy < gh; ++iy) {
        const double y = y1 + static_cast<double>(ph) * bin_h +
                         (static_cast<double>(iy) + 0.5) * bin_h / static_cast<double>(gh);
        for (int64_t ix = 0; ix < gw; ++ix) {
          const double x = x1 + static_cast<double>(pw) * bin_w +
                           (static_cast<double>(ix) + 0.5) * bin_w / static_cast<double>(gw);
          samples.push_back(bilinear_sample(y, x, H, W));
        }
      }
  *per_cell = std::max<int64_t>(gh * gw, 0);
  return samples;
}

template <typename T>
void roi_align_plane(const T* plane, const std::vector<Sample>& samples, int64_t per_cell,
                     int64_t cells, bool max_mode, T* out) {
  const double count = static_cast<double>(std::max<int64_t>(per_cell, 1));
  for (int64_t cell = 0; cell < cells; ++cell) {
    double acc = 0;
    for (int64_t k = 0; k < per_cell; ++k) {
      const Sample& s = samples[cell * per_cell + k];
      if (max_mode) {
        // As the ONNX reference: the largest weighted corner, not the interpolated value.
        double v = s.w[0] * static_cast<double>(plane[s.pos[0]]);
        for (int i = 1; i < 4; ++i) v = std::max(v, s.w[i] * static_cast<double>(plane[s.pos[i]]));
        acc = k == 0 ? v : std::max(acc, v);
      } else {
        for (int i = 0; i < 4; ++i) acc += s.w[i] * static_cast<double>(plane[s.pos[i]]);
      }
    }
    out[cell] = static_cast<T>(max_mode ? acc : acc / count);
  }
}

void roi_align_op(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, roi_align_op);
  const Tensor& x = ctx.input(0);
  const Tensor& rois = ctx.input(1);
  const Tensor& batch = ctx.input(2);
  check_rois(ctx, x, rois, 4);
  if (batch.numel() != rois.dim(0))
    fail(ErrorKind::Shape, "{}: batch_indices has {} values for {} rois", ctx.op().describe(),
         batch.numel(), rois.dim(0));
  const std::string mode = ctx.attr_string("mode", "avg");
  if (mode != "avg" && mode != "max")
    fail(ErrorKind::InvalidModel, "{}: unknown mode '{}'", ctx.op().describe(), mode);
  // Opset 10 had no coordinate_transformation_mode and behaved as output_half_pixel.
  const std::string ctm = ctx.attr_string(
      "coordinate_transformation_mode", ctx.op().opset >= 16 ? "half_pixel" : "output_half_pixel");
  const RoiAlignParams p{ctx.attr_int("output_height", 1),
                         ctx.attr_int("output_width", 1),
                         ctx.attr_int("sampling_ratio", 0),
                         ctx.attr_float("spatial_scale", 1.0f),
                         ctm == "half_pixel" ? 0.5 : 0.0,
                         mode == "max",
                         ctm != "half_pixel"};
  if (p.out_h < 1 || p.out_w < 1 || p.sampling_ratio < 0)
    fail(ErrorKind::InvalidModel,
         "{}: output size must be positive and sampling_ratio non-negative", ctx.op().describe());
  const std::vector<double> boxes = to_double_vector(rois);
  const std::vector<int64_t> batch_index = read_int_list(batch, ctx.op(), "batch_indices");
  const int64_t C = x.dim(1), H = x.dim(2), W = x.dim(3), cells = p.out_h * p.out_w;
  visit_float_dtype(x.dtype(), ctx.op(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      Tensor& y = ctx.allocate_output(0, x.dtype(), {rois.dim(0), C, p.out_h, p.out_w});
      for (int64_t r = 0; r < rois.dim(0); ++r) {
        const int64_t b = checked_batch(ctx, static_cast<double>(batch_index[r]), x.dim(0));
        int64_t per_cell = 0;
        const std::vector<Sample> samples = roi_samples(&boxes[r * 4], H, W, p, &per_cell);
        parallel_for(ctx.num_threads(), C, 8, [&](int64_t begin, int64_t end) {
          for (int64_t c = begin; c < end; ++c)
            roi_align_plane(x.data<T>() + (b * C + c) * H * W, samples, per_cell, cells, p.max_mode,
                            y.data<T>() + (r * C + c) * cells);
        });
      }
    }
  });
}

}  // namespace

void register_roi_pool_kernels(KernelRegistry& registry) {
  registry.add("", "MaxRoiPool", 1, kLatestOpset, max_roi_pool_op);
  registry.add("", "RoiAlign", 10, kLatestOpset, roi_align_op);
}

}  // namespace qforge::kernels
