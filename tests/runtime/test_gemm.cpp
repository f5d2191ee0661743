// SPDX-License-Identifier: Apache-2.0
// Gemm family kernels (src/runtime/kernels/gemm.cpp, einsum.cpp) against naive loops written
// here: Gemm (transposes, alpha/beta, every C broadcast, K = 0, int32/double), MatMul (1-D
// promotion, batch broadcasting, shared-B folding, many small batches on 2 threads),
// MatMulInteger, QLinearMatMul and Einsum (matmul, transpose, diagonal, trace, ellipsis,
// implicit output).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "support/kernel_test_util.h"
#include "support/test_support.h"

namespace qforge {
namespace {

using testing::run_single_op;
using testing::SingleOp;

Tensor run1(const std::string& type, std::vector<std::optional<Tensor>> inputs,
            std::vector<Attribute> attrs = {}, int64_t opset = 13, int threads = 1) {
  SingleOp spec;
  spec.type = type;
  spec.inputs = std::move(inputs);
  spec.attributes = std::move(attrs);
  spec.opset = opset;
  spec.threads = threads;
  return run_single_op(spec).at(0);
}

void expect_close(const Tensor& actual, const Tensor& expected, double tol = 1e-4) {
  const std::string diff = testing::compare_tensors(actual, expected, tol, tol);
  EXPECT_TRUE(diff.empty()) << diff;
}

Tensor rand(const Shape& shape, uint32_t seed) {
  return testing::random_tensor(DataType::Float, shape, seed);
}

// ---- Gemm ----

// alpha * op(A) op(B) + beta * C, C read with numpy broadcasting to (M, N).
Tensor ref_gemm(const Tensor& a, const Tensor& b, const Tensor* c, bool ta, bool tb, double alpha,
                double beta) {
  const int64_t M = ta ? a.dim(1) : a.dim(0), K = ta ? a.dim(0) : a.dim(1),
                N = tb ? b.dim(0) : b.dim(1);
  Tensor y(DataType::Float, {M, N});
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += a.value_as_double(ta ? k * M + i : i * K + k) *
               b.value_as_double(tb ? j * K + k : k * N + j);
      double cv = 0;
      if (c) {
        const Shape& s = c->shape();
        const int64_t rows = s.size() == 2 ? s[0] : 1, cols = s.empty() ? 1 : s.back();
        cv = c->value_as_double((rows == 1 ? 0 : i) * cols + (cols == 1 ? 0 : j));
      }
      y.data<float>()[i * N + j] = static_cast<float>(alpha * acc + beta * cv);
    }
  return y;
}

TEST(GemmKernel, TransposesScalesAndBiasBroadcasts) {
  const int64_t M = 5, K = 7, N = 6;
  const std::vector<Shape> c_shapes = {{}, {N}, {1, N}, {M, 1}, {M, N}, {1}};
  uint32_t seed = 1;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (size_t ci = 0; ci <= c_shapes.size(); ++ci) {
        SCOPED_TRACE(fmt::format("transA={} transB={} C#{}", ta, tb, ci));
        const Tensor a = rand(ta ? Shape{K, M} : Shape{M, K}, seed++);
        const Tensor b = rand(tb ? Shape{N, K} : Shape{K, N}, seed++);
        const bool with_c = ci < c_shapes.size();
        const Tensor c = with_c ? rand(c_shapes[ci], seed++) : Tensor();
        const std::vector<Attribute> attrs{
            Attribute::make_int("transA", ta), Attribute::make_int("transB", tb),
            Attribute::make_float("alpha", 0.75f), Attribute::make_float("beta", -1.5f)};
        const Tensor y =
            run1("Gemm", {a, b, with_c ? std::optional<Tensor>(c) : std::nullopt}, attrs);
        expect_close(y, ref_gemm(a, b, with_c ? &c : nullptr, ta, tb, 0.75, -1.5));
      }
}

TEST(GemmKernel, EdgeShapesAndTypes) {
  // 1x1 matrices, beta = 0 ignores C, K = 0 leaves beta * C.
  const Tensor a = rand({1, 1}, 1), b = rand({1, 1}, 2), c = rand({1, 1}, 3);
  expect_close(run1("Gemm", {a, b, c}, {Attribute::make_float("beta", 0.0f)}),
               ref_gemm(a, b, nullptr, false, false, 1, 0));
  const Tensor a0(DataType::Float, {3, 0}), b0(DataType::Float, {0, 2}), c0 = rand({3, 2}, 4);
  expect_close(run1("Gemm", {a0, b0, c0}, {Attribute::make_float("beta", 2.0f)}),
               ref_gemm(a0, b0, &c0, false, false, 1, 2));
  // double and int32
  const Tensor ad = rand({4, 3}, 5), bd = rand({3, 2}, 6);
  expect_close(
      run1("Gemm", {ad.cast(DataType::Double), bd.cast(DataType::Double)}).cast(DataType::Float),
      ref_gemm(ad, bd, nullptr, false, false, 1, 0));
  const Tensor ai = Tensor::from_vector<int32_t>({2, 2}, {1, 2, 3, 4}),
               bi = Tensor::from_vector<int32_t>({2, 2}, {5, 6, 7, 8});
  const Tensor yi = run1("Gemm", {ai, bi, Tensor::from_vector<int32_t>({2}, {1, -1})});
  EXPECT_TRUE(yi.equals(Tensor::from_vector<int32_t>({2, 2}, {20, 21, 44, 49})));
  EXPECT_THROW(run1("Gemm", {rand({2, 3}, 7), rand({4, 2}, 8)}), Error);
  EXPECT_THROW(run1("Gemm", {rand({2, 3}, 7), rand({3, 2}, 8), rand({3, 3}, 9)}), Error);
}

// ---- MatMul ----

// numpy matmul by brute force over the broadcast batch.
Tensor ref_matmul(const Tensor& a_in, const Tensor& b_in) {
  Shape as = a_in.shape(), bs = b_in.shape();
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  const size_t rank = std::max(as.size(), bs.size());
  as.insert(as.begin(), rank - as.size(), 1);
  bs.insert(bs.begin(), rank - bs.size(), 1);
  Shape batch(rank - 2);
  for (size_t d = 0; d + 2 < rank; ++d) batch[d] = std::max(as[d], bs[d]);
  Shape out = batch;
  if (a_in.rank() > 1) out.push_back(M);
  if (b_in.rank() > 1) out.push_back(N);
  Tensor y(DataType::Float, out);
  const int64_t count = shape_numel(batch);
  for (int64_t bi = 0; bi < count; ++bi) {
    int64_t rest = bi, ao = 0, bo = 0, amul = 1, bmul = 1;
    for (size_t d = batch.size(); d-- > 0;) {
      const int64_t idx = rest % batch[d];
      rest /= batch[d];
      ao += (as[d] == 1 ? 0 : idx) * amul;
      bo += (bs[d] == 1 ? 0 : idx) * bmul;
      amul *= as[d];
      bmul *= bs[d];
    }
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k)
          acc += a_in.value_as_double(ao * M * K + i * K + k) *
                 b_in.value_as_double(bo * K * N + k * N + j);
        y.data<float>()[(bi * M + i) * N + j] = static_cast<float>(acc);
      }
  }
  return y;
}

