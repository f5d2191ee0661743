// SPDX-License-Identifier: Apache-2.0
// Misc kernels (src/runtime/kernels/misc.cpp, random.cpp, signal.cpp, text.cpp) against naive
// references written in the test: TopK, NonMaxSuppression, Unique, Det, random ops (shape,
// dtype, range, seeding), windows, MelWeightMatrix, DFT, STFT, StringNormalizer, TfIdfVectorizer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>
#include <random>

#include "support/kernel_test_util.h"
#include "support/test_support.h"

namespace qforge {
namespace {

std::vector<Tensor> run_op(const std::string& type, std::vector<std::optional<Tensor>> inputs,
                           std::vector<Attribute> attrs = {}, size_t num_outputs = 1,
                           int64_t opset = 17) {
  testing::SingleOp spec;
  spec.type = type;
  spec.inputs = std::move(inputs);
  spec.attributes = std::move(attrs);
  spec.num_outputs = num_outputs;
  spec.opset = opset;
  return testing::run_single_op(spec);
}

Attribute strings_attr(const std::string& name, std::vector<std::string> values) {
  Attribute a;
  a.name = name;
  a.type = AttributeType::Strings;
  a.strings = std::move(values);
  return a;
}

Tensor string_tensor(const Shape& shape, std::vector<std::string> values) {
  Tensor t(DataType::String, shape);
  t.strings() = std::move(values);
  return t;
}

// ---- TopK ----

// Values in [0, 5): many ties.
Tensor tie_heavy(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  Tensor t(DataType::Float, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(rng() % 5);
  return t;
}

void check_topk(const Tensor& x, int axis, int64_t k, bool largest) {
  auto out =
      run_op("TopK", {x, Tensor::from_vector<int64_t>({1}, {k})},
             {Attribute::make_int("axis", axis), Attribute::make_int("largest", largest)}, 2, 11);
  const int a = axis < 0 ? axis + x.rank() : axis;
  const int64_t n = x.dim(a);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < a; ++d) outer *= x.dim(d);
  for (int d = a + 1; d < x.rank(); ++d) inner *= x.dim(d);
  Shape expected_shape = x.shape();
  expected_shape[a] = k;
  ASSERT_EQ(out[0].shape(), expected_shape);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      std::vector<std::pair<float, int64_t>> line;
      for (int64_t j = 0; j < n; ++j) line.push_back({x.data<float>()[(o * n + j) * inner + i], j});
      // Stable sort: equal values keep index order.
      std::stable_sort(line.begin(), line.end(), [&](const auto& p, const auto& q) {
        return largest ? p.first > q.first : p.first < q.first;
      });
      for (int64_t j = 0; j < k; ++j) {
        EXPECT_EQ(out[0].data<float>()[(o * k + j) * inner + i], line[j].first);
        EXPECT_EQ(out[1].data<int64_t>()[(o * k + j) * inner + i], line[j].second);
      }
    }
}

TEST(TopK, MatchesStableSortReference) {
  const Tensor x = tie_heavy({3, 7, 4}, 1);
  for (int axis : {0, 1, -1})
    for (bool largest : {true, false}) {
      SCOPED_TRACE(::testing::Message() << "axis " << axis << " largest " << largest);
      check_topk(x, axis, 2, largest);
      check_topk(x, axis, x.dim(axis < 0 ? axis + 3 : axis), largest);
      check_topk(x, axis, 0, largest);
    }
}

TEST(TopK, Opset1AttributeIntegersAndErrors) {
  const Tensor x = Tensor::from_vector<int64_t>({5}, {3, 9, -1, 9, 4});
  auto out = run_op("TopK", {x}, {Attribute::make_int("k", 3)}, 2, 1);
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{9, 9, 4}));
  EXPECT_EQ(out[1].to_int64_vector(), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_THROW(run_op("TopK", {x, Tensor::from_vector<int64_t>({1}, {6})}, {}, 2, 11), Error);
}

// ---- NonMaxSuppression ----

struct RefBox {
  float x1, y1, x2, y2;
};

float ref_iou(const RefBox& a, const RefBox& b) {
  const float w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1),
              h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const float inter = w * h;
  return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}

