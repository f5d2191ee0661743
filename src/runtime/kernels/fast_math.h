// SPDX-License-Identifier: Apache-2.0
// exp, tanh and erf for float loops that should vectorize: no libm calls and no branches
// (std::exp and friends are calls, which stop GCC from vectorizing a loop). Used by the
// elementwise and activation kernels; accuracy tested in tests/runtime/test_elementwise.cpp
// (FastMath.*). The double overloads are the std functions, so templates can call either.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace qforge::kernels {

// Cody-Waite reduction x = n ln2 + r, a degree-7 polynomial for e^r (Cephes' coefficients),
// 2^n applied in two halves so that results down to the subnormals and up to +inf come out
// right. Relative error below 3e-7; NaN stays NaN. The input is clamped to [-104, 89] with
// integer bit operations: a float compare-and-select here makes GCC split the loop into
// branches and give up vectorizing.
inline float exp_fast(float x) {
  const int32_t bits = std::bit_cast<int32_t>(x);
  const int32_t magnitude = bits & 0x7fffffff;
  const int32_t sign = bits >> 31;                                        // 0 or -1
  const int32_t limit = 0x42b20000 ^ (sign & (0x42b20000 ^ 0x42d00000));  // 89 or 104
  const int32_t clamp = -static_cast<int32_t>((magnitude > limit) & (magnitude <= 0x7f800000));
  x = std::bit_cast<float>((bits & ~clamp) | (((bits & INT32_MIN) | limit) & clamp));
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float t = x * 1.44269504088896341f + kMagic;
  const float n = t - kMagic;
  const uint32_t ni = std::bit_cast<uint32_t>(t) - std::bit_cast<uint32_t>(kMagic);
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const uint32_t half = static_cast<uint32_t>(static_cast<int32_t>(ni) >> 1);
  const float scale1 = std::bit_cast<float>((half + 127u) << 23);
  const float scale2 = std::bit_cast<float>((ni - half + 127u) << 23);
  return p * scale1 * scale2;
}

// |x| and the sign bit of x, through the bits (no compare).
inline float abs_bits(float x) {
  return std::bit_cast<float>(std::bit_cast<uint32_t>(x) & 0x7fffffffu);
}
inline float with_sign_of(float magnitude, float x) {
  return std::bit_cast<float>(std::bit_cast<uint32_t>(magnitude) |
                              (std::bit_cast<uint32_t>(x) & 0x80000000u));
}

// Odd Taylor series below 0.4, 1 - 2 / (e^2|x| + 1) above (where the cancellation costs at most
// a bit or two). Relative error below 1e-6; tanh(+-inf) = +-1; NaN stays NaN.
inline float tanh_fast(float x) {
  const float a = abs_bits(x);
  const float a2 = a * a;
  float p = 0.0035921280f;     // 21844 / 6081075
  p = p * a2 - 0.0088632355f;  // -1382 / 155925
  p = p * a2 + 0.0218694885f;  // 62 / 2835
  p = p * a2 - 0.0539682540f;  // -17 / 315
  p = p * a2 + 0.1333333333f;  // 2 / 15
  p = p * a2 - 0.3333333333f;  // -1 / 3
  const float small = a + a * a2 * p;
  const float large = 1.0f - 2.0f / (exp_fast(2.0f * a) + 1.0f);
  return with_sign_of(a < 0.4f ? small : large, x);
}

// Taylor series of erf below 0.5; above, erf = 1 - erfc with the Chebyshev-fitted erfc of
// Numerical Recipes (fractional error 1.2e-7). Relative error below 1e-6; erf(+-inf) = +-1.
inline float erf_fast(float x) {
  const float a = abs_bits(x);
  const float a2 = a * a;
  float p = 1.0f / 9360.0f;     // x^13 / (6! 13)
  p = p * a2 - 1.0f / 1320.0f;  // x^11 / (5! 11)
  p = p * a2 + 1.0f / 216.0f;
  p = p * a2 - 1.0f / 42.0f;
  p = p * a2 + 1.0f / 10.0f;
  p = p * a2 - 1.0f / 3.0f;
  const float small = 1.1283791671f * (a + a * a2 * p);  // 2 / sqrt(pi)
  const float t = 1.0f / (1.0f + 0.5f * a);
  float q = 0.17087277f;
  q = q * t - 0.82215223f;
  q = q * t + 1.48851587f;
  q = q * t - 1.13520398f;
  q = q * t + 0.27886807f;
  q = q * t - 0.18628806f;
  q = q * t + 0.09678418f;
  q = q * t + 0.37409196f;
  q = q * t + 1.00002368f;
  q = q * t - 1.26551223f;
  const float large = 1.0f - t * exp_fast(q - a2);
  return with_sign_of(a < 0.5f ? small : large, x);
}

inline double exp_fast(double x) {
  return std::exp(x);
}
inline double tanh_fast(double x) {
  return std::tanh(x);
}
inline double erf_fast(double x) {
  return std::erf(x);
}

}  // namespace qforge::kernels
