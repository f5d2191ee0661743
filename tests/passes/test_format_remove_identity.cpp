// SPDX-License-Identifier: Apache-2.0
// remove_identity (src/passes/format/remove_identity.cpp): Identity and inference Dropout go,
// graph output names stay, training Dropout and used masks stay; ONNX Runtime agrees.
#include "format_test_util.h"
#include "passes/format/format_passes.h"

namespace qforge::testing {
namespace {

TEST(FormatRemoveIdentity, BypassesIdentityAndInferenceDropout) {
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {2, 5});
  Variable* a = add_op(*g, "Identity", {x});
  Variable* r = add_op(*g, "Relu", {a});
  Variable* ratio = param(*g, "ratio", Tensor::scalar<float>(0.3f));
  Variable* no_training = param(*g, "no_training", Tensor::scalar<bool>(false));
  Variable* d = g->create_variable("dropped");
  Variable* mask = g->create_variable("mask");  // produced but unused
  g->create_operation("Dropout", "drop", {r, ratio, no_training}, {d, mask});
  Variable* y = g->create_variable("y");
  g->create_operation("Identity", "last", {d}, {y});
  graph_output(*g, y);

  auto after = run_and_compare(*g, remove_identity);
  ASSERT_EQ(after->operations().size(), 1u);
  EXPECT_EQ(after->operations()[0]->type, "Relu");
  EXPECT_EQ(after->outputs()[0]->name, "y");
  EXPECT_EQ(after->outputs()[0]->producer(), after->operations()[0].get());
  EXPECT_EQ(after->operations()[0]->input(0), after->inputs()[0]);
  EXPECT_EQ(after->find_variable("mask"), nullptr);
}

TEST(FormatRemoveIdentity, DropoutWithoutExtraInputs) {
  auto g = make_graph(11);
  Variable* x = graph_input(*g, "x", {3});
  graph_output(*g, add_op(*g, "Relu",
                          {add_op(*g, "Dropout", {add_op(*g, "Neg", {x})},
                                  {Attribute::make_float("ratio", 0.5f)})}));
  auto after = run_and_compare(*g, remove_identity);
  EXPECT_EQ(count_ops(*after, "Dropout"), 0);
  EXPECT_EQ(after->operations().size(), 2u);
}

TEST(FormatRemoveIdentity, NothingMatches) {
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {4});
  // Input straight to output: two public names cannot merge.
  Variable* y = g->create_variable("y");
  g->create_operation("Identity", "passthrough", {x}, {y});
  graph_output(*g, y);
  // Training-mode Dropout is random: it stays.
  Variable* training = param(*g, "training", Tensor::scalar<bool>(true));
  Variable* d = g->create_variable("d");
  g->create_operation("Dropout", "train_drop", {x, nullptr, training}, {d});
  graph_output(*g, add_op(*g, "Relu", {d}));
  // A Dropout whose mask someone reads stays.
  Variable* d2 = g->create_variable("d2");
  Variable* mask = g->create_variable("mask2");
  g->create_operation("Dropout", "masked", {add_op(*g, "Neg", {x})}, {d2, mask});
  graph_output(*g, d2);
  graph_output(*g, mask, DataType::Bool);
  const size_t ops = g->operations().size();
  remove_identity(*g);
  EXPECT_EQ(g->operations().size(), ops);
  EXPECT_EQ(count_ops(*g, "Identity"), 1);
  EXPECT_EQ(count_ops(*g, "Dropout"), 2);
}

TEST(FormatRemoveIdentity, KeepsNamesSubgraphsRead) {
  auto g = make_graph(13);
  Variable* cond = graph_input(*g, "cond", {}, DataType::Bool);
  Variable* x = graph_input(*g, "x", {4});
  Variable* ident = g->create_variable("ident");
  g->create_operation("Identity", "id", {add_op(*g, "Neg", {x})}, {ident});
  auto then_branch = make_subgraph(*g, "then");
  graph_output(*then_branch, add_op(*then_branch, "Relu", {then_branch->create_variable("ident")},
                                    {}, "then_relu"));
  auto else_branch = make_subgraph(*g, "else");
  graph_output(*else_branch, add_op(*else_branch, "Sigmoid",
                                    {else_branch->create_variable("ident")}, {}, "else_sig"));
  Variable* y = g->create_variable("y");
  Operation* if_op = g->create_operation("If", "if", {cond}, {y},
                                         {Attribute::make_graph("then_branch", then_branch),
                                          Attribute::make_graph("else_branch", else_branch)});
  then_branch->owner = else_branch->owner = if_op;
  graph_output(*g, y);
  auto after = run_and_compare(*g, remove_identity);
  EXPECT_EQ(count_ops(*after, "Identity"), 1);  // "ident" is read by name inside the branches
}

}  // namespace
}  // namespace qforge::testing
