// SPDX-License-Identifier: Apache-2.0
// Lossless ONNX import/export over every model of the ONNX backend test data: import -> export
// -> import must (a) give a ModelProto equal to the original up to the canonicalizations of
// onnx_canonical.h, (b) export byte-identically the second time, and (c) give the same ONNX
// Runtime outputs, bit for bit, as the original on test_data_set_0. Cases ORT cannot run are
// listed in roundtrip_exclusions.txt with the reason; the list must stay exactly true.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "frontend/onnx_canonical.h"
#include "qforge/file_io.h"
#include "qforge/onnx_io.h"
#include "qforge/tensor_io.h"
#include "support/test_support.h"

namespace qforge {
namespace {

namespace fs = std::filesystem;
using testing::OrtJob;
using testing::OrtResult;

// real/ holds only download descriptions (data.json) in the Debian package: listed here so
// that its models join the test as soon as they are present.
constexpr const char* kSuites[] = {"node", "pytorch-converted", "pytorch-operator", "simple",
                                   "real"};

struct Case {
  std::string rel;  // e.g. "node/test_abs"
  std::string dir;
  std::string exclusion;  // observed reason ORT cannot compare it; "" when it can
  std::map<std::string, std::string> inputs;
  bool queued = false;  // ORT jobs were queued for it
  size_t job = 0;       // index of the original's job; the export's is job + 1
};

std::vector<Case> list_cases(const std::string& root) {
  std::vector<Case> cases;
  for (const char* suite : kSuites) {
    if (!fs::is_directory(fs::path(root) / suite)) continue;
    for (const auto& entry : fs::directory_iterator(fs::path(root) / suite)) {
      const fs::path model = entry.path() / "model.onnx";
      // Skip missing and very large models (the whole test stays within ~2 minutes).
      std::error_code ec;
      if (!fs::is_regular_file(model, ec) || fs::file_size(model, ec) > (64u << 20)) continue;
      Case c;
      c.rel = fmt::format("{}/{}", suite, entry.path().filename().string());
      c.dir = entry.path().string();
      cases.push_back(std::move(c));
    }
  }
  std::sort(cases.begin(), cases.end(), [](const Case& a, const Case& b) { return a.rel < b.rel; });
  return cases;
}

std::map<std::string, std::string> read_exclusions(const std::string& path) {
  std::map<std::string, std::string> out;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) {
      ADD_FAILURE() << path << ": line without a tab: " << line;
      continue;
    }
    out[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return out;
}

// Why a graph input cannot be fed from an .npy file, or "" when it can.
std::string unfeedable_input_reason(const Variable& input) {
  if (!input.opaque_type().empty()) {
    onnx::TypeProto type;
    type.ParseFromString(input.opaque_type());
    switch (type.value_case()) {
      case onnx::TypeProto::kSequenceType:
        return "sequence input";
      case onnx::TypeProto::kOptionalType:
        return "optional input";
      case onnx::TypeProto::kMapType:
        return "map input";
      case onnx::TypeProto::kSparseTensorType:
        return "sparse tensor input";
      default:
        break;
    }
  }
  switch (input.dtype) {
    case DataType::String:
      return "string input";
    case DataType::BFloat16:
      return "bfloat16 input (no .npy dtype)";
    case DataType::Complex64:
    case DataType::Complex128:
      return "complex input";
    default:
      return "";
  }
}

// Steps (a) and (b); returns the exported model's bytes ("" after a failure).
std::string check_lossless(const Case& c) {
  const std::string path = c.dir + "/model.onnx";
  onnx::ModelProto original;
  if (!original.ParseFromString(read_file(path))) {
    ADD_FAILURE() << c.rel << ": protobuf cannot parse the original";
    return "";
  }
  std::string first, second;
  try {
    const auto graph = load_onnx_graph(path);
    first = serialize_onnx_graph(*graph);
    const auto again = load_onnx_graph_from_bytes(first, c.rel + " (exported)", c.dir);
    second = serialize_onnx_graph(*again);
  } catch (const Error& e) {
    ADD_FAILURE() << c.rel << ": " << e.what();
    return "";
  }
  onnx::ModelProto exported;
  EXPECT_TRUE(exported.ParseFromString(first)) << c.rel;
  testing::canonicalize_model(&original);
  testing::canonicalize_model(&exported);
  const std::string diff = testing::diff_models(original, exported);
  EXPECT_EQ(diff, "") << c.rel << ": the export differs from the original";
  EXPECT_TRUE(first == second) << c.rel << ": the export of the re-import is not byte-identical";
  return first;
}

// Writes test_data_set_0's inputs as .npy and returns the inputs' names -> files, or sets
// c.exclusion when the model needs inputs ORT cannot be fed through ort_run.js.
void prepare_inputs(Case& c, const Graph& graph, const std::string& work) {
  std::vector<const Variable*> feeds;
  for (const Variable* in : graph.inputs())
    if (!in->is_parameter()) feeds.push_back(in);
  for (size_t i = 0; i < feeds.size(); ++i) {
    const std::string pb = fmt::format("{}/test_data_set_0/input_{}.pb", c.dir, i);
    if (!fs::exists(pb)) break;  // trailing optional inputs may be left out
    if (std::string reason = unfeedable_input_reason(*feeds[i]); !reason.empty()) {
      c.exclusion = reason;
      return;
    }
    const std::string npy = fmt::format("{}/in_{}.npy", work, i);
    try {
      write_npy(npy, read_tensor_pb(pb));
    } catch (const Error& e) {
      c.exclusion = fmt::format("input {} cannot be fed: {}", i, e.message());
      return;
    }
    c.inputs[feeds[i]->name] = npy;
  }
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  if (a.dtype() == DataType::String) return a.strings() == b.strings();
  if (std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0) return true;
  if (!dtype_is_floating(a.dtype())) return false;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.value_as_double(i), y = b.value_as_double(i);
    if (!(x == y || (std::isnan(x) && std::isnan(y)))) return false;
  }
  return true;
}

// Step (c) for one case, after the batch ran; sets c.exclusion when ORT rejects the original.
void check_ort(Case& c, const OrtResult& original, const OrtResult& exported) {
  if (!original.ok) {
    c.exclusion = original.error;
    return;
  }
  if (!exported.ok) {
    ADD_FAILURE() << c.rel << ": ORT runs the original but not the export: " << exported.error;
    return;
  }
  EXPECT_EQ(original.output_names, exported.output_names) << c.rel;
  if (original.outputs.size() != exported.outputs.size()) return;
  for (size_t k = 0; k < original.outputs.size(); ++k)
    EXPECT_TRUE(same_bits(original.outputs[k], exported.outputs[k]))
        << c.rel << ": output " << k
        << " differs: " << testing::compare_tensors(exported.outputs[k], original.outputs[k], 0, 0);
}

TEST(OnnxRoundTrip, BackendTestData) {
  const std::string root = testing::backend_test_data_dir();
  if (root.empty()) GTEST_SKIP() << "libonnx-testdata is not installed";
  std::vector<Case> cases = list_cases(root);
  ASSERT_FALSE(cases.empty());
  const bool with_ort = testing::ort_available();
  testing::TempDir temp;
  std::vector<OrtJob> jobs;
  for (size_t i = 0; i < cases.size(); ++i) {
    Case& c = cases[i];
    const std::string exported = check_lossless(c);
    if (exported.empty() || !with_ort) continue;
    const std::string work = temp.file(std::to_string(i));
    fs::create_directories(work);
    prepare_inputs(c, *load_onnx_graph_from_bytes(exported, c.rel, c.dir), work);
    if (!c.exclusion.empty()) continue;
    write_file_atomic(work + "/model.onnx", exported);
    c.queued = true;
    c.job = jobs.size();
    jobs.push_back({c.dir + "/model.onnx", c.inputs, work + "/out_original"});
    jobs.push_back({work + "/model.onnx", c.inputs, work + "/out_exported"});
  }
  if (!with_ort)
    GTEST_SKIP() << "ONNX Runtime (third_party/npm) is not installed; ORT step skipped";
  const std::vector<OrtResult> results = testing::run_ort(jobs);
  size_t compared = 0;
  for (Case& c : cases) {
    if (!c.queued) continue;
    check_ort(c, results[c.job], results[c.job + 1]);
    if (c.exclusion.empty()) ++compared;
  }
  // The exclusion list must be exactly what was observed, so that it stays true.
  const std::string list_path =
      std::string(QFORGE_SOURCE_DIR) + "/tests/frontend/roundtrip_exclusions.txt";
  const auto listed =
      fs::exists(list_path) ? read_exclusions(list_path) : std::map<std::string, std::string>{};
  std::map<std::string, std::string> observed;
  for (const Case& c : cases)
    if (!c.exclusion.empty()) observed[c.rel] = c.exclusion;
  for (const auto& [rel, reason] : observed) {
    auto it = listed.find(rel);
    if (it == listed.end())
      ADD_FAILURE() << "not in roundtrip_exclusions.txt: " << rel << "\t" << reason;
    else
      EXPECT_EQ(it->second, reason) << rel << ": the listed reason is out of date";
  }
  for (const auto& [rel, reason] : listed)
    EXPECT_TRUE(observed.count(rel))
        << rel << " is listed in roundtrip_exclusions.txt but now passes; remove it";
  std::printf("[ round trip ] %zu cases, %zu compared in ORT, %zu excluded\n", cases.size(),
              compared, observed.size());
}

// Every field qforge keeps, in forms the backend test data does not use: each must come back.
onnx::ModelProto edge_feature_model() {
  onnx::ModelProto m;
  m.set_ir_version(3);  // IR v3: initializers are listed among the inputs
  m.set_producer_name("edge");
  m.set_producer_version("1.0");
  m.set_domain("org.example");
  m.set_model_version(7);
  m.set_doc_string("model doc");
  auto* opset = m.add_opset_import();
  opset->set_version(11);
  opset = m.add_opset_import();
  opset->set_domain("com.example");
  opset->set_version(1);
  auto* prop = m.add_metadata_props();
  prop->set_key("author");
  prop->set_value("qforge");
  auto* fn = m.add_functions();
  fn->set_name("MyFn");
  fn->set_domain("com.example");
  fn->add_input("a");
  fn->add_output("b");
  auto* fn_node = fn->add_node();
  fn_node->set_op_type("Neg");
  fn_node->add_input("a");
  fn_node->add_output("b");
  m.add_training_info()->mutable_algorithm()->set_name("train");

  auto* g = m.mutable_graph();
  g->set_name("edge");
  g->set_doc_string("graph doc");
  auto* x = g->add_input();
  x->set_name("x");
  x->set_doc_string("input doc");
  auto* xt = x->mutable_type()->mutable_tensor_type();
  xt->set_elem_type(onnx::TensorProto::FLOAT);
  xt->mutable_shape()->add_dim()->set_dim_param("N");
  xt->mutable_shape()->add_dim();  // neither value nor param
  xt->mutable_shape()->add_dim()->set_dim_value(4);
  auto* den = g->add_input();  // a denotation qforge's Dim cannot hold: kept verbatim
  den->set_name("img");
  auto* dt = den->mutable_type()->mutable_tensor_type();
  dt->set_elem_type(onnx::TensorProto::FLOAT);
  auto* dim = dt->mutable_shape()->add_dim();
  dim->set_dim_value(3);
  dim->set_denotation("DATA_CHANNEL");
  g->add_input()->set_name("w");  // an initializer also listed as input, declared without type
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(4);
  for (float v : {1.0f, -2.0f, 0.5f, 3.0f}) w->add_float_data(v);  // typed form
  auto* sparse = g->add_sparse_initializer();
  sparse->add_dims(2);
  sparse->add_dims(3);
  auto* values = sparse->mutable_values();
  values->set_name("s");
  values->set_data_type(onnx::TensorProto::INT64);
  values->add_dims(2);
  values->add_int64_data(5);
  values->add_int64_data(-6);
  auto* indices = sparse->mutable_indices();
  indices->set_data_type(onnx::TensorProto::INT64);
  indices->add_dims(2);
  indices->add_int64_data(1);
  indices->add_int64_data(5);
  auto* cond = g->add_input();
  cond->set_name("cond");
  cond->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::BOOL);

