// SPDX-License-Identifier: Apache-2.0
// Op sockets (PPQ's opdef): the role of every input and output port of an op — data
// (quantizable activations), parameter (weights, biases, per-channel constants), or SOI
// (shape/index/control values that are never quantized) — and which inputs flow into which
// outputs. Dispatch and alignment read sockets instead of special-casing op names.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "qforge/graph.h"

namespace qforge {

enum class PortRole { Data, Parameter, SOI };
const char* port_role_name(PortRole role);

struct OpSocket {
  std::vector<PortRole> inputs;   // one per actual input port of the op
  std::vector<PortRole> outputs;  // one per actual output port
  // (input, output) pairs through which values flow: data inputs to data outputs.
  std::vector<std::pair<size_t, size_t>> flows;
};

// Socket of `op` sized to its actual ports. Known ops come from an explicit table; every other
// standard-domain op from its ONNX schema (non-differentiable or integer/bool-only ports are
// SOI); unknown custom ops default to data in, data out.
OpSocket op_socket(const Operation& op);

// Same, by op type (standard domain) with given port counts.
OpSocket op_socket(const std::string& domain, const std::string& op_type, int64_t opset, size_t num_inputs,
                   size_t num_outputs);

}  // namespace qforge
