// SPDX-License-Identifier: Apache-2.0
#include "support/kernel_test_util.h"

namespace qforge::testing {

std::vector<Tensor> run_single_op(const SingleOp& spec) {
  Graph graph;
  graph.model.opset_imports = {{spec.domain, spec.opset}};
  std::vector<Variable*> ins, outs;
  std::vector<const Tensor*> values;
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    if (!spec.inputs[i]) {
      ins.push_back(nullptr);
      values.push_back(nullptr);
      continue;
    }
    Variable* v = graph.create_variable(fmt::format("in{}", i));
    graph.add_graph_input(v);
    ins.push_back(v);
    values.push_back(&*spec.inputs[i]);
  }
  for (size_t i = 0; i < spec.num_outputs; ++i) outs.push_back(graph.create_variable(fmt::format("out{}", i)));
  Operation* op = graph.create_operation(spec.type, "op", ins, outs, spec.attributes, spec.domain);
  op->opset = spec.opset;
  KernelFn fn = kernel_registry().find(spec.domain, spec.type, spec.opset);
  if (!fn) fail(ErrorKind::UnsupportedOp, "no kernel for {} opset {}", spec.type, spec.opset);
  KernelContext ctx(*op, values, spec.num_outputs, spec.threads);
  fn(ctx);
  return ctx.outputs();
}

}  // namespace qforge::testing
