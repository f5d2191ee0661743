// SPDX-License-Identifier: Apache-2.0
// The qforge command line end to end: inspect (text and JSON), run, quantize with error
// analysis, and one-line errors with a non-zero exit for bad input.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <filesystem>

#include "qforge/file_io.h"
#include "qforge/onnx_io.h"
#include "qforge/tensor_io.h"
#include "support/test_support.h"

namespace qforge {
namespace {

struct CommandResult {
  int exit_code;
  std::string output;  // stdout and stderr
};

CommandResult run_cli(const std::string& args) {
  const std::string command = fmt::format("'{}' {} 2>&1", QFORGE_CLI, args);
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  const int status = pclose(pipe);
  return {WEXITSTATUS(status), output};
}

// A model `name` (opset 13) whose graph input is a float x of the given shape.
Variable* start_model(Graph& g, const std::string& name, std::vector<Dim> x_shape) {
  g.model.opset_imports = {{"", 13}};
  g.model.ir_version = 8;
  g.name = name;
  Variable* x = g.create_variable("x");
  x->dtype = DataType::Float;
  x->shape = std::move(x_shape);
  g.add_graph_input(x);
  return x;
}

// y = Relu(x) + b, saved as an ONNX file.
std::string write_small_model(const testing::TempDir& dir) {
  Graph g;
  Variable* x = start_model(g, "small", {{-1, "N"}, {3, ""}});
  Variable* r = g.create_variable("r");
  Variable* b = g.create_variable("b", Tensor::from_vector<float>({3}, {1, 2, 3}));
  Variable* y = g.create_variable("y");
  y->dtype = DataType::Float;
  g.create_operation("Relu", "relu", {x}, {r});
  g.create_operation("Add", "add", {r, b}, {y});
  g.add_graph_output(y);
  const std::string path = dir.file("small.onnx");
  save_onnx_graph(g, path);
  return path;
}

// Four 3x3 Convs with Relus on [N, 3, 8, 8] to `width` channels: at 96 a chain the channels-last
// pass converts; at 8 its Convs are too small to pay for oneDNN's memory.
std::string write_conv_chain_model(const testing::TempDir& dir, int64_t width = 96,
                                   int64_t side = 8) {
  Graph g;
  Variable* v = start_model(g, "convs", {{-1, "N"}, {3, ""}, {side, ""}, {side, ""}});
  for (int i = 0; i < 4; ++i) {
    const int64_t in = i ? width : 3;
    Variable* w = g.create_variable(
        fmt::format("w{}", i),
        testing::random_tensor(DataType::Float, {width, in, 3, 3}, 10 + i, -0.1f, 0.1f));
    Variable* c = g.create_variable(fmt::format("c{}", i));
    Variable* r = g.create_variable(fmt::format("r{}", i));
    g.create_operation("Conv", fmt::format("conv{}", i), {v, w}, {c},
                       {Attribute::make_ints("pads", {1, 1, 1, 1})});
    g.create_operation("Relu", fmt::format("relu{}", i), {c}, {r});
    v = r;
  }
  g.add_graph_output(v);
  const std::string path = dir.file(fmt::format("convs{}x{}.onnx", width, side));
  save_onnx_graph(g, path);
  return path;
}

TEST(Cli, RunAndBenchLayouts) {
  testing::TempDir dir;
  const std::string model = write_conv_chain_model(dir);
  write_npy(dir.file("x.npy"),
            testing::random_tensor(DataType::Float, {2, 3, 8, 8}, 3, -1.0f, 1.0f));
  for (const char* layout : {"channels-last", "onnx"}) {
    CommandResult r = run_cli(fmt::format("run {} --input x={} --output-dir {} --layout {}", model,
                                          dir.file("x.npy"), dir.file(layout), layout));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  const Tensor converted = read_npy(dir.file("channels-last/r3.npy"));
  const Tensor as_loaded = read_npy(dir.file("onnx/r3.npy"));
  EXPECT_EQ(converted.shape(), (Shape{2, 96, 8, 8}));
  EXPECT_EQ(testing::compare_tensors(converted, as_loaded, 1e-5, 1e-6), "");
  CommandResult bench = run_cli(fmt::format("bench {} --batch 2 --repeat 3", model));
  ASSERT_EQ(bench.exit_code, 0) << bench.output;
  EXPECT_NE(bench.output.find("channels-last: 4 convs"), std::string::npos) << bench.output;
  // The small model's Convs do not pay in the default layout; channels-last-all converts them.
  const std::string small = write_conv_chain_model(dir, 8);
  CommandResult kept = run_cli(fmt::format("bench {} --batch 2 --repeat 3", small));
  ASSERT_EQ(kept.exit_code, 0) << kept.output;
  EXPECT_NE(kept.output.find("channels-last: 0 convs"), std::string::npos) << kept.output;
  CommandResult all =
      run_cli(fmt::format("bench {} --batch 2 --repeat 3 --layout channels-last-all", small));
  ASSERT_EQ(all.exit_code, 0) << all.output;
  EXPECT_NE(all.output.find("channels-last: 4 convs"), std::string::npos) << all.output;
  CommandResult bad = run_cli(fmt::format("bench {} --batch 2 --layout nhwc", model));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--layout"), std::string::npos) << bad.output;
  write_npy(dir.file("wrong.npy"), testing::random_tensor(DataType::Float, {1, 4, 8, 8}, 3, 0, 1));
  CommandResult wrong = run_cli(fmt::format("run {} --input x={}", model, dir.file("wrong.npy")));
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.output.find("'x'"), std::string::npos) << wrong.output;
}

// `qforge run` of `model` on dir/x.npy once per variant (output folder, flags), each with the
// `common` flags too, writing the outputs to dir/<folder>; every run must succeed.
void run_variants(const testing::TempDir& dir, const std::string& model, const std::string& common,
                  std::initializer_list<std::pair<const char*, const char*>> variants) {
  for (const auto& [out, flags] : variants) {
    CommandResult r = run_cli(fmt::format("run {} --input x={} --output-dir {} {} {}", model,
                                          dir.file("x.npy"), dir.file(out), common, flags));
    ASSERT_EQ(r.exit_code, 0) << out << ": " << r.output;
  }
}

// On 16x16 planes the 96-channel 3x3 Convs run Winograd unless --no-winograd; the results agree.
TEST(Cli, RunAndBenchWinograd) {
  testing::TempDir dir;
  const std::string model = write_conv_chain_model(dir, 96, 16);
  write_npy(dir.file("x.npy"),
            testing::random_tensor(DataType::Float, {1, 3, 16, 16}, 3, -1.0f, 1.0f));
  run_variants(dir, model, "",
               {{"winograd", ""}, {"direct", "--no-winograd"}, {"onnx", "--layout onnx"}});
  // Winograd rounds as sums of its transformed values do: to about 1e-6 of the values' scale.
  const Tensor as_loaded = read_npy(dir.file("onnx/r3.npy"));
  for (const char* out : {"winograd", "direct"})
    EXPECT_EQ(testing::compare_tensors(read_npy(dir.file(std::string(out) + "/r3.npy")), as_loaded,
                                       1e-4, 1e-5),
              "")
        << out;
  CommandResult wino = run_cli(fmt::format("bench {} --repeat 2", model));
  ASSERT_EQ(wino.exit_code, 0) << wino.output;
  EXPECT_NE(wino.output.find("3 of them Winograd"), std::string::npos) << wino.output;
  CommandResult direct = run_cli(fmt::format("bench {} --repeat 2 --no-winograd", model));
  ASSERT_EQ(direct.exit_code, 0) << direct.output;
  EXPECT_NE(direct.output.find("0 of them Winograd"), std::string::npos) << direct.output;
}

// Convs over values of 1.5 MiB chain on one thread (Winograd off: its convs do not chain);
// --no-conv-chains runs them one by one, to the same outputs.
TEST(Cli, RunAndBenchConvChains) {
  testing::TempDir dir;
  const std::string model = write_conv_chain_model(dir, 96, 64);
  write_npy(dir.file("x.npy"),
            testing::random_tensor(DataType::Float, {1, 3, 64, 64}, 3, -1.0f, 1.0f));
  run_variants(dir, model, "--threads 1 --no-winograd",
               {{"chained", ""}, {"one_by_one", "--no-conv-chains"}, {"onnx", "--layout onnx"}});
  const Tensor chained = read_npy(dir.file("chained/r3.npy"));
  EXPECT_EQ(testing::compare_tensors(chained, read_npy(dir.file("one_by_one/r3.npy")), 0.0, 0.0),
            "");
  EXPECT_EQ(testing::compare_tensors(chained, read_npy(dir.file("onnx/r3.npy")), 1e-4, 1e-5), "");
  CommandResult bench =
      run_cli(fmt::format("bench {} --repeat 1 --threads 1 --no-winograd", model));
  ASSERT_EQ(bench.exit_code, 0) << bench.output;
  EXPECT_NE(bench.output.find("4 run in 1 chains"), std::string::npos) << bench.output;
  CommandResult off =
      run_cli(fmt::format("bench {} --repeat 1 --threads 1 --no-winograd --no-conv-chains", model));
  ASSERT_EQ(off.exit_code, 0) << off.output;
  EXPECT_NE(off.output.find("0 run in 0 chains"), std::string::npos) << off.output;
}

TEST(Cli, InspectTextAndJson) {
  testing::TempDir dir;
  const std::string model = write_small_model(dir);
  CommandResult text = run_cli("inspect " + model);
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("Relu"), std::string::npos);
  EXPECT_NE(text.output.find("[N, 3]"), std::string::npos);
  CommandResult json = run_cli("inspect --json " + model);
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const auto doc = nlohmann::json::parse(json.output);
  EXPECT_EQ(doc["op_total"], 2);
  EXPECT_EQ(doc["parameters"]["elements"], 3);
  EXPECT_EQ(doc["op_counts"]["ai.onnx"]["Add"], 1);
}

TEST(Cli, RunWritesNpyOutputs) {
  testing::TempDir dir;
  const std::string model = write_small_model(dir);
  write_npy(dir.file("x.npy"), Tensor::from_vector<float>({1, 3}, {-1, 0, 2}));
  CommandResult result = run_cli(fmt::format("run {} --input x={} --output-dir {}", model,
                                             dir.file("x.npy"), dir.file("out")));
  if (result.output.find("no kernel") != std::string::npos)
    GTEST_SKIP() << "kernels not registered yet";
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(read_npy(dir.file("out/y.npy")).to_float_vector(), (std::vector<float>{1, 2, 5}));
}

TEST(Cli, BenchReportsTimeMemoryAndProfile) {
  testing::TempDir dir;
  const std::string model = write_small_model(dir);
  CommandResult json = run_cli(fmt::format("bench {} --batch 4 --repeat 3 --json", model));
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const auto doc = nlohmann::json::parse(json.output);
  EXPECT_GT(doc["median_ms"].get<double>(), 0.0);
  EXPECT_GT(doc["peak_rss_mib"].get<double>(), 0.0);
  EXPECT_GE(doc["arena_mib"].get<double>(), 0.0);
  for (const char* key : {"params_mib", "peak_activations_mib", "code_mib", "private_peak_mib",
                          "memory_ratio", "threads"})
    EXPECT_TRUE(doc.contains(key)) << key;
  CommandResult text = run_cli(fmt::format("bench {} --repeat 3 --profile", model));
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("op type"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("relu (Relu)"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("add (Add)"), std::string::npos) << text.output;
}

TEST(Cli, BadInputGivesOneLineErrorAndNonZeroExit) {
  testing::TempDir dir;
  const std::string model = write_small_model(dir);
  write_file_atomic(dir.file("garbage.onnx"), "this is not a model");
  write_file_atomic(dir.file("empty.onnx"), "");
  write_npy(dir.file("wrong.npy"), Tensor::from_vector<float>({1, 4}, {1, 2, 3, 4}));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"inspect " + dir.file("missing.onnx"), "missing.onnx"},
      {"inspect " + dir.file("garbage.onnx"), "garbage.onnx"},
      {"inspect " + dir.file("empty.onnx"), "empty"},
      {fmt::format("run {} --input x={}", model, dir.file("wrong.npy")), "input 'x'"},
      {fmt::format("run {} --input nope={}", model, dir.file("wrong.npy")), "nope"},
      {fmt::format("run {}", model), "missing input 'x'"},
  };
  for (const auto& [args, needle] : cases) {
    CommandResult r = run_cli(args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_LT(r.exit_code, 128) << "crashed: " << args;
    EXPECT_NE(r.output.find(needle), std::string::npos) << args << " -> " << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << " -> " << r.output;
  }
}

// x [N, 4] -> MatMul(x, w) -> y, quantized with error analysis on its calibration data.
TEST(Cli, QuantizeWithErrorAnalysis) {
  testing::TempDir dir;
  Graph g;
  g.model.opset_imports = {{"", 13}};
  g.name = "mm";
  Variable* x = g.create_variable("x");
  x->dtype = DataType::Float;
  x->shape = std::vector<Dim>{{-1, "N"}, {4, ""}};
  Variable* y = g.create_variable("y");
  y->dtype = DataType::Float;
  g.create_operation(
      "MatMul", "mm",
      {x, g.create_variable("w", testing::random_tensor(DataType::Float, {4, 4}, 1))}, {y});
  g.add_graph_input(x);
  g.add_graph_output(y);
  save_onnx_graph(g, dir.file("mm.onnx"));
  std::filesystem::create_directories(dir.file("calib"));
  for (int i = 0; i < 4; ++i)
    write_npy(dir.file(fmt::format("calib/{}.npy", i)),
              testing::random_tensor(DataType::Float, {1, 4}, 10 + i));
  CommandResult r = run_cli(fmt::format(
      "quantize {} --calib {} -o {} --analyse both --analyse-steps 3 --analyse-json {}",
      dir.file("mm.onnx"), dir.file("calib"), dir.file("mm.int8.onnx"), dir.file("analysis.json")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("graphwise error analysis"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("layerwise error analysis"), std::string::npos) << r.output;
  const auto doc = nlohmann::json::parse(read_file(dir.file("analysis.json")));
  EXPECT_EQ(doc["graphwise"]["samples"], 3);
  EXPECT_EQ(doc["graphwise"]["ops"][0]["name"], "mm");
  EXPECT_EQ(doc["layerwise"]["ops"][0]["name"], "mm");
  EXPECT_NE(run_cli(fmt::format("quantize {} --calib {} -o {} --analyse sideways",
                                dir.file("mm.onnx"), dir.file("calib"), dir.file("mm.int8.onnx")))
                .exit_code,
            0);
}

}  // namespace
}  // namespace qforge
