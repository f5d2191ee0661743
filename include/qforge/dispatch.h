// SPDX-License-Identifier: Apache-2.0
// Dispatchers decide which ops run quantized on the platform and which stay FP32 (PPQ's
// dispatch_graph). The result is written to Operation::platform ("FP32" or the platform name).
#pragma once

#include <map>
#include <string>

#include "qforge/graph.h"
#include "qforge/platform.h"

namespace qforge {

// "conservative" (default), "aggressive", "pointwise", "allin", "perseus".
std::vector<std::string> dispatcher_names();

// Overrides by op name or op type: "FP32" or a platform name.
using DispatchingTable = std::map<std::string, std::string>;
DispatchingTable parse_dispatching_table(const std::string& json_text, const std::string& where);

void dispatch_graph(Graph& graph, const Platform& platform, const std::string& dispatcher = "conservative",
                    const DispatchingTable& table = {});

constexpr const char* kFP32 = "FP32";

}  // namespace qforge
