// SPDX-License-Identifier: Apache-2.0
// rewrite_legacy_attributes (src/passes/format/rewrite_legacy_attributes.cpp): Clip/Pad/Slice/
// TopK attributes become inputs, Upsample and Resize-10 become Resize-11, the opset is raised
// only when every op allows it; ONNX Runtime agrees before and after.
#include "format_test_util.h"
#include "passes/format/format_passes.h"

namespace qforge::testing {
namespace {

const Operation* only_op(const Graph& g, const std::string& type) {
  for (const auto& op : g.operations())
    if (op->type == type) return op.get();
  return nullptr;
}

TEST(FormatRewriteLegacyAttributes, Opset9ClipPadSliceTopKUpsample) {
  auto g = make_graph(9);
  Variable* x = graph_input(*g, "x", {1, 2, 5, 6});
  Variable* y = add_op(*g, "Clip", {x},
                       {Attribute::make_float("min", -0.5f), Attribute::make_float("max", 0.6f)});
  y = add_op(*g, "Clip", {y}, {Attribute::make_float("max", 0.4f)});  // min omitted
  y = add_op(*g, "Pad", {y},
             {Attribute::make_ints("pads", {0, 0, 1, 2, 0, 0, 2, 1}),
              Attribute::make_float("value", 0.25f)});
  y = add_op(*g, "Pad", {y},
             {Attribute::make_ints("pads", {0, 0, 1, 1, 0, 0, 1, 1}),
              Attribute::make_string("mode", "reflect")});
  y = add_op(*g, "Slice", {y},
             {Attribute::make_ints("starts", {1, 0}), Attribute::make_ints("ends", {6, 100}),
              Attribute::make_ints("axes", {2, 3})});
  Variable* scales = param(*g, "scales", Tensor::from_vector<float>({4}, {1, 1, 2, 1.5f}));
  Variable* up = add_op(*g, "Upsample", {y, scales});
  Variable* up_linear =
      add_op(*g, "Upsample", {y, scales}, {Attribute::make_string("mode", "linear")});
  graph_output(
      *g, add_op(*g, "BatchNormalization",
                 {up, param(*g, "s", floats({2}, 1)), param(*g, "b", floats({2}, 2)),
                  param(*g, "m", floats({2}, 3)), param(*g, "v", floats({2}, 4, 0.5f, 2.0f))}));
  graph_output(*g, up_linear);
  Variable* values = g->create_variable("topk_values");
  Variable* indices = g->create_variable("topk_indices");
  g->create_operation("TopK", "topk", {x}, {values, indices}, {Attribute::make_int("k", 3)});
  graph_output(*g, values);
  graph_output(*g, indices, DataType::Int64);

  auto after = run_and_compare(*g, rewrite_legacy_attributes);
  EXPECT_EQ(after->model.opset_of(""), 11);
  for (const auto& op : after->operations()) {
    EXPECT_EQ(op->opset, 11) << op->describe();
    EXPECT_FALSE(op->has_attr("min") || op->has_attr("max") || op->has_attr("pads") ||
                 op->has_attr("starts") || op->has_attr("k") || op->has_attr("value"))
        << op->describe();
  }
  EXPECT_EQ(count_ops(*after, "Upsample"), 0);
  EXPECT_EQ(count_ops(*after, "Resize"), 2);
  const Operation* clip = only_op(*after, "Clip");
  ASSERT_EQ(clip->num_inputs(), 3u);
  EXPECT_EQ(clip->input(1)->value.value_as_double(0), -0.5);
  const Operation* slice = only_op(*after, "Slice");
  ASSERT_EQ(slice->num_inputs(), 4u);
  EXPECT_EQ(slice->input(3)->value.to_int64_vector(), (std::vector<int64_t>{2, 3}));
  const Operation* resize = only_op(*after, "Resize");
  EXPECT_EQ(resize->attr_string("coordinate_transformation_mode", ""), "asymmetric");
  EXPECT_EQ(resize->attr_string("nearest_mode", ""), "floor");
  EXPECT_EQ(resize->input(2)->name, "scales");
}

TEST(FormatRewriteLegacyAttributes, Upsample7ScalesAttribute) {
  auto g = make_graph(7);
  Variable* x = graph_input(*g, "x", {1, 3, 4, 5});
  graph_output(*g, add_op(*g, "Upsample", {x},
                          {Attribute::make_floats("scales", {1, 1, 2, 3}),
                           Attribute::make_string("mode", "linear")}));
  graph_output(*g,
               add_op(*g, "Upsample", {x}, {Attribute::make_floats("scales", {1, 1, 1.5f, 2})}));
  auto after = run_and_compare(*g, rewrite_legacy_attributes);
  EXPECT_EQ(after->model.opset_of(""), 11);
  EXPECT_EQ(count_ops(*after, "Resize"), 2);
}

TEST(FormatRewriteLegacyAttributes, Resize10DownsamplingRoundsUp) {
  auto g = make_graph(10);
  Variable* x = graph_input(*g, "x", {1, 2, 7, 9});
  Variable* down = param(*g, "down", Tensor::from_vector<float>({4}, {1, 1, 0.6f, 0.45f}));
  Variable* up = param(*g, "up", Tensor::from_vector<float>({4}, {1, 1, 1.7f, 2.3f}));
  graph_output(*g, add_op(*g, "Resize", {x, down}));
  graph_output(*g, add_op(*g, "Resize", {x, up}));
  graph_output(*g, add_op(*g, "Resize", {x, down}, {Attribute::make_string("mode", "linear")}));
  auto after = run_and_compare(*g, rewrite_legacy_attributes);
  EXPECT_EQ(after->model.opset_of(""), 11);
  EXPECT_EQ(after->operations()[0]->attr_string("nearest_mode", ""), "ceil");
  EXPECT_EQ(after->operations()[1]->attr_string("nearest_mode", ""), "floor");
  EXPECT_EQ(after->operations()[0]->num_inputs(), 3u);
}

TEST(FormatRewriteLegacyAttributes, NothingMatches) {
  // Modern forms stay as they are.
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {2, 3});
  graph_output(*g, add_op(*g, "Clip",
                          {x, param(*g, "lo", Tensor::scalar<float>(0)),
                           param(*g, "hi", Tensor::scalar<float>(1))}));
  auto after = run_and_compare(*g, rewrite_legacy_attributes);
  EXPECT_EQ(after->model.opset_of(""), 13);
  EXPECT_EQ(after->operations()[0]->num_inputs(), 3u);
}

TEST(FormatRewriteLegacyAttributes, RaiseIsAllOrNothing) {
  // Resize-10 nearest with an axis up and another down has no Resize-11 equivalent, so the
  // model stays at opset 10 and the Clip keeps its attributes too.
  auto g = make_graph(10);
  Variable* x = graph_input(*g, "x", {1, 1, 4, 4});
  Variable* mixed = param(*g, "mixed", Tensor::from_vector<float>({4}, {1, 1, 0.5f, 2}));
  graph_output(*g, add_op(*g, "Resize",
                          {add_op(*g, "Clip", {x}, {Attribute::make_float("min", 0)}), mixed}));
  rewrite_legacy_attributes(*g);
  EXPECT_EQ(g->model.opset_of(""), 10);
  EXPECT_TRUE(g->operations()[0]->has_attr("min"));
  EXPECT_EQ(g->operations()[1]->num_inputs(), 2u);
}

}  // namespace
}  // namespace qforge::testing