TEST(NonMaxSuppression, MatchesGreedyReference) {
  const int64_t batches = 2, classes = 3, n = 40;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> pos(0, 10), size(0.5f, 4), score(0, 1);
  std::vector<float> boxes, scores;
  std::vector<RefBox> ref_boxes;
  for (int64_t i = 0; i < batches * n; ++i) {
    const float y = pos(rng), x = pos(rng), h = size(rng), w = size(rng);
    boxes.insert(boxes.end(), {y + h, x, y, x + w});  // corners given flipped on y
    ref_boxes.push_back({x, y, x + w, y + h});
  }
  for (int64_t i = 0; i < batches * classes * n; ++i) scores.push_back(score(rng));
  const float iou_threshold = 0.3f, score_threshold = 0.2f;
  const int64_t max_out = 6;
  auto out = run_op("NonMaxSuppression",
                    {Tensor::from_vector<float>({batches, n, 4}, boxes),
                     Tensor::from_vector<float>({batches, classes, n}, scores),
                     Tensor::from_vector<int64_t>({1}, {max_out}),
                     Tensor::from_vector<float>({1}, {iou_threshold}),
                     Tensor::from_vector<float>({1}, {score_threshold})},
                    {}, 1, 11);
  std::vector<int64_t> expected;
  for (int64_t b = 0; b < batches; ++b)
    for (int64_t c = 0; c < classes; ++c) {
      std::vector<int64_t> order;
      for (int64_t i = 0; i < n; ++i)
        if (scores[(b * classes + c) * n + i] > score_threshold) order.push_back(i);
      std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) {
        return scores[(b * classes + c) * n + p] > scores[(b * classes + c) * n + q];
      });
      std::vector<int64_t> kept;
      for (int64_t i : order) {
        if (static_cast<int64_t>(kept.size()) == max_out) break;
        if (std::all_of(kept.begin(), kept.end(), [&](int64_t j) {
              return ref_iou(ref_boxes[b * n + i], ref_boxes[b * n + j]) <= iou_threshold;
            })) {
          kept.push_back(i);
          expected.insert(expected.end(), {b, c, i});
        }
      }
    }
  ASSERT_EQ(out[0].shape(), (Shape{static_cast<int64_t>(expected.size() / 3), 3}));
  EXPECT_EQ(out[0].to_int64_vector(), expected);
}

TEST(NonMaxSuppression, NoMaxOutputSelectsNothing) {
  auto out = run_op("NonMaxSuppression",
                    {Tensor::from_vector<float>({1, 1, 4}, {0, 0, 1, 1}),
                     Tensor::from_vector<float>({1, 1, 1}, {0.9f})},
                    {}, 1, 11);
  EXPECT_EQ(out[0].shape(), (Shape{0, 3}));
}

// ---- Unique ----

TEST(Unique, FlatSortedAndUnsortedAgainstReference) {
  const Tensor x = tie_heavy({4, 6}, 3);
  const std::vector<float> v = x.to_float_vector();
  for (bool sorted : {true, false}) {
    auto out = run_op("Unique", {x}, {Attribute::make_int("sorted", sorted)}, 4, 11);
    std::vector<float> uniq;
    for (float f : v)
      if (std::find(uniq.begin(), uniq.end(), f) == uniq.end()) uniq.push_back(f);
    if (sorted) std::sort(uniq.begin(), uniq.end());
    EXPECT_EQ(out[0].to_float_vector(), uniq);
    for (size_t u = 0; u < uniq.size(); ++u) {
      EXPECT_EQ(out[1].to_int64_vector()[u], std::find(v.begin(), v.end(), uniq[u]) - v.begin());
      EXPECT_EQ(out[3].to_int64_vector()[u], std::count(v.begin(), v.end(), uniq[u]));
    }
    for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(uniq[out[2].to_int64_vector()[i]], v[i]);
  }
}

TEST(Unique, AlongAxisAndStrings) {
  // Rows [1 2], [0 5], [1 2], [0 1] along axis 0, sorted lexicographically.
  const Tensor x = Tensor::from_vector<int32_t>({4, 2}, {1, 2, 0, 5, 1, 2, 0, 1});
  auto out = run_op("Unique", {x}, {Attribute::make_int("axis", 0)}, 4, 11);
  EXPECT_EQ(out[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{0, 1, 0, 5, 1, 2}));
  EXPECT_EQ(out[1].to_int64_vector(), (std::vector<int64_t>{3, 1, 0}));
  EXPECT_EQ(out[2].to_int64_vector(), (std::vector<int64_t>{2, 1, 2, 0}));
  EXPECT_EQ(out[3].to_int64_vector(), (std::vector<int64_t>{1, 1, 2}));
  auto s = run_op("Unique", {string_tensor({4}, {"b", "a", "b", "c"})},
                  {Attribute::make_int("sorted", 0)}, 4, 11);
  EXPECT_EQ(s[0].strings(), (std::vector<std::string>{"b", "a", "c"}));
  EXPECT_EQ(s[2].to_int64_vector(), (std::vector<int64_t>{0, 1, 0, 2}));
}

