// SPDX-License-Identifier: Apache-2.0
// Executor: schedule, input checks, partial runs, hooks, delegates, tracing, errors for
// unsupported ops, Conv + Relu fusion. Uses only a few simple kernels (Relu, Add, Identity,
// Conv).
#include <gtest/gtest.h>

#include "qforge/executor.h"

namespace qforge {
namespace {

// x -> Relu -> r -> Add(r, w) -> y, with w a parameter.
struct SmallModel {
  Graph g;
  Operation *relu, *add;
  SmallModel() {
    g.model.opset_imports = {{"", 13}};
    Variable* x = g.create_variable("x");
    x->dtype = DataType::Float;
    x->shape = std::vector<Dim>{{-1, "N"}, {3, ""}};
    Variable* r = g.create_variable("r");
    Variable* w = g.create_variable("w", Tensor::from_vector<float>({3}, {1, 2, 3}));
    Variable* y = g.create_variable("y");
    relu = g.create_operation("Relu", "relu", {x}, {r});
    add = g.create_operation("Add", "add", {r, w}, {y});
    g.add_graph_input(x);
    g.add_graph_output(y);
  }
};

bool have_kernels() {
  return kernel_registry().find("", "Relu", 13) && kernel_registry().find("", "Add", 13);
}

TEST(Executor, RunsAndChecksInputs) {
  if (!have_kernels()) GTEST_SKIP() << "Relu/Add kernels not registered yet";
  SmallModel m;
  Executor ex(m.g, ExecutorOptions{1});
  auto out = ex.run({{"x", Tensor::from_vector<float>({2, 3}, {-1, 0, 1, 2, -3, 4})}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to_float_vector(), (std::vector<float>{1, 2, 4, 3, 2, 7}));
  // Batch size may change between runs.
  out = ex.run({{"x", Tensor::from_vector<float>({1, 3}, {5, -5, 0})}});
  EXPECT_EQ(out[0].to_float_vector(), (std::vector<float>{6, 2, 3}));

  EXPECT_THROW(ex.run({}), Error);  // missing input
  EXPECT_THROW(ex.run({{"x", Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4})}}), Error);  // shape
  EXPECT_THROW(ex.run({{"x", Tensor::from_vector<int64_t>({1, 3}, {1, 2, 3})}}), Error);   // dtype
  try {
    ex.run({{"x", Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4})}});
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[N, 3]"), std::string::npos) << e.what();
  }
}

TEST(Executor, PartialRunHooksAndDelegates) {
  if (!have_kernels()) GTEST_SKIP() << "Relu/Add kernels not registered yet";
  SmallModel m;
  Executor ex(m.g, ExecutorOptions{1});
  auto partial = ex.run_partial({{"r", Tensor::from_vector<float>({1, 3}, {1, 1, 1})}}, {"y"});
  EXPECT_EQ(partial.at("y").to_float_vector(), (std::vector<float>{2, 3, 4}));

  int before = 0, after = 0;
  ex.add_before_hook(nullptr,
                     [&](const Operation&, const std::vector<const Tensor*>&) { ++before; });
  const int id =
      ex.add_after_hook(m.add, [&](const Operation& op, const std::vector<const Tensor*>& outs) {
        EXPECT_EQ(op.name, "add");
        EXPECT_EQ(outs.size(), 1u);
        ++after;
      });
  ex.set_output_delegate(m.relu, 0, [](const Tensor& t) {
    Tensor out = t.clone();
    for (int64_t i = 0; i < out.numel(); ++i) out.data<float>()[i] = 10;
    return out;
  });
  auto out = ex.run({{"x", Tensor::from_vector<float>({1, 3}, {0, 0, 0})}});
  EXPECT_EQ(out[0].to_float_vector(), (std::vector<float>{11, 12, 13}));
  EXPECT_EQ(before, 2);
  EXPECT_EQ(after, 1);
  ex.remove_hook(id);
  ex.clear_delegates();
  out = ex.run({{"x", Tensor::from_vector<float>({1, 3}, {0, 0, 0})}});
  EXPECT_EQ(out[0].to_float_vector(), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(after, 1);
}

TEST(Executor, TraceRecordsShapes) {
  if (!have_kernels()) GTEST_SKIP() << "Relu/Add kernels not registered yet";
  SmallModel m;
  trace_operation_meta(m.g, {{"x", Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6})}});
  Variable* r = m.g.find_variable("r");
  EXPECT_EQ(r->dtype, DataType::Float);
  EXPECT_EQ(r->static_shape(), (Shape{2, 3}));
}

// A graph output keeps the dims its model declares dynamic; inner values get the traced sizes.
TEST(Executor, TraceKeepsDynamicDimsOfGraphOutputs) {
  SmallModel m;
  Variable* y = m.g.find_variable("y");
  y->shape = std::vector<Dim>{{-1, "N"}, {-1, ""}};
  trace_operation_meta(m.g, {{"x", Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6})}});
  ASSERT_TRUE(y->shape.has_value());
  EXPECT_EQ((*y->shape)[0], (Dim{-1, "N"}));
  EXPECT_EQ((*y->shape)[1], (Dim{-1, ""}));
  EXPECT_EQ(m.g.find_variable("r")->static_shape(), (Shape{2, 3}));
}

