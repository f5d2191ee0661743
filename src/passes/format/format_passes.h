// SPDX-License-Identifier: Apache-2.0
// The graph formatting passes, one file each in this folder; each takes a model's root graph and
// recurses into subgraphs itself where that is meaningful. Ordered in format_graph.cpp; tested in
// tests/passes/test_format_<pass>.cpp.
#pragma once

#include "qforge/graph.h"

namespace qforge {

void constant_to_parameter(Graph& graph);
void remove_identity(Graph& graph);
void rewrite_legacy_attributes(Graph& graph);
void fold_constants(Graph& graph);
void fuse_bias_add(Graph& graph);
void fold_batchnorm(Graph& graph);
void remove_dead_ops(Graph& graph);
void split_shared_parameters(Graph& graph);

}  // namespace qforge