TEST(MatMulKernel, BroadcastingAndVectorOperands) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{4}, {4}},
      {{3}, {3, 5}},
      {{2, 6, 3}, {3}},
      {{3, 4}, {4, 2}},
      {{3, 4, 5}, {5, 6}},
      {{2, 1, 3, 4}, {5, 4, 2}},
      {{5, 4, 2}, {2, 3}},
      {{1, 1}, {1, 1}},
      {{2, 3, 4}, {1, 4, 2}},
      {{6}, {2, 6, 3}},
      {{64, 4, 8}, {64, 8, 4}},
      {{3, 2, 0}, {0, 4}},
  };
  uint32_t seed = 10;
  for (const auto& [sa, sb] : cases) {
    SCOPED_TRACE(shape_to_string(sa) + " x " + shape_to_string(sb));
    const Tensor a = rand(sa, seed++), b = rand(sb, seed++);
    const Tensor expected = ref_matmul(a, b);
    for (int threads : {1, 2}) expect_close(run1("MatMul", {a, b}, {}, 13, threads), expected);
  }
  const Tensor a = rand({2, 3}, 1), b = rand({3, 2}, 2);
  expect_close(
      run1("MatMul", {a.cast(DataType::Double), b.cast(DataType::Double)}).cast(DataType::Float),
      ref_matmul(a, b));
  expect_close(
      run1("MatMul", {a.cast(DataType::Float16), b.cast(DataType::Float16)}).cast(DataType::Float),
      ref_matmul(a.cast(DataType::Float16).cast(DataType::Float),
                 b.cast(DataType::Float16).cast(DataType::Float)),
      1e-2);
  const Tensor ai = Tensor::from_vector<int64_t>({1, 2}, {3, -4}),
               bi = Tensor::from_vector<int64_t>({2, 1}, {5, 6});
  EXPECT_TRUE(run1("MatMul", {ai, bi}).equals(Tensor::from_vector<int64_t>({1, 1}, {-9})));
  EXPECT_THROW(run1("MatMul", {rand({2, 3}, 1), rand({4, 2}, 2)}), Error);
  EXPECT_THROW(run1("MatMul", {rand({2, 2, 3}, 1), rand({3, 3, 2}, 2)}), Error);
}

