// SPDX-License-Identifier: Apache-2.0
// format_graph and the ordered pass table: the only place the order of the formatting passes
// lives (each pass is one file in this folder). Tested in tests/passes/test_format_graph.cpp.
#include "qforge/format.h"

#include "format_passes.h"

namespace qforge {

namespace {

struct FormatPass {
  FormatPassInfo info;
  void (*run)(Graph&);
};

// Why this order: constants must be parameters before anything can see them as constants;
// Identity hides patterns; legacy forms are rewritten before folding so that their new constant
// inputs fold like any other; folding turns shape arithmetic into constants that later passes
// match on; bias adds fold before BatchNorm so Conv+Add+BN chains fold completely; dead ops go
// after every rewrite that may strand them; splitting comes last so no later pass sees copies.
constexpr FormatPass kPasses[] = {
    {{"constant_to_parameter", &FormatOptions::constant_to_parameter,
      "Constant and ConstantOfShape (static shape) nodes become parameters"},
     constant_to_parameter},
    {{"remove_identity", &FormatOptions::remove_identity,
      "bypass Identity and inference-mode Dropout"},
     remove_identity},
    {{"rewrite_legacy_attributes", &FormatOptions::rewrite_legacy_attributes,
      "Clip/Pad/Slice/TopK attributes become inputs, Upsample and Resize-10 become Resize-11 "
      "(opset raised to 11)"},
     rewrite_legacy_attributes},
    {{"fold_constants", &FormatOptions::fold_constants,
      "evaluate ops whose inputs are constants (and Shape of static shapes)"},
     fold_constants},
    {{"fuse_bias_add", &FormatOptions::fuse_bias_add,
      "fold Add of a per-channel constant into Conv/ConvTranspose/Gemm bias (MatMul -> Gemm when "
      "2-D)"},
     fuse_bias_add},
    {{"fold_batchnorm", &FormatOptions::fold_batchnorm,
      "fold BatchNormalization into the preceding Conv/ConvTranspose/Gemm"},
     fold_batchnorm},
    {{"remove_dead_ops", &FormatOptions::remove_dead_ops,
      "delete ops that do not reach a graph output, then unused variables"},
     remove_dead_ops},
    {{"split_shared_parameters", &FormatOptions::split_shared_parameters,
      "give each op its own copy of a parameter shared by several ops"},
     split_shared_parameters},
};
// One switch per pass: a new pass needs both a table row and a FormatOptions field.
static_assert(sizeof(FormatOptions) == std::size(kPasses) * sizeof(bool));

std::vector<FormatPassInfo> pass_infos() {
  std::vector<FormatPassInfo> infos;
  for (const FormatPass& pass : kPasses) infos.push_back(pass.info);
  return infos;
}

}  // namespace

std::span<const FormatPassInfo> format_passes() {
  static const std::vector<FormatPassInfo> infos = pass_infos();
  return infos;
}

void format_graph(Graph& graph, const FormatOptions& options) {
  for (const FormatPass& pass : kPasses)
    if (options.*(pass.info.enabled)) pass.run(graph);
  // Before IR 4 every initializer had to be a graph input; the passes add parameters that are not.
  if (graph.model.ir_version < 4)
    for (const Variable* p : graph.parameters())
      if (!graph.is_graph_input(p)) {
        graph.model.ir_version = 4;
        break;
      }
}

}  // namespace qforge
