// SPDX-License-Identifier: Apache-2.0
// split_shared_parameters (src/passes/format/split_shared_parameters.cpp): each op gets its own
// copy of a shared parameter (independent storage); one op reading it twice and fed graph
// inputs stay shared; ONNX Runtime agrees before and after.
#include "format_test_util.h"
#include "passes/format/format_passes.h"

namespace qforge::testing {
namespace {

TEST(FormatSplitSharedParameters, OneCopyPerOp) {
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {1, 3, 4, 4});
  Variable* w = param(*g, "w", floats({3, 3, 1, 1}, 1));
  Variable* a = add_op(*g, "Conv", {x, w});
  Variable* b = add_op(*g, "Conv", {a, w});
  Variable* s = param(*g, "s", floats({1}, 2));
  graph_output(*g, add_op(*g, "Mul", {add_op(*g, "Mul", {b, s}), s}));
  graph_output(*g, add_op(*g, "Add", {a, add_op(*g, "Mul", {s, s})}));  // one op reading s twice

  auto after = run_and_compare(*g, split_shared_parameters);
  std::vector<const Variable*> weights;
  for (const auto& op : after->operations()) {
    for (const Variable* in : op->inputs())
      if (in->is_parameter()) {
        ASSERT_EQ(in->consumers().size(),
                  op->type == "Mul" && op->input(0) == op->input(1) ? 2u : 1u)
            << in->name;
      }
    if (op->type == "Conv") weights.push_back(op->input(1));
  }
  ASSERT_EQ(weights.size(), 2u);
  EXPECT_EQ(weights[0]->name, "w");
  EXPECT_NE(weights[1]->name, "w");
  EXPECT_TRUE(weights[0]->value.equals(weights[1]->value));
  EXPECT_NE(weights[0]->value.raw(), weights[1]->value.raw());  // independent storage
}

TEST(FormatSplitSharedParameters, NothingMatches) {
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {3});
  Variable* fed = param(*g, "fed", floats({3}, 1));
  g->add_graph_input(fed);  // an initializer that is also an input is fed as one value
  graph_output(*g, add_op(*g, "Add", {x, fed}));
  graph_output(*g, add_op(*g, "Mul", {x, fed}));
  graph_output(*g, add_op(*g, "Sub", {x, param(*g, "own", floats({3}, 2))}));
  const size_t vars = g->variables().size();
  split_shared_parameters(*g);
  EXPECT_EQ(g->variables().size(), vars);
}

}  // namespace
}  // namespace qforge::testing