  auto node = [&](onnx::GraphProto* graph, const std::string& type, std::vector<std::string> in,
                  std::vector<std::string> out, const std::string& domain = "") {
    auto* n = graph->add_node();
    n->set_op_type(type);
    n->set_domain(domain);
    for (const auto& i : in) n->add_input(i);
    for (const auto& o : out) n->add_output(o);
    return n;
  };
  auto* mul = node(g, "Mul", {"x", "w"}, {"xw"});
  mul->set_name("mul");
  mul->set_doc_string("node doc");
  node(g, "Clip", {"xw", "", "w_max"}, {"clipped"})->set_name("clip");  // empty optional input
  auto* w_max = g->add_initializer();
  w_max->set_name("w_max");
  w_max->set_data_type(onnx::TensorProto::FLOAT);
  w_max->set_raw_data(std::string("\0\0\x80\x3f", 4));
  g->add_input()->set_name("w_max");
  // A custom op carrying every attribute form.
  auto* custom = node(g, "Everything", {"clipped"}, {"custom_out", ""}, "com.example");
  custom->set_name("custom");
  auto attr = [&](const std::string& name, onnx::AttributeProto::AttributeType type) {
    auto* a = custom->add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
  };
  attr("f", onnx::AttributeProto::FLOAT)->set_f(std::numeric_limits<float>::quiet_NaN());
  auto* ai = attr("i", onnx::AttributeProto::INT);
  ai->set_i(-3);
  ai->set_doc_string("attribute doc");
  attr("s", onnx::AttributeProto::STRING)->set_s(std::string("bytes\0with nul", 14));
  auto* t = attr("t", onnx::AttributeProto::TENSOR)->mutable_t();
  t->set_name("named_tensor");
  t->set_data_type(onnx::TensorProto::INT8);
  t->add_dims(3);
  for (int v : {-1, 0, 127}) t->add_int32_data(v);
  auto* fs_ = attr("fs", onnx::AttributeProto::FLOATS);
  fs_->add_floats(1.5f);
  fs_->add_floats(-0.0f);
  attr("is", onnx::AttributeProto::INTS)->add_ints(INT64_MIN);
  attr("ss", onnx::AttributeProto::STRINGS)->add_strings("a");
  auto* ts = attr("ts", onnx::AttributeProto::TENSORS);
  auto* t1 = ts->add_tensors();
  t1->set_data_type(onnx::TensorProto::STRING);
  t1->add_dims(2);
  t1->add_string_data("p");
  t1->add_string_data("q");
  auto* t2 = ts->add_tensors();
  t2->set_name("second");
  t2->set_data_type(onnx::TensorProto::FLOAT16);
  t2->add_int32_data(0x3c00);
  auto* sp = attr("sp", onnx::AttributeProto::SPARSE_TENSOR)->mutable_sparse_tensor();
  *sp = *sparse;
  attr("tp", onnx::AttributeProto::TYPE_PROTO)
      ->mutable_tp()
      ->mutable_sequence_type()
      ->mutable_elem_type()
      ->mutable_tensor_type()
      ->set_elem_type(1);
  auto* ref = custom->add_attribute();  // untyped, as inside function bodies
  ref->set_name("ref");
  ref->set_ref_attr_name("outer_attr");
  // If with branches reading an outer value; one branch holds its own annotation.
  auto* iff = node(g, "If", {"cond"}, {"if_out"});
  iff->set_name("if");
  for (const char* branch : {"then_branch", "else_branch"}) {
    auto* a = iff->add_attribute();
    a->set_name(branch);
    a->set_type(onnx::AttributeProto::GRAPH);
    auto* body = a->mutable_g();
    body->set_name(branch);
    node(body, "Identity", {"clipped"}, {std::string(branch) + "_out"});
    auto* out = body->add_output();
    out->set_name(std::string(branch) + "_out");
    out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    auto* annotation = body->add_quantization_annotation();
    annotation->set_tensor_name(std::string(branch) + "_out");
  }
  auto* annotation = g->add_quantization_annotation();
  annotation->set_tensor_name("xw");
  auto* kv = annotation->add_quant_parameter_tensor_names();
  kv->set_key("SCALE_TENSOR");
  kv->set_value("w");
  // Outputs, one also described in value_info; value_info without type and with an empty type.
  auto* y = g->add_output();
  y->set_name("if_out");
  y->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  g->add_output()->set_name("custom_out");
  auto* vi = g->add_value_info();
  vi->set_name("if_out");
  vi->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  g->add_value_info()->set_name("clipped");
  auto* empty_type = g->add_value_info();
  empty_type->set_name("xw");
  empty_type->set_doc_string("value doc");
  empty_type->mutable_type()->mutable_tensor_type();
  return m;
}

TEST(OnnxRoundTrip, EdgeFeatures) {
  onnx::ModelProto original = edge_feature_model();
  const std::string bytes = original.SerializeAsString();
  const auto graph = load_onnx_graph_from_bytes(bytes, "edge.onnx", "");
  // The sparse initializer is densified.
  const Variable* s = graph->find_variable("s");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value.to_int64_vector(), (std::vector<int64_t>{0, 5, 0, 0, 0, -6}));
  const std::string first = serialize_onnx_graph(*graph);
  onnx::ModelProto exported;
  ASSERT_TRUE(exported.ParseFromString(first));
  testing::canonicalize_model(&original);
  testing::canonicalize_model(&exported);
  EXPECT_EQ(testing::diff_models(original, exported), "");
  const auto again = load_onnx_graph_from_bytes(first, "edge-exported.onnx", "");
  EXPECT_TRUE(serialize_onnx_graph(*again) == first);
  EXPECT_TRUE(serialize_onnx_graph(*graph->deep_copy()) == first);
}

}  // namespace
}  // namespace qforge