TEST(Executor, UnsupportedOpsListedAtOnce) {
  Graph g;
  g.model.opset_imports = {{"", 13}, {"my.domain", 1}};
  Variable* x = g.create_variable("x");
  Variable* a = g.create_variable("a");
  Variable* b = g.create_variable("b");
  g.create_operation("FancyOp", "f1", {x}, {a}, {}, "my.domain");
  g.create_operation("OtherOp", "f2", {a}, {b}, {}, "my.domain");
  g.add_graph_input(x);
  g.add_graph_output(b);
  try {
    Executor ex(g);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::UnsupportedOp);
    const std::string what = e.what();
    EXPECT_NE(what.find("f1"), std::string::npos) << what;
    EXPECT_NE(what.find("f2"), std::string::npos) << what;
  }
  EXPECT_EQ(unsupported_operations(g).size(), 2u);
}

// x[1000] -> Concat(x, x) = a -> Concat(a, a) = b -> Concat(b, b) = c -> Reshape = d (output).
// Live sets: {x, a} 12 KB, {a, b} 24 KB, {b, c} 48 KB, {c, d} one shared buffer: peak 48 KB.
TEST(Executor, PeakActivationBytesFollowsBufferRelease) {
  Graph g;
  g.model.opset_imports = {{"", 13}};
  Variable* x = g.create_variable("x");
  x->dtype = DataType::Float;
  x->shape = std::vector<Dim>{{1000, ""}};
  Variable* a = g.create_variable("a");
  Variable* b = g.create_variable("b");
  Variable* c = g.create_variable("c");
  Variable* d = g.create_variable("d");
  Variable* shape = g.create_variable("shape", Tensor::from_vector<int64_t>({2}, {2, 4000}));
  g.create_operation("Concat", "cat_a", {x, x}, {a})->set_attr(Attribute::make_int("axis", 0));
  g.create_operation("Concat", "cat_b", {a, a}, {b})->set_attr(Attribute::make_int("axis", 0));
  g.create_operation("Concat", "cat_c", {b, b}, {c})->set_attr(Attribute::make_int("axis", 0));
  g.create_operation("Reshape", "view", {c, shape}, {d});
  g.add_graph_input(x);
  g.add_graph_output(d);
  Executor ex(g, ExecutorOptions{1});
  const auto out = ex.run({{"x", Tensor(DataType::Float, {1000})}});
  EXPECT_EQ(out[0].shape(), (Shape{2, 4000}));
  EXPECT_EQ(ex.peak_activation_bytes(), 48000);
}

// Conv + Relu fusion never hides the Conv's output from whoever can see it: a graph output,
// a second consumer, a requested value of a partial run, a hook.
TEST(Executor, ConvReluFusionKeepsVisibleValues) {
  Graph g;
  g.model.opset_imports = {{"", 13}};
  Variable* x = g.create_variable("x");
  x->dtype = DataType::Float;
  x->shape = std::vector<Dim>{{1, ""}, {1, ""}, {2, ""}, {2, ""}};
  Variable* w = g.create_variable("w", Tensor::from_vector<float>({1, 1, 1, 1}, {-1}));
  Variable* c = g.create_variable("c");
  Variable* y = g.create_variable("y");
  g.create_operation("Conv", "conv", {x, w}, {c});
  g.create_operation("Relu", "relu", {c}, {y});
  g.add_graph_input(x);
  g.add_graph_output(y);
  const Tensor input = Tensor::from_vector<float>({1, 1, 2, 2}, {1, -2, 3, -4});
  const std::vector<float> conv_out{-1, 2, -3, 4}, relu_out{0, 2, 0, 4};
  Executor ex(g, ExecutorOptions{1});
  EXPECT_EQ(ex.run({{"x", input}}).at(0).to_float_vector(), relu_out);
  auto both = ex.run_named({{"x", input}}, {"c", "y"});
  EXPECT_EQ(both.at("c").to_float_vector(), conv_out);
  EXPECT_EQ(both.at("y").to_float_vector(), relu_out);
  std::vector<float> hooked;
  const int id = ex.add_after_hook(nullptr, [&](const Operation& op, const auto& outs) {
    if (op.type == "Conv") hooked = outs.at(0)->to_float_vector();
  });
  EXPECT_EQ(ex.run({{"x", input}}).at(0).to_float_vector(), relu_out);
  EXPECT_EQ(hooked, conv_out);
  ex.remove_hook(id);

  // A second consumer, or the Conv's output being a graph output, rules fusion out.
  Variable* z = g.create_variable("z");
  g.create_operation("Identity", "copy", {c}, {z});
  g.add_graph_output(z);
  Executor ex2(g, ExecutorOptions{1});
  auto outs = ex2.run({{"x", input}});
  EXPECT_EQ(outs.at(0).to_float_vector(), relu_out);
  EXPECT_EQ(outs.at(1).to_float_vector(), conv_out);
}

}  // namespace
}  // namespace qforge
