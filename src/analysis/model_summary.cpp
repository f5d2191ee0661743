// SPDX-License-Identifier: Apache-2.0
// Backs `qforge inspect`; tested in tests/analysis/test_model_summary.cpp.
#include "qforge/model_summary.h"

#include <nlohmann/json.hpp>

namespace qforge {

namespace {

ValueSummary summarize_value(const Variable& var) {
  ValueSummary v{var.name, dtype_name(var.dtype), "?"};
  if (!var.opaque_type().empty()) v.dtype = "non-tensor";
  if (var.shape) v.shape = dims_to_string(*var.shape);
  return v;
}

void count_ops(const Graph& graph, ModelSummary& summary) {
  for (const auto& op : graph.operations()) {
    const std::string domain = op->domain.empty() ? "ai.onnx" : op->domain;
    ++summary.op_counts[domain][op->type];
    ++summary.op_total;
    for (const Attribute& a : op->attributes) {
      std::vector<const Graph*> subs;
      if (a.g) subs.push_back(a.g.get());
      for (const auto& g : a.extra().graphs) subs.push_back(g.get());
      for (const Graph* sub : subs) {
        ++summary.subgraph_count;
        summary.subgraph_owners.push_back(fmt::format("{}: {}", op->describe(), a.name));
        count_ops(*sub, summary);
      }
    }
  }
  for (Variable* p : graph.parameters()) {
    ++summary.parameter_count;
    summary.parameter_elements += p->value.numel();
    summary.parameter_bytes += static_cast<int64_t>(p->value.nbytes());
  }
}

}  // namespace

ModelSummary summarize_model(const Graph& graph) {
  ModelSummary summary;
  summary.path = graph.model.source_path;
  summary.producer =
      graph.model.producer_name +
      (graph.model.producer_version.empty() ? "" : " " + graph.model.producer_version);
  summary.ir_version = graph.model.ir_version;
  for (const auto& [domain, version] : graph.model.opset_imports)
    summary.opsets.emplace_back(domain.empty() ? "ai.onnx" : domain, version);
  for (const Variable* in : graph.inputs())
    if (!in->is_parameter()) summary.inputs.push_back(summarize_value(*in));
  for (const Variable* out : graph.outputs()) summary.outputs.push_back(summarize_value(*out));
  count_ops(graph, summary);
  return summary;
}

std::string summary_to_text(const ModelSummary& s) {
  std::string out = fmt::format("model      {}\n", s.path);
  out += fmt::format("producer   {}\nir version {}\nopsets    ",
                     s.producer.empty() ? "-" : s.producer, s.ir_version);
  for (const auto& [domain, version] : s.opsets) out += fmt::format(" {}:{}", domain, version);
  out += "\n\ninputs\n";
  for (const auto& v : s.inputs)
    out += fmt::format("  {:<32} {:<9} {}\n", v.name, v.dtype, v.shape);
  out += "outputs\n";
  for (const auto& v : s.outputs)
    out += fmt::format("  {:<32} {:<9} {}\n", v.name, v.dtype, v.shape);
  out +=
      fmt::format("\nparameters {} tensors, {} values, {:.2f} MiB\n", s.parameter_count,
                  s.parameter_elements, static_cast<double>(s.parameter_bytes) / (1024.0 * 1024.0));
  out += fmt::format("\noperations {}\n", s.op_total);
  for (const auto& [domain, types] : s.op_counts) {
    out += fmt::format("  {}\n", domain);
    std::vector<std::pair<std::string, int64_t>> sorted(types.begin(), types.end());
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    for (const auto& [type, count] : sorted) out += fmt::format("    {:<28} {}\n", type, count);
  }
  if (s.subgraph_count) {
    out += fmt::format("\nsubgraphs {}\n", s.subgraph_count);
    for (const auto& owner : s.subgraph_owners) out += fmt::format("  {}\n", owner);
  }
  return out;
}

std::string summary_to_json(const ModelSummary& s) {
  using nlohmann::json;
  auto values = [](const std::vector<ValueSummary>& list) {
    json out = json::array();
    for (const auto& v : list)
      out.push_back({{"name", v.name}, {"dtype", v.dtype}, {"shape", v.shape}});
    return out;
  };
  json opsets = json::object();
  for (const auto& [domain, version] : s.opsets) opsets[domain] = version;
  json doc = {{"path", s.path},
              {"producer", s.producer},
              {"ir_version", s.ir_version},
              {"opsets", opsets},
              {"inputs", values(s.inputs)},
              {"outputs", values(s.outputs)},
              {"parameters",
               {{"tensors", s.parameter_count},
                {"elements", s.parameter_elements},
                {"bytes", s.parameter_bytes}}},
              {"op_total", s.op_total},
              {"op_counts", s.op_counts},
              {"subgraphs", s.subgraph_owners}};
  return doc.dump(2);
}

}  // namespace qforge
