// SPDX-License-Identifier: Apache-2.0
// Signal kernels of the misc family: HannWindow, HammingWindow, BlackmanWindow,
// MelWeightMatrix, DFT (opset 17 and 20 forms), STFT. Computed in double, written in the
// requested dtype. Registered from register_misc_kernels (misc.cpp); tested in
// tests/runtime/test_misc.cpp.
#include <cmath>
#include <complex>
#include <numbers>

#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

namespace {

constexpr double kTwoPi = 2.0 * std::numbers::pi;

Tensor doubles_as(const std::vector<double>& values, const Shape& shape, DataType dtype) {
  const Tensor t = Tensor::from_vector<double>(shape, values);
  return dtype == DataType::Double ? t : t.cast(dtype);
}

double read_scalar(const KernelContext& ctx, size_t index, const char* what) {
  const Tensor& t = ctx.input(index);
  if (t.numel() != 1)
    fail(ErrorKind::Shape, "{}: {} must hold one value, got shape {}", ctx.op().describe(), what,
         shape_to_string(t.shape()));
  return t.value_as_double(0);
}

// ---- cosine-sum windows: a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N) ----

void cosine_window(KernelContext& ctx, double a0, double a1, double a2) {
  const int64_t size = read_int_scalar(ctx.input(0), ctx.op(), "size");
  if (size < 0)
    fail(ErrorKind::InvalidModel, "{}: negative window size {}", ctx.op().describe(), size);
  const bool periodic = ctx.attr_int("periodic", 1) != 0;
  const DataType dtype = static_cast<DataType>(ctx.attr_int("output_datatype", 1));
  // A symmetric window of one sample would divide by zero: it is [1].
  const double denominator = static_cast<double>(periodic ? size : size - 1);
  std::vector<double> w(static_cast<size_t>(size), 1.0);
  if (denominator > 0)
    for (int64_t n = 0; n < size; ++n) {
      const double phase = kTwoPi * static_cast<double>(n) / denominator;
      w[n] = a0 - a1 * std::cos(phase) + a2 * std::cos(2 * phase);
    }
  ctx.set_output(0, doubles_as(w, {size}, dtype));
}

void hann_window(KernelContext& ctx) {
  cosine_window(ctx, 0.5, 0.5, 0.0);
}
void hamming_window(KernelContext& ctx) {
  cosine_window(ctx, 25.0 / 46.0, 21.0 / 46.0, 0.0);
}
void blackman_window(KernelContext& ctx) {
  cosine_window(ctx, 0.42, 0.5, 0.08);
}

// ---- MelWeightMatrix: triangular filters on the HTK mel scale, peak 1 ----

void mel_weight_matrix(KernelContext& ctx) {
  const int64_t mel_bins = read_int_scalar(ctx.input(0), ctx.op(), "num_mel_bins");
  const int64_t dft_length = read_int_scalar(ctx.input(1), ctx.op(), "dft_length");
  const int64_t sample_rate = read_int_scalar(ctx.input(2), ctx.op(), "sample_rate");
  const double lower = read_scalar(ctx, 3, "lower_edge_hertz"),
               upper = read_scalar(ctx, 4, "upper_edge_hertz");
  if (mel_bins <= 0 || dft_length <= 0 || sample_rate <= 0)
    fail(ErrorKind::InvalidModel, "{}: num_mel_bins, dft_length and sample_rate must be positive",
         ctx.op().describe());
  const int64_t spectrogram_bins = dft_length / 2 + 1;
  auto to_mel = [](double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); };
  const double low_mel = to_mel(lower);
  // The ONNX definition spaces num_mel_bins + 2 points by (high - low) / (num_mel_bins + 2).
  const double step = (to_mel(upper) - low_mel) / static_cast<double>(mel_bins + 2);
  std::vector<int64_t> bins(static_cast<size_t>(mel_bins + 2));
  for (int64_t i = 0; i < mel_bins + 2; ++i) {
    const double hz =
        700.0 * (std::pow(10.0, (low_mel + step * static_cast<double>(i)) / 2595.0) - 1.0);
    bins[i] = static_cast<int64_t>(
        std::floor(static_cast<double>(dft_length + 1) * hz / static_cast<double>(sample_rate)));
  }
  std::vector<double> out(static_cast<size_t>(spectrogram_bins * mel_bins), 0.0);
  auto set = [&](int64_t row, int64_t col, double v) {
    if (row >= 0 && row < spectrogram_bins) out[row * mel_bins + col] = v;
  };
  for (int64_t i = 0; i < mel_bins; ++i) {
    const int64_t left = bins[i], center = bins[i + 1], right = bins[i + 2];
    if (center == left)
      set(center, i, 1.0);
    else
      for (int64_t j = left; j <= center; ++j)
        set(j, i, static_cast<double>(j - left) / static_cast<double>(center - left));
    if (right > center)
      for (int64_t j = center; j < right; ++j)
        set(j, i, static_cast<double>(right - j) / static_cast<double>(right - center));
  }
  const DataType dtype = static_cast<DataType>(ctx.attr_int("output_datatype", 1));
  ctx.set_output(0, doubles_as(out, {spectrogram_bins, mel_bins}, dtype));
}

