// SPDX-License-Identifier: Apache-2.0
// Pass fold_batchnorm: an inference BatchNormalization reading a Conv/ConvTranspose/Gemm output
// that nothing else reads is folded into that op's weight and bias. Listed in
// format_graph.cpp; tested in tests/passes/test_format_fold_batchnorm.cpp.
#include <cmath>
#include <optional>

#include "format_passes.h"
#include "format_util.h"

namespace qforge {

namespace {

bool is_standard(const Operation& op) {
  return op.domain.empty() || op.domain == "ai.onnx";
}

// y = s * x + shift per channel, from the BatchNormalization parameters.
struct Affine {
  std::vector<double> s, shift;
};

std::optional<Affine> batchnorm_affine(const Operation& bn) {
  for (size_t i = 1; i < 5; ++i) {
    const Variable* v = bn.input(i);
    if (!format::is_constant(v) || !dtype_is_floating(v->value.dtype())) return std::nullopt;
  }
  const std::vector<float> scale = bn.input(1)->value.to_float_vector();
  const std::vector<float> bias = bn.input(2)->value.to_float_vector();
  const std::vector<float> mean = bn.input(3)->value.to_float_vector();
  const std::vector<float> var = bn.input(4)->value.to_float_vector();
  const size_t c = scale.size();
  if (c == 0 || bias.size() != c || mean.size() != c || var.size() != c) return std::nullopt;
  const double eps = bn.attr_float("epsilon", 1e-5f);
  Affine a{std::vector<double>(c), std::vector<double>(c)};
  for (size_t i = 0; i < c; ++i) {
    a.s[i] = scale[i] / std::sqrt(static_cast<double>(var[i]) + eps);
    a.shift[i] = bias[i] - mean[i] * a.s[i];
  }
  return a;
}

// Outputs other than Y (running statistics in training) must be unused.
bool only_y_used(const Operation& bn, const format::NameSet& subgraph_reads) {
  for (size_t i = 1; i < bn.num_outputs(); ++i)
    if (const Variable* v = bn.output(i))
      if (!v->consumers().empty() || v->graph()->is_graph_output(v) ||
          subgraph_reads.count(v->name))
        return false;
  return true;
}

// The weight scaled per output channel; nullopt when its layout does not match `channels`.
std::optional<Tensor> scaled_weight(const Operation& op, const Tensor& w,
                                    const std::vector<double>& s) {
  const int64_t channels = static_cast<int64_t>(s.size());
  std::vector<float> values = w.to_float_vector();
  const int64_t total = w.numel();
  if (op.type == "Conv") {  // [Cout, Cin / group, k...]
    if (w.rank() < 2 || w.dim(0) != channels) return std::nullopt;
    const int64_t block = total / channels;
    for (int64_t i = 0; i < total; ++i)
      values[static_cast<size_t>(i)] *= static_cast<float>(s[static_cast<size_t>(i / block)]);
  } else if (op.type == "ConvTranspose") {  // [Cin, Cout / group, k...]
    const int64_t group = op.attr_int("group", 1);
    if (w.rank() < 2 || group <= 0 || w.dim(1) * group != channels || w.dim(0) % group != 0)
      return std::nullopt;
    const int64_t out_per_group = w.dim(1), in_per_group = w.dim(0) / group;
    const int64_t kernel = total / (w.dim(0) * out_per_group);
    for (int64_t i = 0; i < total; ++i) {
      const int64_t cin = i / (out_per_group * kernel), j = (i / kernel) % out_per_group;
      values[static_cast<size_t>(i)] *=
          static_cast<float>(s[static_cast<size_t>((cin / in_per_group) * out_per_group + j)]);
    }
  } else {  // Gemm: B is [K, N], or [N, K] with transB
    const bool trans = op.attr_int("transB", 0) != 0;
    if (w.rank() != 2 || w.dim(trans ? 0 : 1) != channels) return std::nullopt;
    for (int64_t i = 0; i < total; ++i) {
      const int64_t n = trans ? i / w.dim(1) : i % w.dim(1);
      values[static_cast<size_t>(i)] *= static_cast<float>(s[static_cast<size_t>(n)]);
    }
  }
  return Tensor::from_vector<float>(w.shape(), values);
}

// The new bias (Conv/ConvTranspose) or C (Gemm, with beta folded in).
std::optional<Tensor> scaled_bias(const Operation& op, const Affine& a) {
  const int64_t n = static_cast<int64_t>(a.s.size());
  const Variable* current = op.input(2);
  const double beta = op.type == "Gemm" ? op.attr_float("beta", 1.0f) : 1.0;
  std::vector<float> out(static_cast<size_t>(n));
  if (!current) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(a.shift[i]);
    return Tensor::from_vector<float>({n}, out);
  }
  if (!format::is_constant(current) || current->value.dtype() != DataType::Float)
    return std::nullopt;
  const Tensor& c = current->value;
  const int64_t rank = op.type == "Gemm" ? 2 : 1;
  if (auto per_channel = format::per_channel_values(c, rank, rank - 1, n)) {
    for (size_t i = 0; i < out.size(); ++i)
      out[i] = static_cast<float>(a.s[i] * beta * (*per_channel)[i] + a.shift[i]);
    return Tensor::from_vector<float>({n}, out);
  }
  if (op.type != "Gemm" || c.rank() != 2 || c.dim(1) != n) return std::nullopt;
  std::vector<float> full = c.to_float_vector();  // [M, N]: every row scaled the same way
  for (size_t i = 0; i < full.size(); ++i) {
    const size_t k = i % static_cast<size_t>(n);
    full[i] = static_cast<float>(a.s[k] * beta * full[i] + a.shift[k]);
  }
  return Tensor::from_vector<float>(c.shape(), full);
}

bool try_fold(Graph& graph, Operation* bn, const format::NameSet& subgraph_reads) {
  if (bn->num_inputs() != 5 || bn->opset < 7 || bn->attr_int("training_mode", 0) != 0) return false;
  if (bn->opset < 9 && bn->attr_int("spatial", 1) == 0) return false;
  if (!only_y_used(*bn, subgraph_reads) || !bn->output(0)) return false;
  Variable* x = bn->input(0);
  Operation* producer = x ? x->producer() : nullptr;
  if (!producer || !is_standard(*producer) || producer->num_outputs() != 1) return false;
  if (producer->type != "Conv" && producer->type != "ConvTranspose" &&
      !(producer->type == "Gemm" && producer->opset >= 7))
    return false;
  if (!format::feeds_only(x, bn, subgraph_reads)) return false;
  const Variable* weight = producer->input(1);
  if (!format::is_constant(weight) || weight->value.dtype() != DataType::Float) return false;
  const std::optional<Affine> affine = batchnorm_affine(*bn);
  if (!affine) return false;
  const std::optional<Tensor> w = scaled_weight(*producer, weight->value, affine->s);
  const std::optional<Tensor> b = w ? scaled_bias(*producer, *affine) : std::nullopt;
  if (!w || !b) return false;
  format::set_parameter_input(graph, producer, 1, *w, "weight", subgraph_reads);
  format::set_parameter_input(graph, producer, 2, *b, "bias", subgraph_reads);
  if (producer->type == "Gemm") producer->set_attr(Attribute::make_float("beta", 1.0f));
  format::absorb_consumer(graph, producer, 0, bn);
  return true;
}

void fold_in(Graph& graph) {
  const format::NameSet subgraph_reads = format::names_read_by_subgraphs(graph);
  std::vector<Operation*> bns;
  for (const auto& op : graph.operations())
    if (op->type == "BatchNormalization" && is_standard(*op)) bns.push_back(op.get());
  for (Operation* bn : bns) try_fold(graph, bn, subgraph_reads);
}

}  // namespace

void fold_batchnorm(Graph& graph) {
  format::for_each_graph(graph, fold_in);
}

}  // namespace qforge
