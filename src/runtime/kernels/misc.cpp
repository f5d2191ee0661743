// SPDX-License-Identifier: Apache-2.0
// Kernel family: misc (TopK, NonMaxSuppression, Unique, Det here; random ops in random.cpp,
// windows/MelWeightMatrix/DFT/STFT in signal.cpp, StringNormalizer/TfIdfVectorizer in
// text.cpp). Registered in register_misc_kernels (listed in src/runtime/kernel_registry.cpp);
// tested in tests/runtime/test_misc.cpp.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>

#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

void register_random_kernels(KernelRegistry& registry);  // random.cpp
void register_signal_kernels(KernelRegistry& registry);  // signal.cpp
void register_text_kernels(KernelRegistry& registry);    // text.cpp

namespace {

// Orders NaN above every number, so that "largest" puts NaN first like numpy's sort does.
template <typename C>
bool less_nan_last(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
  }
  return a < b;
}

// ---- TopK: k largest/smallest along an axis; ties keep the lower index first ----

void topk(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t opset = ctx.op().opset;
  const int axis = normalize_axis(ctx.attr_int("axis", -1), x.rank(), ctx.op());
  const int64_t k =
      opset < 10 ? ctx.attr_int("k", -1) : read_int_scalar(ctx.input(1), ctx.op(), "K");
  const bool largest = ctx.attr_int("largest", 1) != 0;
  const int64_t n = x.dim(axis);
  if (k < 0 || k > n)
    fail(ErrorKind::InvalidModel, "{}: k = {} is outside [0, {}] for axis {} of {}",
         ctx.op().describe(), k, n, axis, shape_to_string(x.shape()));
  Shape out_shape = x.shape();
  out_shape[axis] = k;
  const int64_t outer = dims_product(x.shape(), 0, axis),
                inner = dims_product(x.shape(), axis + 1, x.rank());
  Tensor& values = ctx.allocate_output(0, x.dtype(), out_shape);
  Tensor& indices = ctx.allocate_output(1, DataType::Int64, out_shape);
  visit_numeric_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = compute_t<T>;
    const T* in = static_cast<const T*>(x.raw());
    T* vout = static_cast<T*>(values.raw());
    int64_t* iout = indices.data<int64_t>();
    parallel_for(ctx.num_threads(), outer * inner, 64, [&](int64_t begin, int64_t end) {
      std::vector<int64_t> order(static_cast<size_t>(n));
      for (int64_t line = begin; line < end; ++line) {
        const int64_t o = line / inner, i = line % inner;
        const T* base = in + o * n * inner + i;
        std::iota(order.begin(), order.end(), 0);
        auto before = [&](int64_t a, int64_t b) {
          const C va = static_cast<C>(base[a * inner]), vb = static_cast<C>(base[b * inner]);
          if (largest ? less_nan_last(vb, va) : less_nan_last(va, vb)) return true;
          if (largest ? less_nan_last(va, vb) : less_nan_last(vb, va)) return false;
          return a < b;
        };
        std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
        for (int64_t j = 0; j < k; ++j) {
          vout[(o * k + j) * inner + i] = base[order[j] * inner];
          iout[(o * k + j) * inner + i] = order[j];
        }
      }
    });
  });
}

// ---- NonMaxSuppression (ONNX Runtime's rules: strict score threshold, IoU > threshold) ----

struct Box {
  float x1, y1, x2, y2;  // normalized so that x1 <= x2, y1 <= y2
};

Box read_box(const float* b, bool center) {
  if (center) return {b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2};
  return {std::min(b[1], b[3]), std::min(b[0], b[2]), std::max(b[1], b[3]), std::max(b[0], b[2])};
}

bool suppresses(const Box& a, const Box& b, float iou_threshold) {
  const float ix1 = std::max(a.x1, b.x1), ix2 = std::min(a.x2, b.x2);
  const float iy1 = std::max(a.y1, b.y1), iy2 = std::min(a.y2, b.y2);
  if (ix2 <= ix1 || iy2 <= iy1) return false;
  const float inter = (ix2 - ix1) * (iy2 - iy1);
  const float area_a = (a.x2 - a.x1) * (a.y2 - a.y1), area_b = (b.x2 - b.x1) * (b.y2 - b.y1);
  const float uni = area_a + area_b - inter;
  if (inter <= 0 || area_a <= 0 || area_b <= 0 || uni <= 0) return false;
  return inter / uni > iou_threshold;
}

