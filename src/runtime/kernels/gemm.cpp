// SPDX-License-Identifier: Apache-2.0
// Kernel family: gemm. Gemm, MatMul (numpy batch broadcasting), MatMulInteger and
// QLinearMatMul on BLAS (integer ops accumulate exactly in double); Einsum is in einsum.cpp.
// Registered in register_gemm_kernels (listed in src/runtime/kernel_registry.cpp); tested in
// tests/runtime/test_gemm.cpp.
#include <cmath>
#include <limits>

#include "kernel_families.h"
#include "kernel_util.h"
#include "nn_util.h"

namespace qforge::kernels {

void register_einsum_kernels(KernelRegistry& registry);  // einsum.cpp

namespace {

template <typename T>
constexpr bool is_blas_type_v = std::is_same_v<T, float> || std::is_same_v<T, double>;

// c (m x n, row stride n, already holding beta * C) += alpha * op(a) * op(b), for the types
// BLAS does not cover.
template <typename T>
void gemm_naive(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                const T* b, int64_t ldb, T* c) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p) {
      const T av = static_cast<T>(alpha * (ta ? a[p * lda + i] : a[i * lda + p]));
      T* row = c + i * n;
      if (tb)
        for (int64_t j = 0; j < n; ++j) row[j] += av * b[j * ldb + p];
      else
        for (int64_t j = 0; j < n; ++j) row[j] += av * b[p * ldb + j];
    }
}

template <typename T>
void gemm_any(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
              const T* b, int64_t ldb, bool accumulate, T* c, int threads) {
  if constexpr (is_blas_type_v<T>) {
    gemm<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, accumulate ? T(1) : T(0), c, n, threads);
  } else {
    if (!accumulate) std::fill(c, c + m * n, T(0));
    gemm_naive(ta, tb, m, n, k, alpha, a, lda, b, ldb, c);
  }
}

// ---- Gemm ----

// Y = beta * C broadcast to (m, n); C has rank <= 2 and each dim equal to Y's or 1.
template <typename T>
void fill_scaled_c(const KernelContext& ctx, const Tensor& c, T beta, int64_t m, int64_t n, T* y) {
  const Shape& s = c.shape();
  const int64_t rows = s.size() == 2 ? s[0] : 1, cols = s.empty() ? 1 : s.back();
  if (s.size() > 2 || (rows != 1 && rows != m) || (cols != 1 && cols != n))
    fail(ErrorKind::Shape, "{}: C of shape {} does not broadcast to [{}, {}]", ctx.op().describe(),
         shape_to_string(s), m, n);
  const T* cv = c.data<T>();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      y[i * n + j] = static_cast<T>(beta * cv[(rows == 1 ? 0 : i) * cols + (cols == 1 ? 0 : j)]);
}

void gemm_op(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, gemm_op);
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const Tensor* c = ctx.optional_input(2);
  const bool ta = ctx.attr_int("transA", 0) != 0, tb = ctx.attr_int("transB", 0) != 0;
  if (a.rank() != 2 || b.rank() != 2 || a.dtype() != b.dtype() || (c && c->dtype() != a.dtype()))
    fail(ErrorKind::Shape, "{}: A {} and B {} must be matrices of one dtype", ctx.op().describe(),
         shape_to_string(a.shape()), shape_to_string(b.shape()));
  const int64_t m = ta ? a.dim(1) : a.dim(0), k = ta ? a.dim(0) : a.dim(1);
  const int64_t n = tb ? b.dim(0) : b.dim(1), kb = tb ? b.dim(1) : b.dim(0);
  if (k != kb)
    fail(ErrorKind::Shape, "{}: inner dims differ: A {} (transA={}) and B {} (transB={})",
         ctx.op().describe(), shape_to_string(a.shape()), ta, shape_to_string(b.shape()), tb);
  visit_numeric_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      const T alpha = static_cast<T>(ctx.attr_float("alpha", 1.0f));
      const T beta = static_cast<T>(ctx.attr_float("beta", 1.0f));
      Tensor& y =
          ctx.allocate_output(0, a.dtype(), {m, n}, KernelContext::OutputInit::Uninitialized);
      const bool with_c = c && beta != T(0);
      if (with_c) fill_scaled_c(ctx, *c, beta, m, n, y.data<T>());
      gemm_any<T>(ta, tb, m, n, k, alpha, a.data<T>(), a.dim(1), b.data<T>(), b.dim(1), with_c,
                  y.data<T>(), ctx.num_threads());
    } else {
      fail(ErrorKind::UnsupportedOp, "{}: dtype {} is not supported", ctx.op().describe(),
           dtype_name(a.dtype()));
    }
  });
}

