// SPDX-License-Identifier: Apache-2.0
// export_graph: picks the exporter (the platform's default or the one named) and writes the
// per-port configuration JSON next to it when asked.
#include <nlohmann/json.hpp>

#include "../quant/passes/pass_context.h"
#include "export_registry.h"
#include "qforge/file_io.h"

namespace qforge {

namespace {

using RegisterExporter = void (*)(ExporterRegistry&);
constexpr RegisterExporter kExporters[] = {register_qdq_onnx_exporter};

const ExporterRegistry& exporters() {
  static const ExporterRegistry registry = [] {
    ExporterRegistry r;
    for (RegisterExporter add : kExporters) add(r);
    return r;
  }();
  return registry;
}

nlohmann::json config_json(const TensorQuantizationConfig& c) {
  const TensorQuantizationConfig& e = c.effective();
  nlohmann::json j = {{"state", quantization_state_name(c.state)},
                      {"policy", c.policy.describe()},
                      {"num_bits", c.num_bits},
                      {"quant_min", c.quant_min},
                      {"quant_max", c.quant_max},
                      {"rounding", rounding_policy_name(c.rounding)}};
  if (c.policy.per_channel) j["channel_axis"] = c.channel_axis;
  if (e.scale.defined()) j["scale"] = e.scale.to_float_vector();
  if (e.offset.defined()) j["offset"] = e.offset.to_float_vector();
  return j;
}

}  // namespace

std::vector<std::string> exporter_names() {
  std::vector<std::string> names;
  for (const auto& e : exporters()) names.push_back(e.name);
  return names;
}

void export_graph(const Graph& graph, const Platform& platform, const std::string& model_out,
                  const std::string& config_out, const std::string& exporter) {
  const std::string wanted = exporter.empty() ? platform.exporter : exporter;
  const ExporterEntry* entry = nullptr;
  for (const auto& e : exporters())
    if (e.name == wanted) entry = &e;
  if (!entry) fail(ErrorKind::Argument, "unknown exporter '{}' (expected {})", wanted, fmt::join(exporter_names(), ", "));
  if (!graph.model.source_path.empty()) ensure_not_same_file(graph.model.source_path, model_out);
  entry->write(graph, platform, model_out);
  if (config_out.empty()) return;
  nlohmann::json doc = {{"platform", platform.name}, {"operations", nlohmann::json::array()}};
  for (const auto& op : graph.operations()) {
    if (!op->quant_config) continue;
    nlohmann::json entry_json = {{"name", op->name}, {"type", op->type}, {"inputs", nlohmann::json::array()},
                                 {"outputs", nlohmann::json::array()}};
    for (size_t i = 0; i < op->num_inputs(); ++i)
      if (const auto* c = input_config(*op, i)) entry_json["inputs"].push_back(config_json(*c));
    for (size_t o = 0; o < op->num_outputs(); ++o)
      if (const auto* c = output_config(*op, o)) entry_json["outputs"].push_back(config_json(*c));
    doc["operations"].push_back(entry_json);
  }
  write_file_atomic(config_out, doc.dump(1));
}

}  // namespace qforge
