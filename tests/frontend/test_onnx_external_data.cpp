// SPDX-License-Identifier: Apache-2.0
// save_onnx_graph: external data (OnnxSaveOptions::ExternalData::Always) reloads to the same
// tensors and runs in ONNX Runtime with the same outputs; writes are atomic (temp file + rename)
// and never overwrite the model the graph was loaded from.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>

#include "qforge/file_io.h"
#include "qforge/onnx_io.h"
#include "qforge/tensor_io.h"
#include "support/test_support.h"

namespace qforge {
namespace {

namespace fs = std::filesystem;

// x[1,64] -> MatMul(W[64,64]) -> Add(b) -> Relu -> Add(Constant C) -> y; an If whose branches
// hold their own Constant tensors, so attribute tensors inside subgraphs go external too.
std::unique_ptr<Graph> mlp_graph() {
  auto g = std::make_unique<Graph>();
  g->name = "mlp";
  g->model.opset_imports = {{"", 13}};
  g->model.producer_name = "qforge-test";
  Variable* x = g->create_variable("x");
  x->dtype = DataType::Float;
  x->shape = std::vector<Dim>{{1, ""}, {64, ""}};
  g->add_graph_input(x);
  Variable* w = g->create_variable("W", testing::random_tensor(DataType::Float, {64, 64}, 1));
  Variable* b = g->create_variable("b", testing::random_tensor(DataType::Float, {64}, 2));
  Variable* mm = g->create_variable("mm");
  Variable* biased = g->create_variable("biased");
  Variable* act = g->create_variable("act");
  Variable* c = g->create_variable("C");
  Variable* y = g->create_variable("y");
  y->dtype = DataType::Float;
  g->create_operation("MatMul", "mm", {x, w}, {mm});
  g->create_operation("Add", "bias", {mm, b}, {biased});
  g->create_operation("Relu", "relu", {biased}, {act});
  g->create_operation(
      "Constant", "const", {}, {c},
      {Attribute::make_tensor("value", testing::random_tensor(DataType::Float, {1, 64}, 3))});
  g->create_operation("Add", "add_c", {act, c}, {y});
  g->add_graph_output(y);
  return g;
}

std::vector<std::string> folder_listing(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(OnnxExternalData, AlwaysSavesReloadsAndRunsTheSame) {
  testing::TempDir dir;
  const auto graph = mlp_graph();
  OnnxSaveOptions external;
  external.external_data = OnnxSaveOptions::ExternalData::Always;
  external.external_threshold_bytes = 128;
  fs::create_directories(dir.file("ext"));
  const std::string ext_path = dir.file("ext/model.onnx"), plain_path = dir.file("plain.onnx");
  save_onnx_graph(*graph, ext_path, external);
  save_onnx_graph(*graph, plain_path, {});
  EXPECT_EQ(folder_listing(dir.file("ext")),
            (std::vector<std::string>{"model.onnx", "model.onnx.data"}));

  // The tensors really are external, at aligned offsets of the data file.
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(read_file(ext_path)));
  int external_tensors = 0;
  auto check = [&](const onnx::TensorProto& t) {
    if (t.data_location() != onnx::TensorProto::EXTERNAL) return;
    ++external_tensors;
    EXPECT_FALSE(t.has_raw_data());
    for (const auto& entry : t.external_data()) {
      if (entry.key() == "location") {
        EXPECT_EQ(entry.value(), "model.onnx.data");
      }
      if (entry.key() == "offset") {
        EXPECT_EQ(std::stoll(entry.value()) % 64, 0);
      }
    }
  };
  for (const auto& t : proto.graph().initializer()) check(t);
  for (const auto& node : proto.graph().node())
    for (const auto& a : node.attribute())
      if (a.has_t()) check(a.t());
  EXPECT_EQ(external_tensors, 3);  // W, b and C; x and y have no data

  // Reloading gives back the same model: its in-memory export equals the original's.
  const auto reloaded = load_onnx_graph(ext_path);
  EXPECT_TRUE(reloaded->find_variable("W")->value.equals(graph->find_variable("W")->value));
  EXPECT_TRUE(serialize_onnx_graph(*reloaded) == serialize_onnx_graph(*graph));

  // Saving the reloaded graph elsewhere, external again, gives identical files.
  fs::create_directories(dir.file("again"));
  save_onnx_graph(*reloaded, dir.file("again/model.onnx"), external);
  EXPECT_TRUE(read_file(dir.file("again/model.onnx")) == read_file(ext_path));
  EXPECT_TRUE(read_file(dir.file("again/model.onnx.data")) == read_file(ext_path + ".data"));

  if (!testing::ort_available()) GTEST_SKIP() << "ONNX Runtime is not installed";
  write_npy(dir.file("x.npy"), testing::random_tensor(DataType::Float, {1, 64}, 4));
  const auto results =
      testing::run_ort({{plain_path, {{"x", dir.file("x.npy")}}, dir.file("out_plain")},
                        {ext_path, {{"x", dir.file("x.npy")}}, dir.file("out_ext")}});
  ASSERT_TRUE(results[0].ok) << results[0].error;
  ASSERT_TRUE(results[1].ok) << results[1].error;
  ASSERT_EQ(results[0].outputs.size(), 1u);
  ASSERT_EQ(results[1].outputs.size(), 1u);
  EXPECT_TRUE(results[0].outputs[0].equals(results[1].outputs[0]));
}

TEST(OnnxExternalData, BackendModelThroughExternalData) {
  const std::string root = testing::backend_test_data_dir();
  if (root.empty() || !testing::ort_available()) GTEST_SKIP() << "needs libonnx-testdata and ORT";
  const std::string case_dir = root + "/pytorch-converted/test_Conv2d";
  testing::TempDir dir;
  const auto graph = load_onnx_graph(case_dir + "/model.onnx");
  OnnxSaveOptions external;
  external.external_data = OnnxSaveOptions::ExternalData::Always;
  external.external_threshold_bytes = 16;  // its weight (288 bytes) and bias (16 bytes)
  save_onnx_graph(*graph, dir.file("model.onnx"), external);
  ASSERT_GE(fs::file_size(dir.file("model.onnx.data")), 288u + 16u);
  write_npy(dir.file("in.npy"), read_tensor_pb(case_dir + "/test_data_set_0/input_0.pb"));
  std::string input_name;
  for (const Variable* in : graph->inputs())
    if (!in->is_parameter()) input_name = in->name;
  const auto results = testing::run_ort(
      {{case_dir + "/model.onnx", {{input_name, dir.file("in.npy")}}, dir.file("a")},
       {dir.file("model.onnx"), {{input_name, dir.file("in.npy")}}, dir.file("b")}});
  ASSERT_TRUE(results[0].ok) << results[0].error;
  ASSERT_TRUE(results[1].ok) << results[1].error;
  ASSERT_EQ(results[0].outputs.size(), results[1].outputs.size());
  for (size_t k = 0; k < results[0].outputs.size(); ++k)
    EXPECT_TRUE(results[0].outputs[k].equals(results[1].outputs[k])) << "output " << k;
}

TEST(OnnxSave, ReplacesAtomically) {
  testing::TempDir dir;
  const std::string path = dir.file("out.onnx");
  write_file_atomic(path, "old contents");
  // A second name for the old file: a writer that truncated and rewrote in place would change
  // it too; temp file + rename leaves it alone.
  fs::create_hard_link(path, dir.file("old_link"));
  save_onnx_graph(*mlp_graph(), path);
  EXPECT_EQ(read_file(dir.file("old_link")), "old contents");
  EXPECT_NO_THROW(load_onnx_graph(path));
  EXPECT_EQ(folder_listing(dir.path()), (std::vector<std::string>{"old_link", "out.onnx"}));
}

TEST(OnnxSave, FailedSaveLeavesTheOldFile) {
  testing::TempDir dir;
  const std::string path = dir.file("out.onnx");
  write_file_atomic(path, "old contents");
  auto graph = mlp_graph();
  Attribute broken;
  broken.name = "sparse_value";
  broken.type = AttributeType::SparseTensor;  // and no serialized value: export must fail
  graph->operations().back()->attributes.push_back(broken);
  EXPECT_THROW(save_onnx_graph(*graph, path), Error);
  EXPECT_EQ(read_file(path), "old contents");
  EXPECT_EQ(folder_listing(dir.path()), std::vector<std::string>{"out.onnx"});
  EXPECT_THROW(save_onnx_graph(*mlp_graph(), dir.file("no/such/folder/out.onnx")), Error);
}

TEST(OnnxSave, RefusesToOverwriteItsSource) {
  testing::TempDir dir;
  const std::string source = dir.file("model.onnx");
  save_onnx_graph(*mlp_graph(), source);
  const std::string before = read_file(source);
  const auto graph = load_onnx_graph(source);
  fs::create_symlink(source, dir.file("alias.onnx"));
  for (const std::string& target : {source, dir.path() + "/./model.onnx", dir.file("alias.onnx")}) {
    try {
      save_onnx_graph(*graph, target);
      ADD_FAILURE() << "overwrote " << target;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Argument) << e.what();
      EXPECT_NE(std::string(e.what()).find("refusing to overwrite"), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(read_file(source) == before);
  // Nor through the external data file: saving "x" writes "x.data".
  const std::string data_named = dir.file("weights.onnx.data");
  save_onnx_graph(*mlp_graph(), data_named);
  OnnxSaveOptions external;
  external.external_data = OnnxSaveOptions::ExternalData::Always;
  EXPECT_THROW(save_onnx_graph(*load_onnx_graph(data_named), dir.file("weights.onnx"), external),
               Error);
  EXPECT_NO_THROW(load_onnx_graph(data_named));
  // Saving elsewhere works.
  EXPECT_NO_THROW(save_onnx_graph(*graph, dir.file("copy.onnx")));
}

}  // namespace
}  // namespace qforge