// ---- MatMul family ----

// numpy matmul shapes: 1-D operands are promoted (and the added dim removed from the output),
// batch dims broadcast. Offsets are element offsets of each batch's matrices.
struct MatMulPlan {
  int64_t m = 0, n = 0, k = 0;
  Shape out;
  std::vector<int64_t> a_offsets, b_offsets;
  bool fold_batch = false;  // B shared by every batch and A contiguous: one (batch*m) x n GEMM
};

MatMulPlan plan_matmul(const KernelContext& ctx, const Shape& a_in, const Shape& b_in) {
  if (a_in.empty() || b_in.empty())
    fail(ErrorKind::Shape, "{}: MatMul operands must have rank >= 1", ctx.op().describe());
  Shape a = a_in, b = b_in;
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  MatMulPlan p;
  p.m = a[a.size() - 2];
  p.k = a.back();
  p.n = b.back();
  if (b[b.size() - 2] != p.k)
    fail(ErrorKind::Shape, "{}: shapes {} and {} do not multiply", ctx.op().describe(),
         shape_to_string(a_in), shape_to_string(b_in));
  const Shape a_batch(a.begin(), a.end() - 2), b_batch(b.begin(), b.end() - 2);
  const Shape batch = broadcast_shapes({a_batch, b_batch}, ctx.op());
  p.out = batch;
  if (a_in.size() > 1) p.out.push_back(p.m);
  if (b_in.size() > 1) p.out.push_back(p.n);
  const std::vector<int64_t> as = broadcast_strides(a_batch, batch),
                             bs = broadcast_strides(b_batch, batch);
  const int64_t count = shape_numel(batch);
  bool b_shared = true;
  for (int64_t i = 0; i < count; ++i) {
    int64_t rest = i, ao = 0, bo = 0;
    for (size_t d = batch.size(); d-- > 0;) {
      const int64_t idx = rest % batch[d];
      rest /= batch[d];
      ao += idx * as[d];
      bo += idx * bs[d];
    }
    p.a_offsets.push_back(ao * p.m * p.k);
    p.b_offsets.push_back(bo * p.k * p.n);
    b_shared = b_shared && bo == 0;
  }
  p.fold_batch = b_shared && shape_numel(a_batch) == count;
  return p;
}

template <typename T>
void run_matmul(const MatMulPlan& p, const T* a, const T* b, T* y, int threads) {
  const int64_t batches = static_cast<int64_t>(p.a_offsets.size());
  if (p.fold_batch) {
    gemm_any<T>(false, false, batches * p.m, p.n, p.k, T(1), a, p.k, b, p.n, false, y, threads);
    return;
  }
  // Many small products: one per thread, each serial; otherwise BLAS threads each product.
  if (batches >= threads && p.m * p.n * p.k < (1 << 20)) {
    parallel_for(threads, batches, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        gemm_any<T>(false, false, p.m, p.n, p.k, T(1), a + p.a_offsets[i], p.k, b + p.b_offsets[i],
                    p.n, false, y + i * p.m * p.n, 1);
    });
    return;
  }
  for (int64_t i = 0; i < batches; ++i)
    gemm_any<T>(false, false, p.m, p.n, p.k, T(1), a + p.a_offsets[i], p.k, b + p.b_offsets[i], p.n,
                false, y + i * p.m * p.n, threads);
}

void matmul(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, matmul);
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (a.dtype() != b.dtype())
    fail(ErrorKind::InvalidModel, "{}: operands have dtypes {} and {}", ctx.op().describe(),
         dtype_name(a.dtype()), dtype_name(b.dtype()));
  const MatMulPlan p = plan_matmul(ctx, a.shape(), b.shape());
  visit_numeric_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      Tensor& y =
          ctx.allocate_output(0, a.dtype(), p.out, KernelContext::OutputInit::Uninitialized);
      run_matmul<T>(p, a.data<T>(), b.data<T>(), y.data<T>(), ctx.num_threads());
    } else {
      fail(ErrorKind::UnsupportedOp, "{}: dtype {} is not supported", ctx.op().describe(),
           dtype_name(a.dtype()));
    }
  });
}

void check_int8(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (t.dtype() != DataType::UInt8 && t.dtype() != DataType::Int8)
    fail(ErrorKind::UnsupportedOp, "{}: {} must be uint8 or int8, got {}", ctx.op().describe(),
         what, dtype_name(t.dtype()));
}