void non_max_suppression(KernelContext& ctx) {
  const Tensor boxes = ctx.input(0).cast(DataType::Float);
  const Tensor scores = ctx.input(1).cast(DataType::Float);
  if (boxes.rank() != 3 || boxes.dim(2) != 4 || scores.rank() != 3 ||
      scores.dim(0) != boxes.dim(0) || scores.dim(2) != boxes.dim(1))
    fail(ErrorKind::Shape, "{}: boxes {} and scores {} must be [B, N, 4] and [B, C, N]",
         ctx.op().describe(), shape_to_string(boxes.shape()), shape_to_string(scores.shape()));
  const Tensor* max_t = ctx.optional_input(2);
  const int64_t max_out =
      max_t && max_t->numel() ? read_int_scalar(*max_t, ctx.op(), "max_output_boxes_per_class") : 0;
  const Tensor* iou_t = ctx.optional_input(3);
  const float iou_threshold = iou_t && iou_t->numel() ? iou_t->to_float_vector()[0] : 0.0f;
  const Tensor* score_t = ctx.optional_input(4);
  const bool has_score_threshold = score_t && score_t->numel();
  const float score_threshold = has_score_threshold ? score_t->to_float_vector()[0] : 0.0f;
  const bool center = ctx.attr_int("center_point_box", 0) != 0;
  const int64_t batches = boxes.dim(0), n = boxes.dim(1), classes = scores.dim(1);
  std::vector<int64_t> selected;  // triples
  for (int64_t b = 0; b < batches && max_out > 0; ++b) {
    std::vector<Box> bx(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) bx[i] = read_box(boxes.data<float>() + (b * n + i) * 4, center);
    for (int64_t c = 0; c < classes; ++c) {
      const float* s = scores.data<float>() + (b * classes + c) * n;
      std::vector<int64_t> candidates;
      for (int64_t i = 0; i < n; ++i)
        if (!has_score_threshold || s[i] > score_threshold) candidates.push_back(i);
      std::stable_sort(candidates.begin(), candidates.end(),
                       [&](int64_t a, int64_t z) { return s[a] > s[z]; });
      std::vector<int64_t> kept;
      for (int64_t i : candidates) {
        if (static_cast<int64_t>(kept.size()) >= max_out) break;
        bool keep = true;
        for (int64_t j : kept)
          if (suppresses(bx[i], bx[j], iou_threshold)) keep = false;
        if (!keep) continue;
        kept.push_back(i);
        selected.insert(selected.end(), {b, c, i});
      }
    }
  }
  Tensor& out =
      ctx.allocate_output(0, DataType::Int64, {static_cast<int64_t>(selected.size() / 3), 3});
  std::copy(selected.begin(), selected.end(), out.data<int64_t>());
}

// ---- Unique: elements (or slices along axis) in sorted or first-occurrence order ----

// Three-way comparison of items a and b of data viewed as [outer, n, inner]: item k is the
// slice [:, k, :] (a single element when outer == inner == 1).
template <typename T>
int compare_items(const T* data, int64_t a, int64_t b, int64_t outer, int64_t n, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const auto va = data[(o * n + a) * inner + i], vb = data[(o * n + b) * inner + i];
      if constexpr (std::is_same_v<T, std::string>) {
        if (va != vb) return va < vb ? -1 : 1;
      } else {
        const compute_t<T> ca = static_cast<compute_t<T>>(va), cb = static_cast<compute_t<T>>(vb);
        if (less_nan_last(ca, cb)) return -1;
        if (less_nan_last(cb, ca)) return 1;
      }
    }
  return 0;
}

