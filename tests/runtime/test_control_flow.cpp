// SPDX-License-Identifier: Apache-2.0
// Control flow kernels (src/runtime/kernels/control_flow.cpp): If, Loop, Scan (opset 8 and 9+).
// Bodies are run by a SubgraphRunner written in the test (plain C++ per body name), so the
// kernels are checked without other kernel families; one test goes through the Executor with
// real body ops and an outer-scope reference when those kernels are registered.
#include <gtest/gtest.h>

#include <functional>

#include "qforge/executor.h"
#include "qforge/kernel.h"

namespace qforge {
namespace {

// A body graph with named inputs and outputs; `dims` gives the declared shape of outputs.
std::shared_ptr<Graph> make_body(const std::string& name, size_t inputs, size_t outputs,
                                 std::optional<std::vector<Dim>> output_shape = std::nullopt) {
  auto g = std::make_shared<Graph>();
  g->name = name;
  for (size_t i = 0; i < inputs; ++i)
    g->add_graph_input(g->create_variable(fmt::format("{}_in{}", name, i)));
  for (size_t i = 0; i < outputs; ++i) {
    Variable* v = g->create_variable(fmt::format("{}_out{}", name, i));
    v->dtype = DataType::Float;
    v->shape = output_shape;
    g->add_graph_output(v);
  }
  return g;
}

using BodyFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// Runs one control-flow op; `bodies` maps body names to their C++ implementation. `calls`
// counts body runs.
std::vector<Tensor> run_cf(const std::string& type, int64_t opset,
                           const std::vector<std::optional<Tensor>>& inputs,
                           std::vector<Attribute> attrs, size_t num_outputs,
                           const std::map<std::string, BodyFn>& bodies, int* calls = nullptr) {
  Graph graph;
  graph.model.opset_imports = {{"", opset}};
  std::vector<Variable*> ins, outs;
  std::vector<const Tensor*> values;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ins.push_back(inputs[i] ? graph.create_variable(fmt::format("in{}", i)) : nullptr);
    values.push_back(inputs[i] ? &*inputs[i] : nullptr);
  }
  for (size_t i = 0; i < num_outputs; ++i)
    outs.push_back(graph.create_variable(fmt::format("out{}", i)));
  Operation* op = graph.create_operation(type, "cf", ins, outs, std::move(attrs));
  op->opset = opset;
  KernelFn fn = kernel_registry().find("", type, opset);
  if (!fn) fail(ErrorKind::UnsupportedOp, "no kernel for {}", type);
  KernelContext ctx(*op, values, num_outputs, 1);
  ctx.set_subgraph_runner(
      [&](const Graph& body, const std::vector<Tensor>& in, const std::map<std::string, Tensor>&) {
        if (calls) ++*calls;
        EXPECT_EQ(in.size(), body.inputs().size());
        return bodies.at(body.name)(in);
      });
  fn(ctx);
  return ctx.outputs();
}

std::vector<float> floats(const Tensor& t) {
  return t.to_float_vector();
}

TEST(If, PicksTheBranch) {
  std::map<std::string, BodyFn> bodies{
      {"then",
       [](const std::vector<Tensor>&) {
         return std::vector<Tensor>{Tensor::from_vector<float>({2}, {1, 2})};
       }},
      {"else",
       [](const std::vector<Tensor>&) { return std::vector<Tensor>{Tensor::scalar<float>(7)}; }}};
  std::vector<Attribute> attrs{Attribute::make_graph("then_branch", make_body("then", 0, 1)),
                               Attribute::make_graph("else_branch", make_body("else", 0, 1))};
  auto out = run_cf("If", 13, {Tensor::scalar<bool>(true)}, attrs, 1, bodies);
  EXPECT_EQ(floats(out[0]), (std::vector<float>{1, 2}));
  out = run_cf("If", 13, {Tensor::from_vector<bool>({1}, {false})}, attrs, 1, bodies);
  EXPECT_EQ(out[0].shape(), Shape{});
  EXPECT_EQ(floats(out[0]), (std::vector<float>{7}));
  // A condition with two elements, or a branch returning the wrong number of outputs, is an error.
  EXPECT_THROW(run_cf("If", 13, {Tensor::from_vector<bool>({2}, {true, false})}, attrs, 1, bodies),
               Error);
  EXPECT_THROW(run_cf("If", 13, {Tensor::scalar<bool>(true)}, attrs, 2, bodies), Error);
}

// body(iter, cond, v) -> (iter + 1 < stop, v + iter, [iter, v]): v accumulates 0 + 1 + 2 ...
BodyFn counting_body(int64_t stop) {
  return [stop](const std::vector<Tensor>& in) {
    const int64_t iter = in[0].data<int64_t>()[0];
    const float v = in[2].data<float>()[0];
    return std::vector<Tensor>{Tensor::scalar<bool>(iter + 1 < stop),
                               Tensor::scalar<float>(v + static_cast<float>(iter)),
                               Tensor::from_vector<float>({2}, {static_cast<float>(iter), v})};
  };
}

std::vector<Attribute> loop_attrs() {
  return {Attribute::make_graph("body", make_body("body", 3, 3, std::vector<Dim>{{2, ""}}))};
}

TEST(Loop, TripCountConditionAndScanOutputs) {
  int calls = 0;
  // Trip count 4, condition never false within it.
  auto out =
      run_cf("Loop", 13,
             {Tensor::scalar<int64_t>(4), Tensor::scalar<bool>(true), Tensor::scalar<float>(10)},
             loop_attrs(), 2, {{"body", counting_body(100)}}, &calls);
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(floats(out[0]), (std::vector<float>{16}));
  EXPECT_EQ(out[1].shape(), (Shape{4, 2}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{0, 10, 1, 10, 2, 11, 3, 13}));
  // No trip count: the body's condition stops it after 3 iterations.
  calls = 0;
  out = run_cf("Loop", 13, {std::nullopt, Tensor::scalar<bool>(true), Tensor::scalar<float>(0)},
               loop_attrs(), 2, {{"body", counting_body(3)}}, &calls);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(floats(out[0]), (std::vector<float>{3}));
  EXPECT_EQ(out[1].shape(), (Shape{3, 2}));
  // No condition input: the trip count alone.
  out = run_cf("Loop", 11, {Tensor::scalar<int64_t>(2), std::nullopt, Tensor::scalar<float>(0)},
               loop_attrs(), 2, {{"body", counting_body(100)}});
  EXPECT_EQ(floats(out[0]), (std::vector<float>{1}));
}

TEST(Loop, ZeroIterationsKeepInitialValues) {
  int calls = 0;
  auto out =
      run_cf("Loop", 13,
             {Tensor::scalar<int64_t>(0), Tensor::scalar<bool>(true), Tensor::scalar<float>(5)},
             loop_attrs(), 2, {{"body", counting_body(100)}}, &calls);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(floats(out[0]), (std::vector<float>{5}));
  EXPECT_EQ(out[1].shape(), (Shape{0, 2}));  // the body's declared scan output shape
  out = run_cf("Loop", 13,
               {Tensor::scalar<int64_t>(9), Tensor::scalar<bool>(false), Tensor::scalar<float>(5)},
               loop_attrs(), 2, {{"body", counting_body(100)}}, &calls);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(floats(out[0]), (std::vector<float>{5}));
}

TEST(Loop, ScanOutputThatChangesShapeIsAnError) {
  BodyFn growing = [](const std::vector<Tensor>& in) {
    const int64_t iter = in[0].data<int64_t>()[0];
    return std::vector<Tensor>{Tensor::scalar<bool>(true), in[2],
                               Tensor(DataType::Float, {iter + 1})};
  };
  EXPECT_THROW(
      run_cf("Loop", 13, {Tensor::scalar<int64_t>(3), std::nullopt, Tensor::scalar<float>(0)},
             loop_attrs(), 2, {{"body", growing}}),
      Error);
}

// body(sum, x) -> (sum + x, sum + x) on float tensors of equal shape.
std::vector<Tensor> sum_body(const std::vector<Tensor>& in) {
  Tensor next = in[0].clone();
  for (int64_t i = 0; i < next.numel(); ++i) next.data<float>()[i] += in[1].data<float>()[i];
  return {next, next.clone()};
}

TEST(Scan, Opset9AxesAndDirections) {
  // x: [2, 3] scanned along axis 1 (3 steps of [2]), in reverse.
  const Tensor x = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 10, 20, 30});
  std::vector<Attribute> attrs{Attribute::make_graph("body", make_body("sum", 2, 2)),
                               Attribute::make_int("num_scan_inputs", 1),
                               Attribute::make_ints("scan_input_axes", {1}),
                               Attribute::make_ints("scan_input_directions", {1}),
                               Attribute::make_ints("scan_output_axes", {-1})};
  auto out = run_cf("Scan", 11, {Tensor::from_vector<float>({2}, {0, 0}), x}, attrs, 2,
                    {{"sum", sum_body}});
  EXPECT_EQ(floats(out[0]), (std::vector<float>{6, 60}));
  // Steps see columns 3, 2, 1: partial sums 3, 5, 6 (and 30, 50, 60), stacked on the last axis.
  EXPECT_EQ(out[1].shape(), (Shape{2, 3}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{3, 5, 6, 30, 50, 60}));
  // Reverse output direction: the last step lands first.
  attrs.push_back(Attribute::make_ints("scan_output_directions", {1}));
  out = run_cf("Scan", 11, {Tensor::from_vector<float>({2}, {0, 0}), x}, attrs, 2,
               {{"sum", sum_body}});
  EXPECT_EQ(floats(out[1]), (std::vector<float>{6, 5, 3, 60, 50, 30}));
}