// ---- MatMulInteger / QLinearMatMul ----

template <typename T>
Tensor random_int(const Shape& shape, uint32_t seed, int lo, int hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<T> v(static_cast<size_t>(shape_numel(shape)));
  for (T& e : v) e = static_cast<T>(dist(rng));
  return Tensor::from_vector<T>(shape, v);
}

// Integer matmul of (a - a_zp[row]) and (b - b_zp[col]); zero-point vectors of size 1 broadcast.
std::vector<int64_t> ref_int_matmul(const Tensor& a, const std::vector<int>& az, const Tensor& b,
                                    const std::vector<int>& bz, int64_t batch, int64_t M, int64_t K,
                                    int64_t N, bool b_batched) {
  std::vector<int64_t> out;
  for (int64_t t = 0; t < batch; ++t)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        int64_t acc = 0;
        for (int64_t k = 0; k < K; ++k) {
          const int64_t av = static_cast<int64_t>(a.value_as_double((t * M + i) * K + k)) -
                             az[az.size() == 1 ? 0 : i];
          const int64_t bv =
              static_cast<int64_t>(b.value_as_double(((b_batched ? t : 0) * K + k) * N + j)) -
              bz[bz.size() == 1 ? 0 : j];
          acc += av * bv;
        }
        out.push_back(acc);
      }
  return out;
}

TEST(MatMulIntegerKernel, ZeroPointsScalarAndPerRowColumn) {
  const Tensor a = random_int<uint8_t>({2, 3, 5}, 1, 0, 255),
               b = random_int<int8_t>({5, 4}, 2, -128, 127);
  const Tensor y = run1("MatMulInteger",
                        {a, b, Tensor::scalar<uint8_t>(100), Tensor::scalar<int8_t>(-5)}, {}, 10);
  ASSERT_EQ(y.dtype(), DataType::Int32);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 4}));
  const auto expected = ref_int_matmul(a, {100}, b, {-5}, 2, 3, 5, 4, false);
  for (size_t i = 0; i < expected.size(); ++i) ASSERT_EQ(y.value_as_double(i), expected[i]) << i;
  // Per-row A and per-column B zero points, no zero points at all.
  const Tensor a2 = random_int<int8_t>({3, 6}, 3, -128, 127),
               b2 = random_int<uint8_t>({6, 2}, 4, 0, 255);
  const Tensor y2 = run1("MatMulInteger",
                         {a2, b2, Tensor::from_vector<int8_t>({3}, {1, -2, 3}),
                          Tensor::from_vector<uint8_t>({2}, {7, 200})},
                         {}, 10);
  const auto e2 = ref_int_matmul(a2, {1, -2, 3}, b2, {7, 200}, 1, 3, 6, 2, false);
  for (size_t i = 0; i < e2.size(); ++i) ASSERT_EQ(y2.value_as_double(i), e2[i]) << i;
  const Tensor y3 = run1("MatMulInteger", {a2, b2}, {}, 10);
  const auto e3 = ref_int_matmul(a2, {0}, b2, {0}, 1, 3, 6, 2, false);
  for (size_t i = 0; i < e3.size(); ++i) ASSERT_EQ(y3.value_as_double(i), e3[i]) << i;
}

TEST(QLinearMatMulKernel, RequantizesLikeOnnxRuntime) {
  const Tensor a = random_int<uint8_t>({2, 3, 8}, 5, 0, 255),
               b = random_int<uint8_t>({2, 8, 4}, 6, 0, 255);
  const float as = 0.02f, bs = 0.01f, ys = 0.3f;
  const Tensor y = run1(
      "QLinearMatMul",
      {a, Tensor::scalar<float>(as), Tensor::scalar<uint8_t>(113), b, Tensor::scalar<float>(bs),
       Tensor::scalar<uint8_t>(114), Tensor::scalar<float>(ys), Tensor::scalar<uint8_t>(118)},
      {}, 10);
  ASSERT_EQ(y.dtype(), DataType::UInt8);
  const auto acc = ref_int_matmul(a, {113}, b, {114}, 2, 3, 8, 4, true);
  for (size_t i = 0; i < acc.size(); ++i) {
    const float v = static_cast<float>(acc[i]) * (as * bs / ys);
    ASSERT_EQ(y.value_as_double(i), std::clamp(std::nearbyint(v) + 118.0, 0.0, 255.0)) << i;
  }
}

// ---- Einsum ----

