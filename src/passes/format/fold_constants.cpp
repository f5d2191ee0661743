// SPDX-License-Identifier: Apache-2.0
// Pass fold_constants: an op whose inputs are all constants (or a Shape/Size of a variable with a
// static shape) is evaluated once with the runtime's kernel and replaced by parameters named
// like its outputs. Listed in format_graph.cpp; tested in
// tests/passes/test_format_fold_constants.cpp.
#include <algorithm>
#include <optional>
#include <unordered_set>

#include "format_passes.h"
#include "format_util.h"
#include "qforge/executor.h"
#include "qforge/kernel.h"

namespace qforge {

namespace {

// Folded outputs above this size (and larger than the inputs) stay ops: e.g. an Expand to a big
// activation shape would bloat the model without saving real work.
constexpr size_t kMaxGrownBytes = size_t{16} << 20;

// Random ops must draw anew each run; quantize/dequantize pairs carry a pre-quantized model's
// intent; sequence and optional ops produce values a parameter cannot hold.
const std::unordered_set<std::string> kNeverFold = {"RandomNormal",
                                                    "RandomUniform",
                                                    "RandomNormalLike",
                                                    "RandomUniformLike",
                                                    "Multinomial",
                                                    "Bernoulli",
                                                    "Dropout",
                                                    "QuantizeLinear",
                                                    "DequantizeLinear",
                                                    "DynamicQuantizeLinear",
                                                    "SequenceConstruct",
                                                    "SequenceEmpty",
                                                    "SequenceInsert",
                                                    "SequenceErase",
                                                    "SequenceAt",
                                                    "SequenceLength",
                                                    "SplitToSequence",
                                                    "ConcatFromSequence",
                                                    "SequenceMap",
                                                    "Optional",
                                                    "OptionalGetElement",
                                                    "OptionalHasElement"};

bool all_inputs_constant(const Operation& op) {
  for (const Variable* in : op.inputs())
    if (in && !format::is_constant(in)) return false;
  return true;
}

// Shape and Size only need the input's shape, which may be known while its value is not.
std::optional<Tensor> fold_shape_query(const Operation& op) {
  const Variable* in = op.input(0);
  if (!in || !in->opaque_type().empty()) return std::nullopt;
  const std::optional<Shape> shape = in->static_shape();
  if (!shape) return std::nullopt;
  if (op.type == "Size") return Tensor::scalar<int64_t>(shape_numel(*shape));
  // Shape-15 takes a [start, end) range of axes, negative counting from the back.
  const int64_t rank = static_cast<int64_t>(shape->size());
  auto clamp_axis = [rank](int64_t axis) {
    return std::clamp<int64_t>(axis < 0 ? axis + rank : axis, 0, rank);
  };
  const int64_t start = clamp_axis(op.attr_int("start", 0));
  const int64_t end = clamp_axis(op.attr_int("end", rank));
  std::vector<int64_t> dims;
  for (int64_t i = start; i < end; ++i) dims.push_back((*shape)[static_cast<size_t>(i)]);
  return Tensor::from_vector<int64_t>({static_cast<int64_t>(dims.size())}, dims);
}

size_t total_bytes(const std::vector<Tensor>& tensors) {
  size_t bytes = 0;
  for (const Tensor& t : tensors) bytes += t.nbytes();
  return bytes;
}

// Runs the op's kernel on its constant inputs; nullopt when there is no kernel or it fails (the
// op then simply stays).
std::optional<std::vector<Tensor>> evaluate(const Operation& op) {
  if (!kernel_registry().find(op.domain, op.type, op.opset)) return std::nullopt;
  std::vector<const Tensor*> inputs;
  size_t input_bytes = 0;
  for (const Variable* in : op.inputs()) {
    inputs.push_back(in ? &in->value : nullptr);
    if (in) input_bytes += in->value.nbytes();
  }
  std::vector<Tensor> outputs;
  try {
    outputs = run_operation(op, inputs);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (outputs.size() != op.num_outputs()) return std::nullopt;
  for (size_t i = 0; i < outputs.size(); ++i)
    if (op.output(i) && !outputs[i].defined()) return std::nullopt;
  const size_t output_bytes = total_bytes(outputs);
  if (output_bytes > kMaxGrownBytes && output_bytes > 2 * input_bytes) return std::nullopt;
  return outputs;
}

std::optional<std::vector<Tensor>> try_fold(const Operation& op) {
  if (op.num_outputs() == 0 || !op.subgraphs().empty() || kNeverFold.count(op.type))
    return std::nullopt;
  for (const Variable* out : op.outputs())
    if (out && !out->opaque_type().empty()) return std::nullopt;
  const bool standard = op.domain.empty() || op.domain == "ai.onnx";
  if (standard && (op.type == "Shape" || op.type == "Size") && op.num_outputs() == 1) {
    if (auto value = fold_shape_query(op)) return std::vector<Tensor>{*value};
    return std::nullopt;
  }
  if (!all_inputs_constant(op)) return std::nullopt;
  return evaluate(op);
}

void fold_in(Graph& graph) {
  graph.topological_sort();
  std::vector<Operation*> order;
  for (const auto& op : graph.operations()) order.push_back(op.get());
  for (Operation* op : order) {
    const std::optional<std::vector<Tensor>> values = try_fold(*op);
    if (!values) continue;
    const std::vector<Variable*> outputs = op->outputs();
    graph.remove_operation(op);
    for (size_t i = 0; i < outputs.size(); ++i) {
      Variable* out = outputs[i];
      if (!out) continue;
      // Same variable, same name: consumers, graph outputs and subgraph reads see the value.
      out->value = (*values)[i];
      out->dtype = out->value.dtype();
      std::vector<Dim> dims;
      for (int64_t d : out->value.shape()) dims.push_back(Dim{d, ""});
      out->shape = dims;
    }
  }
}

}  // namespace

void fold_constants(Graph& graph) {
  format::for_each_graph(graph, fold_in);
}

}  // namespace qforge
