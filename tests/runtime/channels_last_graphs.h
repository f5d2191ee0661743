// SPDX-License-Identifier: Apache-2.0
// What the tests of the channels-last pass (test_channels_last.cpp, test_conv_chain.cpp)
// share: small float graphs built one op at a time, running them before and after the pass,
// and comparing what they compute.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "qforge/channels_last.h"
#include "qforge/executor.h"
#include "support/test_support.h"

namespace qforge::channels_last_test {

inline constexpr double kRtol = 1e-4;
inline constexpr double kAtol = 1e-5;

inline Dim dim(int64_t value) {
  return Dim{value, ""};
}

struct ConvSpec {
  int64_t out = 8;
  std::vector<int64_t> kernel = {3, 3};
  std::vector<int64_t> strides, dilations, pads;  // empty: the ONNX defaults
  std::string auto_pad;                           // empty: NOTSET
  int64_t group = 1;
  bool bias = true;
  bool positive = false;          // weights > 0, bias <= 0: +Inf stays +Inf through it
  bool kernel_attr = true;        // false: kernel_shape left for the weights to give
  bool constant_weights = false;  // weights and bias from Constant ops, not initializers
};

inline ConvSpec spec(int64_t out, std::vector<int64_t> kernel) {
  ConvSpec s;
  s.out = out;
  s.kernel = std::move(kernel);
  return s;
}

// Builds small float graphs (opset 13) one op at a time; every op writes one variable named
// after it.
class GraphBuilder {
 public:
  GraphBuilder() {
    graph_->name = "channels_last_test";
    graph_->model.opset_imports = {{"", 13}};
  }

  // A graph input; `shape` empty leaves its shape unknown.
  Variable* input(const std::string& name, std::vector<Dim> shape) {
    Variable* x = graph_->create_variable(name);
    x->dtype = DataType::Float;
    if (!shape.empty()) x->shape = std::move(shape);
    graph_->add_graph_input(x);
    return x;
  }

  Variable* param(const std::string& name, Tensor value) {
    return graph_->create_variable(name, std::move(value));
  }

  Variable* op(const std::string& type, const std::string& name, std::vector<Variable*> inputs,
               std::vector<Attribute> attrs = {}) {
    Variable* out = graph_->create_variable(name);
    graph_->create_operation(type, name, inputs, {out}, std::move(attrs));
    return out;
  }

  // A Conv of `in` (with `channels` channels) with random weights scaled to keep values near 1.
  Variable* conv(const std::string& name, Variable* in, int64_t channels, const ConvSpec& s) {
    const int64_t fan_in = channels / s.group * s.kernel[0] * s.kernel[1];
    const float scale = std::sqrt(3.0f / static_cast<float>(fan_in));
    Tensor w = testing::random_tensor(DataType::Float,
                                      {s.out, channels / s.group, s.kernel[0], s.kernel[1]},
                                      seed_++, s.positive ? 0.05f : -scale, scale);
    const auto constant = [&](const std::string& var, Tensor value) {
      if (!s.constant_weights) return param(var, std::move(value));
      return op("Constant", var, {}, {Attribute::make_tensor("value", std::move(value))});
    };
    std::vector<Variable*> inputs{in, constant(name + ".w", std::move(w))};
    if (s.bias)
      inputs.push_back(
          constant(name + ".b", testing::random_tensor(DataType::Float, {s.out}, seed_++, -0.5f,
                                                       s.positive ? 0.0f : 0.5f)));
    std::vector<Attribute> attrs;
    if (s.kernel_attr) attrs.push_back(Attribute::make_ints("kernel_shape", s.kernel));
    if (!s.strides.empty()) attrs.push_back(Attribute::make_ints("strides", s.strides));
    if (!s.dilations.empty()) attrs.push_back(Attribute::make_ints("dilations", s.dilations));
    if (!s.pads.empty()) attrs.push_back(Attribute::make_ints("pads", s.pads));
    if (!s.auto_pad.empty()) attrs.push_back(Attribute::make_string("auto_pad", s.auto_pad));
    if (s.group != 1) attrs.push_back(Attribute::make_int("group", s.group));
    return op("Conv", name, inputs, std::move(attrs));
  }

  // A 3x3 Conv with pads 1 (same size) and bias.
  Variable* conv3x3(const std::string& name, Variable* in, int64_t channels, int64_t out) {
    ConvSpec s;
    s.out = out;
    s.pads = {1, 1, 1, 1};
    return conv(name, in, channels, s);
  }

  // Clip (opset 13) with its min from an initializer and its max from a Constant op.
  Variable* clip(const std::string& name, Variable* in, float lo, float hi) {
    Variable* min = param(name + ".min", Tensor::scalar<float>(lo));
    Variable* max = op("Constant", name + ".max", {},
                       {Attribute::make_tensor("value", Tensor::scalar<float>(hi))});
    return op("Clip", name, {in, min, max});
  }

  void output(Variable* v) { graph_->add_graph_output(v); }

  // Records every op output's dtype and shape by running the graph once.
  void trace(const std::map<std::string, Tensor>& inputs) {
    trace_operation_meta(*graph_, inputs, ExecutorOptions{1});
  }

