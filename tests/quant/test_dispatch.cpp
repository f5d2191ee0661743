// SPDX-License-Identifier: Apache-2.0
// Dispatchers: regions grown from computing ops, shape computations kept in FP32, and the
// dispatching table overriding by name and type.
#include <gtest/gtest.h>

#include "qforge/dispatch.h"
#include "support/tiny_models.h"

namespace qforge {
namespace {

// x -> Conv -> Relu -> Reshape(shape from Shape(x) -> Gather -> Concat) -> Softmax
std::unique_ptr<Graph> model_with_shape_branch() {
  auto g = std::make_unique<Graph>();
  g->model.opset_imports = {{"", 13}};
  Variable* x = g->create_variable("x");
  g->add_graph_input(x);
  Variable* c = g->create_variable("c");
  Variable* r = g->create_variable("r");
  g->create_operation("Conv", "conv", {x, g->create_variable("w", testing::random_weights({4, 3, 1, 1}, 1, 1.0f))}, {c});
  g->create_operation("Relu", "relu", {c}, {r});
  Variable* shape = g->create_variable("shape");
  Variable* batch = g->create_variable("batch");
  Variable* target = g->create_variable("target");
  Variable* reshaped = g->create_variable("reshaped");
  Variable* y = g->create_variable("y");
  g->create_operation("Shape", "shape_of", {x}, {shape});
  g->create_operation("Gather", "gather", {shape, g->create_variable("zero", Tensor::from_vector<int64_t>({1}, {0}))}, {batch});
  g->create_operation("Concat", "cat_shape", {batch, g->create_variable("minus1", Tensor::from_vector<int64_t>({1}, {-1}))},
                      {target}, {Attribute::make_int("axis", 0)});
  g->create_operation("Reshape", "reshape", {r, target}, {reshaped});
  g->create_operation("Softmax", "softmax", {reshaped}, {y});
  g->add_graph_output(y);
  return g;
}

std::string platform_of(const Graph& g, const std::string& op) { return g.find_operation(op)->platform; }

TEST(Dispatch, ConservativeKeepsShapeMathInFloat) {
  auto g = model_with_shape_branch();
  const Platform trt = load_platform("trt_int8");
  dispatch_graph(*g, trt);
  EXPECT_EQ(platform_of(*g, "conv"), "TRT_INT8");
  EXPECT_EQ(platform_of(*g, "relu"), "TRT_INT8");
  EXPECT_EQ(platform_of(*g, "reshape"), "TRT_INT8");
  EXPECT_EQ(platform_of(*g, "shape_of"), kFP32);
  EXPECT_EQ(platform_of(*g, "gather"), kFP32);  // Gather is passive on TRT but computes a shape here
  EXPECT_EQ(platform_of(*g, "cat_shape"), kFP32);
  EXPECT_EQ(platform_of(*g, "softmax"), kFP32);  // not a TRT quantized type
}

TEST(Dispatch, OtherDispatchersAndTable) {
  const Platform trt = load_platform("trt_int8");
  auto g = model_with_shape_branch();
  dispatch_graph(*g, trt, "pointwise");
  EXPECT_EQ(platform_of(*g, "conv"), "TRT_INT8");
  EXPECT_EQ(platform_of(*g, "relu"), kFP32);
  dispatch_graph(*g, trt, "allin");
  EXPECT_EQ(platform_of(*g, "softmax"), "TRT_INT8");
  EXPECT_EQ(platform_of(*g, "shape_of"), kFP32);
  dispatch_graph(*g, trt, "conservative", {{"relu", "FP32"}, {"Conv", "FP32"}});
  EXPECT_EQ(platform_of(*g, "relu"), kFP32);
  EXPECT_EQ(platform_of(*g, "conv"), kFP32);
  EXPECT_THROW(dispatch_graph(*g, trt, "greedy"), Error);
  EXPECT_THROW(dispatch_graph(*g, trt, "conservative", {{"relu", "DSP"}}), Error);
  EXPECT_THROW(parse_dispatching_table("{\"relu\": 3}", "table.json"), Error);
}

TEST(Dispatch, TinyCnnAllOnPlatform) {
  auto g = testing::make_tiny_cnn();
  dispatch_graph(*g, load_platform("trt_int8"));
  for (const auto& op : g->operations()) EXPECT_EQ(op->platform, "TRT_INT8") << op->name;
}

}  // namespace
}  // namespace qforge