// ---- DFT ----

// In-place iterative radix-2 FFT of n = 2^m values; cos_t/sin_t hold cos/sin(2 pi t / n).
void fft_pow2(std::vector<std::complex<double>>& a, bool inverse, const std::vector<double>& cos_t,
              const std::vector<double>& sin_t) {
  const int64_t n = static_cast<int64_t>(a.size());
  for (int64_t i = 1, j = 0; i < n; ++i) {  // bit-reversal permutation
    int64_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  const double sign = inverse ? 1.0 : -1.0;
  for (int64_t len = 2; len <= n; len <<= 1) {
    const int64_t step = n / len;
    for (int64_t start = 0; start < n; start += len)
      for (int64_t k = 0; k < len / 2; ++k) {
        const std::complex<double> w(cos_t[k * step], sign * sin_t[k * step]);
        const std::complex<double> u = a[start + k], v = a[start + k + len / 2] * w;
        a[start + k] = u + v;
        a[start + k + len / 2] = u - v;
      }
  }
}

// out[k] = sum_j x[j] e^(-+2 pi i j k / n) for k < out_len, x zero-padded/truncated to n
// (scaled by 1/n when inverse). x and out are interleaved complex with strides in complex
// elements. Powers of two go through the FFT, other lengths through the direct sum.
void dft_line(const double* x, int64_t in_len, int64_t stride, int64_t n, int64_t out_len,
              bool inverse, const std::vector<double>& cos_t, const std::vector<double>& sin_t,
              double* out, int64_t out_stride) {
  const int64_t used = std::min(in_len, n);
  const double sign = inverse ? 1.0 : -1.0, scale = inverse ? 1.0 / static_cast<double>(n) : 1.0;
  if (n >= 8 && (n & (n - 1)) == 0) {
    std::vector<std::complex<double>> a(static_cast<size_t>(n));
    for (int64_t j = 0; j < used; ++j) a[j] = {x[2 * j * stride], x[2 * j * stride + 1]};
    fft_pow2(a, inverse, cos_t, sin_t);
    for (int64_t k = 0; k < out_len; ++k) {
      out[2 * k * out_stride] = a[k].real() * scale;
      out[2 * k * out_stride + 1] = a[k].imag() * scale;
    }
    return;
  }
  for (int64_t k = 0; k < out_len; ++k) {
    double re = 0, im = 0;
    for (int64_t j = 0; j < used; ++j) {
      const int64_t t = (j * k) % n;
      const double c = cos_t[t], s = sign * sin_t[t];
      const double xr = x[2 * j * stride], xi = x[2 * j * stride + 1];
      re += xr * c - xi * s;
      im += xr * s + xi * c;
    }
    out[2 * k * out_stride] = re * scale;
    out[2 * k * out_stride + 1] = im * scale;
  }
}

void twiddles(int64_t n, std::vector<double>& cos_t, std::vector<double>& sin_t) {
  cos_t.resize(static_cast<size_t>(n));
  sin_t.resize(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) {
    cos_t[t] = std::cos(kTwoPi * static_cast<double>(t) / static_cast<double>(n));
    sin_t[t] = std::sin(kTwoPi * static_cast<double>(t) / static_cast<double>(n));
  }
}

// Input [..., 1|2] as interleaved complex doubles.
std::vector<double> complex_values(const KernelContext& ctx, const Tensor& x) {
  if (x.rank() < 2 || (x.dim(x.rank() - 1) != 1 && x.dim(x.rank() - 1) != 2))
    fail(ErrorKind::Shape, "{}: the last dimension of {} must be 1 (real) or 2 (complex)",
         ctx.op().describe(), shape_to_string(x.shape()));
  visit_float_dtype(x.dtype(), ctx.op(), [](auto) {});
  const Tensor xd = x.cast(DataType::Double);
  const double* v = xd.data<double>();
  const bool real = x.dim(x.rank() - 1) == 1;
  std::vector<double> c(static_cast<size_t>(x.numel() / (real ? 1 : 2) * 2), 0.0);
  for (size_t i = 0; i < c.size() / 2; ++i) {
    c[2 * i] = real ? v[i] : v[2 * i];
    c[2 * i + 1] = real ? 0.0 : v[2 * i + 1];
  }
  return c;
}

void dft(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const std::vector<double> xc = complex_values(ctx, x);
  const bool opset20 = ctx.op().opset >= 20;
  const int64_t signal_rank = x.rank() - 1;
  int64_t axis = opset20 ? (ctx.has_input(2) ? read_int_scalar(ctx.input(2), ctx.op(), "axis") : -2)
                         : ctx.attr_int("axis", 1);
  if (axis < 0) axis += x.rank();
  if (axis < 0 || axis >= signal_rank)
    fail(ErrorKind::InvalidModel, "{}: axis {} is not a signal axis of {}", ctx.op().describe(),
         axis, shape_to_string(x.shape()));
  const int64_t in_len = x.dim(static_cast<int>(axis));
  const Tensor* len_t = ctx.optional_input(1);
  const int64_t n =
      len_t && len_t->numel() ? read_int_scalar(*len_t, ctx.op(), "dft_length") : in_len;
  if (n <= 0)
    fail(ErrorKind::InvalidModel, "{}: dft_length {} must be positive", ctx.op().describe(), n);
  const bool inverse = ctx.attr_int("inverse", 0) != 0;
  const int64_t out_len = ctx.attr_int("onesided", 0) ? n / 2 + 1 : n;
  const int64_t outer = dims_product(x.shape(), 0, static_cast<int>(axis));
  const int64_t inner =
      dims_product(x.shape(), static_cast<int>(axis) + 1, static_cast<int>(signal_rank));
  Shape out_shape = x.shape();
  out_shape[axis] = out_len;
  out_shape.back() = 2;
  std::vector<double> out(static_cast<size_t>(shape_numel(out_shape)), 0.0);
  std::vector<double> cos_t, sin_t;
  twiddles(n, cos_t, sin_t);
  parallel_for(ctx.num_threads(), outer * inner, 1, [&](int64_t begin, int64_t end) {
    for (int64_t line = begin; line < end; ++line) {
      const int64_t o = line / inner, i = line % inner;
      dft_line(xc.data() + 2 * (o * in_len * inner + i), in_len, inner, n, out_len, inverse, cos_t,
               sin_t, out.data() + 2 * (o * out_len * inner + i), inner);
    }
  });
  const DataType dtype = x.dtype();
  ctx.set_output(0, doubles_as(out, out_shape, dtype));
}

// ---- STFT: windowed frames of a [batch, length, 1|2] signal ----

void stft(KernelContext& ctx) {
  const Tensor& signal = ctx.input(0);
  if (signal.rank() != 3)
    fail(ErrorKind::Shape, "{}: signal must be [batch, length, 1|2], got {}", ctx.op().describe(),
         shape_to_string(signal.shape()));
  const std::vector<double> xc = complex_values(ctx, signal);
  const int64_t step = read_int_scalar(ctx.input(1), ctx.op(), "frame_step");
  const Tensor* window_t = ctx.optional_input(2);
  const Tensor* length_t = ctx.optional_input(3);
  if (!window_t && !length_t)
    fail(ErrorKind::InvalidModel, "{}: needs a window or a frame_length", ctx.op().describe());
  const int64_t frame =
      length_t ? read_int_scalar(*length_t, ctx.op(), "frame_length") : window_t->numel();
  std::vector<double> window(static_cast<size_t>(std::max<int64_t>(frame, 0)), 1.0);
  if (window_t) {
    if (window_t->numel() != frame)
      fail(ErrorKind::Shape, "{}: window has {} values for frame_length {}", ctx.op().describe(),
           window_t->numel(), frame);
    const std::vector<float> w = window_t->to_float_vector();
    window.assign(w.begin(), w.end());
  }
  const int64_t batch = signal.dim(0), length = signal.dim(1);
  if (step <= 0 || frame <= 0 || frame > length)
    fail(ErrorKind::InvalidModel, "{}: frame_step {} / frame_length {} do not fit a signal of {}",
         ctx.op().describe(), step, frame, length);
  const int64_t frames = (length - frame) / step + 1;
  const int64_t bins = ctx.attr_int("onesided", 1) ? frame / 2 + 1 : frame;
  std::vector<double> out(static_cast<size_t>(batch * frames * bins * 2), 0.0);
  std::vector<double> cos_t, sin_t;
  twiddles(frame, cos_t, sin_t);
  parallel_for(ctx.num_threads(), batch * frames, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> buffer(static_cast<size_t>(2 * frame));
    for (int64_t bf = begin; bf < end; ++bf) {
      const int64_t b = bf / frames, f = bf % frames;
      const double* src = xc.data() + 2 * (b * length + f * step);
      for (int64_t j = 0; j < frame; ++j) {
        buffer[2 * j] = src[2 * j] * window[j];
        buffer[2 * j + 1] = src[2 * j + 1] * window[j];
      }
      dft_line(buffer.data(), frame, 1, frame, bins, false, cos_t, sin_t,
               out.data() + bf * bins * 2, 1);
    }
  });
  ctx.set_output(0, doubles_as(out, {batch, frames, bins, 2}, signal.dtype()));
}

}  // namespace

void register_signal_kernels(KernelRegistry& registry) {
  registry.add("", "HannWindow", 17, kLatestOpset, hann_window);
  registry.add("", "HammingWindow", 17, kLatestOpset, hamming_window);
  registry.add("", "BlackmanWindow", 17, kLatestOpset, blackman_window);
  registry.add("", "MelWeightMatrix", 17, kLatestOpset, mel_weight_matrix);
  registry.add("", "DFT", 17, kLatestOpset, dft);
  registry.add("", "STFT", 17, kLatestOpset, stft);
}

}  // namespace qforge::kernels