  Graph& graph() { return *graph_; }
  std::unique_ptr<Graph> take() { return std::move(graph_); }

 private:
  std::unique_ptr<Graph> graph_ = std::make_unique<Graph>();
  uint32_t seed_ = 100;
};

// compare_tensors, plus NaN and +-Inf in the same places (compare_tensors accepts any value
// where the expected one is infinite).
inline std::string mismatch(const Tensor& actual, const Tensor& expected) {
  std::string diff = testing::compare_tensors(actual, expected, kRtol, kAtol);
  if (!diff.empty()) return diff;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const double a = actual.value_as_double(i), e = expected.value_as_double(i);
    if (std::isnan(a) != std::isnan(e) || (std::isinf(e) && a != e) || (std::isinf(a) && a != e))
      return fmt::format("element {}: {} vs expected {}", i, a, e);
  }
  return "";
}

// `unfused`: with a hook set, the executor runs every Relu/Clip as its own op.
inline std::map<std::string, Tensor> run(const Graph& graph,
                                         const std::map<std::string, Tensor>& in,
                                         bool unfused = false) {
  Executor executor(graph, ExecutorOptions{1});
  if (unfused) executor.add_after_hook(nullptr, [](const Operation&, const auto&) {});
  return executor.run_named(in);
}

inline std::vector<std::string> output_names(const Graph& graph) {
  std::vector<std::string> names;
  for (const Variable* v : graph.outputs()) names.push_back(v->name);
  return names;
}

inline int count_ops(const Graph& graph, const std::string& type) {
  int n = 0;
  for (const auto& op : graph.operations()) n += op->type == type;
  return n;
}

// "name:domain:type inputs..." of every op, sorted: a pass that changes nothing keeps them.
inline std::vector<std::string> op_signatures(const Graph& graph) {
  std::vector<std::string> out;
  for (const auto& op : graph.operations()) {
    std::string s = op->name + ":" + op->domain + ":" + op->type;
    for (const Variable* in : op->inputs()) s += " " + (in ? in->name : std::string("-"));
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct Converted {
  std::unique_ptr<Graph> graph;
  ChannelsLastSummary summary;
};

// The tests' Convs and values are small: no limit on oneDNN's memory per Conv. With inputs that
// hold NaN or Inf, as `qforge run` decides: no fused activations, no Winograd.
inline ChannelsLastOptions small_convs(int threads = 1, bool finite_inputs = true) {
  ChannelsLastOptions options;
  options.threads = threads;
  options.fuse_activations = options.winograd = finite_inputs;
  options.conv_overhead_bytes = 0;
  return options;
}

// Converts a copy of `graph` and expects it to compute the same outputs, under the same names
// and declared shapes, as `graph` on `inputs` (run with the executor's own Conv + Relu/Clip
// fusion unless `unfused_reference`).
inline Converted convert_and_compare(const Graph& graph,
                                     const std::map<std::string, Tensor>& inputs,
                                     ChannelsLastOptions options = small_convs(),
                                     bool unfused_reference = false) {
  Converted c{graph.deep_copy(), {}};
  c.summary = convert_to_channels_last(*c.graph, options);
  EXPECT_EQ(output_names(*c.graph), output_names(graph));
  for (size_t i = 0; i < graph.outputs().size() && i < c.graph->outputs().size(); ++i)
    EXPECT_EQ(c.graph->outputs()[i]->shape, graph.outputs()[i]->shape) << graph.outputs()[i]->name;
  const auto expected = run(graph, inputs, unfused_reference);
  const auto actual = run(*c.graph, inputs);
  EXPECT_EQ(actual.size(), expected.size());
  for (const auto& [name, want] : expected) {
    auto it = actual.find(name);
    if (it == actual.end()) {
      ADD_FAILURE() << "output '" << name << "' missing after the pass";
      continue;
    }
    const std::string diff = mismatch(it->second, want);
    EXPECT_TRUE(diff.empty()) << "output '" << name << "': " << diff;
  }
  return c;
}

inline Tensor random_input(const Shape& shape, uint32_t seed = 7) {
  return testing::random_tensor(DataType::Float, shape, seed);
}

inline std::string run_error(const Graph& graph, const std::map<std::string, Tensor>& inputs,
                             ErrorKind* kind) {
  try {
    run(graph, inputs);
  } catch (const Error& e) {
    *kind = e.kind();
    return e.what();
  }
  return "";
}

// Running `graph` fails with an error of `kind` whose message holds each of `parts`.
inline void expect_error(const Graph& graph, const std::map<std::string, Tensor>& inputs,
                         ErrorKind kind, std::initializer_list<std::string> parts) {
  ErrorKind got = ErrorKind::Internal;
  const std::string error = run_error(graph, inputs, &got);
  for (const std::string& part : parts)
    EXPECT_NE(error.find(part), std::string::npos) << "'" << part << "' not in: " << error;
  EXPECT_EQ(got, kind) << error;
}

}  // namespace qforge::channels_last_test