// ---- Det ----

double cofactor_det(const std::vector<double>& m, int64_t n) {
  if (n == 1) return m[0];
  double sum = 0;
  for (int64_t c = 0; c < n; ++c) {
    std::vector<double> minor;
    for (int64_t r = 1; r < n; ++r)
      for (int64_t k = 0; k < n; ++k)
        if (k != c) minor.push_back(m[r * n + k]);
    sum += (c % 2 ? -1 : 1) * m[c] * cofactor_det(minor, n - 1);
  }
  return sum;
}

TEST(Det, MatchesCofactorExpansion) {
  for (int64_t n : {1, 2, 3, 4}) {
    const Tensor x =
        testing::random_tensor(DataType::Double, {2, 3, n, n}, static_cast<uint32_t>(n), -2, 2);
    auto out = run_op("Det", {x}, {}, 1, 11);
    ASSERT_EQ(out[0].shape(), (Shape{2, 3}));
    for (int64_t b = 0; b < 6; ++b) {
      const double* p = x.data<double>() + b * n * n;
      EXPECT_NEAR(out[0].data<double>()[b], cofactor_det(std::vector<double>(p, p + n * n), n),
                  1e-9);
    }
  }
  auto singular = run_op("Det", {Tensor::from_vector<float>({2, 2}, {1, 2, 2, 4})}, {}, 1, 11);
  EXPECT_EQ(singular[0].data<float>()[0], 0.0f);
  EXPECT_THROW(run_op("Det", {Tensor(DataType::Float, {2, 3})}, {}, 1, 11), Error);
}

// ---- random ----

TEST(Random, ShapesDtypesRangesAndSeeds) {
  const std::vector<Attribute> uniform{
      Attribute::make_ints("shape", {3, 50}), Attribute::make_float("low", 2),
      Attribute::make_float("high", 5), Attribute::make_float("seed", 1.5f)};
  const Tensor a = run_op("RandomUniform", {}, uniform)[0],
               b = run_op("RandomUniform", {}, uniform)[0];
  ASSERT_EQ(a.shape(), (Shape{3, 50}));
  EXPECT_EQ(a.dtype(), DataType::Float);
  EXPECT_TRUE(a.equals(b));  // same seed, same values
  for (float v : a.to_float_vector()) EXPECT_TRUE(v >= 2 && v < 5) << v;
  std::vector<Attribute> other = uniform;
  other.back() = Attribute::make_float("seed", 2.5f);
  EXPECT_FALSE(a.equals(run_op("RandomUniform", {}, other)[0]));

  const Tensor like = Tensor(DataType::Double, {4000});
  const Tensor n = run_op("RandomNormalLike", {like},
                          {Attribute::make_float("mean", 3), Attribute::make_float("seed", 0)})[0];
  EXPECT_EQ(n.dtype(), DataType::Double);
  double mean = 0;
  for (int64_t i = 0; i < n.numel(); ++i) mean += n.data<double>()[i] / n.numel();
  EXPECT_NEAR(mean, 3.0, 0.1);
  const Tensor u16 = run_op("RandomUniformLike", {like}, {Attribute::make_int("dtype", 10)})[0];
  EXPECT_EQ(u16.dtype(), DataType::Float16);
  EXPECT_EQ(run_op("RandomNormal", {}, {Attribute::make_ints("shape", {2, 2})})[0].shape(),
            (Shape{2, 2}));
  EXPECT_THROW(run_op("RandomNormal", {}, {}), Error);  // shape is required
}

TEST(Random, BernoulliAndMultinomial) {
  const Tensor p = Tensor::from_vector<float>({6}, {0, 1, 0, 1, 0, 1});
  const Tensor b = run_op("Bernoulli", {p}, {Attribute::make_float("seed", 3)}, 1, 15)[0];
  EXPECT_EQ(b.to_float_vector(), p.to_float_vector());
  const Tensor bi = run_op("Bernoulli", {p}, {Attribute::make_int("dtype", 9)}, 1, 15)[0];
  EXPECT_EQ(bi.dtype(), DataType::Bool);
  // Class 2 dominates row 0 and class 0 row 1.
  const Tensor logits = Tensor::from_vector<float>({2, 3}, {-50, -50, 10, 10, -50, -50});
  const Tensor m =
      run_op("Multinomial", {logits},
             {Attribute::make_int("sample_size", 5), Attribute::make_float("seed", 1)}, 1, 7)[0];
  EXPECT_EQ(m.dtype(), DataType::Int32);
  EXPECT_EQ(m.to_int64_vector(), (std::vector<int64_t>{2, 2, 2, 2, 2, 0, 0, 0, 0, 0}));
}

