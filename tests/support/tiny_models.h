// SPDX-License-Identifier: Apache-2.0
// Small float models built in code for quantization tests: a CNN with the patterns that
// matter (Conv+Relu fusion, MaxPool, residual Add, Concat, GlobalAveragePool, Gemm) and a
// shape-computing branch (Shape -> Gather -> Concat -> Reshape).
#pragma once

#include <memory>
#include <random>

#include "qforge/graph.h"

namespace qforge::testing {

inline Tensor random_weights(const Shape& shape, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  Tensor t(DataType::Float, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// x [N, 3, 16, 16] -> ... -> y [N, 10]
inline std::unique_ptr<Graph> make_tiny_cnn() {
  auto g = std::make_unique<Graph>();
  g->name = "tiny_cnn";
  g->model.ir_version = 8;
  g->model.opset_imports = {{"", 13}};
  auto var = [&](const std::string& name) { return g->create_variable(name); };
  auto param = [&](const std::string& name, const Shape& shape, uint32_t seed, float scale) {
    return g->create_variable(name, random_weights(shape, seed, scale));
  };
  Variable* x = var("x");
  x->dtype = DataType::Float;
  x->shape = std::vector<Dim>{{-1, "N"}, {3, ""}, {16, ""}, {16, ""}};
  g->add_graph_input(x);
  auto conv = [&](const std::string& name, Variable* in, int64_t cin, int64_t cout, int64_t k, uint32_t seed) {
    Variable* out = var(name + "_out");
    g->create_operation("Conv", name, {in, param(name + ".w", {cout, cin, k, k}, seed, 0.3f), param(name + ".b", {cout}, seed + 1, 0.1f)},
                        {out}, {Attribute::make_ints("pads", {k / 2, k / 2, k / 2, k / 2})});
    return out;
  };
  Variable* c1 = conv("conv1", x, 3, 8, 3, 1);
  Variable* r1 = var("relu1_out");
  g->create_operation("Relu", "relu1", {c1}, {r1});
  Variable* p = var("pool_out");
  g->create_operation("MaxPool", "pool", {r1}, {p},
                      {Attribute::make_ints("kernel_shape", {2, 2}), Attribute::make_ints("strides", {2, 2})});
  Variable* c2 = conv("conv2", p, 8, 8, 3, 3);
  Variable* c3 = conv("conv3", p, 8, 8, 1, 5);
  Variable* a = var("add_out");
  g->create_operation("Add", "add", {c2, c3}, {a});
  Variable* r2 = var("relu2_out");
  g->create_operation("Relu", "relu2", {a}, {r2});
  Variable* cat = var("concat_out");
  g->create_operation("Concat", "concat", {r2, p}, {cat}, {Attribute::make_int("axis", 1)});
  Variable* gap = var("gap_out");
  g->create_operation("GlobalAveragePool", "gap", {cat}, {gap});
  Variable* flat = var("flat_out");
  g->create_operation("Flatten", "flatten", {gap}, {flat}, {Attribute::make_int("axis", 1)});
  Variable* y = var("y");
  y->dtype = DataType::Float;
  g->create_operation("Gemm", "fc", {flat, param("fc.w", {10, 16}, 7, 0.3f), param("fc.b", {10}, 8, 0.1f)}, {y},
                      {Attribute::make_int("transB", 1)});
  g->add_graph_output(y);
  return g;
}

}  // namespace qforge::testing
