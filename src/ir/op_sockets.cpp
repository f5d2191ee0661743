// SPDX-License-Identifier: Apache-2.0
// The socket table. Explicit rows for ops whose ports carry weights or control values; the
// ONNX schemas (differentiability and allowed types) for everything else in the standard
// domain. Tested in tests/ir/test_op_sockets.cpp, which checks every schema libonnx knows.
#include "qforge/op_sockets.h"

#include <onnx/defs/schema.h>

#include <string_view>

namespace qforge {

namespace {

constexpr PortRole D = PortRole::Data;
constexpr PortRole P = PortRole::Parameter;
constexpr PortRole S = PortRole::SOI;

struct SocketRow {
  std::string_view op_type;
  std::vector<PortRole> inputs;   // the last entry repeats for variadic tails
  std::vector<PortRole> outputs;  // idem; empty: one data output
};

// Ops whose ports the schemas do not classify the way a quantizer needs.
const std::vector<SocketRow>& socket_table() {
  static const std::vector<SocketRow> table = {
      {"Conv", {D, P, P}, {D}},
      {"ConvTranspose", {D, P, P}, {D}},
      {"ConvInteger", {D, P, P, P}, {D}},
      {"QLinearConv", {D, P, P, P, P, P, P, P, P}, {D}},
      {"Gemm", {D, P, P}, {D}},
      {"MatMul", {D, D}, {D}},
      {"QLinearMatMul", {D, P, P, D, P, P, P, P}, {D}},
      {"MatMulInteger", {D, D, P, P}, {D}},
      {"BatchNormalization", {D, P, P, P, P}, {D, P, P, P, P}},
      {"InstanceNormalization", {D, P, P}, {D}},
      {"LayerNormalization", {D, P, P}, {D, S, S}},
      {"GroupNormalization", {D, P, P}, {D}},
      {"PRelu", {D, P}, {D}},
      {"LSTM", {D, P, P, P, S, D, D, P}, {D, D, D}},
      {"GRU", {D, P, P, P, S, D}, {D, D}},
      {"RNN", {D, P, P, P, S, D}, {D, D}},
      {"Clip", {D, P, P}, {D}},
      {"Pad", {D, S, P, S}, {D}},
      {"Resize", {D, S, S, S}, {D}},
      {"Upsample", {D, S}, {D}},
      {"Slice", {D, S, S, S, S}, {D}},
      {"Reshape", {D, S}, {D}},
      {"Expand", {D, S}, {D}},
      {"Tile", {D, S}, {D}},
      {"Gather", {D, S}, {D}},
      {"GatherElements", {D, S}, {D}},
      {"GatherND", {D, S}, {D}},
      {"Scatter", {D, S, D}, {D}},
      {"ScatterElements", {D, S, D}, {D}},
      {"ScatterND", {D, S, D}, {D}},
      {"Split", {D, S}, {D}},
      {"Squeeze", {D, S}, {D}},
      {"Unsqueeze", {D, S}, {D}},
      {"TopK", {D, S}, {D, S}},
      {"OneHot", {S, S, D}, {D}},
      {"ConstantOfShape", {S}, {D}},
      {"Shape", {D}, {S}},
      {"Size", {D}, {S}},
      {"NonZero", {D}, {S}},
      {"ArgMax", {D}, {S}},
      {"ArgMin", {D}, {S}},
      {"Where", {S, D, D}, {D}},
      {"Range", {S, S, S}, {S}},
      {"NonMaxSuppression", {S, S, S, S, S}, {S}},
      {"QuantizeLinear", {D, P, P}, {D}},
      {"DequantizeLinear", {D, P, P}, {D}},
      {"DynamicQuantizeLinear", {D}, {D, P, P}},
      {"Dropout", {D, S, S}, {D, S}},
      {"ReduceSum", {D, S}, {D}},
      {"ReduceMean", {D, S}, {D}},
      {"ReduceMax", {D, S}, {D}},
      {"ReduceMin", {D, S}, {D}},
      {"ReduceProd", {D, S}, {D}},
      {"ReduceL1", {D, S}, {D}},
      {"ReduceL2", {D, S}, {D}},
      {"ReduceLogSum", {D, S}, {D}},
      {"ReduceLogSumExp", {D, S}, {D}},
      {"ReduceSumSquare", {D, S}, {D}},
      {"CumSum", {D, S}, {D}},
      {"Trilu", {D, S}, {D}},
      {"Compress", {D, S}, {D}},
      {"CenterCropPad", {D, S}, {D}},
      {"ReverseSequence", {D, S}, {D}},
      {"MaxPool", {D}, {D, S}},
      {"MaxUnpool", {D, S, S}, {D}},
      {"RoiAlign", {D, S, S}, {D}},
      {"MaxRoiPool", {D, S}, {D}},
      {"If", {S}, {D}},
      {"Loop", {S, S, D}, {D}},
      {"GridSample", {D, S}, {D}},
      {"Einsum", {D}, {D}},
      {"Concat", {D}, {D}},
      {"Sum", {D}, {D}},
      {"Mean", {D}, {D}},
      {"Max", {D}, {D}},
      {"Min", {D}, {D}},
      {"Constant", {}, {P}},
  };
  return table;
}

bool is_non_float_type(const std::string& type) {
  return type.find("float") == std::string::npos && type.find("double") == std::string::npos;
}

// Role of a schema port: non-differentiable ports and ports that can only hold integers,
// booleans or strings carry shapes, indices or control values.
PortRole schema_role(const onnx::OpSchema::FormalParameter& param) {
  if (param.GetDifferentiationCategory() == onnx::OpSchema::NonDifferentiable) return S;
  const auto& types = param.GetTypes();
  if (!types.empty() && std::all_of(types.begin(), types.end(), [](const auto* t) { return is_non_float_type(*t); }))
    return S;
  return D;
}

PortRole pick(const std::vector<PortRole>& roles, size_t index, PortRole fallback) {
  if (roles.empty()) return fallback;
  return index < roles.size() ? roles[index] : roles.back();
}

}  // namespace

const char* port_role_name(PortRole role) {
  switch (role) {
    case PortRole::Data: return "data";
    case PortRole::Parameter: return "parameter";
    case PortRole::SOI: return "soi";
  }
  return "?";
}

OpSocket op_socket(const std::string& domain, const std::string& op_type, int64_t opset, size_t num_inputs,
                   size_t num_outputs) {
  OpSocket socket;
  const bool standard = domain.empty() || domain == "ai.onnx";
  const SocketRow* row = nullptr;
  if (standard)
    for (const SocketRow& r : socket_table())
      if (r.op_type == op_type) row = &r;
  const onnx::OpSchema* schema =
      (standard || domain == "ai.onnx.ml")
          ? onnx::OpSchemaRegistry::Schema(op_type, static_cast<int>(std::max<int64_t>(opset, 1)), standard ? "" : domain)
          : nullptr;
  for (size_t i = 0; i < num_inputs; ++i) {
    if (row) socket.inputs.push_back(pick(row->inputs, i, D));
    else if (schema && !schema->inputs().empty())
      socket.inputs.push_back(schema_role(schema->inputs()[std::min(i, schema->inputs().size() - 1)]));
    else socket.inputs.push_back(D);
  }
  for (size_t o = 0; o < num_outputs; ++o) {
    if (row) socket.outputs.push_back(pick(row->outputs, o, D));
    else if (schema && !schema->outputs().empty())
      socket.outputs.push_back(schema_role(schema->outputs()[std::min(o, schema->outputs().size() - 1)]));
    else socket.outputs.push_back(D);
  }
  // Old opsets carried some control values as attributes; their data ports keep their roles.
  for (size_t i = 0; i < num_inputs; ++i)
    for (size_t o = 0; o < num_outputs; ++o)
      if (socket.inputs[i] == D && socket.outputs[o] == D) socket.flows.emplace_back(i, o);
  return socket;
}

OpSocket op_socket(const Operation& op) {
  return op_socket(op.domain, op.type, op.opset, op.num_inputs(), op.num_outputs());
}

}  // namespace qforge