TEST(Scan, Opset9DefaultAxisMatchesNodeTest) {
  // test_scan9_sum: initial [0, 0], x [[1, 2], [3, 4], [5, 6]].
  std::vector<Attribute> attrs{Attribute::make_graph("body", make_body("sum", 2, 2)),
                               Attribute::make_int("num_scan_inputs", 1)};
  auto out = run_cf("Scan", 9,
                    {Tensor::from_vector<float>({2}, {0, 0}),
                     Tensor::from_vector<float>({3, 2}, {1, 2, 3, 4, 5, 6})},
                    attrs, 2, {{"sum", sum_body}});
  EXPECT_EQ(floats(out[0]), (std::vector<float>{9, 12}));
  EXPECT_EQ(out[1].shape(), (Shape{3, 2}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{1, 2, 4, 6, 9, 12}));
}

TEST(Scan, Opset8BatchAndSequenceLengths) {
  // Batch 2, sequence 3, elements [1]; entry 1 runs only 1 step, its tail is zero-padded.
  const Tensor x = Tensor::from_vector<float>({2, 3, 1}, {1, 2, 3, 10, 20, 30});
  std::vector<Attribute> attrs{Attribute::make_graph("body", make_body("sum", 2, 2)),
                               Attribute::make_int("num_scan_inputs", 1)};
  auto out = run_cf(
      "Scan", 8,
      {Tensor::from_vector<int32_t>({2}, {3, 1}), Tensor::from_vector<float>({2, 1}, {0, 100}), x},
      attrs, 2, {{"sum", sum_body}});
  EXPECT_EQ(floats(out[0]), (std::vector<float>{6, 110}));
  EXPECT_EQ(out[1].shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{1, 3, 6, 110, 0, 0}));
  // Without sequence_lens, reversed: entry 0 sees 3, 2, 1.
  attrs.push_back(Attribute::make_ints("directions", {1}));
  out = run_cf("Scan", 8, {std::nullopt, Tensor::from_vector<float>({2, 1}, {0, 0}), x}, attrs, 2,
               {{"sum", sum_body}});
  EXPECT_EQ(floats(out[1]), (std::vector<float>{3, 5, 6, 30, 50, 60}));
}