// ---- windows, mel ----

TEST(Windows, MatchCosineSumFormulas) {
  struct W {
    const char* op;
    double a0, a1, a2;
  };
  for (const W& w : {W{"HannWindow", 0.5, 0.5, 0}, W{"HammingWindow", 25.0 / 46, 21.0 / 46, 0},
                     W{"BlackmanWindow", 0.42, 0.5, 0.08}})
    for (int periodic : {0, 1}) {
      const int64_t size = 9;
      const Tensor y = run_op(w.op, {Tensor::scalar<int32_t>(size)},
                              {Attribute::make_int("periodic", periodic)})[0];
      ASSERT_EQ(y.shape(), (Shape{size}));
      const double denom = periodic ? size : size - 1;
      for (int64_t i = 0; i < size; ++i) {
        const double t = 2 * std::numbers::pi * i / denom;
        EXPECT_NEAR(y.data<float>()[i], w.a0 - w.a1 * std::cos(t) + w.a2 * std::cos(2 * t), 1e-6)
            << w.op << " " << i;
      }
    }
  const Tensor d = run_op("HannWindow", {Tensor::scalar<int64_t>(4)},
                          {Attribute::make_int("output_datatype", 11)})[0];
  EXPECT_EQ(d.dtype(), DataType::Double);
  const Tensor one =
      run_op("HannWindow", {Tensor::scalar<int64_t>(1)}, {Attribute::make_int("periodic", 0)})[0];
  EXPECT_EQ(one.to_float_vector(), (std::vector<float>{1}));
}

TEST(MelWeightMatrix, TrianglesPeakAtOne) {
  const Tensor y =
      run_op("MelWeightMatrix", {Tensor::scalar<int64_t>(10), Tensor::scalar<int64_t>(64),
                                 Tensor::scalar<int64_t>(16000), Tensor::scalar<float>(20.0f),
                                 Tensor::scalar<float>(8000.0f)})[0];
  ASSERT_EQ(y.shape(), (Shape{33, 10}));
  for (int64_t m = 0; m < 10; ++m) {
    float peak = 0;
    for (int64_t k = 0; k < 33; ++k) {
      const float v = y.data<float>()[k * 10 + m];
      EXPECT_TRUE(v >= 0 && v <= 1);
      peak = std::max(peak, v);
    }
    EXPECT_EQ(peak, 1.0f) << "filter " << m;
  }
}

// ---- DFT, STFT ----

using cd = std::complex<double>;

std::vector<cd> ref_dft(const std::vector<cd>& x, int64_t n, bool inverse) {
  std::vector<cd> out(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t j = 0; j < std::min<int64_t>(n, static_cast<int64_t>(x.size())); ++j)
      out[k] += x[j] * std::polar(1.0, (inverse ? 2 : -2) * std::numbers::pi *
                                           static_cast<double>(j * k) / static_cast<double>(n));
    if (inverse) out[k] /= static_cast<double>(n);
  }
  return out;
}

TEST(Dft, MatchesDirectFormula) {
  // x: [2, 5, 3, 2] complex, transformed along axis 1 (length 5) or 2 (length 3).
  const Tensor x = testing::random_tensor(DataType::Float, {2, 5, 3, 2}, 21);
  for (int axis : {1, 2})
    for (int64_t length : {int64_t{0}, int64_t{4}, int64_t{7}})
      for (int inverse : {0, 1}) {
        const int64_t in_len = x.dim(axis), n = length ? length : in_len;
        std::vector<std::optional<Tensor>> in{x, std::nullopt};
        if (length) in[1] = Tensor::scalar<int64_t>(length);
        auto out =
            run_op("DFT", in,
                   {Attribute::make_int("axis", axis), Attribute::make_int("inverse", inverse)})[0];
        Shape expected_shape = x.shape();
        expected_shape[axis] = n;
        ASSERT_EQ(out.shape(), expected_shape);
        const int64_t other = axis == 1 ? 3 : 5;
        for (int64_t b = 0; b < 2; ++b)
          for (int64_t o = 0; o < other; ++o) {
            auto at = [&](const Shape& s, int64_t pos) {
              return axis == 1 ? ((b * s[1] + pos) * s[2] + o) * 2
                               : ((b * s[1] + o) * s[2] + pos) * 2;
            };
            std::vector<cd> line;
            for (int64_t j = 0; j < in_len; ++j)
              line.emplace_back(x.data<float>()[at(x.shape(), j)],
                                x.data<float>()[at(x.shape(), j) + 1]);
            const std::vector<cd> ref = ref_dft(line, n, inverse);
            for (int64_t k = 0; k < n; ++k) {
              EXPECT_NEAR(out.data<float>()[at(expected_shape, k)], ref[k].real(), 1e-5);
              EXPECT_NEAR(out.data<float>()[at(expected_shape, k) + 1], ref[k].imag(), 1e-5);
            }
          }
      }
}

