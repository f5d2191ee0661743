// SPDX-License-Identifier: Apache-2.0
// AVX-512 intrinsics for the kernels that have a vector path (conv_direct.cpp,
// conv_depthwise.cpp): included only when the build targets AVX-512 (-march=native on such a
// machine), each such kernel keeping a portable path for the other builds.
#pragma once

#if defined(__AVX512F__)
#include <immintrin.h>
// GCC 12 reports its own _mm512_undefined_ps() inside _mm512_min_ps/_mm512_max_ps as "may be
// used uninitialized" (a false positive of the intrinsics header).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif
