// SPDX-License-Identifier: Apache-2.0
// Malformed ONNX input: each bad model (built here with onnx's protobuf classes) must give a
// qforge::Error naming the file and the node or tensor at fault, and `qforge inspect BAD` must
// print exactly one line on stderr and exit with status 1, never crash. Also the fuzzer's
// findings (huge declared sizes, deep subgraph nesting) as regression cases.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/wait.h>

#include <filesystem>

#include "frontend/onnx/onnx_proto_convert.h"
#include "qforge/file_io.h"
#include "qforge/onnx_io.h"
#include "support/test_support.h"

namespace qforge {
namespace {

namespace fs = std::filesystem;

void add_float_value(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list,
                     const std::string& name, std::vector<int64_t> dims) {
  auto* info = list->Add();
  info->set_name(name);
  auto* type = info->mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) type->mutable_shape()->add_dim()->set_dim_value(d);
}

onnx::NodeProto* add_node(onnx::GraphProto* g, const std::string& type, const std::string& name,
                          std::vector<std::string> inputs, std::vector<std::string> outputs) {
  auto* node = g->add_node();
  node->set_op_type(type);
  node->set_name(name);
  for (const auto& in : inputs) node->add_input(in);
  for (const auto& out : outputs) node->add_output(out);
  return node;
}

onnx::TensorProto* add_initializer(onnx::GraphProto* g, const std::string& name,
                                   std::vector<int64_t> dims) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  int64_t count = 1;
  for (int64_t d : dims) {
    t->add_dims(d);
    count *= d;
  }
  std::string raw(static_cast<size_t>(count) * 4, '\0');
  for (int64_t i = 0; i < count; ++i) {
    const float v = 0.25f * static_cast<float>(i % 7);
    std::memcpy(raw.data() + i * 4, &v, 4);
  }
  t->set_raw_data(raw);
  return t;
}

// x[1,2,5,5] -> Conv(W[3,2,3,3], kernel_shape [3,3]) -> Relu -> y: a valid model to break.
onnx::ModelProto conv_model() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("conv");
  add_float_value(g->mutable_input(), "x", {1, 2, 5, 5});
  add_float_value(g->mutable_output(), "y", {1, 3, 3, 3});
  add_initializer(g, "W", {3, 2, 3, 3});
  auto* conv = add_node(g, "Conv", "conv1", {"x", "W"}, {"c"});
  auto* ks = conv->add_attribute();
  ks->set_name("kernel_shape");
  ks->set_type(onnx::AttributeProto::INTS);
  ks->add_ints(3);
  ks->add_ints(3);
  add_node(g, "Relu", "relu1", {"c"}, {"y"});
  return m;
}

struct BadModel : ::testing::Test {
  testing::TempDir dir;

  std::string write(const std::string& name, const std::string& bytes) {
    const std::string path = dir.file(name);
    write_file_atomic(path, bytes);
    return path;
  }
  std::string write(const std::string& name, const onnx::ModelProto& m) {
    return write(name, m.SerializeAsString());
  }

  // load_onnx_graph must throw a qforge::Error whose text names the file and contains each of
  // `parts`; the CLI must print that one line and exit 1.
  void expect_rejected(const std::string& path, std::vector<std::string> parts) {
    SCOPED_TRACE(path);
    try {
      load_onnx_graph(path);
      ADD_FAILURE() << "loaded without an error";
    } catch (const Error& e) {
      const std::string text = e.what();
      EXPECT_NE(text.find(path), std::string::npos) << "the error does not name the file: " << text;
      for (const auto& part : parts)
        EXPECT_NE(text.find(part), std::string::npos) << "missing '" << part << "' in: " << text;
      EXPECT_EQ(text.find('\n'), std::string::npos) << text;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "threw something other than qforge::Error: " << e.what();
    }
    expect_cli_rejects(path);
  }

  void expect_cli_rejects(const std::string& path) {
    const std::string err = dir.file("stderr.txt");
    const std::string command =
        fmt::format("'{}' inspect '{}' >/dev/null 2>'{}'", QFORGE_CLI, path, err);
    const int status = std::system(command.c_str());
    ASSERT_TRUE(WIFEXITED(status)) << "qforge was killed by a signal";
    EXPECT_EQ(WEXITSTATUS(status), 1);
    const std::string text = read_file(err);
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
    EXPECT_EQ(text.rfind("qforge: error: ", 0), 0u) << text;
  }
};

TEST_F(BadModel, ValidModelLoads) {
  const std::string path = write("ok.onnx", conv_model());
  EXPECT_EQ(load_onnx_graph(path)->operations().size(), 2u);
}

TEST_F(BadModel, TruncatedFile) {
  const std::string bytes = conv_model().SerializeAsString();
  expect_rejected(write("truncated.onnx", bytes.substr(0, bytes.size() / 2)), {"truncated"});
}

