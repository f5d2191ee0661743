// SPDX-License-Identifier: Apache-2.0
// Kernel family: conv (this file: 3x3 depthwise convs, float, with a fused clamp). With AVX-512:
// 16 outputs per vector, FMA, masked loads only in border vectors (rows outside the plane read
// a zero row); elsewhere a portable loop with scalar borders. Called from conv.cpp; tested in
// tests/runtime/test_conv.cpp.
#include "conv_depthwise.h"

#include <algorithm>

#include "avx512.h"

namespace qforge::kernels {

bool is_dw3x3(const WindowGeometry& g) {
  return g.in[0] == 1 && g.kernel[0] == 1 && g.kernel[1] == 3 && g.kernel[2] == 3 &&
         g.dilation[1] == 1 && g.dilation[2] == 1 && g.stride[1] == g.stride[2] &&
         (g.stride[1] == 1 || g.stride[1] == 2);
}

namespace {

// The three input rows a 3x3 window starting at row `top` reads; `zeros` outside the plane.
inline void window_rows(const float* plane, int64_t top, int64_t H, int64_t W, const float* zeros,
                        const float* r[3]) {
  for (int kh = 0; kh < 3; ++kh) {
    const int64_t ih = top + kh;
    r[kh] = ih >= 0 && ih < H ? plane + ih * W : zeros;
  }
}

#if defined(__AVX512F__)

// Lanes i of a 16-wide load at x0 + i whose index lies in [0, W).
inline __mmask16 lanes_inside(int64_t x0, int64_t W) {
  const int64_t lo = std::clamp<int64_t>(-x0, 0, 16), hi = std::clamp<int64_t>(W - x0, 0, 16);
  return hi <= lo ? 0 : static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1));
}

template <bool Masked>
inline __m512 load(const float* row, int64_t x, int64_t W) {
  if constexpr (Masked) return _mm512_maskz_loadu_ps(lanes_inside(x, W), row + x);
  return _mm512_loadu_ps(row + x);
}

// 16 outputs from ow of one output row; `r` are the three input rows (a zero row where the
// window leaves the plane). Masked: the loads may leave [0, W) (border vectors).
template <int S, bool Masked>
inline __m512 dw3x3_vector(const float* const r[3], int64_t ow, int64_t pw, int64_t W,
                           const __m512 k[9], __m512 acc) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const int64_t x = ow * S - pw;
  for (int kh = 0; kh < 3; ++kh) {
    if constexpr (S == 1) {
      acc = _mm512_fmadd_ps(load<Masked>(r[kh], x, W), k[kh * 3], acc);
      acc = _mm512_fmadd_ps(load<Masked>(r[kh], x + 1, W), k[kh * 3 + 1], acc);
      acc = _mm512_fmadd_ps(load<Masked>(r[kh], x + 2, W), k[kh * 3 + 2], acc);
    } else {
      // Stride 2: even and odd lanes of two consecutive vectors.
      const __m512 a0 = load<Masked>(r[kh], x, W), a1 = load<Masked>(r[kh], x + 16, W);
      const __m512 c0 = load<Masked>(r[kh], x + 2, W), c1 = load<Masked>(r[kh], x + 18, W);
      acc = _mm512_fmadd_ps(_mm512_permutex2var_ps(a0, even, a1), k[kh * 3], acc);
      acc = _mm512_fmadd_ps(_mm512_permutex2var_ps(a0, odd, a1), k[kh * 3 + 1], acc);
      acc = _mm512_fmadd_ps(_mm512_permutex2var_ps(c0, even, c1), k[kh * 3 + 2], acc);
    }
  }
  return acc;
}

template <int S>
void dw3x3_avx512(const float* plane, const float* w, float bias, const WindowGeometry& g,
                  const OutputClamp& clamp, const float* zeros, float* out) {
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2], ph = g.pad_begin[1],
                pw = g.pad_begin[2];
  __m512 k[9];
  for (int i = 0; i < 9; ++i) k[i] = _mm512_set1_ps(w[i]);
  const __m512 b = _mm512_set1_ps(bias), lo = _mm512_set1_ps(clamp.lo),
               hi = _mm512_set1_ps(clamp.hi);
  // Vectors starting at ow read [ow * S - pw, ow * S - pw + 16 * S + 2): inside the row when
  // ow is in [first, last).
  const int64_t span = 16 * S + 2;
  const int64_t first = (pw + S - 1) / S;
  const int64_t last = W - span + pw < 0 ? 0 : (W - span + pw) / S + 1;
  for (int64_t oh = 0; oh < OH; ++oh) {
    const float* r[3];
    window_rows(plane, oh * S - ph, H, W, zeros, r);
    float* o = out + oh * OW;
    for (int64_t ow = 0; ow < OW; ow += 16) {
      __m512 acc = ow >= first && ow < last ? dw3x3_vector<S, false>(r, ow, pw, W, k, b)
                                            : dw3x3_vector<S, true>(r, ow, pw, W, k, b);
      // max(lo, acc) and min(hi, .) return acc when it is NaN, as std::max/min do in Clip.
      if (clamp.on) acc = _mm512_min_ps(hi, _mm512_max_ps(lo, acc));
      const int64_t left = OW - ow;
      if (left >= 16)
        _mm512_storeu_ps(o + ow, acc);
      else
        _mm512_mask_storeu_ps(o + ow, static_cast<__mmask16>((1u << left) - 1), acc);
    }
  }
}

