// SPDX-License-Identifier: Apache-2.0
// Dispatchers (PPQ's GraphDispatcher family): which ops run on the platform and which stay
// FP32. Shape/index computations (values that reach only SOI ports) are always FP32.
// Tested in tests/quant/test_dispatch.cpp.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "qforge/dispatch.h"
#include "qforge/op_sockets.h"

namespace qforge {

namespace {

bool is_computing(const std::string& type) {
  return type == "Conv" || type == "ConvTranspose" || type == "Gemm" || type == "MatMul";
}

// Ops whose outputs only feed shape/index/control ports (directly or through other such ops),
// or that produce SOI values themselves (Shape, NonZero, ...).
std::set<const Operation*> soi_operations(const Graph& graph) {
  std::set<const Operation*> soi;
  bool changed = true;
  while (changed) {
    changed = false;
    for (auto it = graph.operations().rbegin(); it != graph.operations().rend(); ++it) {
      const Operation* op = it->get();
      if (soi.count(op)) continue;
      const OpSocket socket = op_socket(*op);
      bool produces_soi = !socket.outputs.empty();
      for (size_t o = 0; o < op->num_outputs(); ++o) {
        const Variable* out = op->output(o);
        if (!out) continue;
        if (socket.outputs[o] == PortRole::SOI) continue;
        if (graph.is_graph_output(out) || out->consumers().empty()) {
          produces_soi = false;
          break;
        }
        for (const Operation* consumer : out->consumers()) {
          if (soi.count(consumer)) continue;
          const OpSocket cs = op_socket(*consumer);
          bool soi_port = true;
          for (size_t i = 0; i < consumer->num_inputs(); ++i)
            if (consumer->input(i) == out && cs.inputs[i] != PortRole::SOI) soi_port = false;
          if (!soi_port) {
            produces_soi = false;
            break;
          }
        }
        if (!produces_soi) break;
      }
      if (produces_soi) {
        soi.insert(op);
        changed = true;
      }
    }
  }
  return soi;
}

// Grows regions from computing ops through quantizable/passive neighbours.
std::set<const Operation*> grow_region(const Graph& graph, const Platform& platform,
                                       const std::set<const Operation*>& soi, bool follow_sockets) {
  std::set<const Operation*> region;
  std::vector<const Operation*> stack;
  for (const auto& op : graph.operations())
    if (is_computing(op->type) && platform.quantizes(op->type) && !soi.count(op.get())) {
      region.insert(op.get());
      stack.push_back(op.get());
    }
  auto eligible = [&](const Operation* op) {
    return !soi.count(op) && (platform.quantizes(op->type) || platform.is_passive(op->type));
  };
  while (!stack.empty()) {
    const Operation* op = stack.back();
    stack.pop_back();
    std::vector<const Operation*> neighbours;
    const OpSocket socket = op_socket(*op);
    for (size_t i = 0; i < op->num_inputs(); ++i)
      if (op->input(i) && op->input(i)->producer() && (!follow_sockets || socket.inputs[i] == PortRole::Data))
        neighbours.push_back(op->input(i)->producer());
    for (const Variable* out : op->outputs())
      if (out)
        for (const Operation* c : out->consumers()) neighbours.push_back(c);
    for (const Operation* n : neighbours)
      if (eligible(n) && region.insert(n).second) stack.push_back(n);
  }
  return region;
}

}  // namespace

std::vector<std::string> dispatcher_names() { return {"conservative", "aggressive", "pointwise", "allin", "perseus"}; }

DispatchingTable parse_dispatching_table(const std::string& json_text, const std::string& where) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(ErrorKind::Argument, "{}: not valid JSON ({})", where, e.what());
  }
  if (!doc.is_object()) fail(ErrorKind::Argument, "{}: expected an object of op name or type -> platform", where);
  DispatchingTable table;
  for (const auto& [key, value] : doc.items()) {
    if (!value.is_string()) fail(ErrorKind::Argument, "{}: value of '{}' should be a string", where, key);
    table[key] = value.get<std::string>();
  }
  return table;
}

void dispatch_graph(Graph& graph, const Platform& platform, const std::string& dispatcher,
                    const DispatchingTable& table) {
  const auto names = dispatcher_names();
  if (std::find(names.begin(), names.end(), dispatcher) == names.end())
    fail(ErrorKind::Argument, "unknown dispatcher '{}' (expected {})", dispatcher, fmt::join(names, ", "));
  const std::set<const Operation*> soi = soi_operations(graph);
  std::set<const Operation*> on_platform;
  if (dispatcher == "conservative" || dispatcher == "perseus") {
    on_platform = grow_region(graph, platform, soi, dispatcher == "perseus");
  } else {
    for (const auto& op : graph.operations()) {
      if (soi.count(op.get())) continue;
      const bool take = dispatcher == "allin" ||
                        (dispatcher == "aggressive" && (platform.quantizes(op->type) || platform.is_passive(op->type))) ||
                        (dispatcher == "pointwise" && platform.quantizes(op->type));
      if (take) on_platform.insert(op.get());
    }
  }
  for (const auto& op : graph.operations()) op->platform = on_platform.count(op.get()) ? platform.name : kFP32;
  for (const auto& op : graph.operations()) {
    auto by_name = table.find(op->name);
    auto by_type = table.find(op->type);
    const auto& hit = by_name != table.end() ? by_name : by_type;
    if (hit == table.end()) continue;
    const std::string upper_target = hit->second == "fp32" ? std::string(kFP32) : hit->second;
    if (upper_target != kFP32 && upper_target != platform.name)
      fail(ErrorKind::Argument, "dispatching table sends {} to '{}', expected FP32 or {}", op->describe(),
           hit->second, platform.name);
    op->platform = upper_target;
  }
}

}  // namespace qforge
