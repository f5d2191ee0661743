// SPDX-License-Identifier: Apache-2.0
// copy_by_axis_offsets and friends, declared in axis_copy.h: per-axis offset tables turn every
// "each output axis reads some positions of one input axis" op into one row copier.
#include "axis_copy.h"

#include "avx512.h"

#include <algorithm>
#include <cstdlib>

#include "kernel_util.h"

namespace qforge::kernels {

namespace {

// Outer axes are folded into the innermost table while it is short, so that a slice or pad of
// small rows still copies long runs; the folded table stays small.
constexpr size_t kFoldBelow = 1024;
constexpr size_t kFoldedMax = size_t{1} << 16;
constexpr int64_t kRowGrainElements = 1 << 14;

struct Segment {
  int64_t dst, src, len;  // src < 0: a run of fill values
};

struct Plan {
  std::vector<std::vector<int64_t>> outer;  // tables of the row axes
  std::vector<int64_t> inner;               // table of the innermost (folded) axis
  std::vector<Segment> segments;            // inner table as runs
  bool use_segments = false;
  // Row axes from slowest to fastest varying in the iteration; rows are output rows, but
  // when rows are gathered element by element, the axis reading the closest input positions
  // varies fastest so that neighbouring rows share cache lines (a transpose's input).
  std::vector<size_t> order;
};

std::vector<Segment> segments_of(const std::vector<int64_t>& table) {
  std::vector<Segment> segments;
  for (size_t j = 0; j < table.size(); ++j) {
    const int64_t s = table[j];
    if (!segments.empty()) {
      Segment& last = segments.back();
      if ((s < 0 && last.src < 0) || (s >= 0 && last.src >= 0 && s == last.src + last.len)) {
        ++last.len;
        continue;
      }
    }
    segments.push_back({static_cast<int64_t>(j), s < 0 ? -1 : s, 1});
  }
  return segments;
}

bool worth_segments(const std::vector<Segment>& segments, size_t n) {
  return segments.size() * 4 <= n;
}

// Folding only helps when the innermost table is made of runs; strided tables stay apart so
// the row order can be chosen for the cache.
void fold_inner_axes(std::vector<std::vector<int64_t>>& tables) {
  while (tables.size() >= 2) {
    const std::vector<int64_t>& inner = tables.back();
    const std::vector<int64_t>& outer = tables[tables.size() - 2];
    if (inner.size() >= kFoldBelow || inner.size() * outer.size() > kFoldedMax ||
        !worth_segments(segments_of(inner), inner.size()))
      return;
    std::vector<int64_t> folded;
    folded.reserve(inner.size() * outer.size());
    for (int64_t o : outer)
      for (int64_t i : inner) folded.push_back(o < 0 || i < 0 ? -1 : o + i);
    tables.pop_back();
    tables.back() = std::move(folded);
  }
}

int64_t table_stride(const std::vector<int64_t>& table) {
  return table.size() >= 2 && table[0] >= 0 && table[1] >= 0 ? std::abs(table[1] - table[0]) : 0;
}

Plan make_plan(std::vector<std::vector<int64_t>> tables) {
  // Size-1 axes only add a constant; drop them into `base`.
  int64_t base = 0;
  std::vector<std::vector<int64_t>> kept;
  for (auto& table : tables) {
    if (table.size() != 1) {
      kept.push_back(std::move(table));
    } else if (table[0] < 0 || base < 0) {
      base = -1;
    } else {
      base += table[0];
    }
  }
  if (kept.empty()) kept.push_back({0});
  for (int64_t& v : kept.back()) v = (v < 0 || base < 0) ? -1 : v + base;
  fold_inner_axes(kept);
  Plan plan;
  plan.inner = std::move(kept.back());
  kept.pop_back();
  plan.outer = std::move(kept);
  plan.segments = segments_of(plan.inner);
  plan.use_segments = worth_segments(plan.segments, plan.inner.size());
  for (size_t d = 0; d < plan.outer.size(); ++d) plan.order.push_back(d);
  if (!plan.use_segments)
    std::stable_sort(plan.order.begin(), plan.order.end(), [&](size_t a, size_t b) {
      return table_stride(plan.outer[a]) > table_stride(plan.outer[b]);
    });
  return plan;
}

template <typename T>
void copy_row(const Plan& plan, const T* in, T* out, int64_t base, const T& fill) {
  const int64_t n = static_cast<int64_t>(plan.inner.size());
  if (base < 0) {
    std::fill_n(out, n, fill);
  } else if (plan.use_segments) {
    for (const Segment& s : plan.segments) {
      if (s.src < 0)
        std::fill_n(out + s.dst, s.len, fill);
      else
        std::copy_n(in + base + s.src, s.len, out + s.dst);
    }
  } else {
    const int64_t* table = plan.inner.data();
    for (int64_t j = 0; j < n; ++j) out[j] = table[j] < 0 ? fill : in[base + table[j]];
  }
}

template <typename T>
void run_plan(const Plan& plan, const T* in, T* out, const T& fill, int threads) {
  const int64_t n = static_cast<int64_t>(plan.inner.size());
  const size_t axes = plan.outer.size();
  // Output row stride of each row axis (rows are laid out in axis order).
  std::vector<int64_t> row_stride(axes, 1);
  for (size_t d = axes; d-- > 1;)
    row_stride[d - 1] = row_stride[d] * static_cast<int64_t>(plan.outer[d].size());
  const int64_t rows = axes == 0 ? 1 : row_stride[0] * static_cast<int64_t>(plan.outer[0].size());
  if (rows == 0 || n == 0) return;
  parallel_for(threads, rows, std::max<int64_t>(1, kRowGrainElements / n),
               [&](int64_t begin, int64_t end) {
                 // Odometer over the row axes in plan.order (last entry fastest).
                 std::vector<int64_t> index(axes);
                 for (size_t k = axes, rest = static_cast<size_t>(begin); k-- > 0;) {
                   const size_t d = plan.order[k];
                   index[d] = static_cast<int64_t>(rest % plan.outer[d].size());
                   rest /= plan.outer[d].size();
                 }
                 for (int64_t step = begin; step < end; ++step) {
                   int64_t base = 0, row = 0;
                   for (size_t d = 0; d < axes; ++d) {
                     const int64_t v = plan.outer[d][static_cast<size_t>(index[d])];
                     base = (v < 0 || base < 0) ? -1 : base + v;
                     row += index[d] * row_stride[d];
                   }
                   copy_row(plan, in, out + row * n, base, fill);
                   for (size_t k = axes; k-- > 0;) {
                     const size_t d = plan.order[k];
                     if (++index[d] < static_cast<int64_t>(plan.outer[d].size())) break;
                     index[d] = 0;
                   }
                 }
               });
}

}  // namespace

void copy_by_axis_offsets(const Tensor& in, Tensor& out, std::vector<std::vector<int64_t>> offsets,
                          const Tensor* fill, int threads) {
  if (out.numel() == 0) return;
  const Plan plan = make_plan(std::move(offsets));
  visit_storage(in.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T fill_value = fill ? storage<T>(*fill)[0] : T{};
    run_plan<T>(plan, in.numel() ? storage<T>(in) : nullptr, storage<T>(out), fill_value, threads);
  });
}