TEST(Dft, PowerOfTwoLengthsUseFftAndAgree) {
  // Lengths 8..64 take the FFT path; compare with the direct sum, with padding and truncation.
  const Tensor x = testing::random_tensor(DataType::Double, {3, 40, 2}, 12);
  for (int64_t n : {8, 16, 32, 64})
    for (int inverse : {0, 1}) {
      const Tensor y = run_op("DFT", {x, Tensor::scalar<int64_t>(n)},
                              {Attribute::make_int("inverse", inverse)})[0];
      ASSERT_EQ(y.shape(), (Shape{3, n, 2}));
      for (int64_t b = 0; b < 3; ++b) {
        std::vector<cd> line;
        for (int64_t j = 0; j < 40; ++j)
          line.emplace_back(x.data<double>()[(b * 40 + j) * 2],
                            x.data<double>()[(b * 40 + j) * 2 + 1]);
        const std::vector<cd> ref = ref_dft(line, n, inverse);
        for (int64_t k = 0; k < n; ++k) {
          EXPECT_NEAR(y.data<double>()[(b * n + k) * 2], ref[k].real(), 1e-9);
          EXPECT_NEAR(y.data<double>()[(b * n + k) * 2 + 1], ref[k].imag(), 1e-9);
        }
      }
    }
}

TEST(Dft, OnesidedRealInputAndRoundTrip) {
  const Tensor x = testing::random_tensor(DataType::Float, {1, 8, 1}, 4);
  const Tensor half = run_op("DFT", {x}, {Attribute::make_int("onesided", 1)})[0];
  EXPECT_EQ(half.shape(), (Shape{1, 5, 2}));
  const Tensor full = run_op("DFT", {x})[0];
  for (int64_t i = 0; i < 10; ++i) EXPECT_FLOAT_EQ(half.data<float>()[i], full.data<float>()[i]);
  const Tensor back = run_op("DFT", {full}, {Attribute::make_int("inverse", 1)})[0];
  for (int64_t j = 0; j < 8; ++j) {
    EXPECT_NEAR(back.data<float>()[2 * j], x.data<float>()[j], 1e-5);
    EXPECT_NEAR(back.data<float>()[2 * j + 1], 0.0, 1e-5);
  }
}

TEST(Stft, MatchesFramewiseDft) {
  const Tensor signal = testing::random_tensor(DataType::Float, {2, 40, 1}, 8);
  const Tensor window = testing::random_tensor(DataType::Float, {10}, 9, 0, 1);
  for (int onesided : {0, 1}) {
    const Tensor y = run_op("STFT", {signal, Tensor::scalar<int64_t>(6), window},
                            {Attribute::make_int("onesided", onesided)})[0];
    const int64_t frames = (40 - 10) / 6 + 1, bins = onesided ? 6 : 10;
    ASSERT_EQ(y.shape(), (Shape{2, frames, bins, 2}));
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t f = 0; f < frames; ++f) {
        std::vector<cd> frame;
        for (int64_t j = 0; j < 10; ++j)
          frame.emplace_back(signal.data<float>()[b * 40 + f * 6 + j] * window.data<float>()[j],
                             0.0);
        const std::vector<cd> ref = ref_dft(frame, 10, false);
        for (int64_t k = 0; k < bins; ++k) {
          EXPECT_NEAR(y.data<float>()[((b * frames + f) * bins + k) * 2], ref[k].real(), 1e-5);
          EXPECT_NEAR(y.data<float>()[((b * frames + f) * bins + k) * 2 + 1], ref[k].imag(), 1e-5);
        }
      }
  }
  // frame_length without a window: a rectangular window.
  const Tensor rect = run_op(
      "STFT", {signal, Tensor::scalar<int64_t>(6), std::nullopt, Tensor::scalar<int64_t>(10)})[0];
  const Tensor ones =
      run_op("STFT", {signal, Tensor::scalar<int64_t>(6),
                      Tensor::from_vector<float>({10}, std::vector<float>(10, 1))})[0];
  EXPECT_EQ(testing::compare_tensors(rect, ones, 0, 1e-6), "");
}

