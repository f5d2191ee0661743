// SPDX-License-Identifier: Apache-2.0
// PPQ's format_graph: the formatting passes that turn an imported model into the canonical form
// quantization expects (weights as parameters, no Identity, modern op forms, folded constants,
// bias and BatchNorm folded, no dead ops, one weight per op). The order lives in
// src/passes/format/format_graph.cpp; docs/formatting.md describes each pass.
#pragma once

#include <span>

#include "qforge/graph.h"

namespace qforge {

// One switch per pass, all on by default. Field order is the pass order.
struct FormatOptions {
  bool constant_to_parameter = true;
  bool remove_identity = true;
  bool rewrite_legacy_attributes = true;
  bool fold_constants = true;
  bool fuse_bias_add = true;
  bool fold_batchnorm = true;
  bool remove_dead_ops = true;
  bool split_shared_parameters = true;
};

// A pass as the command line and reports see it.
struct FormatPassInfo {
  const char* name;  // "fold_constants"
  bool FormatOptions::*enabled;
  const char* summary;  // one line
};
// Every pass, in the order format_graph runs them.
std::span<const FormatPassInfo> format_passes();

// Runs the enabled passes in order on `graph` (the root graph of a model; passes recurse into
// subgraphs where that is meaningful). The graph stays valid for ONNX Runtime.
void format_graph(Graph& graph, const FormatOptions& options = {});

}  // namespace qforge
