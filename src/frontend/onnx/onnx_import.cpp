// SPDX-License-Identifier: Apache-2.0
// ONNX ModelProto -> Graph. Keeps every field needed to write the model back unchanged.
// Malformed input (bad tensors, dangling names, cycles, attributes of the wrong type) gives an
// Error naming the file and node. Tested by tests/frontend/test_onnx_import_errors.cpp,
// test_onnx_roundtrip.cpp (the whole ONNX backend test data) and tests/fuzz/.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <onnx/defs/schema.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <set>

#include "../../core/tensor_proto.h"
#include "onnx_proto_convert.h"
#include "qforge/file_io.h"

namespace qforge {

namespace {

// Subgraphs nested deeper than this are rejected (protobuf's own nesting limit is stricter for
// parsed files; this also guards ModelProtos built in memory).
constexpr int kMaxSubgraphDepth = 64;

struct ImportContext {
  std::string base_dir;
  const ModelInfo* model = nullptr;
  OnnxLoadOptions options;
  int depth = 0;  // subgraph nesting of the graph being imported
};

// The declared type replaces whatever the variable held (an initializer's own dtype and shape
// included): the export writes back exactly what was declared, or no type at all.
void read_value_info(const onnx::ValueInfoProto& info, Variable* var) {
  if (!info.doc_string().empty()) var->set_doc_string(info.doc_string());
  var->dtype = DataType::Undefined;
  var->shape.reset();
  var->set_opaque_type("");
  if (!info.has_type()) return;
  const onnx::TypeProto& type = info.type();
  if (type.value_case() != onnx::TypeProto::kTensorType || !type.denotation().empty()) {
    var->set_opaque_type(type.SerializeAsString());
    return;
  }
  const auto& tensor_type = type.tensor_type();
  if (!dtype_is_known(tensor_type.elem_type()))
    fail(ErrorKind::InvalidModel, "value '{}' has unknown elem_type {}", info.name(),
         tensor_type.elem_type());
  var->dtype = static_cast<DataType>(tensor_type.elem_type());
  // A type that qforge's fields cannot state exactly is kept verbatim: a tensor type without
  // elem_type (Undefined would write no type at all) or with dimension denotations.
  if (var->dtype == DataType::Undefined) var->set_opaque_type(type.SerializeAsString());
  if (!tensor_type.has_shape()) return;
  std::vector<Dim> dims;
  for (const auto& d : tensor_type.shape().dim()) {
    if (!d.denotation().empty()) {  // rare: keep the whole type verbatim
      var->set_opaque_type(type.SerializeAsString());
    }
    if (d.has_dim_value()) {
      if (d.dim_value() < 0)
        fail(ErrorKind::InvalidModel, "value '{}' has negative dimension {}", info.name(),
             d.dim_value());
      dims.push_back(Dim{d.dim_value(), ""});
    } else {
      dims.push_back(Dim{-1, d.dim_param()});
    }
  }
  var->shape = std::move(dims);
}

std::unique_ptr<Graph> import_graph(const onnx::GraphProto& proto, const ImportContext& ctx,
                                    Graph* parent, Operation* owner);

// Pre-IR-v3 models may omit an attribute's type: it is the one of the value field that is set
// (0 for a bare reference to a function's attribute).
int32_t inferred_attribute_type(const onnx::AttributeProto& proto, const std::string& what) {
  const std::pair<bool, int32_t> candidates[] = {{proto.has_f(), 1},
                                                 {proto.has_i(), 2},
                                                 {proto.has_s(), 3},
                                                 {proto.has_t(), 4},
                                                 {proto.has_g(), 5},
                                                 {proto.floats_size() > 0, 6},
                                                 {proto.ints_size() > 0, 7},
                                                 {proto.strings_size() > 0, 8},
                                                 {proto.tensors_size() > 0, 9},
                                                 {proto.graphs_size() > 0, 10},
                                                 {!proto.ref_attr_name().empty(), 0}};
  for (const auto& [present, type] : candidates)
    if (present) return type;
  fail(ErrorKind::InvalidModel, "{} has no type and no value", what);
}

Attribute import_attribute(const onnx::AttributeProto& proto, const ImportContext& ctx,
                           Graph* graph, Operation* op) {
  Attribute a;
  a.name = proto.name();
  if (!proto.doc_string().empty()) a.mutable_extra().doc_string = proto.doc_string();
  if (!proto.ref_attr_name().empty()) a.mutable_extra().ref_attr_name = proto.ref_attr_name();
  const std::string what = fmt::format("attribute '{}'", proto.name());
  if (a.name.empty()) fail(ErrorKind::InvalidModel, "attribute without a name");
  ImportContext nested = ctx;
  ++nested.depth;
  const int32_t type = proto.type() == 0 ? inferred_attribute_type(proto, what) : proto.type();
  if (type < 0 || type > 14) fail(ErrorKind::InvalidModel, "{} has unknown type {}", what, type);
  a.type = static_cast<AttributeType>(type);
  switch (a.type) {
    case AttributeType::Undefined:
      break;
    case AttributeType::Float:
      a.f = proto.f();
      break;
    case AttributeType::Int:
      a.i = proto.i();
      break;
    case AttributeType::String:
      a.s = proto.s();
      break;
    case AttributeType::Tensor:
      a.t = tensor_from_proto(proto.t(), ctx.base_dir, what);
      if (!proto.t().name().empty()) a.mutable_extra().tensor_names.push_back(proto.t().name());
      break;
    case AttributeType::Graph:
      a.g = import_graph(proto.g(), nested, graph, op);
      break;
    case AttributeType::Floats:
      a.floats.assign(proto.floats().begin(), proto.floats().end());
      break;
    case AttributeType::Ints:
      a.ints.assign(proto.ints().begin(), proto.ints().end());
      break;
    case AttributeType::Strings:
      a.strings.assign(proto.strings().begin(), proto.strings().end());
      break;
    case AttributeType::Tensors:
      for (const auto& t : proto.tensors())
        a.mutable_extra().tensors.push_back(tensor_from_proto(t, ctx.base_dir, what));
      if (std::any_of(proto.tensors().begin(), proto.tensors().end(),
                      [](const auto& t) { return !t.name().empty(); }))
        for (const auto& t : proto.tensors()) a.mutable_extra().tensor_names.push_back(t.name());
      break;
    case AttributeType::Graphs:
      for (const auto& g : proto.graphs())
        a.mutable_extra().graphs.push_back(import_graph(g, nested, graph, op));
      break;
    case AttributeType::SparseTensor:
      a.mutable_extra().opaque.push_back(proto.sparse_tensor().SerializeAsString());
      break;
    case AttributeType::SparseTensors:
      for (const auto& t : proto.sparse_tensors())
        a.mutable_extra().opaque.push_back(t.SerializeAsString());
      break;
    case AttributeType::TypeProto:
      a.mutable_extra().opaque.push_back(proto.tp().SerializeAsString());
      break;
    case AttributeType::TypeProtos:
      for (const auto& t : proto.type_protos())
        a.mutable_extra().opaque.push_back(t.SerializeAsString());
      break;
  }
  return a;
}

bool is_standard_domain(const std::string& domain) {
  return domain.empty() || domain == "ai.onnx" || domain == "ai.onnx.ml";
}

void verify_schema(const onnx::NodeProto& node, int64_t opset) {
  const std::string domain = node.domain() == "ai.onnx" ? "" : node.domain();
  const onnx::OpSchema* schema =
      onnx::OpSchemaRegistry::Schema(node.op_type(), static_cast<int>(opset), domain);
  if (!schema) return;  // unknown or newer than libonnx: kept as an opaque op
  try {
    schema->Verify(node);
  } catch (const std::exception& e) {
    std::string message = e.what();
    // onnx appends a multi-line context; keep the first line.
    if (auto newline = message.find('\n'); newline != std::string::npos) message.resize(newline);
    fail(ErrorKind::InvalidModel, "does not match the ONNX schema of {}-{}: {}", node.op_type(),
         opset, message);
  }
}

Variable* get_or_create(Graph& graph, const std::string& name) {
  if (Variable* v = graph.find_variable(name)) return v;
  return graph.create_variable(name);
}

void import_initializers(const onnx::GraphProto& proto, const ImportContext& ctx, Graph& graph) {
  for (const auto& init : proto.initializer()) {
    const std::string what = fmt::format("initializer '{}'", init.name());
    if (init.name().empty()) fail(ErrorKind::InvalidModel, "an initializer has no name");
    if (graph.find_variable(init.name()))
      fail(ErrorKind::InvalidModel, "{} is defined twice", what);
    graph.create_variable(init.name(), tensor_from_proto(init, ctx.base_dir, what));
  }
  for (const auto& sparse : proto.sparse_initializer()) {
    const std::string name = sparse.values().name();
    const std::string what = fmt::format("sparse initializer '{}'", name);
    if (name.empty()) fail(ErrorKind::InvalidModel, "a sparse initializer has no name");
    if (graph.find_variable(name)) fail(ErrorKind::InvalidModel, "{} is defined twice", what);
    graph.create_variable(name, tensor_from_sparse_proto(sparse, ctx.base_dir, what,
                                                         ctx.options.max_sparse_dense_bytes));
  }
}

void import_node(const onnx::NodeProto& node, const ImportContext& ctx, Graph& graph) {
  if (node.op_type().empty()) fail(ErrorKind::InvalidModel, "node has no op_type");
  const int64_t opset = ctx.model->opset_of(node.domain());
  if (ctx.options.verify_schemas && is_standard_domain(node.domain())) verify_schema(node, opset);
  std::vector<Variable*> inputs, outputs;
  for (const std::string& name : node.input())  // "" is an omitted optional input
    inputs.push_back(name.empty() ? nullptr : get_or_create(graph, name));
  for (const std::string& name : node.output()) {
    Variable* var = name.empty() ? nullptr : get_or_create(graph, name);
    if (var && (var->producer() || std::count(outputs.begin(), outputs.end(), var)))
      fail(ErrorKind::InvalidModel, "output '{}' is produced twice", name);
    if (var && (var->is_parameter() || graph.is_graph_input(var)))
      fail(ErrorKind::InvalidModel, "output '{}' is already a graph input or initializer", name);
    outputs.push_back(var);
  }
  Operation* op =
      graph.create_operation(node.op_type(), node.name(), inputs, outputs, {}, node.domain());
  op->opset = opset;
  op->doc_string = node.doc_string();
  std::set<std::string> seen;
  op->attributes.reserve(static_cast<size_t>(node.attribute_size()));  // an Attribute is 400 B
  for (const auto& attr : node.attribute()) {
    if (!seen.insert(attr.name()).second)
      fail(ErrorKind::InvalidModel, "attribute '{}' is given twice", attr.name());
    op->attributes.push_back(import_attribute(attr, ctx, &graph, op));
  }
}

std::unique_ptr<Graph> import_graph(const onnx::GraphProto& proto, const ImportContext& ctx,
                                    Graph* parent, Operation* owner) {
  if (ctx.depth > kMaxSubgraphDepth)
    fail(ErrorKind::InvalidModel, "subgraphs are nested more than {} deep", kMaxSubgraphDepth);
  auto graph = std::make_unique<Graph>();
  graph->name = proto.name();
  graph->doc_string = proto.doc_string();
  graph->parent = parent;
  graph->owner = owner;
  graph->model.opset_imports = ctx.model->opset_imports;
  for (const auto& annotation : proto.quantization_annotation())
    graph->model.quantization_annotations.push_back(annotation.SerializeAsString());
  import_initializers(proto, ctx, *graph);
  for (const auto& input : proto.input()) {
    if (input.name().empty()) fail(ErrorKind::InvalidModel, "a graph input has no name");
    Variable* var = get_or_create(*graph, input.name());
    if (graph->is_graph_input(var))
      fail(ErrorKind::InvalidModel, "graph input '{}' is listed twice", input.name());
    read_value_info(input, var);
    graph->add_graph_input(var);
  }
  for (const auto& node : proto.node()) {
    const std::string where =
        fmt::format("node '{}' ({})", node.name(), node.op_type().empty() ? "?" : node.op_type());
    with_error_context(where, [&] { import_node(node, ctx, *graph); });
  }
  for (const auto& info : proto.value_info()) {
    if (info.name().empty()) continue;
    Variable* var = get_or_create(*graph, info.name());
    read_value_info(info, var);
    var->has_value_info = true;
  }
  for (const auto& output : proto.output()) {
    if (output.name().empty()) fail(ErrorKind::InvalidModel, "a graph output has no name");
    Variable* var = get_or_create(*graph, output.name());
    read_value_info(output, var);
    graph->add_graph_output(var);
  }
  return graph;
}

// Every value read must be defined in this graph or an enclosing one; then order the ops.
void check_and_sort(Graph& graph, const std::set<std::string>& outer) {
  std::set<std::string> visible = outer;
  for (const auto& v : graph.variables())
    if (v->producer() || v->is_parameter() || graph.is_graph_input(v.get()))
      visible.insert(v->name);
  for (const auto& op : graph.operations())
    for (size_t i = 0; i < op->num_inputs(); ++i) {
      Variable* in = op->input(i);
      if (in && !visible.count(in->name))
        fail(ErrorKind::InvalidModel,
             "{}: input {} '{}' is not produced by any node, graph input or initializer",
             op->describe(), i, in->name);
    }
  for (Variable* out : graph.outputs())
    if (!visible.count(out->name))
      fail(ErrorKind::InvalidModel,
           "graph output '{}' is not produced by any node, graph input or initializer", out->name);
  graph.topological_sort();
  for (const auto& op : graph.operations())
    for (Graph* sub : op->subgraphs())
      with_error_context(fmt::format("subgraph of {}", op->describe()),
                         [&] { check_and_sort(*sub, visible); });
}

// Names in a model are arbitrary bytes: escape control characters and cap the length, so that
// an error is always one readable line (the CLI prints it as is).
std::string printable(const std::string& text) {
  constexpr size_t kMaxLength = 1000;
  std::string out;
  for (const char c : text) {
    if (out.size() >= kMaxLength) {
      out += "...";
      break;
    }
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n')
      out += "\\n";
    else if (byte < 0x20 || byte == 0x7f)
      out += fmt::format("\\x{:02x}", byte);
    else
      out += c;
  }
  return out;
}

template <typename Body>
auto with_printable_errors(Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Error& error) {
    Error clean(error.kind(), printable(error.message()));
    for (auto it = error.context().rbegin(); it != error.context().rend(); ++it)
      clean.with_context(printable(*it));
    throw clean;
  }
}

}  // namespace

