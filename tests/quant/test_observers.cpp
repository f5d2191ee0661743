// SPDX-License-Identifier: Apache-2.0
// Calibration observers (src/quant/observers/): each algorithm against hand-computed values on
// small inputs, the two-pass protocol, NaN/Inf handling, per-channel minmax, bounded memory
// over many batches, and the registry's errors.
#include <gtest/gtest.h>
#include <malloc.h>

#include <cmath>
#include <limits>
#include <random>

#include "qforge/observer.h"
#include "quant/observers/histogram.h"

namespace qforge {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TensorQuantizationConfig int8_symmetric() {
  return {};
}  // [-128, 127], per tensor

TensorQuantizationConfig uint8_asymmetric() {
  TensorQuantizationConfig c;
  c.policy.symmetric = false;
  c.quant_min = 0;
  c.quant_max = 255;
  return c;
}

Tensor vec(const std::vector<float>& v) {
  return Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
}

// Feeds every batch to every pass the observer asks for, then renders into `config`.
void calibrate(Observer& observer, const std::vector<Tensor>& batches,
               TensorQuantizationConfig& config) {
  for (int pass = 0; pass < observer.passes(); ++pass)
    for (const Tensor& b : batches) observer.observe(b, pass);
  observer.render(config);
}

TensorQuantizationConfig run(const std::string& algorithm, TensorQuantizationConfig config,
                             const std::vector<Tensor>& batches,
                             const ObserverOptions& options = {}) {
  auto observer = make_observer(algorithm, config, options);
  calibrate(*observer, batches, config);
  return config;
}

float scale_of(const TensorQuantizationConfig& c) {
  return c.scale.data<float>()[0];
}
float offset_of(const TensorQuantizationConfig& c) {
  return c.offset.data<float>()[0];
}
// The positive clip threshold of a signed symmetric int8 config: s = 2 t / 255.
double threshold_of(const TensorQuantizationConfig& c) {
  return scale_of(c) * 127.5;
}

template <typename Body>
std::string argument_error(Body&& body) {
  try {
    body();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Argument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected an Argument error";
  return "";
}

std::vector<float> gaussian(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Laplace(0, 1): a random sign times an exponential.
std::vector<float> laplace(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::exponential_distribution<float> dist(1.0f);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = (rng() & 1 ? 1.0f : -1.0f) * dist(rng);
  return v;
}

// Sum of squared fake-quantization errors over `data` with the config's scale.
double true_error(const std::vector<float>& data, const TensorQuantizationConfig& config) {
  const Tensor q = fake_quantize(vec(data), config);
  double e = 0;
  for (size_t i = 0; i < data.size(); ++i)
    e += std::pow(static_cast<double>(q.data<float>()[i]) - data[i], 2);
  return e;
}

TEST(ObserverMinMax, ExactScaleSymmetricAndAsymmetric) {
  const std::vector<Tensor> batches = {vec({-1.0f, 0.5f}), vec({2.0f, -3.0f, 1.0f})};
  const TensorQuantizationConfig sym = run("minmax", int8_symmetric(), batches);
  EXPECT_EQ(sym.state, QuantizationState::Activated);
  EXPECT_EQ(sym.scale.dtype(), DataType::Float);
  EXPECT_TRUE(sym.scale.shape().empty());
  EXPECT_TRUE(sym.offset.shape().empty());
  EXPECT_FLOAT_EQ(scale_of(sym), 6.0f / 255.0f);
  EXPECT_EQ(offset_of(sym), 0.0f);

  const TensorQuantizationConfig asym = run("minmax", uint8_asymmetric(), batches);
  EXPECT_FLOAT_EQ(scale_of(asym), 5.0f / 255.0f);
  EXPECT_EQ(offset_of(asym), 153.0f);  // round(3 / (5 / 255))
}

TEST(ObserverMinMax, PerChannelAlongAnyAxis) {
  // [2, 3]: rows {-1, 2, 0.5}, {4, -0.25, 1}.
  const Tensor w = Tensor::from_vector<float>({2, 3}, {-1.0f, 2.0f, 0.5f, 4.0f, -0.25f, 1.0f});
  TensorQuantizationConfig c = int8_symmetric();
  c.policy.per_channel = true;
  c.channel_axis = 0;
  const TensorQuantizationConfig rows = run("minmax", c, {w});
  ASSERT_EQ(rows.scale.shape(), Shape{2});
  ASSERT_EQ(rows.offset.shape(), Shape{2});
  EXPECT_FLOAT_EQ(rows.scale.data<float>()[0], 4.0f / 255.0f);
  EXPECT_FLOAT_EQ(rows.scale.data<float>()[1], 8.0f / 255.0f);

  c.channel_axis = 1;
  const TensorQuantizationConfig cols = run("minmax", c, {w, w});
  ASSERT_EQ(cols.scale.shape(), Shape{3});
  EXPECT_FLOAT_EQ(cols.scale.data<float>()[0], 8.0f / 255.0f);
  EXPECT_FLOAT_EQ(cols.scale.data<float>()[1], 4.0f / 255.0f);
  EXPECT_FLOAT_EQ(cols.scale.data<float>()[2], 2.0f / 255.0f);

  std::vector<float> mins, maxs;
  minmax_per_channel(w, -1, &mins, &maxs);
  EXPECT_EQ(mins, (std::vector<float>{-1.0f, -0.25f, 0.5f}));
  EXPECT_EQ(maxs, (std::vector<float>{4.0f, 2.0f, 1.0f}));

  // NCHW-like weight [2, 2, 2] along axis 0 (inner runs of 4), with a NaN skipped.
  const Tensor conv = Tensor::from_vector<float>({2, 2, 2}, {1, -2, kNaN, 3, -5, 0.5f, 0.25f, 2});
  minmax_per_channel(conv, 0, &mins, &maxs);
  EXPECT_EQ(mins, (std::vector<float>{-2.0f, -5.0f}));
  EXPECT_EQ(maxs, (std::vector<float>{3.0f, 2.0f}));

  EXPECT_NE(argument_error([&] { minmax_per_channel(w, 2, &mins, &maxs); }).find("axis 2"),
            std::string::npos);
}

TEST(ObserverMinMax, PerChannelErrors) {
  TensorQuantizationConfig c = int8_symmetric();
  c.policy.per_channel = true;
  auto observer = make_observer("minmax", c);
  observer->observe(Tensor::from_vector<float>({2, 1}, {1, kNaN}), 0);
  TensorQuantizationConfig out = c;
  EXPECT_NE(argument_error([&] { observer->render(out); }).find("channel 1"), std::string::npos);
  EXPECT_THROW(observer->observe(Tensor::from_vector<float>({3, 1}, {1, 2, 3}), 0), Error);

  for (const std::string name : {"percentile", "kl", "mse", "isotone"}) {
    const std::string message = argument_error([&] { make_observer(name, c); });
    EXPECT_NE(message.find("per-channel"), std::string::npos) << message;
    EXPECT_NE(message.find(name), std::string::npos) << message;
  }
}

TEST(ObserverPercentile, UniformRamp) {
  std::vector<float> ramp(10000);
  for (size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<float>(i);
  // 0.9999 of 10000 values: 9999 of them lie at or below ~9998 (one 4096th of the range is
  // the histogram's resolution, 2.44).
  const TensorQuantizationConfig sym = run("percentile", int8_symmetric(), {vec(ramp)});
  EXPECT_NEAR(threshold_of(sym), 9998.0, 9999.0 / 4096);
  EXPECT_LT(threshold_of(sym), 9999.0);

  // Asymmetric: both tails of -5000..4999 at 0.999: [-4990, 4989].
  for (float& v : ramp) v -= 5000.0f;
  ObserverOptions options;
  options.percentile = 0.999f;
  const TensorQuantizationConfig asym = run("percentile", uint8_asymmetric(), {vec(ramp)}, options);
  const double range = scale_of(asym) * 255.0, low = -offset_of(asym) * scale_of(asym);
  EXPECT_NEAR(range, 9979.0, 2 * 9999.0 / 4096);
  EXPECT_NEAR(low, -4990.0, 2 * 9999.0 / 4096 + scale_of(asym));

  // The pooled histogram does not depend on how the data is split into batches.
  std::vector<Tensor> tenths;
  for (size_t b = 0; b < 10; ++b)
    tenths.push_back(
        vec(std::vector<float>(ramp.begin() + b * 1000, ramp.begin() + (b + 1) * 1000)));
  EXPECT_FLOAT_EQ(scale_of(run("percentile", uint8_asymmetric(), tenths, options)), scale_of(asym));

  // Percentile 1 keeps everything: minmax.
  options.percentile = 1.0f;
  EXPECT_FLOAT_EQ(scale_of(run("percentile", uint8_asymmetric(), {vec(ramp)}, options)),
                  scale_of(run("minmax", uint8_asymmetric(), {vec(ramp)})));
}

TEST(ObserverKl, HandComputedThreshold) {
  // |x| histogram of 16 bins over [0, 16]: bin k holds (k + 1) * 100 values at +-(k + 0.5) for
  // k < 4, and one outlier sits at 16. With 4 target bins, i = 4 makes Q equal P (KL = 0);
  // every larger i merges bins 0 and 1 (100 vs 200 values), so KL > 0: threshold 4.5.
  std::vector<float> data;
  for (int k = 0; k < 4; ++k)
    for (int n = 0; n < (k + 1) * 100; ++n) data.push_back((n % 2 ? 1.0f : -1.0f) * (k + 0.5f));
  data.push_back(16.0f);
  ObserverOptions options;
  options.histogram_bins = 16;
  options.kl_target_bins = 4;
  const TensorQuantizationConfig kl = run("kl", int8_symmetric(), {vec(data)}, options);
  EXPECT_FLOAT_EQ(scale_of(kl), 2 * 4.5f / 255.0f);
}

TEST(ObserverKl, ClipsOutliersWhereMinMaxDoesNot) {
  std::vector<float> data = gaussian(200000, 7);
  for (float o : {100.0f, -100.0f, 90.0f, -95.0f, 99.0f}) data.push_back(o);
  std::vector<Tensor> batches;
  for (size_t b = 0; b < 4; ++b)
    batches.push_back(vec(std::vector<float>(data.begin() + b * data.size() / 4,
                                             data.begin() + (b + 1) * data.size() / 4)));
  const TensorQuantizationConfig kl = run("kl", int8_symmetric(), batches);
  const TensorQuantizationConfig minmax = run("minmax", int8_symmetric(), batches);
  EXPECT_FLOAT_EQ(threshold_of(minmax), 100.0f);
  EXPECT_GT(threshold_of(kl), 2.0);
  EXPECT_LT(threshold_of(kl), 8.0);
  // On the bulk (outliers aside) the clipped range quantizes far finer.
  const std::vector<float> bulk(data.begin(), data.end() - 5);
  EXPECT_LT(true_error(bulk, kl), 0.01 * true_error(bulk, minmax));

  // Asymmetric configs fall back to minmax.
  EXPECT_FLOAT_EQ(scale_of(run("kl", uint8_asymmetric(), batches)),
                  scale_of(run("minmax", uint8_asymmetric(), batches)));
}

TEST(ObserverMse, UniformKeepsNearlyTheWholeRange) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> data(100000);
  for (float& x : data) x = dist(rng);
  const TensorQuantizationConfig mse = run("mse", int8_symmetric(), {vec(data)});
  EXPECT_GT(threshold_of(mse), 0.95);
  EXPECT_LE(threshold_of(mse), 1.0);
}

TEST(ObserverMse, TwoOutliersByHand) {
  // 100k Laplace values (|x| < 13) and two outliers, 60 and -45. With t the threshold and
  // s = 2t / 255, the error is about (60 - t)^2 + (45 - t)^2 (clipping) + 1e5 * s^2 / 12
  // (rounding), smallest at t = 210 / (4 + 2e5 / (12 * 127.5^2)) = 41.8.
  std::vector<float> data = laplace(100000, 11);
  data.push_back(60.0f);
  data.push_back(-45.0f);
  const TensorQuantizationConfig mse = run("mse", int8_symmetric(), {vec(data)});
  EXPECT_NEAR(threshold_of(mse), 41.8, 0.6);
}

TEST(ObserverMse, LongTailClipsBelowTheMax) {
  // A Laplace tail: the best 8-bit clip is near 10 b (Banner et al., ACIQ), below the max of
  // 1M samples (about 14); it beats minmax on the real fake-quantization error.
  std::vector<float> data = laplace(1000000, 13);
  float top = 0;
  for (float x : data) top = std::max(top, std::fabs(x));
  const TensorQuantizationConfig mse = run("mse", int8_symmetric(), {vec(data)});
  const TensorQuantizationConfig minmax = run("minmax", int8_symmetric(), {vec(data)});
  EXPECT_LT(threshold_of(mse), 0.9 * top);
  EXPECT_GT(threshold_of(mse), 7.0);
  EXPECT_LT(true_error(data, mse), true_error(data, minmax));

  // Asymmetric uint8 on the positive side only (ReLU-like): zero point 0, max clipped.
  for (float& x : data) x = std::fabs(x);
  const TensorQuantizationConfig mse_asym = run("mse", uint8_asymmetric(), {vec(data)});
  const TensorQuantizationConfig minmax_asym = run("minmax", uint8_asymmetric(), {vec(data)});
  EXPECT_EQ(offset_of(mse_asym), 0.0f);
  EXPECT_LT(scale_of(mse_asym) * 255.0f, 0.9f * top);
  EXPECT_LT(true_error(data, mse_asym), true_error(data, minmax_asym));

  // Both signs, asymmetric: the search shrinks each side.
  data = laplace(1000000, 17);
  for (float& x : data) x = x > 0 ? 2 * x : x;  // a heavier right side
  const TensorQuantizationConfig two_sided = run("mse", uint8_asymmetric(), {vec(data)});
  EXPECT_LT(true_error(data, two_sided),
            true_error(data, run("minmax", uint8_asymmetric(), {vec(data)})));
}

TEST(ObserverEma, TwoBatchesByHand) {
  ObserverOptions options;
  options.ema_decay = 0.9f;
  const std::vector<Tensor> batches = {vec({-1.0f, 2.0f}), vec({-3.0f, 4.0f})};
  // min = 0.9 * -1 + 0.1 * -3 = -1.2; max = 0.9 * 2 + 0.1 * 4 = 2.2.
  const TensorQuantizationConfig sym = run("ema", int8_symmetric(), batches, options);
  EXPECT_FLOAT_EQ(scale_of(sym), 2 * 2.2f / 255.0f);
  const TensorQuantizationConfig asym = run("ema", uint8_asymmetric(), batches, options);
  EXPECT_FLOAT_EQ(scale_of(asym), 3.4f / 255.0f);
  EXPECT_EQ(offset_of(asym), 90.0f);  // round(1.2 / (3.4 / 255))
  // A batch without finite values leaves the average alone.
  const TensorQuantizationConfig skipped =
      run("ema", int8_symmetric(), {batches[0], vec({kNaN, kInf}), batches[1]}, options);
  EXPECT_FLOAT_EQ(scale_of(skipped), scale_of(sym));
}

TEST(ObserverIsotone, SmallestScaleKeepingTheTopOrder) {
  // Rows [0.6, 0.3, 0.1] and [0.5, 0.45, 0.05]: row 1 is kept for s in [0.3 / 126.49, 0.3),
  // row 2 for s in [0.45 / 126.49, 0.05); the smallest scale keeping both is 0.45 / 126.49
  // (on a grid 1.1% fine).
  const Tensor rows = Tensor::from_vector<float>({2, 3}, {0.6f, 0.3f, 0.1f, 0.5f, 0.45f, 0.05f});
  const TensorQuantizationConfig c = run("isotone", int8_symmetric(), {rows});
  const double low = 0.45 / (127 - 0.51);
  EXPECT_GE(scale_of(c), low * (1 - 1e-6));
  EXPECT_LE(scale_of(c), low * 1.011);
  const Tensor q = fake_quantize(rows, c);
  EXPECT_GT(q.data<float>()[0], q.data<float>()[1]);
  EXPECT_GT(q.data<float>()[3], q.data<float>()[4]);

  // The majority wins: two rows need s in about [0.0036, 0.05), a third needs s < 1e-3.
  const Tensor three =
      Tensor::from_vector<float>({3, 2}, {0.5f, 0.45f, 0.48f, 0.44f, 0.3f, 0.2995f});
  const TensorQuantizationConfig m = run("isotone", int8_symmetric(), {three});
  EXPECT_NEAR(scale_of(m), 0.45 / 126.49, 0.45 / 126.49 * 0.011);

  // Rows along axis 0 instead: columns [0.6, 0.5] and [0.3, 0.45] and [0.1, 0.05].
  ObserverOptions axis0;
  axis0.isotone_axis = 0;
  const TensorQuantizationConfig cols = run("isotone", int8_symmetric(), {rows}, axis0);
  EXPECT_NEAR(scale_of(cols), 0.5 / 126.49, 0.5 / 126.49 * 0.011);

  // No row can be kept (the top two are too close for 8 bits): minmax over [0, max L1].
  const Tensor tight = Tensor::from_vector<float>({1, 2}, {1.0f, 0.999f});
  EXPECT_FLOAT_EQ(scale_of(run("isotone", int8_symmetric(), {tight})), 2.0f / 255.0f);

  // Asymmetric uint8 softmax: zero point 0, 255 levels above it.
  const TensorQuantizationConfig a = run("isotone", uint8_asymmetric(), {rows});
  EXPECT_EQ(offset_of(a), 0.0f);
  EXPECT_NEAR(scale_of(a), 0.45 / (255 - 0.51), 0.45 / 254.49 * 0.011);
}

TEST(ObserverProtocol, TwoPasses) {
  for (const std::string name : {"percentile", "kl", "mse"}) {
    auto observer = make_observer(name, int8_symmetric());
    EXPECT_EQ(observer->passes(), 2) << name;
    observer->observe(vec({-1.0f, 2.0f}), 0);
    TensorQuantizationConfig out = int8_symmetric();
    EXPECT_NE(argument_error([&] { observer->render(out); }).find("second pass"),
              std::string::npos);
    observer->observe(vec({-1.0f, 2.0f}), 1);
    EXPECT_NE(argument_error([&] { observer->observe(vec({1.0f}), 0); }).find("after pass 1"),
              std::string::npos);
    EXPECT_NE(argument_error([&] { observer->observe(vec({1.0f}), 2); }).find("pass 2"),
              std::string::npos);
    // Pass 1 values beyond the pass-0 range land in the end bins, not nowhere.
    observer->observe(vec({50.0f}), 1);
    observer->render(out);
    EXPECT_EQ(out.state, QuantizationState::Activated);
    EXPECT_LE(threshold_of(out), 2.0 + 1e-5) << name;
  }
  for (const std::string name : {"minmax", "ema", "isotone"}) {
    auto observer = make_observer(name, int8_symmetric());
    EXPECT_EQ(observer->passes(), 1) << name;
    EXPECT_NE(argument_error([&] { observer->observe(vec({1.0f}), 1); }).find("pass 1"),
              std::string::npos);
  }
}

TEST(ObserverProtocol, NonFiniteValuesAreSkippedAndCounted) {
  const std::vector<float> clean = {-1.0f, 0.25f, 2.0f, 0.5f, -0.75f, 1.5f};
  std::vector<float> dirty = clean;
  dirty.insert(dirty.begin() + 2, kNaN);
  dirty.push_back(kInf);
  dirty.push_back(-kInf);
  for (const std::string& name : observer_algorithms()) {
    auto observer = make_observer(name, int8_symmetric());
    TensorQuantizationConfig with_nan = int8_symmetric();
    calibrate(*observer, {vec(dirty)}, with_nan);
    EXPECT_EQ(observer->non_finite_count(), 3) << name;
    EXPECT_FLOAT_EQ(scale_of(with_nan), scale_of(run(name, int8_symmetric(), {vec(clean)})))
        << name;

    auto empty = make_observer(name, int8_symmetric());
    TensorQuantizationConfig out = int8_symmetric();
    for (int pass = 0; pass < empty->passes(); ++pass) empty->observe(vec({kNaN, kInf}), pass);
    EXPECT_NE(argument_error([&] { empty->render(out); }).find("no finite value"),
              std::string::npos)
        << name;
    EXPECT_EQ(out.state, QuantizationState::Initial);
    auto unused = make_observer(name, int8_symmetric());
    EXPECT_NE(argument_error([&] { unused->render(out); }).find("no finite value"),
              std::string::npos)
        << name;
  }
}

TEST(ObserverProtocol, AllZerosAndOtherDtypes) {
  for (const std::string& name : observer_algorithms()) {
    const TensorQuantizationConfig zero = run(name, int8_symmetric(), {vec({0.0f, 0.0f})});
    EXPECT_FLOAT_EQ(scale_of(zero), 1e-8f) << name;
    const Tensor as_double = Tensor::from_vector<double>({2}, {-1.0, 2.0});
    EXPECT_FLOAT_EQ(scale_of(run(name, int8_symmetric(), {as_double})),
                    scale_of(run(name, int8_symmetric(), {vec({-1.0f, 2.0f})})))
        << name;
  }
}

// Heap bytes in use (glibc): flat across batches when observers keep fixed-size state.
size_t heap_in_use() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

TEST(ObserverMemory, StateDoesNotGrowWithBatches) {
  const Tensor batch = vec(gaussian(4096, 5));
  for (const std::string& name : observer_algorithms()) {
    for (const bool symmetric : {true, false}) {
      const TensorQuantizationConfig config = symmetric ? int8_symmetric() : uint8_asymmetric();
      auto observer = make_observer(name, config);
      for (int pass = 0; pass < observer->passes(); ++pass) {
        for (int b = 0; b < 10; ++b) observer->observe(batch, pass);
        const size_t before = heap_in_use();
        for (int b = 0; b < 1000; ++b) observer->observe(batch, pass);
        EXPECT_LE(heap_in_use(), before + 1024) << name << " pass " << pass;
      }
      TensorQuantizationConfig out = config;
      observer->render(out);
      EXPECT_EQ(out.state, QuantizationState::Activated);
    }
  }
}

TEST(ObserverMemory, HistogramCountsEveryFiniteValueInFixedBins) {
  observers::Histogram histogram(4096, 0.0, 1.0);
  const std::vector<float> batch = {0.0f, 0.5f, 1.0f, 2.0f, -1.0f, kNaN, kInf};
  for (int b = 0; b < 1000; ++b)
    histogram.add(batch.data(), static_cast<int64_t>(batch.size()), true);
  EXPECT_EQ(histogram.counts().size(), 4096u);
  EXPECT_EQ(histogram.total(), 5 * 1000);
  EXPECT_EQ(histogram.counts()[0], 1000);
  EXPECT_EQ(histogram.counts()[2048], 1000);
  EXPECT_EQ(histogram.counts()[4095], 3 * 1000);  // 1, and 2 and |-1| clamped into the last bin

  // Large inputs take the interleaved counting path: same counts as small pieces.
  std::vector<float> big = gaussian(300000, 9);
  big[17] = kNaN;
  big[299999] = -kInf;
  observers::Histogram whole(4096, -3.0, 3.0), pieces(4096, -3.0, 3.0);
  whole.add(big.data(), static_cast<int64_t>(big.size()), false);
  for (size_t begin = 0; begin < big.size(); begin += 1000)
    pieces.add(big.data() + begin, 1000, false);
  EXPECT_EQ(whole.counts(), pieces.counts());
  EXPECT_EQ(whole.total(), 300000 - 2);
  EXPECT_EQ(pieces.total(), 300000 - 2);

  observers::Histogram ramp(4, 0.0, 4.0);
  const std::vector<float> values = {0.5f, 1.5f, 2.5f, 3.5f};
  ramp.add(values.data(), 4, false);
  EXPECT_DOUBLE_EQ(ramp.quantile(0.5), 2.0);
  EXPECT_DOUBLE_EQ(ramp.quantile(0.625), 2.5);
  EXPECT_DOUBLE_EQ(ramp.quantile(1.0), 4.0);
}

TEST(ObserverRegistry, UnknownNameListsTheKnownOnes) {
  EXPECT_EQ(observer_algorithms(),
            (std::vector<std::string>{"minmax", "percentile", "kl", "mse", "isotone", "ema"}));
  const std::string message = argument_error([] { make_observer("entropy", int8_symmetric()); });
  EXPECT_NE(message.find("'entropy'"), std::string::npos) << message;
  for (const std::string& name : observer_algorithms())
    EXPECT_NE(message.find(name), std::string::npos) << message;
  EXPECT_NE(make_observer("KL", int8_symmetric()), nullptr);

  ObserverOptions bad;
  bad.percentile = 1.5f;
  EXPECT_NE(argument_error([&] {
              make_observer("percentile", int8_symmetric(), bad);
            }).find("percentile"),
            std::string::npos);
  bad = {};
  bad.kl_target_bins = 8192;
  EXPECT_NE(
      argument_error([&] { make_observer("kl", int8_symmetric(), bad); }).find("kl_target_bins"),
      std::string::npos);
  bad = {};
  bad.ema_decay = 1.0f;
  EXPECT_NE(argument_error([&] { make_observer("ema", int8_symmetric(), bad); }).find("ema_decay"),
            std::string::npos);
}

}  // namespace
}  // namespace qforge