TEST(Scan, MismatchedLengthsAreErrors) {
  std::vector<Attribute> attrs{Attribute::make_graph("body", make_body("two", 3, 1)),
                               Attribute::make_int("num_scan_inputs", 2)};
  BodyFn body = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{in[0]}; };
  EXPECT_THROW(
      run_cf("Scan", 11,
             {Tensor::scalar<float>(0), Tensor(DataType::Float, {3}), Tensor(DataType::Float, {4})},
             attrs, 1, {{"two", body}}),
      Error);
}

// Through the executor: a Loop whose body reads `w` from the enclosing graph.
TEST(Loop, RunsInExecutorWithOuterScopeValue) {
  for (const char* t : {"Add", "Identity"})
    if (!kernel_registry().find("", t, 13)) GTEST_SKIP() << t << " kernel not registered yet";
  Graph g;
  g.model.opset_imports = {{"", 13}};
  Variable* m = g.create_variable("m");
  Variable* v0 = g.create_variable("v0");
  Variable* w = g.create_variable("w");
  Variable* vf = g.create_variable("vf");
  Variable* scan = g.create_variable("scan");
  for (Variable* in : {m, v0, w}) g.add_graph_input(in);
  m->dtype = DataType::Int64;
  v0->dtype = w->dtype = DataType::Float;
  auto body = std::make_shared<Graph>();
  body->name = "body";
  body->parent = &g;
  Variable* iter = body->create_variable("iter");
  Variable* cond = body->create_variable("cond");
  Variable* v = body->create_variable("v");
  Variable* cond_out = body->create_variable("cond_out");
  Variable* v_out = body->create_variable("v_out");
  Variable* s_out = body->create_variable("s_out");
  Variable* w_ref = body->create_variable("w");  // resolved from the enclosing graph
  for (Variable* in : {iter, cond, v}) body->add_graph_input(in);
  body->create_operation("Identity", "id", {cond}, {cond_out});
  body->create_operation("Add", "add", {v, w_ref}, {v_out});
  body->create_operation("Identity", "copy", {v_out}, {s_out});
  for (Variable* out : {cond_out, v_out, s_out}) body->add_graph_output(out);
  for (const auto& op : body->operations()) op->opset = 13;
  Operation* loop = g.create_operation("Loop", "loop", {m, nullptr, v0}, {vf, scan},
                                       {Attribute::make_graph("body", body)});
  loop->opset = 13;
  body->owner = loop;
  g.add_graph_output(vf);
  g.add_graph_output(scan);
  Executor ex(g, ExecutorOptions{1});
  auto out = ex.run({{"m", Tensor::scalar<int64_t>(3)},
                     {"v0", Tensor::from_vector<float>({2}, {1, 2})},
                     {"w", Tensor::from_vector<float>({2}, {10, 20})}});
  EXPECT_EQ(floats(out[0]), (std::vector<float>{31, 62}));
  EXPECT_EQ(out[1].shape(), (Shape{3, 2}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{11, 22, 21, 42, 31, 62}));
}

}  // namespace
}  // namespace qforge
