// SPDX-License-Identifier: Apache-2.0
// ONNX QDQ export: QuantizeLinear/DequantizeLinear pairs on every quantized activation edge,
// baked weights stored as integers with only a DequantizeLinear (per-channel axis), int32
// biases; FP32 ops untouched. What ONNX Runtime computes on the result is what qforge's
// simulation computed. Tested in tests/export/test_qdq_onnx.cpp against ONNX Runtime.
#include <cstdint>
#include <map>
#include <set>

#include "../quant/passes/pass_context.h"
#include "export_registry.h"
#include "qforge/onnx_io.h"

namespace qforge {

namespace {

DataType storage_type(const TensorQuantizationConfig& c) {
  if (c.num_bits > 16) return DataType::Int32;
  if (c.num_bits > 8) return c.quant_min < 0 ? DataType::Int16 : DataType::UInt16;
  return c.quant_min < 0 ? DataType::Int8 : DataType::UInt8;
}

struct QdqParams {
  Variable* scale;
  Variable* zero_point;
  bool per_channel;
};

QdqParams make_qdq_params(Graph& g, const std::string& base, const TensorQuantizationConfig& c) {
  const TensorQuantizationConfig& e = c.effective();
  Tensor scale = e.scale.clone();
  Tensor offset = e.offset.defined() ? e.offset : Tensor(DataType::Float, scale.shape());
  const bool per_channel = scale.numel() > 1 || c.policy.per_channel;
  if (!per_channel) {
    scale = scale.reshaped({});
    offset = offset.reshaped({});
  }
  Variable* s = g.create_variable(base + "_scale", scale);
  Variable* z = g.create_variable(base + "_zero_point", offset.cast(storage_type(c)));
  return {s, z, per_channel};
}

void quantize_parameters(Graph& g) {
  std::vector<Operation*> ops;  // snapshot: new DequantizeLinear ops are appended while we go
  for (const auto& owned : g.operations()) ops.push_back(owned.get());
  for (Operation* op_ptr : ops) {
    Operation& op = *op_ptr;
    for (size_t i = 0; i < op.num_inputs(); ++i) {
      const TensorQuantizationConfig* c = input_config(op, i);
      Variable* var = op.input(i);
      if (!c || !var || !var->is_parameter()) continue;
      if (c->state != QuantizationState::Baked && c->state != QuantizationState::PassiveBaked)
        continue;
      const std::string base = var->name;
      const Tensor integers = quantize_to_integers(var->value, *c, storage_type(*c));
      Variable* q = g.create_variable(base + "_quantized", integers);
      QdqParams params = make_qdq_params(g, base, *c);
      Variable* dq = g.create_variable(base + "_dequantized");
      std::vector<Attribute> attrs;
      if (params.per_channel) attrs.push_back(Attribute::make_int("axis", c->channel_axis));
      g.create_operation("DequantizeLinear", g.unique_operation_name(base + "_DequantizeLinear"),
                         {q, params.scale, params.zero_point}, {dq}, attrs);
      g.set_input(&op, i, dq);
    }
  }
}

// QuantizeLinear saturates to its storage type; a narrower range (NCNN's [-127, 127], fewer
// than 8 bits) needs a Clip in front so that the engine clamps where the simulation does. The
// bounds are (qmin - zero point) * scale, which QuantizeLinear maps back to qmin exactly.
Variable* clip_to_quant_range(Graph& g, Variable* var, const TensorQuantizationConfig& c) {
  const DataType storage = storage_type(c);
  const auto [storage_min, storage_max] = [&]() -> std::pair<int64_t, int64_t> {
    switch (storage) {
      case DataType::Int8:
        return {INT8_MIN, INT8_MAX};
      case DataType::UInt8:
        return {0, UINT8_MAX};
      case DataType::Int16:
        return {INT16_MIN, INT16_MAX};
      case DataType::UInt16:
        return {0, UINT16_MAX};
      default:
        return {INT32_MIN, INT32_MAX};
    }
  }();
  if (c.quant_min <= storage_min && c.quant_max >= storage_max) return var;
  const float scale = c.effective_scale().data<float>()[0];
  const float zero_point =
      c.effective_offset().defined() ? c.effective_offset().data<float>()[0] : 0.0f;
  auto bound = [&](const char* suffix, int64_t level) {
    return g.create_variable(
        var->name + suffix,
        Tensor::scalar<float>((static_cast<float>(level) - zero_point) * scale));
  };
  Variable* clipped = g.create_variable(var->name + "_clipped");
  g.create_operation("Clip", g.unique_operation_name(var->name + "_Clip"),
                     {var, bound("_clip_min", c.quant_min), bound("_clip_max", c.quant_max)},
                     {clipped});
  return clipped;
}

// Inserts Q -> DQ reading `var`; the listed consumer ports read the DQ output instead.
void insert_qdq(Graph& g, Variable* var, const TensorQuantizationConfig& c,
                const std::vector<std::pair<Operation*, size_t>>& ports, bool takes_graph_output) {
  if (c.effective_scale().numel() != 1)
    fail(ErrorKind::Argument,
         "per-channel activation quantization of '{}' cannot be exported as QDQ", var->name);
  QdqParams params = make_qdq_params(g, var->name, c);
  Variable* q = g.create_variable(var->name + "_quantized");
  Variable* dq = g.create_variable(var->name + "_dequantized");
  g.create_operation("QuantizeLinear", g.unique_operation_name(var->name + "_QuantizeLinear"),
                     {clip_to_quant_range(g, var, c), params.scale, params.zero_point}, {q});
  g.create_operation("DequantizeLinear", g.unique_operation_name(var->name + "_DequantizeLinear"),
                     {q, params.scale, params.zero_point}, {dq});
  for (const auto& [op, index] : ports) g.set_input(op, index, dq);
  if (takes_graph_output) {
    // The graph output keeps its public name on the dequantized value.
    const std::string public_name = var->name;
    g.replace_graph_output(var, dq);
    g.rename_variable(var, g.unique_variable_name(public_name + "_float"));
    g.rename_variable(dq, public_name);
    dq->dtype = DataType::Float;
    dq->shape = var->shape;
    dq->set_doc_string(var->doc_string());
  }
}

void quantize_activations(Graph& g) {
  std::vector<Variable*> vars;
  for (const auto& v : g.variables())
    if (!v->is_parameter()) vars.push_back(v.get());
  for (Variable* var : vars) {
    std::vector<std::pair<Operation*, size_t>> ports;
    for (Operation* consumer : var->consumers())
      for (size_t i = 0; i < consumer->num_inputs(); ++i)
        if (consumer->input(i) == var &&
            std::find(ports.begin(), ports.end(), std::make_pair(consumer, i)) == ports.end())
          ports.emplace_back(consumer, i);
    const TensorQuantizationConfig* produced = nullptr;
    if (Operation* p = var->producer())
      for (size_t o = 0; o < p->num_outputs(); ++o)
        if (p->output(o) == var && output_config(*p, o) && output_config(*p, o)->is_active())
          produced = output_config(*p, o);
    if (produced) {
      insert_qdq(g, var, *produced, ports, g.is_graph_output(var));
      continue;
    }
    // No quantized producer: consumers with active configs get Q/DQ, grouped by shared config.
    std::map<const TensorQuantizationConfig*, std::vector<std::pair<Operation*, size_t>>> groups;
    std::map<const TensorQuantizationConfig*, const TensorQuantizationConfig*> representative;
    for (const auto& [op, i] : ports) {
      const TensorQuantizationConfig* c = input_config(*op, i);
      // Baked ports were handled by quantize_parameters.
      if (!c || !c->is_active() || c->state == QuantizationState::Baked ||
          c->state == QuantizationState::PassiveBaked)
        continue;
      groups[&c->effective()].emplace_back(op, i);
      representative.emplace(&c->effective(), c);
    }
    for (const auto& [key, group] : groups) insert_qdq(g, var, *representative[key], group, false);
  }
}

void export_qdq_onnx(const Graph& graph, const Platform&, const std::string& model_out) {
  auto copy = graph.deep_copy(Graph::TensorCopy::Share);  // the weights are not copied
  for (size_t k = 0; k < graph.operations().size(); ++k)
    copy->operations()[k]->quant_config = graph.operations()[k]->quant_config;
  // ONNX requires a graph name; a graph built in code may have none.
  if (copy->name.empty()) copy->name = "main_graph";
  raise_opset_for_qdq(*copy);
  quantize_parameters(*copy);
  quantize_activations(*copy);
  copy->remove_unused_variables();
  copy->topological_sort();
  for (const auto& op : copy->operations()) op->quant_config.reset();
  // Nothing is written unless the ONNX checker accepts the model.
  check_onnx_export(*copy, model_out);
  save_onnx_graph(*copy, model_out);
}

}  // namespace

void register_qdq_onnx_exporter(ExporterRegistry& registry) {
  registry.push_back({"qdq_onnx", export_qdq_onnx});
}

}  // namespace qforge
