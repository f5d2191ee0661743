// SPDX-License-Identifier: Apache-2.0
// Test helper of the elementwise, activation and reduce kernel tests: runs single-op cases
// through qforge's kernel and through ONNX Runtime (one batch, graph optimizations off) and
// expects the outputs to agree. Skips when onnxruntime-node is not installed.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "qforge/onnx_io.h"
#include "qforge/tensor_io.h"
#include "support/kernel_test_util.h"
#include "support/test_support.h"

namespace qforge::testing {

struct OrtCase {
  std::string type;
  std::vector<Tensor> inputs;
  std::vector<Attribute> attributes = {};
  int64_t opset = 18;
  double rtol = 1e-5, atol = 1e-6;
};

inline void expect_agrees_with_ort(const std::vector<OrtCase>& cases) {
  if (!ort_available()) GTEST_SKIP() << "onnxruntime-node is not installed";
  TempDir dir;
  std::vector<OrtJob> jobs;
  std::vector<Tensor> ours;
  for (size_t k = 0; k < cases.size(); ++k) {
    const OrtCase& c = cases[k];
    SingleOp spec;
    spec.type = c.type;
    spec.attributes = c.attributes;
    spec.opset = c.opset;
    for (const Tensor& t : c.inputs) spec.inputs.push_back(t);
    ours.push_back(run_single_op(spec).at(0));
    Graph g;
    g.model.opset_imports = {{"", c.opset}};
    std::vector<Variable*> ins;
    OrtJob job{dir.file(fmt::format("m{}.onnx", k)), {}, dir.file(fmt::format("o{}", k))};
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      Variable* v = g.create_variable(fmt::format("in{}", i));
      v->dtype = c.inputs[i].dtype();
      v->shape = std::vector<Dim>{};
      for (int64_t d : c.inputs[i].shape()) v->shape->push_back(Dim{d, ""});
      g.add_graph_input(v);
      ins.push_back(v);
      job.inputs[v->name] = dir.file(fmt::format("m{}_in{}.npy", k, i));
      write_npy(job.inputs[v->name], c.inputs[i]);
    }
    Variable* out = g.create_variable("out");
    out->dtype = ours.back().dtype();
    g.add_graph_output(out);
    g.create_operation(c.type, "op", ins, {out}, c.attributes);
    save_onnx_graph(g, job.model);
    std::filesystem::create_directories(job.output_dir);
    jobs.push_back(job);
  }
  const std::vector<OrtResult> results = run_ort(jobs);
  for (size_t k = 0; k < cases.size(); ++k) {
    SCOPED_TRACE(fmt::format("case {}: {} opset {}", k, cases[k].type, cases[k].opset));
    ASSERT_TRUE(results[k].ok) << results[k].error;
    ASSERT_EQ(results[k].outputs.size(), 1u);
    EXPECT_EQ(compare_tensors(ours[k], results[k].outputs[0], cases[k].rtol, cases[k].atol), "");
  }
}

}  // namespace qforge::testing
