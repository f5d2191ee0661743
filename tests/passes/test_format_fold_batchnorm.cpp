// SPDX-License-Identifier: Apache-2.0
// fold_batchnorm (src/passes/format/fold_batchnorm.cpp): BatchNormalization folds into Conv
// (grouped, with bias), ConvTranspose (weight [Cin, Cout/g, ...], groups) and Gemm (transB, C,
// beta); shared weights are copied, not changed; ONNX Runtime agrees before and after.
#include "format_test_util.h"
#include "passes/format/format_passes.h"

namespace qforge::testing {
namespace {

Variable* batchnorm(Graph& g, Variable* x, int64_t channels, uint32_t seed,
                    const std::string& out_name = "") {
  std::vector<Variable*> inputs = {x, param(g, "scale", floats({channels}, seed)),
                                   param(g, "shift", floats({channels}, seed + 1)),
                                   param(g, "mean", floats({channels}, seed + 2)),
                                   param(g, "var", floats({channels}, seed + 3, 0.2f, 2.0f))};
  if (out_name.empty())
    return add_op(g, "BatchNormalization", inputs, {Attribute::make_float("epsilon", 1e-3f)});
  Variable* out = g.create_variable(out_name);
  g.create_operation("BatchNormalization", out_name + "_bn", inputs, {out});
  return out;
}

TEST(FormatFoldBatchnorm, ConvConvTransposeGemm) {
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {1, 4, 5, 5});
  Variable* a = add_op(*g, "Conv", {x, param(*g, "w1", floats({6, 4, 3, 3}, 1))});
  graph_output(*g, batchnorm(*g, a, 6, 10, "y1"));
  Variable* b = add_op(
      *g, "Conv", {x, param(*g, "w2", floats({8, 2, 1, 1}, 2)), param(*g, "b2", floats({8}, 3))},
      {Attribute::make_int("group", 2)});
  graph_output(*g, batchnorm(*g, b, 8, 20));
  Variable* c =
      add_op(*g, "ConvTranspose",
             {x, param(*g, "w3", floats({4, 3, 2, 2}, 4)), param(*g, "b3", floats({6}, 5))},
             {Attribute::make_int("group", 2), Attribute::make_ints("strides", {2, 2})});
  graph_output(*g, batchnorm(*g, c, 6, 30));
  Variable* m = graph_input(*g, "m", {3, 4});
  Variable* d = add_op(*g, "Gemm",
                       {m, param(*g, "w4", floats({5, 4}, 6)), param(*g, "c4", floats({3, 5}, 7))},
                       {Attribute::make_int("transB", 1), Attribute::make_float("alpha", 1.5f),
                        Attribute::make_float("beta", 0.5f)});
  graph_output(*g, batchnorm(*g, d, 5, 40));
  Variable* e = add_op(*g, "Gemm", {m, param(*g, "w5", floats({4, 5}, 8))});
  graph_output(*g, batchnorm(*g, e, 5, 50));

  auto after = run_and_compare(*g, fold_batchnorm);
  EXPECT_EQ(count_ops(*after, "BatchNormalization"), 0);
  EXPECT_EQ(after->operations().size(), 5u);
  EXPECT_EQ(after->outputs()[0]->name, "y1");
  EXPECT_EQ(after->outputs()[0]->producer()->type, "Conv");
}

TEST(FormatFoldBatchnorm, SharedWeightIsCopied) {
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {1, 3, 4, 4});
  Variable* w = param(*g, "w", floats({3, 3, 1, 1}, 1));
  const Tensor original = w->value.clone();
  graph_output(*g, batchnorm(*g, add_op(*g, "Conv", {x, w}), 3, 10));
  graph_output(*g, add_op(*g, "Conv", {x, w}));  // reads the unscaled weight
  auto after = run_and_compare(*g, fold_batchnorm);
  EXPECT_EQ(count_ops(*after, "BatchNormalization"), 0);
  const Variable* kept = after->find_variable("w");
  ASSERT_TRUE(kept);
  EXPECT_TRUE(kept->value.equals(original));
}

TEST(FormatFoldBatchnorm, NothingMatches) {
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {1, 3, 4, 4});
  // After a Relu.
  graph_output(*g, batchnorm(*g, add_op(*g, "Relu", {x}), 3, 10));
  // Conv output read twice.
  Variable* c = add_op(*g, "Conv", {x, param(*g, "w", floats({3, 3, 1, 1}, 1))});
  graph_output(*g, batchnorm(*g, c, 3, 20));
  graph_output(*g, c);
  // Statistics that are not constants.
  Variable* mean = graph_input(*g, "mean", {3});
  Variable* d = add_op(*g, "Conv", {x, param(*g, "w2", floats({3, 3, 1, 1}, 2))});
  graph_output(*g, add_op(*g, "BatchNormalization",
                          {d, param(*g, "s", floats({3}, 3)), param(*g, "b", floats({3}, 4)), mean,
                           param(*g, "v", floats({3}, 5, 0.5f, 1.0f))}));
  auto after = run_and_compare(*g, fold_batchnorm);
  EXPECT_EQ(count_ops(*after, "BatchNormalization"), 3);
}

}  // namespace
}  // namespace qforge::testing