namespace {
ModelInfo read_model_info(const onnx::ModelProto& proto, const std::string& display_name) {
  ModelInfo info;
  info.ir_version = proto.ir_version();
  for (const auto& opset : proto.opset_import())
    info.opset_imports.emplace_back(opset.domain(), opset.version());
  if (info.opset_imports.empty() && proto.ir_version() < 3)
    info.opset_imports.emplace_back("", 1);  // IR v1/v2 models predate opset_import
  info.producer_name = proto.producer_name();
  info.producer_version = proto.producer_version();
  info.domain = proto.domain();
  info.model_version = proto.model_version();
  info.doc_string = proto.doc_string();
  for (const auto& prop : proto.metadata_props())
    info.metadata_props.emplace_back(prop.key(), prop.value());
  for (const auto& fn : proto.functions()) info.functions.push_back(fn.SerializeAsString());
  for (const auto& ti : proto.training_info()) info.training_info.push_back(ti.SerializeAsString());
  info.source_path = display_name;
  return info;
}
}  // namespace

std::unique_ptr<Graph> graph_from_model_proto(const onnx::ModelProto& proto,
                                              const std::string& display_name,
                                              const std::string& base_dir,
                                              const OnnxLoadOptions& options) {
  return with_printable_errors([&] {
    return with_error_context(display_name, [&] {
      if (!proto.has_graph()) fail(ErrorKind::InvalidModel, "not an ONNX model (no graph)");
      ModelInfo info = read_model_info(proto, display_name);
      ImportContext ctx{base_dir, &info, options, 0};
      auto graph = import_graph(proto.graph(), ctx, nullptr, nullptr);
      // The root graph's annotations were read into its own ModelInfo, replaced here.
      info.quantization_annotations = std::move(graph->model.quantization_annotations);
      graph->model = std::move(info);
      check_and_sort(*graph, {});
      return graph;
    });
  });
}