std::vector<int64_t> scaled_offsets(const std::vector<int64_t>& index, int64_t stride) {
  std::vector<int64_t> out(index.size());
  for (size_t i = 0; i < index.size(); ++i) out[i] = index[i] < 0 ? -1 : index[i] * stride;
  return out;
}

namespace {

// out[b][c][r] = in[b][r][c] for `batch` matrices of rows x cols, in square tiles so that both
// sides are read and written a cache line at a time.
template <typename T>
void transpose_matrices(const T* in, T* out, int64_t batch, int64_t rows, int64_t cols,
                        int threads) {
  constexpr int64_t kTile = 16;
  // Work items: a band of up to kTile rows by kBand columns of one matrix (a 3-row matrix, an
  // image's channels, still splits over threads).
  constexpr int64_t kBand = 1024;
  const int64_t row_tiles = (rows + kTile - 1) / kTile, col_bands = (cols + kBand - 1) / kBand;
  parallel_for(threads, batch * row_tiles * col_bands, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / (row_tiles * col_bands), rest = t % (row_tiles * col_bands);
      const int64_t r0 = (rest / col_bands) * kTile, r1 = std::min(rows, r0 + kTile);
      const int64_t band = (rest % col_bands) * kBand, band_end = std::min(cols, band + kBand);
      const T* src = in + b * rows * cols;
      T* dst = out + b * rows * cols;
      int64_t c0 = band;
#if defined(__AVX512F__)
      // Three rows (an image's channels) interleave in registers, two permutes per output
      // vector (mobilenet_v2's input: 0.13 -> 0.02 ms); other short matrices scatter one vector
      // per row, `rows` apart.
      if constexpr (sizeof(T) == 4) {
        if (rows == 3) {
          __m512i from_ab[3], from_c[3];
          __mmask16 take_c[3];
          for (int m = 0; m < 3; ++m) {
            alignas(64) int32_t ab[16], c[16];
            take_c[m] = 0;
            for (int i = 0; i < 16; ++i) {
              const int g = 16 * m + i, row = g % 3, col = g / 3;
              ab[i] = row == 1 ? 16 + col : col;
              c[i] = col;
              if (row == 2) take_c[m] = static_cast<__mmask16>(take_c[m] | (1u << i));
            }
            from_ab[m] = _mm512_load_si512(ab);
            from_c[m] = _mm512_load_si512(c);
          }
          for (; c0 + kTile <= band_end; c0 += kTile) {
            const __m512i a = _mm512_loadu_si512(src + c0);
            const __m512i b = _mm512_loadu_si512(src + cols + c0);
            const __m512i c = _mm512_loadu_si512(src + 2 * cols + c0);
            for (int m = 0; m < 3; ++m)
              _mm512_storeu_si512(
                  dst + c0 * 3 + 16 * m,
                  _mm512_mask_permutexvar_epi32(_mm512_permutex2var_epi32(a, from_ab[m], b),
                                                take_c[m], from_c[m], c));
          }
        } else if (rows < kTile) {
          const __m512i apart = _mm512_mullo_epi32(
              _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
              _mm512_set1_epi32(static_cast<int>(rows)));
          for (; c0 + kTile <= band_end; c0 += kTile)
            for (int64_t r = r0; r < r1; ++r)
              _mm512_i32scatter_epi32(dst + c0 * rows + r, apart,
                                      _mm512_loadu_si512(src + r * cols + c0), 4);
        }
      }
#endif
      for (; c0 < band_end; c0 += kTile) {
        const int64_t c1 = std::min(band_end, c0 + kTile);
        for (int64_t c = c0; c < c1; ++c)
          for (int64_t r = r0; r < r1; ++r) dst[c * rows + r] = src[r * cols + c];
      }
    }
  });
}

