// SPDX-License-Identifier: Apache-2.0
// Loss family (src/runtime/kernels/loss.cpp): NegativeLogLikelihoodLoss and
// SoftmaxCrossEntropyLoss against hand-computed values and a naive reference; the
// ai.onnx.preview.training optimizers (Adagrad, Adam, Momentum) against hand-computed steps.
#include <gtest/gtest.h>

#include <cmath>

#include "support/kernel_test_util.h"
#include "support/test_support.h"

namespace qforge {
namespace {

using testing::compare_tensors;
using testing::run_single_op;
using testing::SingleOp;

constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-7;
constexpr const char* kTraining = "ai.onnx.preview.training";

Tensor floats(Shape shape, std::vector<float> values) {
  return Tensor::from_vector<float>(std::move(shape), values);
}
Tensor labels(Shape shape, std::vector<int64_t> values) {
  return Tensor::from_vector<int64_t>(std::move(shape), values);
}

std::vector<Attribute> loss_attrs(const std::string& reduction,
                                  std::optional<int64_t> ignore = std::nullopt) {
  std::vector<Attribute> attrs{Attribute::make_string("reduction", reduction)};
  if (ignore) attrs.push_back(Attribute::make_int("ignore_index", *ignore));
  return attrs;
}

// One op through the registry (opset 13 for the losses, 1 for the training domain).
std::vector<Tensor> run_op(const std::string& type, std::vector<std::optional<Tensor>> inputs,
                           std::vector<Attribute> attrs, size_t outputs,
                           const std::string& domain = "", int threads = 1) {
  SingleOp spec;
  spec.threads = threads;
  spec.type = type;
  spec.inputs = std::move(inputs);
  spec.attributes = std::move(attrs);
  spec.num_outputs = outputs;
  spec.opset = domain.empty() ? 13 : 1;
  spec.domain = domain;
  return run_single_op(spec);
}

Tensor run_nll(const Tensor& x, const Tensor& target, std::optional<Tensor> weight,
               std::vector<Attribute> attrs) {
  return run_op("NegativeLogLikelihoodLoss", {x, target, weight}, std::move(attrs), 1)[0];
}

// Naive reference, straight from the spec's formulas, on [N, C, inner] in double.
std::vector<double> naive_log_softmax(const std::vector<float>& x, int64_t n, int64_t c,
                                      int64_t inner) {
  std::vector<double> out(x.size());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < inner; ++i) {
      double sum = 0.0;
      for (int64_t k = 0; k < c; ++k)
        sum += std::exp(static_cast<double>(x[(b * c + k) * inner + i]));
      for (int64_t k = 0; k < c; ++k)
        out[(b * c + k) * inner + i] = x[(b * c + k) * inner + i] - std::log(sum);
    }
  return out;
}

// Per-sample losses (N * inner) and the weight each sample carries (0 when ignored).
struct NaiveNll {
  std::vector<double> loss, weight;
};
NaiveNll naive_nll(const std::vector<double>& logp, const std::vector<int64_t>& target,
                   const std::vector<float>* w, int64_t c, int64_t inner,
                   std::optional<int64_t> ignore) {
  NaiveNll r;
  for (size_t s = 0; s < target.size(); ++s) {
    const int64_t b = static_cast<int64_t>(s) / inner, i = static_cast<int64_t>(s) % inner;
    const bool skip = ignore && target[s] == *ignore;
    const double weight = skip ? 0.0 : (w ? (*w)[target[s]] : 1.0);
    r.loss.push_back(skip ? 0.0 : -logp[(b * c + target[s]) * inner + i] * weight);
    r.weight.push_back(weight);
  }
  return r;
}

double sum(const std::vector<double>& v) {
  double total = 0.0;
  for (double x : v) total += x;
  return total;
}

TEST(LossKernels, NllHandComputedReductions) {
  const Tensor x = floats({2, 3}, {-1, -2, -3, -0.5f, -1.5f, -2.5f});
  const Tensor t = labels({2}, {2, 0});
  EXPECT_EQ(compare_tensors(run_nll(x, t, std::nullopt, loss_attrs("none")), floats({2}, {3, 0.5f}),
                            kRtol, kAtol),
            "");
  EXPECT_EQ(compare_tensors(run_nll(x, t, std::nullopt, loss_attrs("sum")),
                            Tensor::scalar<float>(3.5f), kRtol, kAtol),
            "");
  // Default reduction is mean.
  EXPECT_EQ(
      compare_tensors(run_nll(x, t, std::nullopt, {}), Tensor::scalar<float>(1.75f), kRtol, kAtol),
      "");
}

TEST(LossKernels, NllWeightAndIgnoreIndex) {
  const Tensor x = floats({3, 3}, {-1, -2, -3, -4, -5, -6, -7, -8, -9});
  const Tensor w = floats({3}, {1, 2, 3});
  const Tensor t = labels({3}, {1, -1, 2});  // sample 1 ignored
  // Losses: 2*2 = 4, 0, 9*3 = 27; mean divides by the weights that count: 2 + 3.
  EXPECT_EQ(compare_tensors(run_nll(x, t, w, loss_attrs("none", -1)), floats({3}, {4, 0, 27}),
                            kRtol, kAtol),
            "");
  EXPECT_EQ(compare_tensors(run_nll(x, t, w, loss_attrs("sum", -1)), Tensor::scalar<float>(31),
                            kRtol, kAtol),
            "");
  EXPECT_EQ(compare_tensors(run_nll(x, t, w, loss_attrs("mean", -1)), Tensor::scalar<float>(6.2f),
                            kRtol, kAtol),
            "");
  // Without weights the mean is over the samples not ignored: (2 + 9) / 2.
  const Tensor t2 = labels({3}, {1, 5, 2});  // ignore_index outside [0, C) is fine
  EXPECT_EQ(compare_tensors(run_nll(x, t2, std::nullopt, loss_attrs("mean", 5)),
                            Tensor::scalar<float>(5.5f), kRtol, kAtol),
            "");
  // Every sample ignored: 0/0.
  EXPECT_TRUE(
      std::isnan(run_nll(x, labels({3}, {5, 5, 5}), w, loss_attrs("mean", 5)).value_as_double(0)));
}

TEST(LossKernels, NllMultiDimMatchesNaive) {
  const int64_t n = 2, c = 4, d1 = 3, d2 = 2, inner = d1 * d2;
  const Tensor x = testing::random_tensor(DataType::Float, {n, c, d1, d2}, 7, -3, 0);
  const std::vector<int64_t> target{0, 1, 2, 3, -5, 1, 3, 3, 2, -5, 0, 1};
  const std::vector<float> w{0.5f, 1, 2, 0.25f};
  std::vector<double> logp;
  for (float v : x.to_float_vector()) logp.push_back(v);
  const NaiveNll ref = naive_nll(logp, target, &w, c, inner, -5);
  // int32 labels are accepted like int64.
  const Tensor t32 = labels({n, d1, d2}, target).cast(DataType::Int32);
  const Tensor wt = floats({c}, w);
  std::vector<float> none(ref.loss.begin(), ref.loss.end());
  EXPECT_EQ(compare_tensors(run_nll(x, t32, wt, loss_attrs("none", -5)), floats({n, d1, d2}, none),
                            kRtol, kAtol),
            "");
  const float mean = static_cast<float>(sum(ref.loss) / sum(ref.weight));
  EXPECT_EQ(compare_tensors(run_nll(x, t32, wt, loss_attrs("mean", -5)),
                            Tensor::scalar<float>(mean), kRtol, kAtol),
            "");
}

TEST(LossKernels, NllDouble) {
  const Tensor x = Tensor::from_vector<double>({1, 2, 2}, {-0.25, -1.5, -2, -0.125});
  const Tensor out = run_nll(x, labels({1, 2}, {1, 0}), std::nullopt, loss_attrs("sum"));
  EXPECT_EQ(compare_tensors(out, Tensor::scalar<double>(3.5), kRtol, kAtol),
            "");  // -x[0,1,0] - x[0,0,1]
}

TEST(LossKernels, NllRejectsBadInput) {
  const Tensor x = floats({2, 3}, {-1, -2, -3, -4, -5, -6});
  EXPECT_THROW(run_nll(x, labels({2}, {0, 3}), std::nullopt, {}), Error);         // label >= C
  EXPECT_THROW(run_nll(x, labels({3}, {0, 1, 2}), std::nullopt, {}), Error);      // target shape
  EXPECT_THROW(run_nll(x, labels({2}, {0, 1}), floats({2}, {1, 1}), {}), Error);  // weight shape
  EXPECT_THROW(run_nll(x, labels({2}, {0, 1}), std::nullopt, loss_attrs("avg")),
               Error);                                                     // reduction
  EXPECT_THROW(run_nll(x, floats({2}, {0, 1}), std::nullopt, {}), Error);  // label dtype
  try {
    run_nll(x, labels({2}, {0, -1}), std::nullopt, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NegativeLogLikelihoodLoss"), std::string::npos)
        << e.what();
  }
}

std::vector<Tensor> run_sce(const Tensor& x, const Tensor& target, std::optional<Tensor> weight,
                            std::vector<Attribute> attrs, size_t outputs = 2) {
  return run_op("SoftmaxCrossEntropyLoss", {x, target, weight}, std::move(attrs), outputs);
}

TEST(LossKernels, SoftmaxCrossEntropyHandComputed) {
  // Equal scores: loss ln 2; scores 1, 2, 3 with label 0: log_softmax = 1 - ln(e + e^2 + e^3).
  const auto out = run_sce(floats({2, 3}, {0, 0, -1e4f, 1, 2, 3}), labels({2}, {0, 0}),
                           std::nullopt, loss_attrs("none"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(compare_tensors(out[0], floats({2}, {0.6931472f, 2.4076060f}), kRtol, kAtol), "");
  EXPECT_NEAR(out[1].value_as_double(0), -0.6931472, 1e-6);
  EXPECT_NEAR(out[1].value_as_double(3), -2.4076060, 1e-6);
  EXPECT_EQ(out[1].shape(), (Shape{2, 3}));
  // Large scores do not overflow.
  const auto big = run_sce(floats({1, 2}, {1000, 1000}), labels({1}, {1}), std::nullopt, {}, 1);
  EXPECT_NEAR(big[0].value_as_double(0), 0.6931472, 1e-6);
}

TEST(LossKernels, SoftmaxCrossEntropyMatchesNaive) {
  const int64_t n = 3, c = 5, d1 = 4;
  const Tensor x = testing::random_tensor(DataType::Float, {n, c, d1}, 11, -4, 4);
  const std::vector<int64_t> target{0, 4, 2, 1, 3, 3, 7, 0, 1, 2, 7, 4};
  const std::vector<float> w{1, 0.5f, 2, 1.5f, 0.75f};
  const std::vector<double> logp = naive_log_softmax(x.to_float_vector(), n, c, d1);
  const NaiveNll ref = naive_nll(logp, target, &w, c, d1, 7);
  for (const char* reduction : {"none", "sum", "mean"}) {
    SCOPED_TRACE(reduction);
    const auto out = run_sce(x, labels({n, d1}, target), floats({c}, w), loss_attrs(reduction, 7));
    Tensor expected;
    if (std::string(reduction) == "none")
      expected = floats({n, d1}, std::vector<float>(ref.loss.begin(), ref.loss.end()));
    else if (std::string(reduction) == "sum")
      expected = Tensor::scalar<float>(static_cast<float>(sum(ref.loss)));
    else
      expected = Tensor::scalar<float>(static_cast<float>(sum(ref.loss) / sum(ref.weight)));
    EXPECT_EQ(compare_tensors(out[0], expected, kRtol, kAtol), "");
    EXPECT_EQ(
        compare_tensors(out[1], floats({n, c, d1}, std::vector<float>(logp.begin(), logp.end())),
                        kRtol, kAtol),
        "");
  }
}

TEST(LossKernels, SoftmaxCrossEntropyThreadsAgree) {
  const Tensor x = testing::random_tensor(DataType::Float, {7, 3, 5}, 3, -2, 2);
  const Tensor t =
      testing::random_tensor(DataType::Float, {7, 5}, 4, 0, 2.99f).cast(DataType::Int64);
  const auto one =
      run_op("SoftmaxCrossEntropyLoss", {x, t, std::nullopt}, loss_attrs("none"), 2, "", 1);
  const auto many =
      run_op("SoftmaxCrossEntropyLoss", {x, t, std::nullopt}, loss_attrs("none"), 2, "", 3);
  EXPECT_TRUE(one[0].equals(many[0]));
  EXPECT_TRUE(one[1].equals(many[1]));
}

TEST(LossKernels, SoftmaxCrossEntropyHalfAndDouble) {
  const Tensor x = floats({1, 2}, {0, 0});
  const auto half = run_sce(x.cast(DataType::Float16), labels({1}, {0}), std::nullopt, {}, 1);
  EXPECT_EQ(half[0].dtype(), DataType::Float16);
  EXPECT_NEAR(half[0].value_as_double(0), 0.6931472, 1e-3);
  const auto dbl = run_sce(x.cast(DataType::Double), labels({1}, {0}), std::nullopt, {}, 2);
  EXPECT_EQ(dbl[0].dtype(), DataType::Double);
  EXPECT_EQ(dbl[1].dtype(), DataType::Double);
  EXPECT_NEAR(dbl[0].value_as_double(0), 0.6931471805599453, 1e-12);
  EXPECT_THROW(run_sce(x.cast(DataType::Int32), labels({1}, {0}), std::nullopt, {}, 1), Error);
}

std::vector<Tensor> run_training(const std::string& type, std::vector<std::optional<Tensor>> inputs,
                                 std::vector<Attribute> attrs, size_t outputs) {
  return run_op(type, std::move(inputs), std::move(attrs), outputs, kTraining);
}

TEST(LossKernels, AdagradHandComputed) {
  // r = 0.1 / (1 + 0 * 0.1); g = 0.001 * 1 - 1 = -0.999; H_new = 2 + 0.998001;
  // X_new = 1 + 0.1 * 0.999 / (sqrt(2.998001) + 1e-5).
  const std::vector<Attribute> attrs{Attribute::make_float("norm_coefficient", 0.001f),
                                     Attribute::make_float("epsilon", 1e-5f),
                                     Attribute::make_float("decay_factor", 0.1f)};
  const auto out = run_training("Adagrad",
                                {Tensor::scalar<float>(0.1f), Tensor::scalar<int64_t>(0),
                                 floats({1}, {1}), floats({1}, {-1}), floats({1}, {2})},
                                attrs, 2);
  EXPECT_EQ(compare_tensors(out[0], floats({1}, {1.0576962f}), kRtol, kAtol), "");
  EXPECT_EQ(compare_tensors(out[1], floats({1}, {2.998001f}), kRtol, kAtol), "");
  // T decays the rate: with T = 10, r = 0.1 / 2, so the step halves.
  const auto later = run_training("Adagrad",
                                  {Tensor::scalar<float>(0.1f), Tensor::scalar<int64_t>(10),
                                   floats({1}, {1}), floats({1}, {-1}), floats({1}, {2})},
                                  attrs, 2);
  EXPECT_NEAR(later[0].value_as_double(0) - 1.0, 0.0576962 / 2, 1e-6);
}

TEST(LossKernels, AdamTwoTensors) {
  // Tensor 1: V_new = 0.9 * 0.5 + 0.1 * -1 = 0.35, H_new = 0.999 * 2 + 0.001 = 1.999,
  // R_adjusted = 0.1 * sqrt(1 - 0.999) / (1 - 0.9), X_new = 1 - R_adjusted * 0.35 / (sqrt(1.999) +
  // 1e-6). Tensor 2 (double, zero gradient and state) does not move.
  const Tensor x2 = Tensor::from_vector<double>({2}, {3, 4});
  const Tensor zero2 = Tensor::from_vector<double>({2}, {0, 0});
  const auto out =
      run_training("Adam",
                   {Tensor::scalar<float>(0.1f), Tensor::scalar<int64_t>(1), floats({1}, {1}), x2,
                    floats({1}, {-1}), zero2, floats({1}, {0.5f}), zero2, floats({1}, {2}), zero2},
                   {}, 6);
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(compare_tensors(out[0], floats({1}, {0.9921718f}), kRtol, kAtol), "");
  EXPECT_EQ(compare_tensors(out[1], x2, kRtol, kAtol), "");
  EXPECT_EQ(compare_tensors(out[2], floats({1}, {0.35f}), kRtol, kAtol), "");
  EXPECT_EQ(compare_tensors(out[4], floats({1}, {1.999f}), kRtol, kAtol), "");
  EXPECT_EQ(out[5].dtype(), DataType::Double);
  // norm_coefficient_post scales the result.
  const auto post =
      run_training("Adam",
                   {Tensor::scalar<float>(0.1f), Tensor::scalar<int64_t>(1), floats({1}, {1}),
                    floats({1}, {-1}), floats({1}, {0.5f}), floats({1}, {2})},
                   {Attribute::make_float("norm_coefficient_post", 0.5f)}, 3);
  EXPECT_EQ(compare_tensors(post[0], floats({1}, {0.4960859f}), kRtol, kAtol), "");
}

TEST(LossKernels, MomentumStandardAndNesterov) {
  // alpha 0.9, beta 0.5, R 0.1, X 1, G -1, V 0.5. T = 0: V_new = 0.45 - 1 = -0.55;
  // T = 2: V_new = 0.45 - 0.5 = -0.05. Standard: X - R * V_new; Nesterov: X - R * (G + alpha *
  // V_new).
  auto step = [](int64_t t, const char* mode) {
    return run_training(
        "Momentum",
        {Tensor::scalar<float>(0.1f), Tensor::scalar<int64_t>(t), floats({1}, {1}),
         floats({1}, {-1}), floats({1}, {0.5f})},
        {Attribute::make_float("alpha", 0.9f), Attribute::make_float("beta", 0.5f),
         Attribute::make_float("norm_coefficient", 0.0f), Attribute::make_string("mode", mode)},
        2);
  };
  auto check = [](const std::vector<Tensor>& out, float x, float v) {
    EXPECT_EQ(compare_tensors(out[0], floats({1}, {x}), kRtol, kAtol), "");
    EXPECT_EQ(compare_tensors(out[1], floats({1}, {v}), kRtol, kAtol), "");
  };
  check(step(0, "standard"), 1.055f, -0.55f);
  check(step(2, "standard"), 1.005f, -0.05f);
  check(step(0, "nesterov"), 1.1495f, -0.55f);
  check(step(2, "nesterov"), 1.1045f, -0.05f);
  EXPECT_THROW(step(0, "heavy-ball"), Error);
}

TEST(LossKernels, OptimizersRejectBadInput) {
  const Tensor r = Tensor::scalar<float>(0.1f), t = Tensor::scalar<int64_t>(0);
  const Tensor one = floats({1}, {1}), two = floats({2}, {1, 2});
  EXPECT_THROW(run_training("Adagrad", {r, t, one, one}, {}, 2), Error);  // inputs not in 3 groups
  EXPECT_THROW(run_training("Adagrad", {r, t, one, two, one}, {}, 2), Error);    // G shape differs
  EXPECT_THROW(run_training("Adagrad", {r, one, one, one, one}, {}, 2), Error);  // T not int64
  EXPECT_THROW(run_training("Adagrad", {two, t, one, one, one}, {}, 2), Error);  // R not scalar
  EXPECT_THROW(run_training("Momentum", {r, t, one, one, one}, {}, 2),
               Error);  // required attributes
  EXPECT_THROW(run_training("Adam", {r, t, one, one, one, one}, {}, 4), Error);  // too many outputs
}

}  // namespace
}  // namespace qforge