namespace {
// Parses a ModelProto from `stream` with the limits every ONNX file gets: a total size up to
// protobuf's 2 GiB, and protobuf's default nesting limit (whatever is imported can be re-parsed
// on export, and recursion stays shallow).
void parse_model(google::protobuf::io::CodedInputStream& stream, bool too_large,
                 onnx::ModelProto& proto, const std::string& display_name) {
  stream.SetTotalBytesLimit(INT_MAX);
  stream.SetRecursionLimit(100);
  if (too_large || !proto.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage())
    fail(ErrorKind::InvalidModel, "{}: not a valid ONNX protobuf (truncated or another format)",
         display_name);
}
}  // namespace

std::unique_ptr<Graph> load_onnx_graph_from_bytes(std::string_view bytes,
                                                  const std::string& display_name,
                                                  const std::string& base_dir,
                                                  const OnnxLoadOptions& options) {
  if (bytes.empty()) fail(ErrorKind::InvalidModel, "{}: file is empty", display_name);
  onnx::ModelProto proto;
  google::protobuf::io::CodedInputStream stream(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(std::min<size_t>(bytes.size(), INT_MAX)));
  parse_model(stream, bytes.size() > INT_MAX, proto, display_name);
  return graph_from_model_proto(proto, display_name, base_dir, options);
}

