// SPDX-License-Identifier: Apache-2.0
// fuse_bias_add (src/passes/format/fuse_bias_add.cpp): per-channel constant Adds fold into
// Conv/ConvTranspose/Gemm bias, MatMul with a 2-D input becomes Gemm; other broadcasts stay;
// ONNX Runtime agrees before and after.
#include "format_test_util.h"
#include "passes/format/format_passes.h"

namespace qforge::testing {
namespace {

TEST(FormatFuseBiasAdd, ConvFamilies) {
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {1, 4, 6, 6});
  // Conv without bias + [1, C, 1, 1].
  Variable* a = add_op(*g, "Conv", {x, param(*g, "w1", floats({6, 4, 3, 3}, 1))});
  Variable* y1 = g->create_variable("y1");
  g->create_operation("Add", "add1", {a, param(*g, "b1", floats({1, 6, 1, 1}, 2))}, {y1});
  graph_output(*g, y1);
  // Conv with bias, grouped, + [C, 1, 1] on the left.
  Variable* b = add_op(
      *g, "Conv", {x, param(*g, "w2", floats({8, 2, 1, 1}, 3)), param(*g, "bias2", floats({8}, 4))},
      {Attribute::make_int("group", 2)});
  graph_output(*g, add_op(*g, "Add", {param(*g, "b2", floats({8, 1, 1}, 5)), b}));
  // ConvTranspose (weight [Cin, Cout/g, k, k]), group 2, + a scalar, then a second Add.
  Variable* c = add_op(*g, "ConvTranspose", {x, param(*g, "w3", floats({4, 3, 2, 2}, 6))},
                       {Attribute::make_int("group", 2), Attribute::make_ints("strides", {2, 2})});
  Variable* c1 = add_op(*g, "Add", {c, param(*g, "b3", Tensor::scalar<float>(0.75f))});
  graph_output(*g, add_op(*g, "Add", {c1, param(*g, "b4", floats({1, 6, 1, 1}, 7))}));

  auto after = run_and_compare(*g, fuse_bias_add);
  EXPECT_EQ(count_ops(*after, "Add"), 0);
  EXPECT_EQ(after->outputs()[0]->name, "y1");
  for (const auto& op : after->operations()) {
    ASSERT_EQ(op->num_inputs(), 3u) << op->describe();
    EXPECT_TRUE(op->input(2)->is_parameter());
  }
  EXPECT_EQ(after->find_operation("ConvTranspose")->input(2)->value.shape(), Shape{6});
}

TEST(FormatFuseBiasAdd, GemmAndMatMul) {
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {3, 4});
  // Gemm with transB, alpha/beta and an existing C.
  Variable* a = add_op(*g, "Gemm",
                       {x, param(*g, "w1", floats({5, 4}, 1)), param(*g, "c1", floats({1, 5}, 2))},
                       {Attribute::make_int("transB", 1), Attribute::make_float("alpha", 0.5f),
                        Attribute::make_float("beta", 2.0f)});
  graph_output(*g, add_op(*g, "Add", {a, param(*g, "b1", floats({5}, 3))}));
  // Gemm with a full [M, N] C.
  Variable* b = add_op(*g, "Gemm",
                       {x, param(*g, "w2", floats({4, 5}, 4)), param(*g, "c2", floats({3, 5}, 5))},
                       {Attribute::make_float("beta", 0.5f)});
  graph_output(*g, add_op(*g, "Add", {b, param(*g, "b2", floats({1, 5}, 6))}));
  // MatMul with a 2-D input and a 2-D constant weight becomes Gemm.
  Variable* m = add_op(*g, "MatMul", {x, param(*g, "w3", floats({4, 6}, 7))});
  graph_output(*g, add_op(*g, "Add", {m, param(*g, "b3", floats({6}, 8))}));

  auto after = run_and_compare(*g, fuse_bias_add);
  EXPECT_EQ(count_ops(*after, "Add"), 0);
  EXPECT_EQ(count_ops(*after, "MatMul"), 0);
  EXPECT_EQ(count_ops(*after, "Gemm"), 3);
}

TEST(FormatFuseBiasAdd, NothingMatches) {
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {1, 4, 6, 6});
  // Per-row (not per-channel) broadcast.
  Variable* a = add_op(*g, "Conv", {x, param(*g, "w1", floats({4, 4, 1, 1}, 1))});
  graph_output(*g, add_op(*g, "Add", {a, param(*g, "row", floats({1, 1, 6, 1}, 2))}));
  // A bias of higher rank would change the output rank.
  Variable* b = add_op(*g, "Conv", {x, param(*g, "w2", floats({4, 4, 1, 1}, 3))});
  graph_output(*g, add_op(*g, "Add", {b, param(*g, "deep", floats({1, 1, 4, 1, 1}, 4))}));
  // The Conv output has a second reader.
  Variable* c = add_op(*g, "Conv", {x, param(*g, "w3", floats({4, 4, 1, 1}, 5))});
  graph_output(*g, add_op(*g, "Add", {c, param(*g, "b3", floats({1, 4, 1, 1}, 6))}));
  graph_output(*g, add_op(*g, "Relu", {c}));
  // The added value is not a constant.
  Variable* d = add_op(*g, "Conv", {x, param(*g, "w4", floats({4, 4, 1, 1}, 7))});
  graph_output(*g, add_op(*g, "Add", {d, x}));
  // MatMul on a batched (3-D) input cannot become Gemm.
  Variable* t = graph_input(*g, "t", {2, 3, 4});
  graph_output(*g, add_op(*g, "Add",
                          {add_op(*g, "MatMul", {t, param(*g, "w5", floats({4, 2}, 8))}),
                           param(*g, "b5", floats({2}, 9))}));
  auto after = run_and_compare(*g, fuse_bias_add);
  EXPECT_EQ(after->operations().size(), g->operations().size());
  EXPECT_EQ(count_ops(*after, "Add"), 5);
}

}  // namespace
}  // namespace qforge::testing