void unique(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const bool sorted = ctx.attr_int("sorted", 1) != 0;
  const bool has_axis = ctx.op().has_attr("axis");
  // View x as [outer, n, inner] with the items along n.
  const Tensor flat = has_axis ? x : x.reshaped({x.numel()});
  const int axis = has_axis ? normalize_axis(ctx.attr_int("axis", 0), x.rank(), ctx.op()) : 0;
  const int64_t outer = dims_product(flat.shape(), 0, axis), n = flat.dim(axis);
  const int64_t inner = dims_product(flat.shape(), axis + 1, flat.rank());
  auto cmp = [&](int64_t a, int64_t b) -> int {
    if (x.dtype() == DataType::String)
      return compare_items(x.strings().data(), a, b, outer, n, inner);
    return visit_numeric_dtype(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      return compare_items(static_cast<const T*>(x.raw()), a, b, outer, n, inner);
    });
  };
  auto less = [&](int64_t a, int64_t b) { return cmp(a, b) < 0; };
  std::map<int64_t, int64_t, decltype(less)> first_index(less);  // representative item -> unique id
  std::vector<int64_t> firsts, inverse(static_cast<size_t>(n)), counts;
  for (int64_t i = 0; i < n; ++i) {
    auto [it, inserted] = first_index.emplace(i, static_cast<int64_t>(firsts.size()));
    if (inserted) {
      firsts.push_back(i);
      counts.push_back(0);
    }
    inverse[i] = it->second;
    ++counts[it->second];
  }
  const int64_t u = static_cast<int64_t>(firsts.size());
  std::vector<int64_t> order(static_cast<size_t>(u));  // output position -> unique id
  std::iota(order.begin(), order.end(), 0);
  if (sorted)
    std::sort(order.begin(), order.end(),
              [&](int64_t a, int64_t b) { return less(firsts[a], firsts[b]); });
  std::vector<int64_t> position(static_cast<size_t>(u));
  for (int64_t p = 0; p < u; ++p) position[order[p]] = p;
  Shape y_shape = flat.shape();
  y_shape[axis] = u;
  Tensor& y = ctx.allocate_output(0, x.dtype(), y_shape);
  const size_t es = dtype_size(x.dtype());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t p = 0; p < u; ++p) {
      const int64_t src = (o * n + firsts[order[p]]) * inner, dst = (o * u + p) * inner;
      if (x.dtype() == DataType::String)
        std::copy_n(x.strings().begin() + src, inner, y.strings().begin() + dst);
      else
        std::memcpy(static_cast<char*>(y.raw()) + dst * es,
                    static_cast<const char*>(x.raw()) + src * es, inner * es);
    }
  auto emit = [&](size_t index, int64_t count, auto value) {
    if (index >= ctx.num_outputs()) return;
    Tensor& t = ctx.allocate_output(index, DataType::Int64, {count});
    for (int64_t i = 0; i < count; ++i) t.data<int64_t>()[i] = value(i);
  };
  emit(1, u, [&](int64_t p) { return firsts[order[p]]; });
  emit(2, n, [&](int64_t i) { return position[inverse[i]]; });
  emit(3, u, [&](int64_t p) { return counts[order[p]]; });
}

// ---- Det: LU with partial pivoting in double ----

double determinant(std::vector<double> a, int64_t m) {
  double det = 1.0;
  for (int64_t col = 0; col < m; ++col) {
    int64_t pivot = col;
    for (int64_t r = col + 1; r < m; ++r)
      if (std::abs(a[r * m + col]) > std::abs(a[pivot * m + col])) pivot = r;
    if (a[pivot * m + col] == 0.0) return 0.0;
    if (pivot != col) {
      for (int64_t j = 0; j < m; ++j) std::swap(a[col * m + j], a[pivot * m + j]);
      det = -det;
    }
    det *= a[col * m + col];
    for (int64_t r = col + 1; r < m; ++r) {
      const double factor = a[r * m + col] / a[col * m + col];
      for (int64_t j = col; j < m; ++j) a[r * m + j] -= factor * a[col * m + j];
    }
  }
  return det;
}

void det(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2 || x.dim(x.rank() - 1) != x.dim(x.rank() - 2))
    fail(ErrorKind::Shape, "{}: input {} is not a (batch of) square matrices", ctx.op().describe(),
         shape_to_string(x.shape()));
  visit_float_dtype(x.dtype(), ctx.op(), [](auto) {});
  const int64_t m = x.dim(x.rank() - 1);
  const Shape out_shape(x.shape().begin(), x.shape().end() - 2);
  const int64_t count = shape_numel(out_shape);
  const Tensor xd = x.cast(DataType::Double);
  Tensor result(DataType::Double, out_shape);
  for (int64_t b = 0; b < count; ++b) {
    const double* p = xd.data<double>() + b * m * m;
    result.data<double>()[b] = determinant(std::vector<double>(p, p + m * m), m);
  }
  ctx.set_output(0, x.dtype() == DataType::Double ? result : result.cast(x.dtype()));
}

}  // namespace

void register_misc_kernels(KernelRegistry& registry) {
  registry.add("", "TopK", 1, kLatestOpset, topk);
  registry.add("", "NonMaxSuppression", 10, kLatestOpset, non_max_suppression);
  registry.add("", "Unique", 11, kLatestOpset, unique);
  registry.add("", "Det", 11, kLatestOpset, det);
  register_random_kernels(registry);
  register_signal_kernels(registry);
  register_text_kernels(registry);
}

}  // namespace qforge::kernels
