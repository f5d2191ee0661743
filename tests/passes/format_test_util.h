// SPDX-License-Identifier: Apache-2.0
// Shared by tests/passes/test_format_*.cpp: building tiny graphs and checking that ONNX Runtime
// computes the same outputs for a graph before and after formatting.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "qforge/graph.h"
#include "qforge/onnx_io.h"
#include "qforge/tensor_io.h"
#include "support/test_support.h"

namespace qforge::testing {

// A graph input; a negative dimension is symbolic ("N").
inline Variable* graph_input(Graph& g, const std::string& name, const std::vector<int64_t>& dims,
                             DataType dtype = DataType::Float) {
  Variable* v = g.create_variable(name);
  v->dtype = dtype;
  std::vector<Dim> shape;
  for (int64_t d : dims) shape.push_back(d >= 0 ? Dim{d, ""} : Dim{-1, "N"});
  v->shape = shape;
  g.add_graph_input(v);
  return v;
}

inline Variable* graph_output(Graph& g, Variable* v, DataType dtype = DataType::Float) {
  if (v->dtype == DataType::Undefined) v->dtype = dtype;
  g.add_graph_output(v);
  return v;
}

inline Variable* param(Graph& g, const std::string& name, Tensor value) {
  return g.create_variable(name, std::move(value));
}

inline Tensor floats(Shape shape, uint32_t seed, float low = -1.0f, float high = 1.0f) {
  return random_tensor(DataType::Float, shape, seed, low, high);
}

inline Tensor ints(const std::vector<int64_t>& values) {
  return Tensor::from_vector<int64_t>({static_cast<int64_t>(values.size())}, values);
}

// One-output op; returns its output variable.
inline Variable* add_op(Graph& g, const std::string& type, const std::vector<Variable*>& inputs,
                        std::vector<Attribute> attrs = {}, const std::string& name = "") {
  const std::string op_name = name.empty() ? g.unique_operation_name(type) : name;
  Variable* out = g.create_variable(op_name + "_out");
  g.create_operation(type, op_name, inputs, {out}, std::move(attrs));
  return out;
}

inline int count_ops(const Graph& g, const std::string& type) {
  return static_cast<int>(std::count_if(g.operations().begin(), g.operations().end(),
                                        [&](const auto& op) { return op->type == type; }));
}

inline std::unique_ptr<Graph> make_graph(int64_t opset) {
  auto g = std::make_unique<Graph>();
  g->name = "test";
  g->model.ir_version = 8;
  g->model.opset_imports = {{"", opset}};
  return g;
}

// A subgraph of `owner_graph` (an If branch, a Loop body) to fill in before creating its op.
inline std::shared_ptr<Graph> make_subgraph(Graph& owner_graph, const std::string& name) {
  auto sub = std::make_shared<Graph>();
  sub->name = name;
  sub->model = owner_graph.model;
  sub->parent = &owner_graph;
  return sub;
}

// The concrete shape for a graph input: symbolic dims take values from `dynamic` in order,
// then 1.
inline Shape concrete_shape(const Variable& v, const std::vector<int64_t>& dynamic) {
  Shape shape;
  size_t next = 0;
  for (const Dim& d : v.shape.value_or(std::vector<Dim>{}))
    shape.push_back(d.is_static() ? d.value : (next < dynamic.size() ? dynamic[next++] : 1));
  return shape;
}

// Largest |expected| (for a tolerance relative to the output's scale).
inline double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(t.value_as_double(i)));
  return m;
}

// Runs two model files in ONNX Runtime on the same random inputs (the graph inputs of
// `inputs_of`, symbolic dims from `input_shapes` or 1) and compares every output within `rtol`,
// relative to each value and to the output's largest value.
inline void expect_same_ort_outputs_files(const std::string& before_path,
                                          const std::string& after_path, const Graph& inputs_of,
                                          double rtol,
                                          std::map<std::string, Shape> input_shapes = {}) {
  if (!ort_available()) GTEST_SKIP() << "onnxruntime-node is not installed (run scripts/setup.sh)";
  TempDir dir;
  std::map<std::string, std::string> inputs;
  uint32_t seed = 7;
  for (const Variable* in : inputs_of.inputs()) {
    if (in->is_parameter()) continue;
    const Shape shape =
        input_shapes.count(in->name) ? input_shapes[in->name] : concrete_shape(*in, {});
    const std::string file = dir.file(fmt::format("input{}.npy", seed));
    write_npy(file, random_tensor(in->dtype, shape, seed++));
    inputs[in->name] = file;
  }
  const auto results = run_ort(
      {{before_path, inputs, dir.file("out_before")}, {after_path, inputs, dir.file("out_after")}});
  ASSERT_TRUE(results[0].ok) << "original model: " << results[0].error;
  ASSERT_TRUE(results[1].ok) << "formatted model: " << results[1].error;
  ASSERT_EQ(results[0].output_names, results[1].output_names);
  ASSERT_EQ(results[0].outputs.size(), results[1].outputs.size());
  for (size_t i = 0; i < results[0].outputs.size(); ++i) {
    const Tensor& expected = results[0].outputs[i];
    const double atol = rtol * std::max(max_abs(expected), 1e-6);
    EXPECT_EQ(compare_tensors(results[1].outputs[i], expected, rtol, atol), "")
        << "output " << results[0].output_names[i];
  }
}

// Saves `before` and `after` and compares their ONNX Runtime outputs (see above).
inline void expect_same_ort_outputs(const Graph& before, const Graph& after, double rtol = 1e-5,
                                    std::map<std::string, Shape> input_shapes = {}) {
  TempDir dir;
  save_onnx_graph(before, dir.file("before.onnx"));
  save_onnx_graph(after, dir.file("after.onnx"));
  expect_same_ort_outputs_files(dir.file("before.onnx"), dir.file("after.onnx"), before, rtol,
                                std::move(input_shapes));
}

// Formats a copy with `pass` and checks ORT agreement; returns the formatted graph.
template <typename Pass>
std::unique_ptr<Graph> run_and_compare(const Graph& g, Pass pass, double rtol = 1e-5) {
  std::unique_ptr<Graph> after = g.deep_copy();
  pass(*after);
  expect_same_ort_outputs(g, *after, rtol);
  return after;
}

}  // namespace qforge::testing