// The permutation as a batch of matrix transposes, after merging input axes that stay next to
// each other: [N, C, H, W] -> [N, H, W, C] is N matrices of C x (H*W). False when it is not one.
bool as_matrix_transposes(const Shape& shape, const std::vector<int>& perm, int64_t& batch,
                          int64_t& rows, int64_t& cols) {
  std::vector<std::vector<int>> groups;  // runs of consecutive input axes, in output order
  for (size_t d = 0; d < perm.size(); ++d) {
    if (shape[static_cast<size_t>(perm[d])] == 1) continue;  // size-1 axes move freely
    if (!groups.empty() && groups.back().back() + 1 == perm[d])
      groups.back().push_back(perm[d]);
    else
      groups.push_back({perm[d]});
  }
  const auto size = [&](const std::vector<int>& g) {
    int64_t n = 1;
    for (int a : g) n *= shape[static_cast<size_t>(a)];
    return n;
  };
  if (groups.size() == 2 && groups[0].front() > groups[1].front()) {
    batch = 1;
    rows = size(groups[1]);
    cols = size(groups[0]);
    return true;
  }
  if (groups.size() == 3 && groups[0].front() < groups[2].front() &&
      groups[2].front() < groups[1].front()) {
    batch = size(groups[0]);
    rows = size(groups[2]);
    cols = size(groups[1]);
    return true;
  }
  return false;
}

}  // namespace

Tensor& transpose_into(KernelContext& ctx, size_t index, const Tensor& in,
                       const std::vector<int>& perm) {
  int64_t batch = 0, rows = 0, cols = 0;
  if (in.dtype() != DataType::String && in.numel() > 0 &&
      as_matrix_transposes(in.shape(), perm, batch, rows, cols)) {
    Shape shape(perm.size());
    for (size_t d = 0; d < perm.size(); ++d) shape[d] = in.shape()[static_cast<size_t>(perm[d])];
    Tensor& out =
        ctx.allocate_output(index, in.dtype(), shape, KernelContext::OutputInit::Uninitialized);
    visit_storage(in.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (!std::is_same_v<T, std::string>)
        transpose_matrices(storage<T>(in), storage<T>(out), batch, rows, cols, ctx.num_threads());
    });
    return out;
  }
  const std::vector<int64_t> strides = contiguous_strides(in.shape());
  Shape shape(perm.size());
  std::vector<std::vector<int64_t>> offsets(perm.size());
  for (size_t d = 0; d < perm.size(); ++d) {
    const size_t from = static_cast<size_t>(perm[d]);
    shape[d] = in.shape()[from];
    offsets[d].resize(static_cast<size_t>(shape[d]));
    for (int64_t i = 0; i < shape[d]; ++i) offsets[d][static_cast<size_t>(i)] = i * strides[from];
  }
  Tensor& out = ctx.allocate_output(index, in.dtype(), shape);
  copy_by_axis_offsets(in, out, std::move(offsets), nullptr, ctx.num_threads());
  return out;
}

}  // namespace qforge::kernels
