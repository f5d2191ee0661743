// SPDX-License-Identifier: Apache-2.0
// fold_constants (src/passes/format/fold_constants.cpp): shape arithmetic and constant
// subexpressions become parameters; random ops, subgraph ops and ops without a kernel stay;
// ONNX Runtime agrees before and after.
#include "format_test_util.h"
#include "passes/format/format_passes.h"
#include "qforge/kernel.h"

namespace qforge::testing {
namespace {

// The ops among `types` that have no kernel yet at `opset` ("" when all do).
std::string missing_kernels(const std::vector<std::string>& types, int64_t opset) {
  std::string missing;
  for (const std::string& type : types)
    if (!kernel_registry().find("", type, opset)) missing += type + " ";
  return missing;
}

TEST(FormatFoldConstants, ShapeGatherUnsqueezeConcatReshapeChain) {
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {2, 3, 4, 5});
  Variable* batch = add_op(
      *g, "Gather", {add_op(*g, "Shape", {x}), param(*g, "zero", Tensor::scalar<int64_t>(0))},
      {Attribute::make_int("axis", 0)});
  Variable* batch_1d = add_op(*g, "Unsqueeze", {batch, param(*g, "axes", ints({0}))});
  Variable* shape = add_op(*g, "Concat", {batch_1d, param(*g, "rest", ints({-1}))},
                           {Attribute::make_int("axis", 0)});
  Variable* y = g->create_variable("y");
  g->create_operation("Reshape", "reshape", {x, shape}, {y});
  graph_output(*g, y);
  auto after = run_and_compare(*g, fold_constants);
  if (const std::string missing = missing_kernels({"Gather", "Unsqueeze", "Concat"}, 13);
      !missing.empty()) {
    EXPECT_EQ(count_ops(*after, "Shape"), 0);  // needs no kernel
    GTEST_SKIP() << "no kernel yet for " << missing;
  }
  ASSERT_EQ(after->operations().size(), 1u);
  const Operation* reshape = after->operations()[0].get();
  EXPECT_EQ(reshape->type, "Reshape");
  ASSERT_TRUE(reshape->input(1)->is_parameter());
  EXPECT_EQ(reshape->input(1)->value.to_int64_vector(), (std::vector<int64_t>{2, -1}));
}

TEST(FormatFoldConstants, ShapeAndSizeOfStaticShapes) {
  auto g = make_graph(15);
  Variable* x = graph_input(*g, "x", {2, 3, 4});
  Variable* tail = g->create_variable("tail");
  g->create_operation("Shape", "shape", {x}, {tail}, {Attribute::make_int("start", -2)});
  graph_output(*g, tail, DataType::Int64);  // a folded graph output keeps its name
  graph_output(*g, add_op(*g, "Size", {x}), DataType::Int64);
  graph_output(*g, add_op(*g, "Relu", {x}));
  auto after = run_and_compare(*g, fold_constants);
  EXPECT_EQ(after->operations().size(), 1u);
  EXPECT_EQ(after->outputs()[0]->name, "tail");
  EXPECT_EQ(after->outputs()[0]->value.to_int64_vector(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(after->outputs()[1]->value.to_int64_vector(), std::vector<int64_t>{24});
}

TEST(FormatFoldConstants, ConstantSubexpressions) {
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {-1, 4});
  Variable* w =
      add_op(*g, "Mul",
             {add_op(*g, "Add", {param(*g, "a", floats({4}, 1)), param(*g, "b", floats({4}, 2))}),
              param(*g, "c", floats({4}, 3))});
  graph_output(*g, add_op(*g, "Mul", {x, add_op(*g, "Sqrt", {add_op(*g, "Abs", {w})})}));
  auto after = run_and_compare(*g, fold_constants);
  if (const std::string missing = missing_kernels({"Add", "Mul", "Abs", "Sqrt"}, 13);
      !missing.empty())
    GTEST_SKIP() << "no kernel yet for " << missing;
  ASSERT_EQ(after->operations().size(), 1u);
  EXPECT_TRUE(after->operations()[0]->input(1)->is_parameter());
}

TEST(FormatFoldConstants, NothingMatches) {
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {-1, 4});
  Variable* c = param(*g, "c", floats({4}, 1));
  // Dynamic shape, a random op, a graph-input initializer (it could be fed), a custom op.
  Variable* shape = add_op(*g, "Shape", {x});
  graph_output(*g, add_op(*g, "Reshape", {x, shape}));
  graph_output(*g, add_op(*g, "RandomNormalLike", {c}));
  Variable* fed = param(*g, "fed", floats({4}, 2));
  g->add_graph_input(fed);
  graph_output(*g, add_op(*g, "Neg", {fed}));
  Variable* custom = g->create_variable("custom");
  g->create_operation("Foo", "foo", {c}, {custom}, {}, "com.example");
  graph_output(*g, custom);
  const size_t ops = g->operations().size();
  fold_constants(*g);
  EXPECT_EQ(g->operations().size(), ops);
}

TEST(FormatFoldConstants, SubgraphOpsStay) {
  auto g = make_graph(13);
  Variable* cond = param(*g, "cond", Tensor::scalar<bool>(true));
  auto then_branch = make_subgraph(*g, "then");
  graph_output(*then_branch, param(*then_branch, "t", floats({2}, 1)));
  auto else_branch = make_subgraph(*g, "else");
  graph_output(*else_branch, param(*else_branch, "e", floats({2}, 2)));
  Variable* y = g->create_variable("y");
  Operation* if_op = g->create_operation("If", "if", {cond}, {y},
                                         {Attribute::make_graph("then_branch", then_branch),
                                          Attribute::make_graph("else_branch", else_branch)});
  then_branch->owner = else_branch->owner = if_op;
  graph_output(*g, y);
  fold_constants(*g);
  EXPECT_EQ(count_ops(*g, "If"), 1);
}

}  // namespace
}  // namespace qforge::testing