TEST_F(BadModel, EmptyFile) {
  expect_rejected(write("empty.onnx", std::string()), {"empty"});
}

TEST_F(BadModel, NotOnnx) {
  expect_rejected(write("model.json", std::string("{\"layers\": [1, 2, 3]}\n")), {"ONNX"});
  expect_rejected(write("image.png", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16)), {"ONNX"});
}

TEST_F(BadModel, MissingFile) {
  expect_rejected(dir.file("absent.onnx"), {"cannot open"});
}

TEST_F(BadModel, Directory) {
  expect_rejected(dir.path(), {"directory"});
}

void make_external(onnx::ModelProto& m, const std::string& location, const std::string& offset,
                   const std::string& length) {
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_raw_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [&](const char* key, const std::string& value) {
    auto* e = w->add_external_data();
    e->set_key(key);
    e->set_value(value);
  };
  add("location", location);
  if (!offset.empty()) add("offset", offset);
  if (!length.empty()) add("length", length);
}

TEST_F(BadModel, MissingExternalData) {
  onnx::ModelProto m = conv_model();
  make_external(m, "weights.bin", "", "");
  expect_rejected(write("ext.onnx", m), {"initializer 'W'", "weights.bin", "missing"});
}

TEST_F(BadModel, ExternalDataOutOfRange) {
  write("weights.bin", std::string(3 * 2 * 3 * 3 * 4, '\0'));
  onnx::ModelProto m = conv_model();
  make_external(m, "weights.bin", "4096", "");
  expect_rejected(write("offset.onnx", m), {"initializer 'W'", "offset 4096"});
  m = conv_model();
  make_external(m, "weights.bin", "64", "216");
  expect_rejected(write("length.onnx", m), {"initializer 'W'", "runs past the end"});
  m = conv_model();
  make_external(m, "weights.bin", "0", "100");
  expect_rejected(write("short.onnx", m), {"initializer 'W'", "100 bytes", "needs 216"});
  m = conv_model();
  make_external(m, "weights.bin", "-8", "");
  expect_rejected(write("negative.onnx", m), {"initializer 'W'", "offset '-8'"});
  m = conv_model();
  make_external(m, "weights.bin", "12abc", "");
  expect_rejected(write("garbage.onnx", m), {"initializer 'W'", "'12abc'"});
}

TEST_F(BadModel, ExternalDataEscapesFolder) {
  fs::create_directories(dir.file("models"));
  write("secret.bin", std::string(216, '\0'));
  onnx::ModelProto m = conv_model();
  make_external(m, "../secret.bin", "", "");
  expect_rejected(write("models/escape.onnx", m),
                  {"initializer 'W'", "../secret.bin", "inside the model's folder"});
  m = conv_model();
  make_external(m, dir.file("secret.bin"), "", "");
  expect_rejected(write("models/absolute.onnx", m),
                  {"initializer 'W'", "inside the model's folder"});
  m = conv_model();
  make_external(m, ".", "", "");
  expect_rejected(write("models/dot.onnx", m), {"initializer 'W'", "not a regular file"});
}

TEST_F(BadModel, DanglingInput) {
  onnx::ModelProto m = conv_model();
  m.mutable_graph()->mutable_node(1)->set_input(0, "nowhere");
  expect_rejected(write("dangling.onnx", m), {"node 'relu1' (Relu)", "'nowhere'"});
}

TEST_F(BadModel, Cycle) {
  onnx::ModelProto m = conv_model();
  auto* g = m.mutable_graph();
  g->mutable_node(0)->set_input(0, "y2");  // conv reads what relu2 computes from conv's output
  add_node(g, "Relu", "relu2", {"y"}, {"y2"});
  expect_rejected(write("cycle.onnx", m), {"cycle", "node 'conv1' (Conv)"});
}

TEST_F(BadModel, AttributeOfWrongType) {
  onnx::ModelProto m = conv_model();
  auto* ks = m.mutable_graph()->mutable_node(0)->mutable_attribute(0);
  ks->set_type(onnx::AttributeProto::STRING);
  ks->clear_ints();
  ks->set_s("3x3");
  expect_rejected(write("attr.onnx", m), {"node 'conv1' (Conv)", "kernel_shape"});
}

TEST_F(BadModel, NegativeDim) {
  onnx::ModelProto m = conv_model();
  m.mutable_graph()->mutable_initializer(0)->set_dims(0, -3);
  expect_rejected(write("negdim.onnx", m), {"initializer 'W'", "negative dimension -3"});
  m = conv_model();
  m.mutable_graph()
      ->mutable_input(0)
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(1)
      ->set_dim_value(-2);
  expect_rejected(write("negdim_input.onnx", m), {"'x'", "negative dimension -2"});
}