// ---- text ----

TEST(StringNormalizer, StopwordsAndCase) {
  const Tensor x = string_tensor({1, 4}, {"Monday", "tuesday", "MONDAY", "Wed"});
  auto y = run_op("StringNormalizer", {x},
                  {strings_attr("stopwords", {"monday"}),
                   Attribute::make_string("case_change_action", "UPPER")},
                  1, 10)[0];
  EXPECT_EQ(y.shape(), (Shape{1, 2}));
  EXPECT_EQ(y.strings(), (std::vector<std::string>{"TUESDAY", "WED"}));
  y = run_op("StringNormalizer", {x},
             {strings_attr("stopwords", {"monday"}), Attribute::make_int("is_case_sensitive", 1),
              Attribute::make_string("case_change_action", "LOWER")},
             1, 10)[0];
  // Case-sensitive: "Monday" and "MONDAY" are not the stopword; they are lowered afterwards.
  EXPECT_EQ(y.strings(), (std::vector<std::string>{"monday", "tuesday", "monday", "wed"}));
  y = run_op("StringNormalizer", {string_tensor({1}, {"monday"})},
             {strings_attr("stopwords", {"monday"})}, 1, 10)[0];
  EXPECT_EQ(y.shape(), (Shape{1}));
  EXPECT_EQ(y.strings(), (std::vector<std::string>{""}));
}

TEST(TfIdfVectorizer, SkipGramsModesAndStrings) {
  // Pool: unigrams {2, 3}, bigrams {(2, 3), (3, 4)}; outputs in that order.
  const std::vector<Attribute> base{Attribute::make_int("min_gram_length", 1),
                                    Attribute::make_int("max_gram_length", 2),
                                    Attribute::make_int("max_skip_count", 1),
                                    Attribute::make_ints("ngram_counts", {0, 2}),
                                    Attribute::make_ints("ngram_indexes", {0, 1, 2, 3}),
                                    Attribute::make_ints("pool_int64s", {2, 3, 2, 3, 3, 4})};
  // Row: 2 3 4 2 9 3. Unigrams: 2 twice, 3 twice. Bigrams with skip 0: (2,3) at 0; (3,4) at 1.
  // Skip 1 (tokens two apart): (2,4), (3,2), (4,9), (2,3) at 3 -> (2,3) once more.
  const Tensor x = Tensor::from_vector<int64_t>({1, 6}, {2, 3, 4, 2, 9, 3});
  std::vector<Attribute> tf = base;
  tf.push_back(Attribute::make_string("mode", "TF"));
  EXPECT_EQ(run_op("TfIdfVectorizer", {x}, tf, 1, 9)[0].to_float_vector(),
            (std::vector<float>{2, 2, 2, 1}));
  std::vector<Attribute> idf = base;
  idf.push_back(Attribute::make_string("mode", "IDF"));
  idf.push_back(Attribute::make_floats("weights", {0.5f, 1, 2, 4}));
  EXPECT_EQ(run_op("TfIdfVectorizer", {x}, idf, 1, 9)[0].to_float_vector(),
            (std::vector<float>{0.5f, 1, 2, 4}));
  idf[6] = Attribute::make_string("mode", "TFIDF");
  EXPECT_EQ(run_op("TfIdfVectorizer", {x}, idf, 1, 9)[0].to_float_vector(),
            (std::vector<float>{1, 2, 4, 4}));
  std::vector<Attribute> strs(base.begin(), base.end() - 1);
  strs.push_back(strings_attr("pool_strings", {"a", "b", "a", "b", "b", "c"}));
  const Tensor s = string_tensor({6}, {"a", "b", "c", "a", "z", "b"});
  EXPECT_EQ(run_op("TfIdfVectorizer", {s}, strs, 1, 9)[0].to_float_vector(),
            (std::vector<float>{2, 2, 2, 1}));
}

}  // namespace
}  // namespace qforge