// Planes with rows narrower than a vector (7x7, 14x14), stride 1, output as wide as the input:
// output pixel p reads input pixel p + offset(tap), so 16 consecutive outputs (across rows) take
// one masked load per tap, with the masks made once per geometry. The row-wise kernel runs one
// part-empty vector per row: 960 channels at 7x7 took 0.085 ms that way, 0.036 ms flat
// (576 at 14x14: 0.218 -> 0.170 ms).
bool dw3x3_flat(const WindowGeometry& g) {
  return g.stride[1] == 1 && g.out[2] == g.in[2] && g.in[2] < 16;
}

void dw3x3_flat_avx512(const float* plane, const float* w, float bias, const OutputClamp& clamp,
                       const Dw3x3Scratch& scratch, int64_t out_pixels, float* out) {
  const __m512 b = _mm512_set1_ps(bias), lo = _mm512_set1_ps(clamp.lo),
               hi = _mm512_set1_ps(clamp.hi);
  const uint16_t* masks = scratch.masks();
  const int64_t* offset = scratch.offsets();
  for (int64_t p = 0, v = 0; p < out_pixels; p += 16, ++v) {
    __m512 acc = b;
    for (int tap = 0; tap < 9; ++tap)
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(masks[v * 9 + tap], plane + p + offset[tap]),
                            _mm512_set1_ps(w[tap]), acc);
    if (clamp.on) acc = _mm512_min_ps(hi, _mm512_max_ps(lo, acc));
    const int64_t left = std::min<int64_t>(16, out_pixels - p);
    _mm512_mask_storeu_ps(out + p, static_cast<__mmask16>((1u << left) - 1), acc);
  }
}

#else

// Portable: all nine taps per output in registers, missing rows read from `zeros`, so only the
// border columns need bounds checks.
template <int S>
void dw3x3_portable(const float* plane, const float* w, float bias, const WindowGeometry& g,
                    const float* zeros, float* out) {
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2], ph = g.pad_begin[1],
                pw = g.pad_begin[2];
  const int64_t lo = std::min(OW, (pw + S - 1) / S);
  const int64_t hi = W - 3 + pw < 0 ? lo : std::clamp((W - 3 + pw) / S + 1, lo, OW);
  for (int64_t oh = 0; oh < OH; ++oh) {
    const float* r[3];
    window_rows(plane, oh * S - ph, H, W, zeros, r);
    float* o = out + oh * OW;
    const auto edge = [&](int64_t ow) {
      float acc = bias;
      for (int kh = 0; kh < 3; ++kh)
        for (int kw = 0; kw < 3; ++kw) {
          const int64_t iw = ow * S - pw + kw;
          if (iw >= 0 && iw < W) acc += w[kh * 3 + kw] * r[kh][iw];
        }
      o[ow] = acc;
    };
    for (int64_t ow = 0; ow < lo; ++ow) edge(ow);
    const float *r0 = r[0], *r1 = r[1], *r2 = r[2];
    for (int64_t ow = lo; ow < hi; ++ow) {
      const int64_t x = ow * S - pw;
      o[ow] = bias + w[0] * r0[x] + w[1] * r0[x + 1] + w[2] * r0[x + 2] + w[3] * r1[x] +
              w[4] * r1[x + 1] + w[5] * r1[x + 2] + w[6] * r2[x] + w[7] * r2[x + 1] +
              w[8] * r2[x + 2];
    }
    for (int64_t ow = hi; ow < OW; ++ow) edge(ow);
  }
}

#endif

}  // namespace

Dw3x3Scratch::Dw3x3Scratch(const WindowGeometry& g)
    : buffer_(static_cast<size_t>(g.in[2]), 0.0f) {  // one zero row
#if defined(__AVX512F__)
  if (!dw3x3_flat(g)) return;
  const int64_t H = g.in[1], W = g.in[2], out_pixels = g.out_size();
  for (int64_t kh = 0; kh < 3; ++kh)
    for (int64_t kw = 0; kw < 3; ++kw)
      offsets_.push_back((kh - g.pad_begin[1]) * W + kw - g.pad_begin[2]);
  for (int64_t p0 = 0; p0 < out_pixels; p0 += 16)
    for (int64_t tap = 0; tap < 9; ++tap) {
      uint32_t bits = 0;
      for (int64_t lane = 0; lane < 16 && p0 + lane < out_pixels; ++lane) {
        const int64_t iy = (p0 + lane) / W + tap / 3 - g.pad_begin[1];
        const int64_t ix = (p0 + lane) % W + tap % 3 - g.pad_begin[2];
        if (iy >= 0 && iy < H && ix >= 0 && ix < W) bits |= uint32_t{1} << lane;
      }
      masks_.push_back(static_cast<uint16_t>(bits));
    }
#endif
}

void dw3x3_plane(const float* plane, const float* w, float bias, const WindowGeometry& g,
                 const OutputClamp& clamp, Dw3x3Scratch& scratch, float* out) {
#if defined(__AVX512F__)
  if (scratch.flat())
    dw3x3_flat_avx512(plane, w, bias, clamp, scratch, g.out_size(), out);
  else if (g.stride[2] == 1)
    dw3x3_avx512<1>(plane, w, bias, g, clamp, scratch.data(), out);
  else
    dw3x3_avx512<2>(plane, w, bias, g, clamp, scratch.data(), out);
#else
  if (g.stride[2] == 1)
    dw3x3_portable<1>(plane, w, bias, g, scratch.data(), out);
  else
    dw3x3_portable<2>(plane, w, bias, g, scratch.data(), out);
  finish_rows<float>(out, 1, 0, 0, g.out_size(), nullptr, clamp);
#endif
}

}  // namespace qforge::kernels