TEST_F(BadModel, RawDataOfWrongSize) {
  onnx::ModelProto m = conv_model();
  m.mutable_graph()->mutable_initializer(0)->mutable_raw_data()->resize(100);
  expect_rejected(write("raw.onnx", m), {"initializer 'W'", "100 bytes", "needs 216"});
}

TEST_F(BadModel, TypedDataOfWrongCount) {
  onnx::ModelProto m = conv_model();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_raw_data();
  for (int i = 0; i < 5; ++i) w->add_float_data(1.0f);
  expect_rejected(write("typed.onnx", m), {"initializer 'W'", "float_data holds 5 values"});
}

TEST_F(BadModel, HugeDeclaredShape) {
  // Fuzzer finding: a few bytes declaring 2^38 floats must fail before allocating 1 TB.
  onnx::ModelProto m = conv_model();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_dims();
  w->add_dims(int64_t{1} << 38);
  expect_rejected(write("huge.onnx", m), {"initializer 'W'", "needs 1099511627776"});
  w->clear_raw_data();
  expect_rejected(write("huge_typed.onnx", m), {"initializer 'W'", "float_data holds 0 values"});
  w->add_dims(int64_t{1} << 30);
  expect_rejected(write("overflow.onnx", m), {"initializer 'W'", "too large"});
  w->set_data_type(onnx::TensorProto::STRING);
  w->clear_dims();
  w->add_dims(int64_t{1} << 36);
  expect_rejected(write("huge_strings.onnx", m), {"initializer 'W'", "string_data holds 0 values"});
}

TEST_F(BadModel, HugeSparseInitializer) {
  onnx::ModelProto m = conv_model();
  auto* sparse = m.mutable_graph()->add_sparse_initializer();
  for (int64_t d : {int64_t{1} << 20, int64_t{1} << 20}) sparse->add_dims(d);
  auto* values = sparse->mutable_values();
  values->set_name("S");
  values->set_data_type(onnx::TensorProto::FLOAT);
  values->add_dims(1);
  values->add_float_data(1.0f);
  auto* indices = sparse->mutable_indices();
  indices->set_data_type(onnx::TensorProto::INT64);
  indices->add_dims(1);
  indices->add_int64_data(7);
  expect_rejected(write("sparse.onnx", m), {"sparse initializer 'S'", "limit"});
}

TEST_F(BadModel, DeepSubgraphNesting) {
  // If inside If inside If ... past protobuf's nesting limit and qforge's subgraph limit.
  onnx::ModelProto m = conv_model();
  onnx::GraphProto body;
  body.set_name("leaf");
  for (int level = 0; level < 80; ++level) {
    onnx::GraphProto outer;
    outer.set_name(fmt::format("level{}", level));
    auto* node = add_node(&outer, "If", fmt::format("if{}", level), {"cond"}, {});
    auto* branch = node->add_attribute();
    branch->set_name("then_branch");
    branch->set_type(onnx::AttributeProto::GRAPH);
    *branch->mutable_g() = body;
    body = std::move(outer);
  }
  auto* node = add_node(m.mutable_graph(), "If", "top", {"cond"}, {});
  auto* branch = node->add_attribute();
  branch->set_name("then_branch");
  branch->set_type(onnx::AttributeProto::GRAPH);
  *branch->mutable_g() = body;
  expect_rejected(write("deep.onnx", m), {"ONNX"});
  // A ModelProto built in memory has no protobuf nesting limit: qforge's own applies.
  try {
    OnnxLoadOptions options;
    options.verify_schemas = false;  // the If nodes are incomplete; nesting is what is tested
    graph_from_model_proto(m, "deep-in-memory", "", options);
    ADD_FAILURE() << "loaded without an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nested more than 64 deep"), std::string::npos)
        << e.what();
  }
}

TEST_F(BadModel, NamesWithControlCharacters) {
  onnx::ModelProto m = conv_model();
  m.mutable_graph()->mutable_node(1)->set_name("evil\nname\x01");
  m.mutable_graph()->mutable_node(1)->set_input(0, std::string(5000, 'z'));
  expect_rejected(write("names.onnx", m), {"evil\\nname\\x01", "..."});
}

TEST_F(BadModel, OutputProducedTwice) {
  onnx::ModelProto m = conv_model();
  add_node(m.mutable_graph(), "Relu", "relu2", {"c"}, {"y"});
  expect_rejected(write("twice.onnx", m), {"node 'relu2' (Relu)", "'y'", "twice"});
}

TEST_F(BadModel, UnknownDataType) {
  onnx::ModelProto m = conv_model();
  m.mutable_graph()->mutable_initializer(0)->set_data_type(99);
  expect_rejected(write("dtype.onnx", m), {"initializer 'W'", "data_type 99"});
}

}  // namespace
}  // namespace qforge
