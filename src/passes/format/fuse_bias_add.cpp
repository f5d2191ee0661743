// SPDX-License-Identifier: Apache-2.0
// Pass fuse_bias_add: Conv/ConvTranspose/Gemm followed by an Add of a constant that broadcasts
// per output channel take the constant into their bias; MatMul with a 2-D constant weight and a
// 2-D input becomes a Gemm with that bias. Listed in format_graph.cpp; tested in
// tests/passes/test_format_fuse_bias_add.cpp.
#include <optional>

#include "format_passes.h"
#include "format_util.h"

namespace qforge {

namespace {

bool is_standard(const Operation& op) {
  return op.domain.empty() || op.domain == "ai.onnx";
}

bool is_float(const Variable* var) {
  return format::guess_element_type(var) == DataType::Float;
}

// Output rank and channel count of a bias-capable producer; nullopt when not known statically.
struct Channels {
  int64_t rank = 0;
  int64_t count = 0;
};

std::optional<Channels> output_channels(const Operation& op) {
  const Variable* weight = op.input(1);
  if (!weight) return std::nullopt;
  const std::optional<Shape> w = weight->static_shape();
  if (!w || w->size() < 2) return std::nullopt;
  if (op.type == "Conv") return Channels{static_cast<int64_t>(w->size()), (*w)[0]};
  if (op.type == "ConvTranspose")  // weight is [Cin, Cout / group, k...]
    return Channels{static_cast<int64_t>(w->size()), (*w)[1] * op.attr_int("group", 1)};
  // Before opset 7 Gemm needed a broadcast attribute for a 1-D C.
  if (w->size() != 2 || op.opset < 7) return std::nullopt;
  if (op.type == "Gemm") return Channels{2, op.attr_int("transB", 0) ? (*w)[0] : (*w)[1]};
  if (op.type == "MatMul") {
    // Gemm needs a 2-D A; MatMul would broadcast a batched A, which Gemm cannot express.
    const Variable* a = op.input(0);
    if (!a || !a->shape || a->shape->size() != 2 || !format::is_constant(weight))
      return std::nullopt;
    return Channels{2, (*w)[1]};
  }
  return std::nullopt;
}

// The new bias/C tensor: existing bias plus the added per-channel values; nullopt when the
// existing one cannot be combined.
std::optional<Tensor> combined_bias(const Operation& op, const std::vector<float>& added) {
  const int64_t n = static_cast<int64_t>(added.size());
  const Variable* current = op.input(2);
  if (!current) return Tensor::from_vector<float>({n}, added);
  if (!format::is_constant(current) || current->value.dtype() != DataType::Float)
    return std::nullopt;
  const Tensor& c = current->value;
  if (op.type != "Gemm") {
    if (c.numel() != n) return std::nullopt;
    std::vector<float> sum = c.to_float_vector();
    for (int64_t i = 0; i < n; ++i) sum[static_cast<size_t>(i)] += added[static_cast<size_t>(i)];
    return Tensor::from_vector<float>({n}, sum);
  }
  // Gemm adds beta * C; beta is folded into the new C (and set to 1 by the caller).
  const float beta = op.attr_float("beta", 1.0f);
  if (auto per_column = format::per_channel_values(c, 2, 1, n)) {
    std::vector<float> sum(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      sum[static_cast<size_t>(i)] =
          beta * (*per_column)[static_cast<size_t>(i)] + added[static_cast<size_t>(i)];
    return Tensor::from_vector<float>({n}, sum);
  }
  if (c.rank() != 2 || c.dim(1) != n) return std::nullopt;  // e.g. [M, N]: keep its rows
  std::vector<float> sum = c.to_float_vector();
  for (size_t i = 0; i < sum.size(); ++i)
    sum[i] = beta * sum[i] + added[i % static_cast<size_t>(n)];
  return Tensor::from_vector<float>(c.shape(), sum);
}

// Tries to fold `add` (reading `producer`'s output and a constant) into the producer's bias.
bool try_fuse(Graph& graph, Operation* add, const format::NameSet& subgraph_reads) {
  for (size_t side = 0; side < 2; ++side) {
    Variable* data = add->input(side);
    Variable* bias = add->input(1 - side);
    if (!data || !format::is_constant(bias) || bias->value.dtype() != DataType::Float) continue;
    Operation* producer = data->producer();
    if (!producer || !is_standard(*producer) || producer->num_outputs() != 1) continue;
    if (!format::feeds_only(data, add, subgraph_reads) || add->input(0) == add->input(1)) continue;
    if (!is_float(producer->input(0))) continue;
    const std::optional<Channels> channels = output_channels(*producer);
    if (!channels) continue;
    const auto added = format::per_channel_values(bias->value, channels->rank, 1, channels->count);
    if (!added) continue;
    const bool from_matmul = producer->type == "MatMul";
    const std::optional<Tensor> new_bias = combined_bias(*producer, *added);
    if (!new_bias) continue;
    if (from_matmul) producer->type = "Gemm";  // alpha = beta = 1, no transposes: same product
    if (producer->type == "Gemm") producer->set_attr(Attribute::make_float("beta", 1.0f));
    format::set_parameter_input(graph, producer, 2, *new_bias, "bias", subgraph_reads);
    format::absorb_consumer(graph, producer, 0, add);
    return true;
  }
  return false;
}

void fuse_in(Graph& graph) {
  graph.topological_sort();  // a chain of Adds folds front to back
  const format::NameSet subgraph_reads = format::names_read_by_subgraphs(graph);
  std::vector<Operation*> adds;
  for (const auto& op : graph.operations())
    if (op->type == "Add" && is_standard(*op) && op->opset >= 7 && op->num_inputs() == 2 &&
        op->num_outputs() == 1)
      adds.push_back(op.get());
  for (Operation* add : adds) try_fuse(graph, add, subgraph_reads);
}

}  // namespace

void fuse_bias_add(Graph& graph) {
  format::for_each_graph(graph, fuse_in);
}

}  // namespace qforge