// (a - a_zp[row]) x (b - b_zp[col]) in double: exact for 8-bit operands.
std::vector<double> integer_matmul(const KernelContext& ctx, const MatMulPlan& p, const Tensor& a,
                                   const Tensor* a_zp, const Tensor& b, const Tensor* b_zp) {
  std::vector<double> ad = to_double_vector(a), bd = to_double_vector(b);
  const std::vector<double> az = read_channel_param(ctx, a_zp, p.m, 0.0, "a_zero_point");
  const std::vector<double> bz = read_channel_param(ctx, b_zp, p.n, 0.0, "b_zero_point");
  for (size_t i = 0; i < ad.size(); ++i) ad[i] -= az[(i / p.k) % p.m];
  for (size_t i = 0; i < bd.size(); ++i) bd[i] -= bz[i % p.n];
  std::vector<double> acc(static_cast<size_t>(shape_numel(p.out)));
  run_matmul<double>(p, ad.data(), bd.data(), acc.data(), ctx.num_threads());
  return acc;
}

void matmul_integer(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  check_int8(ctx, a, "A");
  check_int8(ctx, b, "B");
  const MatMulPlan p = plan_matmul(ctx, a.shape(), b.shape());
  const std::vector<double> acc =
      integer_matmul(ctx, p, a, ctx.optional_input(2), b, ctx.optional_input(3));
  int32_t* y = ctx.allocate_output(0, DataType::Int32, p.out).data<int32_t>();
  for (size_t i = 0; i < acc.size(); ++i) y[i] = static_cast<int32_t>(acc[i]);
}

template <typename Q>
void requantize_matrix(const std::vector<double>& acc, const std::vector<float>& row_scale,
                       const std::vector<float>& col_scale, float y_scale, float zero_point, Q* y) {
  const int64_t m = static_cast<int64_t>(row_scale.size()),
                n = static_cast<int64_t>(col_scale.size());
  const float lo = static_cast<float>(std::numeric_limits<Q>::min());
  const float hi = static_cast<float>(std::numeric_limits<Q>::max());
  for (size_t i = 0; i < acc.size(); ++i) {
    const int64_t col = static_cast<int64_t>(i) % n, row = (static_cast<int64_t>(i) / n) % m;
    // As ONNX Runtime: a_scale * b_scale / y_scale in float times the accumulator, rounded
    // half to even.
    const float multiplier = row_scale[row] * col_scale[col] / y_scale;
    const float v = static_cast<float>(acc[i]) * multiplier;
    y[i] = static_cast<Q>(std::clamp(std::nearbyint(v) + zero_point, lo, hi));
  }
}

void qlinear_matmul(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(3);
  check_int8(ctx, a, "a");
  check_int8(ctx, b, "b");
  const MatMulPlan p = plan_matmul(ctx, a.shape(), b.shape());
  const std::vector<double> acc =
      integer_matmul(ctx, p, a, ctx.optional_input(2), b, ctx.optional_input(5));
  const std::vector<double> as = read_channel_param(ctx, &ctx.input(1), p.m, 1.0, "a_scale");
  const std::vector<double> bs = read_channel_param(ctx, &ctx.input(4), p.n, 1.0, "b_scale");
  const float ys = static_cast<float>(read_channel_param(ctx, &ctx.input(6), 1, 1.0, "y_scale")[0]);
  std::vector<float> row_scale(as.size()), col_scale(bs.size());
  for (size_t i = 0; i < as.size(); ++i) row_scale[i] = static_cast<float>(as[i]);
  for (size_t j = 0; j < bs.size(); ++j) col_scale[j] = static_cast<float>(bs[j]);
  const Tensor* y_zp = ctx.optional_input(7);
  const float zp = static_cast<float>(read_channel_param(ctx, y_zp, 1, 0.0, "y_zero_point")[0]);
  const DataType out_type = y_zp ? y_zp->dtype() : a.dtype();
  Tensor& y = ctx.allocate_output(0, out_type, p.out);
  if (out_type == DataType::UInt8)
    requantize_matrix(acc, row_scale, col_scale, ys, zp, y.data<uint8_t>());
  else if (out_type == DataType::Int8)
    requantize_matrix(acc, row_scale, col_scale, ys, zp, y.data<int8_t>());
  else
    fail(ErrorKind::UnsupportedOp, "{}: output type {} is not supported", ctx.op().describe(),
         dtype_name(out_type));
}

}  // namespace

void register_gemm_kernels(KernelRegistry& registry) {
  registry.add("", "Gemm", 1, kLatestOpset, gemm_op);
  registry.add("", "MatMul", 1, kLatestOpset, matmul);
  registry.add("", "MatMulInteger", 10, kLatestOpset, matmul_integer);
  registry.add("", "QLinearMatMul", 10, kLatestOpset, qlinear_matmul);
  register_einsum_kernels(registry);
}

}  // namespace qforge::kernels