void prepare_onnx_schemas() {
  onnx::OpSchemaRegistry::Schema("Conv", 13, "");  // the first lookup builds the registry
}

std::unique_ptr<Graph> load_onnx_graph(const std::string& path, const OnnxLoadOptions& options) {
  // Parsed from the file in chunks: the file's bytes are never held whole beside the parsed
  // model (resnet18: 45 MB less at the loader's peak).
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail(ErrorKind::IO, "{}: is a directory, expected a file", path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorKind::IO, "{}: cannot open ({})", path, std::strerror(errno));
  google::protobuf::io::FileInputStream file(fd);
  file.SetCloseOnDelete(true);
  struct stat info {};
  const bool sized = ::fstat(fd, &info) == 0;
  if (sized && info.st_size == 0) fail(ErrorKind::InvalidModel, "{}: file is empty", path);
  onnx::ModelProto proto;
  {
    google::protobuf::io::CodedInputStream stream(&file);
    parse_model(stream, sized && info.st_size > INT_MAX, proto, path);
  }
  if (file.GetErrno() != 0)
    fail(ErrorKind::IO, "{}: read failed ({})", path, std::strerror(file.GetErrno()));
  const std::string base_dir = std::filesystem::path(path).parent_path().string();
  return graph_from_model_proto(proto, path, base_dir, options);
}

}  // namespace qforge