TEST(EinsumKernel, CommonEquations) {
  const Tensor a = rand({2, 3, 4}, 1), b = rand({2, 4, 5}, 2), m = rand({4, 4}, 3),
               v = rand({4}, 4);
  expect_close(run1("Einsum", {a, b}, {Attribute::make_string("equation", "bij,bjk->bik")}, 12),
               ref_matmul(a, b));
  expect_close(run1("Einsum", {a, b}, {Attribute::make_string("equation", "...ij,...jk")}, 12),
               ref_matmul(a, b));
  // transpose
  const Tensor t = run1("Einsum", {m}, {Attribute::make_string("equation", "ij->ji")}, 12);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 4; ++j)
      EXPECT_EQ(t.value_as_double(i * 4 + j), m.value_as_double(j * 4 + i));
  // trace, diagonal and implicit-output diagonal sum
  double trace = 0;
  for (int64_t i = 0; i < 4; ++i) trace += m.value_as_double(i * 5);
  EXPECT_NEAR(
      run1("Einsum", {m}, {Attribute::make_string("equation", "ii")}, 12).value_as_double(0), trace,
      1e-5);
  const Tensor diag = run1("Einsum", {m}, {Attribute::make_string("equation", "ii->i")}, 12);
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(diag.value_as_double(i), m.value_as_double(i * 5));
  // outer product, matrix-vector with broadcast ellipsis, sum over an axis
  const Tensor outer = run1("Einsum", {v, v}, {Attribute::make_string("equation", "i,j->ij")}, 12);
  EXPECT_NEAR(outer.value_as_double(6), v.value_as_double(1) * v.value_as_double(2), 1e-6);
  expect_close(run1("Einsum", {a, v}, {Attribute::make_string("equation", "...j,j->...")}, 12),
               ref_matmul(a, v));
  const Tensor s = run1("Einsum", {a}, {Attribute::make_string("equation", "bij->j")}, 12);
  double s0 = 0;
  for (int64_t b0 = 0; b0 < 2; ++b0)
    for (int64_t i = 0; i < 3; ++i) s0 += a.value_as_double((b0 * 3 + i) * 4);
  EXPECT_NEAR(s.value_as_double(0), s0, 1e-5);
  EXPECT_THROW(run1("Einsum", {a, b}, {Attribute::make_string("equation", "bij,bkj->bik")}, 12),
               Error);
  EXPECT_THROW(run1("Einsum", {a, m}, {Attribute::make_string("equation", "bij,bjk->bik")}, 12),
               Error);
  EXPECT_THROW(run1("Einsum", {a}, {Attribute::make_string("equation", "ij->ij")}, 12), Error);
}

TEST(EinsumKernel, TransposedContractionsMatchLoops) {
  // Attention-style scores: batch labels b,h; free q and k; summed d.
  const Tensor q = rand({2, 3, 5, 4}, 41), k = rand({2, 3, 6, 4}, 42);
  Tensor expected(DataType::Float, {2, 3, 5, 6});
  for (int64_t b = 0; b < 6; ++b)
    for (int64_t i = 0; i < 5; ++i)
      for (int64_t j = 0; j < 6; ++j) {
        double acc = 0;
        for (int64_t d = 0; d < 4; ++d)
          acc += q.value_as_double((b * 5 + i) * 4 + d) * k.value_as_double((b * 6 + j) * 4 + d);
        expected.data<float>()[(b * 5 + i) * 6 + j] = static_cast<float>(acc);
      }
  for (int threads : {1, 2})
    expect_close(run1("Einsum", {q, k}, {Attribute::make_string("equation", "bhqd,bhkd->bhqk")}, 12,
                      threads),
                 expected);
  // Output in another order than [batch, M, N], and a label summed inside one operand (falls
  // back to the generic loop).
  const Tensor a = rand({3, 4}, 43), b = rand({4, 5}, 44);
  const Tensor ab = ref_matmul(a, b);
  const Tensor t = run1("Einsum", {a, b}, {Attribute::make_string("equation", "ik,kj->ji")}, 12);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 5; ++j)
      EXPECT_NEAR(t.value_as_double(j * 3 + i), ab.value_as_double(i * 5 + j), 1e-5);
  const Tensor col = run1("Einsum", {a, b}, {Attribute::make_string("equation", "ik,kj->j")}, 12);
  for (int64_t j = 0; j < 5; ++j) {
    double acc = 0;
    for (int64_t i = 0; i < 3; ++i) acc += ab.value_as_double(i * 5 + j);
    EXPECT_NEAR(col.value_as_double(j), acc, 1e-5);
  }
}

}  // namespace
}  // namespace qforge
