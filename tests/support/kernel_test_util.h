// SPDX-License-Identifier: Apache-2.0
// Runs one kernel on given inputs, straight through the registry: the unit tests of each
// kernel family compare this with a naive reference computed in the test.
#pragma once

#include <optional>
#include <vector>

#include "qforge/graph.h"
#include "qforge/kernel.h"

namespace qforge::testing {

struct SingleOp {
  std::string type;
  std::vector<std::optional<Tensor>> inputs;  // nullopt: omitted optional input
  std::vector<Attribute> attributes;
  size_t num_outputs = 1;
  int64_t opset = 17;
  std::string domain;
  int threads = 1;
};

// Throws qforge::Error like the executor would (e.g. no kernel, bad shapes).
std::vector<Tensor> run_single_op(const SingleOp& spec);

}  // namespace qforge::testing
