// SPDX-License-Identifier: Apache-2.0
// Sliding-window geometry, the OpenBLAS entry points and 16-bit widening shared by the conv,
// gemm, pooling and normalization kernel families (see nn_util.h). Tested through
// tests/runtime/test_conv.cpp, test_gemm.cpp, test_pooling.cpp and test_normalization.cpp.
#include "nn_util.h"

#include <cblas.h>
#include <dnnl.h>
#include <omp.h>

#include <climits>
#include <string>

namespace qforge::kernels {

namespace {

int64_t ceil_div(int64_t a, int64_t b) {
  return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}
int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// One spatial dim of window_geometry: pads and output size for the auto_pad mode.
void resolve_dim(const KernelContext& ctx, const std::string& auto_pad, bool ceil_mode,
                 WindowGeometry& g, int s) {
  const int64_t ext = g.extent(s);
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    g.out[s] = ceil_div(g.in[s], g.stride[s]);
    const int64_t total = std::max<int64_t>(0, (g.out[s] - 1) * g.stride[s] + ext - g.in[s]);
    // SAME_UPPER puts the odd pixel at the end, SAME_LOWER at the beginning.
    g.pad_begin[s] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    g.pad_end[s] = total - g.pad_begin[s];
    return;
  }
  if (auto_pad == "VALID") g.pad_begin[s] = g.pad_end[s] = 0;
  const int64_t span = g.in[s] + g.pad_begin[s] + g.pad_end[s] - ext;
  if (span < 0)
    fail(ErrorKind::Shape, "{}: window extent {} exceeds padded input size {}", ctx.op().describe(),
         ext, g.in[s] + g.pad_begin[s] + g.pad_end[s]);
  if (!ceil_mode) {
    g.out[s] = floor_div(span, g.stride[s]) + 1;
    return;
  }
  g.out[s] = ceil_div(span, g.stride[s]) + 1;
  // The last window must start inside the input or its leading padding (PyTorch, ORT).
  if ((g.out[s] - 1) * g.stride[s] >= g.in[s] + g.pad_begin[s]) --g.out[s];
}

int blas_int(int64_t v) {
  if (v > INT_MAX) fail(ErrorKind::Shape, "matrix dimension {} exceeds the BLAS limit", v);
  return static_cast<int>(std::max<int64_t>(v, 1));
}

template <typename T>
bool gemm_trivial(int64_t m, int64_t n, int64_t k, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return true;
  if (k > 0) return false;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
  return true;
}

}  // namespace

std::vector<int64_t> WindowGeometry::out_dims() const {
  return std::vector<int64_t>(out.begin() + (kSlots - spatial), out.end());
}

bool WindowGeometry::is_pointwise() const {
  for (int s = 0; s < kSlots; ++s)
    if (kernel[s] != 1 || stride[s] != 1 || pad_begin[s] != 0 || pad_end[s] != 0) return false;
  return true;
}

std::array<int64_t, 3> to_slots(const std::vector<int64_t>& values, int64_t fill) {
  std::array<int64_t, 3> slots{fill, fill, fill};
  const size_t offset = 3 - values.size();
  for (size_t i = 0; i < values.size(); ++i) slots[offset + i] = values[i];
  return slots;
}

WindowGeometry window_geometry(const KernelContext& ctx, const Shape& x_shape,
                               const std::vector<int64_t>& kernel, bool ceil_mode) {
  const std::string node = ctx.op().describe();
  const int spatial = static_cast<int>(x_shape.size()) - 2;
  if (spatial < 1)
    fail(ErrorKind::Shape, "{}: input needs rank >= 3, got {}", node, shape_to_string(x_shape));
  if (spatial > WindowGeometry::kSlots)
    fail(ErrorKind::UnsupportedOp, "{}: {} spatial dims (at most 3 supported)", node, spatial);
  if (static_cast<int>(kernel.size()) != spatial)
    fail(ErrorKind::InvalidModel, "{}: kernel has {} dims, input has {} spatial dims", node,
         kernel.size(), spatial);
  const auto ints = [&](const char* name, int64_t fill, size_t count) {
    std::vector<int64_t> v = ctx.attr_ints(name, std::vector<int64_t>(count, fill));
    if (v.empty()) v.assign(count, fill);
    if (v.size() != count)
      fail(ErrorKind::InvalidModel, "{}: attribute {} needs {} values, got {}", node, name, count,
           v.size());
    return v;
  };
  const std::vector<int64_t> strides = ints("strides", 1, spatial);
  const std::vector<int64_t> dilations = ints("dilations", 1, spatial);
  const std::vector<int64_t> pads = ints("pads", 0, 2 * spatial);
  std::string auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  if (auto_pad.empty()) auto_pad = "NOTSET";
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && auto_pad != "SAME_UPPER" &&
      auto_pad != "SAME_LOWER")
    fail(ErrorKind::InvalidModel, "{}: unknown auto_pad '{}'", node, auto_pad);

  WindowGeometry g;
  g.spatial = spatial;
  const int offset = WindowGeometry::kSlots - spatial;
  for (int i = 0; i < spatial; ++i) {
    const int s = offset + i;
    g.in[s] = x_shape[2 + i];
    g.kernel[s] = kernel[i];
    g.stride[s] = strides[i];
    g.dilation[s] = dilations[i];
    g.pad_begin[s] = pads[i];
    g.pad_end[s] = pads[spatial + i];
    if (g.kernel[s] < 1 || g.stride[s] < 1 || g.dilation[s] < 1 || g.pad_begin[s] < 0 ||
        g.pad_end[s] < 0)
      fail(ErrorKind::InvalidModel,
           "{}: kernel, strides and dilations must be positive and pads non-negative (dim {})",
           node, i);
    resolve_dim(ctx, auto_pad, ceil_mode, g, s);
  }
  return g;
}

