// SPDX-License-Identifier: Apache-2.0
// ChannelsLastConvs into ChannelsLastConvChains (conv_chains.h). Walks the convs in
// topological order and grows a chain from each over values that only the next conv reads.
#include "conv_chains.h"

#include <algorithm>
#include <optional>
#include <unordered_set>

#include "inference_pass_util.h"
#include "kernels/conv_chain.h"

namespace qforge {

namespace {

bool has_residual(const Operation& op) {
  return op.num_inputs() > 3 && op.input(3) != nullptr;
}

// The bytes of one sample of a channels-last float value [N, H, W, C] with H, W and C known.
std::optional<int64_t> sample_bytes(const Variable* v) {
  if (!v || v->dtype != DataType::Float || !v->shape || v->shape->size() != 4) return std::nullopt;
  int64_t bytes = 4;
  for (size_t i = 1; i < 4; ++i) {
    if (!(*v->shape)[i].is_static()) return std::nullopt;
    bytes *= (*v->shape)[i].value;
  }
  return bytes;
}

// A ChannelsLastConv a chain can run: a direct conv (not Winograd) with constant weights and
// bias, on and to values of known size.
bool is_stage(const Operation* op) {
  if (!op || op->domain != kernels::kChannelsLastDomain || op->type != "ChannelsLastConv" ||
      op->has_attr("winograd_threads") || op->num_outputs() != 1 || op->num_inputs() < 2 ||
      op->num_inputs() > 4)
    return false;
  const Variable* bias = op->num_inputs() > 2 ? op->input(2) : nullptr;
  return constant_value(op->input(1)) && (!bias || constant_value(bias)) &&
         sample_bytes(op->input(0)) && sample_bytes(op->output(0));
}

class ConvChainFusion {
 public:
  ConvChainFusion(Graph& graph, const ChannelsLastOptions& options, int threads,
                  ChannelsLastSummary& summary)
      : graph_(graph), options_(options), threads_(threads), summary_(summary) {}

  void run() {
    graph_.topological_sort();
    std::vector<Operation*> order;
    for (const auto& op : graph_.operations()) order.push_back(op.get());
    read_by_subgraphs_ = names_read_by_subgraphs(graph_);
    std::unordered_set<const Operation*> taken;
    std::vector<std::vector<Operation*>> chains;
    for (Operation* op : order) {
      if (taken.count(op) || !is_stage(op)) continue;
      std::vector<Operation*> chain{op};
      int64_t largest = 0;
      while (!has_residual(*chain.back())) {
        Operation* next = sole_reader(*chain.back());
        // Each thread computes its share of the rows.
        const int64_t share = *sample_bytes(chain.back()->output(0)) / threads_;
        if (!next || !is_stage(next) || next->input(0) != chain.back()->output(0) ||
            taken.count(next) || share < options_.conv_chain_min_bytes / 4)
          break;
        largest = std::max(largest, share);
        chain.push_back(next);
      }
      if (chain.size() < 2 || largest < options_.conv_chain_min_bytes) continue;
      taken.insert(chain.begin(), chain.end());
      chains.push_back(std::move(chain));
    }
    for (const auto& chain : chains) fuse(chain);
    graph_.remove_unused_variables();
    graph_.topological_sort();
  }

 private:
  // The op that alone reads the conv's output, when nothing else can see it.
  Operation* sole_reader(const Operation& conv) const {
    const Variable* out = conv.output(0);
    if (out->consumers().size() != 1 || graph_.is_graph_output(out) ||
        read_by_subgraphs_.count(out->name))
      return nullptr;
    return out->consumers()[0];
  }

  void fuse(const std::vector<Operation*>& chain) {
    std::vector<const Operation*> stages(chain.begin(), chain.end());
    std::vector<const Tensor*> weights;
    for (const Operation* op : chain) weights.push_back(constant_value(op->input(1)));
    const std::vector<Dim>& x = *chain.front()->input(0)->shape;
    const std::optional<std::vector<kernels::PackedConvWeights>> packed =
        kernels::pack_conv_chain_weights(stages, weights, {1, x[1].value, x[2].value, x[3].value},
                                         threads_, options_.conv_chain_band_bytes);
    if (!packed) return;
    std::vector<Variable*> inputs{chain.front()->input(0)};
    std::vector<Attribute> attributes{
        Attribute::make_int("stages", static_cast<int64_t>(chain.size())),
        Attribute::make_int("band_bytes", options_.conv_chain_band_bytes)};
    for (size_t i = 0; i < chain.size(); ++i) {
      const Operation& op = *chain[i];
      Variable* w = op.input(1);
      const kernels::PackedConvWeights& p = (*packed)[i];
      if (p.packed.raw() != weights[i]->raw()) {
        Variable* repacked = graph_.create_variable(w->name + "/chain", p.packed);
        repacked->dtype = DataType::Float;
        repacked->shape = std::vector<Dim>{Dim{p.packed.numel(), {}}};
        w = repacked;
      }
      inputs.push_back(w);
      inputs.push_back(op.num_inputs() > 2 ? op.input(2) : nullptr);
      for (const Attribute& a : op.attributes) {
        if (a.name == "weights_format" || a.name == "weights_shape") continue;
        Attribute renamed = a;
        renamed.name = kernels::conv_chain_attr(i, a.name);
        attributes.push_back(std::move(renamed));
      }
      attributes.push_back(Attribute::make_ints(
          kernels::conv_chain_attr(i, "weights_shape"),
          op.has_attr("weights_shape") ? op.attr_ints("weights_shape") : weights[i]->shape()));
      attributes.push_back(
          Attribute::make_int(kernels::conv_chain_attr(i, "weights_format"), p.format));
      attributes.push_back(Attribute::make_string(kernels::conv_chain_attr(i, "node"), op.name));
    }
    if (has_residual(*chain.back())) inputs.push_back(chain.back()->input(3));
    Variable* y = chain.back()->output(0);
    const std::string name = graph_.unique_operation_name(chain.front()->name + "/chain");
    graph_.set_output(chain.back(), 0, nullptr);
    for (Operation* op : chain) graph_.remove_operation(op);
    Operation* fused = graph_.create_operation(kernels::kConvChainType, name, inputs, {y},
                                               std::move(attributes), kernels::kChannelsLastDomain);
    fused->opset = 1;
    ++summary_.conv_chains;
    summary_.chained_convs += static_cast<int>(chain.size());
  }

  Graph& graph_;
  const ChannelsLastOptions& options_;
  int threads_;
  ChannelsLastSummary& summary_;
  std::unordered_set<std::string> read_by_subgraphs_;
};

}  // namespace

void fuse_conv_chains(Graph& graph, const ChannelsLastOptions& options, int threads,
                      ChannelsLastSummary& summary) {
  if (summary.convs < 2) return;
  ConvChainFusion(graph, options, threads, summary).run();
}

}  // namespace qforge
