// SPDX-License-Identifier: Apache-2.0
// remove_dead_ops (src/passes/format/remove_dead_ops.cpp): ops that reach no graph output go,
// recursively, then unused variables and parameters; values subgraphs read by name stay; ONNX
// Runtime agrees before and after.
#include "format_test_util.h"
#include "passes/format/format_passes.h"

namespace qforge::testing {
namespace {

TEST(FormatRemoveDeadOps, RemovesDeadChainsAndUnusedParameters) {
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {2, 3});
  graph_input(*g, "unused_input", {1});
  graph_output(*g, add_op(*g, "Relu", {x}));
  // A dead chain that reads a parameter nobody else reads.
  add_op(*g, "Neg",
         {add_op(*g, "Add", {add_op(*g, "Sigmoid", {x}), param(*g, "dead_w", floats({3}, 1))})});
  param(*g, "orphan", floats({2}, 2));
  // A two-output op of which one output is used keeps living.
  Variable* values = g->create_variable("values");
  Variable* indices = g->create_variable("indices");
  g->create_operation("TopK", "topk", {x, param(*g, "k", ints({2}))}, {values, indices});
  graph_output(*g, values);

  auto after = run_and_compare(*g, remove_dead_ops);
  EXPECT_EQ(after->operations().size(), 2u);
  EXPECT_EQ(count_ops(*after, "TopK"), 1);
  EXPECT_EQ(after->find_variable("dead_w"), nullptr);
  EXPECT_EQ(after->find_variable("orphan"), nullptr);
  EXPECT_NE(after->find_variable("unused_input"), nullptr);  // graph inputs are public
  EXPECT_NE(after->find_variable("indices"), nullptr);       // still produced by TopK
}

TEST(FormatRemoveDeadOps, KeepsValuesSubgraphsRead) {
  auto g = make_graph(13);
  Variable* cond = graph_input(*g, "cond", {}, DataType::Bool);
  Variable* x = graph_input(*g, "x", {4});
  Variable* outer = g->create_variable("outer");
  g->create_operation("Neg", "neg", {x}, {outer});  // read only by name, inside the branches
  param(*g, "outer_w", floats({4}, 1));             // likewise
  auto then_branch = make_subgraph(*g, "then");
  graph_output(*then_branch, add_op(*then_branch, "Add",
                                    {then_branch->create_variable("outer"),
                                     then_branch->create_variable("outer_w")},
                                    {}, "then_add"));
  // A dead op inside a branch goes too.
  add_op(*then_branch, "Relu", {then_branch->create_variable("x")}, {}, "then_dead");
  auto else_branch = make_subgraph(*g, "else");
  graph_output(*else_branch,
               add_op(*else_branch, "Relu", {else_branch->create_variable("x")}, {}, "else_relu"));
  Variable* y = g->create_variable("y");
  Operation* if_op = g->create_operation("If", "if", {cond}, {y},
                                         {Attribute::make_graph("then_branch", then_branch),
                                          Attribute::make_graph("else_branch", else_branch)});
  then_branch->owner = else_branch->owner = if_op;
  graph_output(*g, y);

  auto after = run_and_compare(*g, remove_dead_ops);
  EXPECT_EQ(count_ops(*after, "Neg"), 1);
  EXPECT_NE(after->find_variable("outer_w"), nullptr);
  const Graph* then_after = after->find_operation("if")->subgraphs()[0];
  EXPECT_EQ(then_after->operations().size(), 1u);
}

TEST(FormatRemoveDeadOps, NothingMatches) {
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {2});
  graph_output(*g, add_op(*g, "Mul", {add_op(*g, "Relu", {x}), param(*g, "w", floats({2}, 1))}));
  const size_t ops = g->operations().size(), vars = g->variables().size();
  remove_dead_ops(*g);
  EXPECT_EQ(g->operations().size(), ops);
  EXPECT_EQ(g->variables().size(), vars);
}

}  // namespace
}  // namespace qforge::testing