namespace {

void blas_call(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const dnnl_status_t status =
      dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, std::max<int64_t>(lda, 1), b,
                 std::max<int64_t>(ldb, 1), beta, c, std::max<int64_t>(ldc, 1));
  if (status != dnnl_success)
    fail(ErrorKind::Internal, "oneDNN sgemm failed (status {})", static_cast<int>(status));
}
void blas_call(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
               int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              blas_int(m), blas_int(n), blas_int(k), alpha, a, blas_int(lda), b, blas_int(ldb),
              beta, c, blas_int(ldc));
}

// Below this many multiply-adds a GEMM is not worth splitting over threads.
constexpr int64_t kSplitWork = int64_t{1} << 18;

// One thread pool only: float GEMMs run in oneDNN, which threads through the same OpenMP pool as
// parallel_for; double GEMMs run in a serial OpenBLAS, split into column (or row) blocks over
// parallel_for. (Measured: OpenBLAS's own pthreads spinning next to OpenMP loops made a 3x3
// conv 8x slower on 2 cores; oneDNN's sgemm was also 10-40% faster than OpenBLAS's here.)
template <typename T>
void split_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                const T* b, int64_t ldb, T beta, T* c, int64_t ldc, int threads) {
  if (gemm_trivial(m, n, k, beta, c, ldc)) return;
  static const bool serial_openblas = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)serial_openblas;
  if (std::is_same_v<T, float> && !omp_in_parallel()) {
    // oneDNN threads through the same OpenMP pool as parallel_for: let it split the product.
    const int saved = omp_get_max_threads();
    omp_set_num_threads(std::max(threads, 1));
    blas_call(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    omp_set_num_threads(saved);
    return;
  }
  if (threads <= 1 || omp_in_parallel() || m * n * k < kSplitWork) {
    blas_call(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  if (n >= 64 * threads || n >= m) {
    parallel_for(threads, n, 16, [&](int64_t j0, int64_t j1) {
      blas_call(ta, tb, m, j1 - j0, k, alpha, a, lda, tb ? b + j0 * ldb : b + j0, ldb, beta, c + j0,
                ldc);
    });
  } else {
    parallel_for(threads, m, 8, [&](int64_t i0, int64_t i1) {
      blas_call(ta, tb, i1 - i0, n, k, alpha, ta ? a + i0 : a + i0 * lda, lda, b, ldb, beta,
                c + i0 * ldc, ldc);
    });
  }
}

}  // namespace

void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
              int64_t ldc, int threads) {
  split_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);
}

void gemm_f64(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
              const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
              int64_t ldc, int threads) {
  split_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);
}

bool needs_widening(const KernelContext& ctx) {
  if (!ctx.has_input(0)) return false;
  const DataType t = ctx.input(0).dtype();
  return t == DataType::Float16 || t == DataType::BFloat16;
}

void run_widened(KernelContext& ctx, KernelFn kernel) {
  const DataType narrow = ctx.input(0).dtype();
  std::vector<Tensor> widened(ctx.num_inputs());
  std::vector<const Tensor*> inputs(ctx.num_inputs(), nullptr);
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor* t = ctx.optional_input(i);
    if (t && (t->dtype() == DataType::Float16 || t->dtype() == DataType::BFloat16)) {
      widened[i] = t->cast(DataType::Float);
      t = &widened[i];
    }
    inputs[i] = t;
  }
  KernelContext inner(ctx.op(), inputs, ctx.num_outputs(), ctx.num_threads());
  kernel(inner);
  for (size_t i = 0; i < ctx.num_outputs(); ++i) {
    const Tensor& out = inner.outputs()[i];
    ctx.set_output(i, out.defined() && out.dtype() == DataType::Float ? out.cast(narrow) : out);
  }
}

std::vector<double> to_double_vector(const Tensor& tensor) {
  std::vector<double> out(static_cast<size_t>(tensor.numel()));
  visit_numeric_dtype(tensor.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = tensor.data<T>();
    for (size_t i = 0; i < out.size(); ++i) {
      if constexpr (std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>)
        out[i] = static_cast<float>(p[i]);
      else
        out[i] = static_cast<double>(p[i]);
    }
  });
  return out;
}

std::vector<double> read_channel_param(const KernelContext& ctx, const Tensor* tensor,
                                       int64_t count, double fallback, const char* what) {
  if (!tensor) return std::vector<double>(static_cast<size_t>(count), fallback);
  const int64_t n = tensor->numel();
  if (n != 1 && n != count)
    fail(ErrorKind::Shape, "{}: {} needs 1 or {} values, got shape {}", ctx.op().describe(), what,
         count, shape_to_string(tensor->shape()));
  std::vector<double> out(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) out[i] = tensor->value_as_double(n == 1 ? 0 : i);
  return out;
}

}  // namespace qforge::kernels
