// SPDX-License-Identifier: Apache-2.0
// The channels-last pass (src/runtime/channels_last.cpp) with its ChannelsLastConv and
// ChannelsLastMaxPool/AveragePool kernels: small graphs built here run through the executor
// before and after the pass and must give the same outputs; the pass's summary and the
// converted graph's ops are checked (fused Relu/Clip and residual Adds, element-wise ops and
// Concat axes, pooling variants, chains that do not pay, graph outputs and values read by If
// bodies inside chains, dynamic batch, unfused activations on NaN/Inf, and Convs the pass must
// leave alone).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "channels_last_graphs.h"
#include "qforge/channels_last.h"
#include "qforge/executor.h"
#include "support/test_support.h"

namespace qforge {
namespace {

using namespace channels_last_test;

// The Transpose whose input or output is `name`.
const Operation* transpose_at(const Graph& graph, const std::string& name) {
  for (const auto& op : graph.operations())
    if (op->type == "Transpose" && ((op->input(0) && op->input(0)->name == name) ||
                                    (op->output(0) && op->output(0)->name == name)))
      return op.get();
  return nullptr;
}

const std::vector<int64_t> kToChannelsLast{0, 2, 3, 1};
const std::vector<int64_t> kToChannelsFirst{0, 3, 1, 2};

// x -> `convs` same-size 3x3 Convs: two conversions (x in, the last Conv's output out).
std::unique_ptr<Graph> conv_chain(int convs, const Shape& x_shape) {
  GraphBuilder b;
  Variable* v = b.input("x", {dim(x_shape[0]), dim(x_shape[1]), dim(x_shape[2]), dim(x_shape[3])});
  int64_t channels = x_shape[1];
  for (int i = 0; i < convs; ++i) {
    v = b.conv3x3("conv" + std::to_string(i), v, channels, 8);
    channels = 8;
  }
  b.output(v);
  b.trace({{"x", random_input(x_shape)}});
  return b.take();
}

// Global pools read the chain's value and write the NCHW output themselves.
TEST(ChannelsLast, GlobalPoolsEndTheChain) {
  for (const char* type : {"GlobalAveragePool", "GlobalMaxPool"}) {
    SCOPED_TRACE(type);
    GraphBuilder b;
    Variable* v = b.input("x", {dim(2), dim(3), dim(9), dim(7)});
    for (int i = 0; i < 4; ++i) v = b.conv3x3("conv" + std::to_string(i), v, i ? 16 : 3, 16);
    b.output(b.op(type, "global", {v}));
    const Tensor input = random_input({2, 3, 9, 7});
    b.trace({{"x", input}});
    const Converted c = convert_and_compare(b.graph(), {{"x", input}});
    EXPECT_EQ(c.summary.pools, 1);
    EXPECT_EQ(c.summary.transposes, 1);
    EXPECT_EQ(count_ops(*c.graph, std::string("ChannelsLast") + type), 1);
  }
}

// x -> conv_a -> Relu -> conv_b, + conv_shortcut(x) -> Relu -> MaxPool 3x3/2 -> conv_c -> Clip
// (0, 6) -> GlobalAveragePool. The Add runs inside the later of conv_b / conv_shortcut, and the
// Relu after it with it; the GlobalAveragePool ends the chain without a Transpose.
TEST(ChannelsLast, ResnetLikeBlock) {
  GraphBuilder b;
  Variable* x = b.input("x", {dim(1), dim(8), dim(16), dim(16)});
  Variable* c1 = b.conv3x3("conv_a", x, 8, 16);
  Variable* r1 = b.op("Relu", "relu_a", {c1});
  Variable* c2 = b.conv3x3("conv_b", r1, 16, 16);
  ConvSpec shortcut = spec(16, {1, 1});
  Variable* s = b.conv("conv_shortcut", x, 8, shortcut);
  Variable* sum = b.op("Add", "add", {c2, s});
  Variable* r2 = b.op("Relu", "relu_add", {sum});
  Variable* p =
      b.op("MaxPool", "pool", {r2},
           {Attribute::make_ints("kernel_shape", {3, 3}), Attribute::make_ints("strides", {2, 2}),
            Attribute::make_ints("pads", {1, 1, 1, 1})});
  Variable* c3 = b.conv3x3("conv_c", p, 16, 24);
  Variable* clipped = b.clip("clip", c3, 0.0f, 6.0f);
  b.output(b.op("GlobalAveragePool", "gap", {clipped}));
  const Tensor input = testing::random_tensor(DataType::Float, {1, 8, 16, 16}, 3, -2.0f, 2.0f);
  b.trace({{"x", input}});

  const Converted c = convert_and_compare(b.graph(), {{"x", input}});
  EXPECT_EQ(c.summary.convs, 4);
  EXPECT_EQ(c.summary.fused_adds, 1);
  EXPECT_EQ(c.summary.fused_activations, 3);  // relu_a, relu_add (after the fused Add), clip
  EXPECT_EQ(c.summary.pools, 2);              // MaxPool, and GlobalAveragePool ending the chain
  EXPECT_EQ(c.summary.other_ops, 0);
  EXPECT_EQ(c.summary.transposes, 1);  // x in; [N, 1, 1, C] is [N, C, 1, 1] out of the pool
  const Graph& g = *c.graph;
  EXPECT_EQ(count_ops(g, "ChannelsLastConv"), 4);
  EXPECT_EQ(count_ops(g, "ChannelsLastMaxPool"), 1);
  EXPECT_EQ(count_ops(g, "ChannelsLastGlobalAveragePool"), 1);
  for (const char* gone : {"Conv", "MaxPool", "Clip", "Relu", "Add", "GlobalAveragePool"})
    EXPECT_EQ(count_ops(g, gone), 0) << gone;
  EXPECT_EQ(count_ops(g, "Transpose"), 1);
  int with_residual = 0;
  for (const auto& op : g.operations()) {
    if (op->type.rfind("ChannelsLast", 0) == 0) {
      EXPECT_EQ(op->domain, "ai.qforge") << op->name;
    }
    with_residual += op->type == "ChannelsLastConv" && op->num_inputs() == 4;
  }
  EXPECT_EQ(with_residual, 1);
  const Operation* in = transpose_at(g, "x");
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(in->attr_ints("perm"), kToChannelsLast);
  const Operation* gap = g.find_operation("gap");
  ASSERT_NE(gap, nullptr);
  EXPECT_EQ(gap->output(0)->name, g.outputs()[0]->name);
  const Operation* conv_c = g.find_operation("conv_c");
  ASSERT_NE(conv_c, nullptr);
  EXPECT_EQ(conv_c->attr_string("activation", ""), "Clip");
  EXPECT_EQ(conv_c->attr_float("clip_min", -1.0f), 0.0f);
  EXPECT_EQ(conv_c->attr_float("clip_max", -1.0f), 6.0f);
  EXPECT_EQ(g.find_operation("conv_a")->attr_string("activation", ""), "Relu");
  EXPECT_EQ(g.model.opset_of("ai.qforge"), 1);
}

// ResNet's identity shortcut, with batch 2: stem -> Relu = r0; conv_a -> Relu -> conv_b, + r0.
// r0 is read once more afterwards (variant 1: by a later Add, variant 2: also as a graph
// output), so the residual's buffer must not be overwritten. Then y = conv(r) + r, the Conv's
// own input as the residual.
TEST(ChannelsLast, ResidualAddsWithIdentityShortcut) {
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE("variant " + std::to_string(variant));
    GraphBuilder b;
    Variable* x = b.input("x", {dim(2), dim(6), dim(10), dim(10)});
    Variable* r0 = b.op("Relu", "relu0", {b.conv3x3("stem", x, 6, 16)});
    Variable* r1 = b.op("Relu", "relu1", {b.conv3x3("conv_a", r0, 16, 16)});
    Variable* v = b.op("Add", "add", {r0, b.conv3x3("conv_b", r1, 16, 16)});
    if (variant >= 1) v = b.op("Add", "add_again", {v, r0});
    if (variant == 2) b.output(r0);
    v = b.op("Relu", "relu2", {v});
    v = b.op("Add", "self_residual", {b.conv3x3("conv_c", v, 16, 16), v});
    b.output(b.conv3x3("conv_out", b.conv3x3("conv_d", v, 16, 16), 16, 8));
    const Tensor input = random_input({2, 6, 10, 10});
    b.trace({{"x", input}});
    const Converted c = convert_and_compare(b.graph(), {{"x", input}});
    EXPECT_EQ(c.summary.convs, 6);
    EXPECT_EQ(c.summary.fused_adds, 2);  // add, self_residual
    // Variant 0: relu2 runs inside conv_b with the Add; else add_again and relu2 stay ops.
    EXPECT_EQ(c.summary.other_ops, variant >= 1 ? 2 : 0);
    EXPECT_EQ(c.summary.transposes, variant == 2 ? 3 : 2);
    EXPECT_EQ(count_ops(*c.graph, "Add"), variant >= 1 ? 1 : 0);
  }
}

struct ChainCase {
  const char* name;
  Shape x;
  std::vector<ConvSpec> convs;
};

std::vector<ChainCase> conv_variety() {
  std::vector<ChainCase> cases;
  {
    ChainCase c{
        "stride 2 asymmetric pads, depthwise dilated, grouped SAME_UPPER", {1, 3, 17, 19}, {}};
    ConvSpec a = spec(24, {3, 3});
    a.strides = {2, 2};
    a.pads = {0, 1, 2, 1};
    ConvSpec dw = spec(24, {3, 3});
    dw.group = 24;
    dw.dilations = {2, 2};
    dw.pads = {2, 2, 2, 2};
    dw.bias = false;
    ConvSpec grouped = spec(40, {3, 3});
    grouped.group = 4;
    grouped.auto_pad = "SAME_UPPER";
    grouped.strides = {2, 2};
    ConvSpec pw = spec(40, {1, 1});
    pw.bias = false;
    ConvSpec last = spec(24, {3, 3});
    last.dilations = {2, 1};
    last.strides = {1, 2};
    last.pads = {2, 1, 1, 0};
    c.convs = {a, dw, grouped, pw, last};
    cases.push_back(c);
  }
  {
    ChainCase c{"batch 2, 5x5 depthwise SAME_UPPER, channel multiplier, 1x3", {2, 40, 14, 13}, {}};
    ConvSpec dw = spec(40, {5, 5});
    dw.group = 40;
    dw.strides = {2, 2};
    dw.auto_pad = "SAME_UPPER";
    ConvSpec pw = spec(24, {1, 1});
    ConvSpec mult = spec(48, {3, 3});
    mult.group = 24;
    mult.pads = {1, 1, 1, 1};
    mult.bias = false;
    ConvSpec grouped = spec(6, {3, 3});
    grouped.group = 2;
    grouped.dilations = {2, 2};
    grouped.auto_pad = "SAME_UPPER";
    ConvSpec wide = spec(3, {1, 3});
    wide.pads = {0, 2, 0, 0};
    wide.bias = false;
    c.convs = {dw, pw, mult, grouped, wide};
    cases.push_back(c);
  }
  {
    ChainCase c{"VALID, SAME_LOWER, no kernel_shape attribute", {1, 7, 16, 15}, {}};
    ConvSpec valid = spec(16, {3, 3});
    valid.auto_pad = "VALID";
    valid.kernel_attr = false;
    ConvSpec lower = spec(16, {4, 4});
    lower.auto_pad = "SAME_LOWER";
    lower.strides = {2, 1};
    ConvSpec pw = spec(10, {1, 1});
    pw.kernel_attr = false;
    ConvSpec lower_dw = spec(10, {3, 3});
    lower_dw.auto_pad = "SAME_LOWER";
    lower_dw.group = 10;
    lower_dw.strides = {2, 2};
    c.convs = {valid, lower, pw, lower_dw};
    cases.push_back(c);
  }
  return cases;
}

TEST(ChannelsLast, ConvVariety) {
  for (const ChainCase& cc : conv_variety()) {
    SCOPED_TRACE(cc.name);
    GraphBuilder b;
    Variable* v = b.input("x", {dim(cc.x[0]), dim(cc.x[1]), dim(cc.x[2]), dim(cc.x[3])});
    int64_t channels = cc.x[1];
    for (size_t i = 0; i < cc.convs.size(); ++i) {
      v = b.conv("conv" + std::to_string(i), v, channels, cc.convs[i]);
      channels = cc.convs[i].out;
    }
    b.output(v);
    const Tensor input = random_input(cc.x);
    b.trace({{"x", input}});
    const Converted c = convert_and_compare(b.graph(), {{"x", input}});
    EXPECT_EQ(c.summary.convs, static_cast<int>(cc.convs.size()));
    EXPECT_EQ(c.summary.transposes, 2);
    EXPECT_EQ(count_ops(*c.graph, "Conv"), 0);
  }
}

TEST(ChannelsLast, WeightsFromConstantOps) {
  GraphBuilder b;
  Variable* v = b.input("x", {dim(1), dim(4), dim(9), dim(9)});
  for (int i = 0; i < 4; ++i) {
    ConvSpec s = spec(8, {3, 3});
    s.pads = {1, 1, 1, 1};
    s.constant_weights = true;
    s.bias = i % 2 == 0;
    v = b.conv("conv" + std::to_string(i), v, i ? 8 : 4, s);
  }
  b.output(v);
  const Tensor input = random_input({1, 4, 9, 9});
  b.trace({{"x", input}});
  const Converted c = convert_and_compare(b.graph(), {{"x", input}});
  EXPECT_EQ(c.summary.convs, 4);
  EXPECT_EQ(count_ops(*c.graph, "ChannelsLastConv"), 4);
}

// Weights packed for more threads than the executor runs: the kernel reorders them for the
// implementation it gets and must still compute the same.
TEST(ChannelsLast, PackedForAnotherThreadCount) {
  const auto g = conv_chain(4, {1, 16, 12, 12});
  const Tensor x = random_input({1, 16, 12, 12});
  const Converted c = convert_and_compare(*g, {{"x", x}}, small_convs(8));
  EXPECT_EQ(c.summary.convs, 4);
  // Weights the kernel reordered are kept between runs when the executor allows it.
  const Tensor want = run(*g, {{"x", x}}).at("conv3");
  Executor keep(*c.graph, ExecutorOptions{1, true});
  for (int i = 0; i < 2; ++i) {
    const std::string diff = mismatch(keep.run({{"x", x}}).at(0), want);
    EXPECT_TRUE(diff.empty()) << "run " << i << ": " << diff;
  }
}

// x [N, 8, 12, 12] -> Conv -> Relu -> MaxPool -> Conv -> * 0.5 (Mul by a scalar) -> Conv,
// Conv -> Add (runs inside the second Conv) -> Sigmoid -> y.
std::unique_ptr<Graph> dynamic_batch_graph(bool symbolic_everywhere) {
  GraphBuilder b;
  Variable* x = b.input("x", {Dim{-1, "N"}, dim(8), dim(12), dim(12)});
  Variable* r = b.op("Relu", "relu", {b.conv3x3("conv0", x, 8, 16)});
  Variable* p =
      b.op("MaxPool", "pool", {r},
           {Attribute::make_ints("kernel_shape", {2, 2}), Attribute::make_ints("strides", {2, 2})});
  Variable* c1 = b.conv3x3("conv1", p, 16, 16);
  Variable* half = b.op("Mul", "half", {c1, b.param("half.k", Tensor::scalar<float>(0.5f))});
  Variable* c2 = b.conv3x3("conv2", half, 16, 16);
  ConvSpec one = spec(16, {1, 1});
  Variable* c3 = b.conv("conv3", half, 16, one);
  Variable* sum = b.op("Add", "add", {c2, c3});
  b.output(b.op("Sigmoid", "sigmoid", {sum}));
  b.trace({{"x", random_input({1, 8, 12, 12})}});
  // As ONNX shape inference leaves them: the batch stays symbolic on every value.
  if (symbolic_everywhere)
    for (const auto& v : b.graph().variables())
      if (!v->is_parameter() && v->shape && v->shape->size() == 4) (*v->shape)[0] = Dim{-1, "N"};
  return b.take();
}

TEST(ChannelsLast, DynamicBatch) {
  for (bool symbolic : {true, false}) {
    SCOPED_TRACE(symbolic ? "symbolic batch on every value" : "values traced with batch 1");
    const auto g = dynamic_batch_graph(symbolic);
    auto converted = g->deep_copy();
    const ChannelsLastSummary s = convert_to_channels_last(*converted, small_convs());
    EXPECT_EQ(s.convs, 4);
    EXPECT_EQ(s.pools, 1);
    EXPECT_EQ(s.other_ops, 2);  // half, sigmoid
    EXPECT_EQ(s.fused_adds, 1);
    EXPECT_EQ(s.fused_activations, 1);
    EXPECT_EQ(s.transposes, 2);
    EXPECT_EQ((*converted->inputs()[0]->shape)[0], (Dim{-1, "N"}));
    Executor before(*g, ExecutorOptions{1}), after(*converted, ExecutorOptions{1});
    for (int64_t batch : {1, 3, 1}) {
      SCOPED_TRACE("batch " + std::to_string(batch));
      const Tensor x = random_input({batch, 8, 12, 12}, static_cast<uint32_t>(batch) + 11);
      const auto want = before.run({{"x", x}});
      const auto got = after.run({{"x", x}});
      ASSERT_EQ(got.size(), 1u);
      EXPECT_EQ(got[0].shape(), (Shape{batch, 16, 6, 6}));
      const std::string diff = mismatch(got[0], want.at(0));
      EXPECT_TRUE(diff.empty()) << diff;
    }
  }
}

TEST(ChannelsLast, ChainThatDoesNotPayIsLeftAlone) {
  GraphBuilder b;
  Variable* x = b.input("x", {dim(1), dim(4), dim(8), dim(8)});
  Variable* c = b.conv3x3("conv", x, 4, 6);
  b.output(c);
  b.output(b.op("Softmax", "softmax", {c}, {Attribute::make_int("axis", 1)}));
  const Tensor input = random_input({1, 4, 8, 8});
  b.trace({{"x", input}});
  const Converted conv = convert_and_compare(b.graph(), {{"x", input}});
  EXPECT_EQ(conv.summary.convs, 0);
  EXPECT_EQ(conv.summary.transposes, 0);
  EXPECT_EQ(conv.summary.other_ops, 0);
  EXPECT_EQ(op_signatures(*conv.graph), op_signatures(b.graph()));
  EXPECT_EQ(conv.graph->model.opset_of("ai.qforge"), 0);
}

// 2 * conversions <= convs: a plain chain (one conversion in, one out) pays from 4 Convs on.
TEST(ChannelsLast, ChainPaysFromFourConvs) {
  for (int convs : {3, 4}) {
    SCOPED_TRACE(std::to_string(convs) + " convs");
    const auto g = conv_chain(convs, {1, 4, 9, 9});
    const Converted c = convert_and_compare(*g, {{"x", random_input({1, 4, 9, 9})}});
    EXPECT_EQ(c.summary.convs, convs == 4 ? 4 : 0);
    EXPECT_EQ(c.summary.transposes, convs == 4 ? 2 : 0);
    if (convs == 3) {
      EXPECT_EQ(op_signatures(*c.graph), op_signatures(*g));
    }
  }
}

// oneDNN's memory per Conv outweighs small chains: by default the Convs' weights plus the
// largest value must hold twice 72 KiB per Conv (8 -> 8 channels 3x3 on 6x6: 2.3 KiB a Conv;
// 128 -> 128: 576 KiB).
TEST(ChannelsLast, ChainOfSmallConvsStaysNchw) {
  for (int64_t channels : {8, 128}) {
    SCOPED_TRACE(std::to_string(channels) + " channels");
    GraphBuilder b;
    Variable* v = b.input("x", {dim(1), dim(channels), dim(6), dim(6)});
    for (int i = 0; i < 4; ++i) v = b.conv3x3("conv" + std::to_string(i), v, channels, channels);
    b.output(v);
    const Tensor input = random_input({1, channels, 6, 6});
    b.trace({{"x", input}});
    ChannelsLastOptions options;
    options.threads = 1;
    const Converted c = convert_and_compare(b.graph(), {{"x", input}}, options);
    EXPECT_EQ(c.summary.convs, channels == 128 ? 4 : 0);
  }
}

// A model that starts with its own Transpose from channels-last data and ends with Transposes
// back (as converted from TensorFlow, like BlazeFace): the chain reads and writes around them,
// with no Transpose of its own; a ConstantOfShape zero fill that pads channels joins through its
// Concat.
TEST(ChannelsLast, FoldsModelTransposesAndJoinsChannelFills) {
  GraphBuilder b;
  Variable* x = b.input("x", {dim(1), dim(9), dim(9), dim(4)});
  Variable* v = b.op("Transpose", "to_nchw", {x}, {Attribute::make_ints("perm", kToChannelsFirst)});
  for (int i = 0; i < 4; ++i) v = b.conv3x3("conv" + std::to_string(i), v, i ? 8 : 4, 8);
  Variable* fill = b.op("ConstantOfShape", "fill",
                        {b.param("fill_shape", Tensor::from_vector<int64_t>({4}, {1, 3, 9, 9}))});
  Variable* padded = b.op("Concat", "pad_channels", {v, fill}, {Attribute::make_int("axis", 1)});
  Variable* back =
      b.op("Transpose", "to_nhwc", {padded}, {Attribute::make_ints("perm", kToChannelsLast)});
  b.output(b.op("Relu", "head", {back}));
  const Tensor input = random_input({1, 9, 9, 4});
  b.trace({{"x", input}});
  const Converted c = convert_and_compare(b.graph(), {{"x", input}});
  EXPECT_EQ(c.summary.convs, 4);
  EXPECT_EQ(c.summary.transposes, 0);
  EXPECT_EQ(count_ops(*c.graph, "Transpose"), 0);
  const Operation* concat = c.graph->find_operation("pad_channels");
  ASSERT_NE(concat, nullptr);
  EXPECT_EQ(concat->attr_int("axis", 1), 3);
  EXPECT_EQ(concat->input(1)->producer()->type, "ConstantOfShape");
  EXPECT_EQ(concat->input(1)->producer()->input(0)->value.to_int64_vector(),
            (std::vector<int64_t>{1, 9, 9, 3}));
}

// x -> conv0 -> Relu -> conv1 = "mid" (output, read on) -> conv2 -> Relu = "act" (output, read
// on) -> conv3 .. conv7 -> "y": four conversions for eight Convs.
TEST(ChannelsLast, GraphOutputInsideChainStaysChannelsFirst) {
  GraphBuilder b;
  Variable* x = b.input("x", {dim(1), dim(5), dim(10), dim(10)});
  Variable* r0 = b.op("Relu", "relu0", {b.conv3x3("conv0", x, 5, 8)});
  Variable* mid = b.conv3x3("mid", r0, 8, 8);
  Variable* act = b.op("Relu", "act", {b.conv3x3("conv2", mid, 8, 8)});
  Variable* v = act;
  for (int i = 3; i < 8; ++i) v = b.conv3x3("conv" + std::to_string(i), v, 8, 8);
  b.output(mid);
  b.output(act);
  b.output(v);
  const Tensor input = random_input({1, 5, 10, 10});
  b.trace({{"x", input}});
  const Converted c = convert_and_compare(b.graph(), {{"x", input}});
  EXPECT_EQ(c.summary.convs, 8);
  EXPECT_EQ(c.summary.fused_activations, 2);  // relu0 and act (an output after the Conv)
  EXPECT_EQ(c.summary.transposes, 4);
  const std::vector<std::string> want_names{"mid", "act", "conv7"};
  ASSERT_EQ(output_names(*c.graph), want_names);
  for (const std::string& name : want_names) {
    const Variable* var = c.graph->find_variable(name);
    ASSERT_NE(var, nullptr) << name;
    ASSERT_TRUE(var->shape.has_value()) << name;
    EXPECT_EQ(*var->shape, (std::vector<Dim>{dim(1), dim(8), dim(10), dim(10)})) << name;
    ASSERT_NE(var->producer(), nullptr) << name;
    EXPECT_EQ(var->producer()->type, "Transpose") << name;
    EXPECT_EQ(var->producer()->attr_ints("perm"), kToChannelsFirst) << name;
  }
  // The Convs reading "mid" and "act" read their channels-last twins, not the outputs.
  EXPECT_EQ(c.graph->find_variable("mid")->consumers().size(), 0u);
  EXPECT_EQ(c.graph->find_variable("act")->consumers().size(), 0u);
  const auto out = run(*c.graph, {{"x", input}});
  for (const std::string& name : want_names)
    EXPECT_EQ(out.at(name).shape(), (Shape{1, 8, 10, 10})) << name;
}

bool has_nan(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (std::isnan(t.value_as_double(i))) return true;
  return false;
}

bool has_value(const Tensor& t, double value) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (t.value_as_double(i) == value) return true;
  return false;
}

// Relu and Clip stay ops of their own and the convs direct (conv_b would run Winograd's
// transforms, which subtract neighbouring values): NaN and Inf come out where the ONNX ops put
// them.
TEST(ChannelsLast, UnfusedActivationsKeepNanAndInf) {
  GraphBuilder b;
  Variable* x = b.input("x", {dim(1), dim(4), dim(16), dim(16)});
  Variable* a = b.op("Relu", "relu_a", {b.conv3x3("conv_a", x, 4, 16)});
  ConvSpec positive = spec(16, {3, 3});
  positive.pads = {1, 1, 1, 1};
  positive.positive = true;
  a = b.op("Relu", "relu_b", {b.conv("conv_b", a, 16, positive)});
  Variable* c = b.clip("clip_c", b.conv3x3("conv_c", x, 4, 6), 0.0f, 6.0f);
  c = b.clip("clip_d", b.conv3x3("conv_d", c, 6, 6), -0.5f, 2.0f);
  b.output(b.op("Concat", "concat", {a, c}, {Attribute::make_int("axis", 1)}));
  Tensor input = random_input({1, 4, 16, 16});
  b.trace({{"x", input}});
  float* p = input.data<float>();
  p[2 * 16 + 3] = std::numeric_limits<float>::quiet_NaN();             // channel 0, (2, 3)
  p[16 * 16 + 12 * 16 + 12] = std::numeric_limits<float>::infinity();  // channel 1, (12, 12)

  const Converted conv = convert_and_compare(b.graph(), {{"x", input}}, small_convs(1, false));
  EXPECT_EQ(conv.summary.convs, 4);
  EXPECT_EQ(conv.summary.fused_activations, 0);
  EXPECT_EQ(conv.summary.winograd_convs, 0);
  EXPECT_EQ(count_ops(*conv.graph, "Relu"), 2);
  EXPECT_EQ(count_ops(*conv.graph, "Clip"), 2);
  for (const auto& op : conv.graph->operations())
    EXPECT_FALSE(op->has_attr("activation")) << op->name;
  // The comparison above means something only when NaN and Inf reach the output.
  const Tensor expected = run(b.graph(), {{"x", input}}).at("concat");
  EXPECT_TRUE(has_nan(expected));
  EXPECT_TRUE(has_value(expected, std::numeric_limits<double>::infinity()));
}

TEST(ChannelsLast, ConcatAlongChannels) {
  for (int64_t axis : {1, -3}) {
    SCOPED_TRACE("axis " + std::to_string(axis));
    GraphBuilder b;
    Variable* x = b.input("x", {dim(1), dim(5), dim(12), dim(12)});
    Variable* l = b.conv3x3("conv_l", x, 5, 8);
    ConvSpec one = spec(12, {1, 1});
    Variable* r = b.conv("conv_r", x, 5, one);
    Variable* cat = b.op("Concat", "concat", {l, r}, {Attribute::make_int("axis", axis)});
    Variable* v = b.op("Relu", "relu", {b.conv3x3("conv_m", cat, 20, 16)});
    b.output(b.conv3x3("conv_out", v, 16, 8));
    const Tensor input = random_input({1, 5, 12, 12});
    b.trace({{"x", input}});
    const Converted c = convert_and_compare(b.graph(), {{"x", input}});
    EXPECT_EQ(c.summary.convs, 4);
    EXPECT_EQ(c.summary.other_ops, 1);
    EXPECT_EQ(c.summary.transposes, 2);
    const Operation* concat = c.graph->find_operation("concat");
    ASSERT_NE(concat, nullptr);
    EXPECT_EQ(concat->type, "Concat");
    EXPECT_EQ(concat->attr_int("axis", -100), 3);
  }
}

// Along the batch, height or width: the axis moves with them.
TEST(ChannelsLast, ConcatAlongOtherAxes) {
  const std::map<int64_t, int64_t> channels_last_axis{{0, 0}, {2, 1}, {-1, 2}, {-2, 1}};
  for (const auto& [axis, moved] : channels_last_axis) {
    SCOPED_TRACE("axis " + std::to_string(axis));
    GraphBuilder b;
    Variable* x = b.input("x", {dim(2), dim(5), dim(12), dim(11)});
    Variable* l = b.conv3x3("conv_l", x, 5, 8);
    Variable* r = b.conv3x3("conv_r", x, 5, 8);
    Variable* cat = b.op("Concat", "concat", {l, r}, {Attribute::make_int("axis", axis)});
    b.output(b.conv3x3("conv_out", b.conv3x3("conv_m", cat, 8, 8), 8, 8));
    const Tensor input = random_input({2, 5, 12, 11});
    b.trace({{"x", input}});
    const Converted c = convert_and_compare(b.graph(), {{"x", input}});
    EXPECT_EQ(c.summary.convs, 4);
    EXPECT_EQ(c.summary.other_ops, 1);
    EXPECT_EQ(c.graph->find_operation("concat")->attr_int("axis", -100), moved);
  }
}

// Element-wise ops between Convs that no Conv can absorb: Adds whose Conv output is read
// twice, a Mul of two chain values, and ops with a one-element constant on either side.
TEST(ChannelsLast, ElementwiseOpsInsideChain) {
  GraphBuilder b;
  Variable* x = b.input("x", {dim(1), dim(6), dim(9), dim(9)});
  Variable* a = b.conv3x3("conv0", x, 6, 8);
  Variable* c = b.conv3x3("conv1", a, 8, 8);
  Variable* sum = b.op("Add", "add", {a, c});
  Variable* product = b.op("Mul", "mul", {a, c});
  Variable* t = b.op("Sub", "one_minus", {b.param("one", Tensor::scalar<float>(1.0f)), sum});
  Variable* u = b.op("Max", "max", {t, b.param("floor", Tensor::from_vector<float>({1}, {0.1f}))});
  Variable* w = b.op("Div", "div",
                     {product, b.param("two", Tensor::from_vector<float>({1, 1, 1, 1}, {2.0f}))});
  Variable* v = b.op("Sigmoid", "sigmoid", {b.op("Add", "add_both", {u, w})});
  b.output(b.conv3x3("conv3", b.conv3x3("conv2", v, 8, 8), 8, 8));
  const Tensor input = random_input({1, 6, 9, 9});
  b.trace({{"x", input}});
  const Converted conv = convert_and_compare(b.graph(), {{"x", input}});
  EXPECT_EQ(conv.summary.convs, 4);
  EXPECT_EQ(conv.summary.fused_adds, 0);
  EXPECT_EQ(conv.summary.other_ops, 7);
  EXPECT_EQ(conv.summary.transposes, 2);
  for (const char* name : {"add", "mul", "one_minus", "max", "div", "add_both", "sigmoid"}) {
    const Operation* op = conv.graph->find_operation(name);
    ASSERT_NE(op, nullptr) << name;
    EXPECT_EQ(op->domain, "") << name;
    EXPECT_NE(op->output(0)->name.find("/channels_last"), std::string::npos) << name;
  }
}

// A one-element constant of rank 5 would broadcast a chain value to rank 5: the Mul stays out.
TEST(ChannelsLast, RankFiveConstantStaysOutOfTheChain) {
  GraphBuilder b;
  Variable* v = b.input("x", {dim(1), dim(4), dim(8), dim(8)});
  for (int i = 0; i < 4; ++i) v = b.conv3x3("conv" + std::to_string(i), v, i ? 8 : 4, 8);
  b.output(b.op("Mul", "mul", {v, b.param("k", Tensor::from_vector<float>({1, 1, 1, 1, 1}, {2}))}));
  const Tensor input = random_input({1, 4, 8, 8});
  b.trace({{"x", input}});
  const Converted c = convert_and_compare(b.graph(), {{"x", input}});
  EXPECT_EQ(c.summary.convs, 4);
  EXPECT_EQ(c.summary.other_ops, 0);
  EXPECT_EQ(c.graph->find_operation("mul")->input(0)->name, "conv3");
  EXPECT_EQ(run(*c.graph, {{"x", input}}).at("mul").shape(), (Shape{1, 1, 8, 8, 8}));
}

struct PoolCase {
  const char* name;
  std::string type;
  std::vector<Attribute> attrs;
  bool converted;
};

TEST(ChannelsLast, PoolingVariants) {
  using A = Attribute;
  const std::vector<PoolCase> cases{
      {"average, pads, count_include_pad 0",
       "AveragePool",
       {A::make_ints("kernel_shape", {3, 3}), A::make_ints("pads", {1, 1, 1, 1}),
        A::make_int("count_include_pad", 0)},
       true},
      {"average, stride 2, asymmetric pads, count_include_pad 1",
       "AveragePool",
       {A::make_ints("kernel_shape", {3, 3}), A::make_ints("strides", {2, 2}),
        A::make_ints("pads", {1, 0, 0, 1}), A::make_int("count_include_pad", 1)},
       true},
      {"max, ceil_mode 1 on an odd size",
       "MaxPool",
       {A::make_ints("kernel_shape", {2, 2}), A::make_ints("strides", {2, 2}),
        A::make_int("ceil_mode", 1)},
       true},
      {"max 3x3 stride 2, ceil_mode 1, pads",
       "MaxPool",
       {A::make_ints("kernel_shape", {3, 3}), A::make_ints("strides", {2, 2}),
        A::make_ints("pads", {1, 1, 1, 1}), A::make_int("ceil_mode", 1)},
       true},
      {"average, ceil_mode 1, count_include_pad 0",
       "AveragePool",
       {A::make_ints("kernel_shape", {2, 2}), A::make_ints("strides", {2, 2}),
        A::make_int("ceil_mode", 1), A::make_int("count_include_pad", 0)},
       true},
      {"max, auto_pad SAME_UPPER, stride 2",
       "MaxPool",
       {A::make_ints("kernel_shape", {3, 3}), A::make_ints("strides", {2, 2}),
        A::make_string("auto_pad", "SAME_UPPER")},
       true},
      {"average, auto_pad SAME_LOWER, stride 2, count_include_pad 0",
       "AveragePool",
       {A::make_ints("kernel_shape", {4, 4}), A::make_ints("strides", {2, 2}),
        A::make_string("auto_pad", "SAME_LOWER")},
       true},
      {"average, auto_pad SAME_UPPER, count_include_pad 1",
       "AveragePool",
       {A::make_ints("kernel_shape", {3, 2}), A::make_ints("strides", {2, 2}),
        A::make_string("auto_pad", "SAME_UPPER"), A::make_int("count_include_pad", 1)},
       true},
      // oneDNN would not count the ceil-mode overhang as padding: left as it is.
      {"average, ceil_mode 1, count_include_pad 1",
       "AveragePool",
       {A::make_ints("kernel_shape", {2, 2}), A::make_ints("strides", {2, 2}),
        A::make_int("ceil_mode", 1), A::make_int("count_include_pad", 1)},
       false},
  };
  for (const PoolCase& pc : cases) {
    SCOPED_TRACE(pc.name);
    GraphBuilder b;
    Variable* v = b.input("x", {dim(1), dim(6), dim(15), dim(15)});
    for (int i = 0; i < 4; ++i) v = b.conv3x3("conv" + std::to_string(i), v, i ? 8 : 6, 8);
    b.output(b.op(pc.type, "pool", {v}, pc.attrs));
    const Tensor input = random_input({1, 6, 15, 15});
    b.trace({{"x", input}});
    const Converted c = convert_and_compare(b.graph(), {{"x", input}});
    EXPECT_EQ(c.summary.convs, 4);
    EXPECT_EQ(c.summary.pools, pc.converted ? 1 : 0);
    EXPECT_EQ(c.graph->find_operation("pool")->type,
              pc.converted ? "ChannelsLast" + pc.type : pc.type);
  }
}

// conv0 reads x, whose shape is unknown: it stays a Conv; conv1..conv4 after it convert.
TEST(ChannelsLast, ConvWithUnknownInputShapeStays) {
  GraphBuilder b;
  Variable* v = b.input("x", {});
  v = b.conv3x3("conv0", v, 4, 8);
  for (int i = 1; i < 5; ++i) v = b.conv3x3("conv" + std::to_string(i), v, 8, 8);
  b.output(v);
  const Tensor input = random_input({1, 4, 10, 10});
  const auto untraced = b.graph().deep_copy();
  b.trace({{"x", input}});
  ASSERT_FALSE(b.graph().find_variable("x")->shape.has_value());

  const Converted c = convert_and_compare(b.graph(), {{"x", input}});
  EXPECT_EQ(c.summary.convs, 4);
  EXPECT_EQ(c.graph->find_operation("conv0")->type, "Conv");
  EXPECT_EQ(c.graph->find_operation("conv1")->type, "ChannelsLastConv");
  // Nothing known at all: nothing converted.
  const Converted none = convert_and_compare(*untraced, {{"x", input}});
  EXPECT_EQ(none.summary.convs, 0);
  EXPECT_EQ(op_signatures(*none.graph), op_signatures(*untraced));
}

// conv0..conv3 then "bad", whose weight has 6 input channels for an 8-channel input: the
// pass converts the four and leaves "bad", and the executor reports the same error either way.
TEST(ChannelsLast, MalformedConvStaysAndFailsTheSame) {
  GraphBuilder b;
  Variable* v = b.input("x", {dim(1), dim(4), dim(10), dim(10)});
  for (int i = 0; i < 4; ++i) v = b.conv3x3("conv" + std::to_string(i), v, i ? 8 : 4, 8);
  Variable* bad =
      b.op("Conv", "bad",
           {v, b.param("bad.w", random_input({8, 6, 3, 3})), b.param("bad.b", random_input({8}))},
           {Attribute::make_ints("pads", {1, 1, 1, 1})});
  b.output(bad);
  for (const auto& var : b.graph().variables())
    if (!var->is_parameter() && var->name != "x") {
      var->dtype = DataType::Float;
      var->shape = std::vector<Dim>{dim(1), dim(8), dim(10), dim(10)};
    }
  const std::map<std::string, Tensor> inputs{{"x", random_input({1, 4, 10, 10})}};

  auto converted = b.graph().deep_copy();
  const ChannelsLastSummary s = convert_to_channels_last(*converted, small_convs());
  EXPECT_EQ(s.convs, 4);
  EXPECT_EQ(converted->find_operation("bad")->type, "Conv");
  EXPECT_EQ(converted->find_operation("bad")->input(0)->name, "conv3");
  ErrorKind want_kind = ErrorKind::Internal, got_kind = ErrorKind::Internal;
  const std::string want = run_error(b.graph(), inputs, &want_kind);
  const std::string got = run_error(*converted, inputs, &got_kind);
  ASSERT_FALSE(want.empty()) << "the unconverted graph ran";
  EXPECT_EQ(got, want);
  EXPECT_EQ(got_kind, want_kind);
}

// If branches that read chain values by name ("conv1"; "conv3", which a Relu follows): those
// leave the chain through a Transpose under their own name, and conv3 keeps its Relu apart.
TEST(ChannelsLast, ValuesReadByIfBranchesLeaveTheChain) {
  GraphBuilder b;
  Graph& g = b.graph();
  Variable* v = b.input("x", {dim(1), dim(4), dim(8), dim(8)});
  Variable* cond = g.create_variable("cond");
  cond->dtype = DataType::Bool;
  cond->shape = std::vector<Dim>{};
  g.add_graph_input(cond);
  for (int i = 0; i < 8; ++i) {
    v = b.conv3x3("conv" + std::to_string(i), v, i ? 8 : 4, 8);
    if (i == 3 || i == 5) v = b.op("Relu", "relu" + std::to_string(i), {v});
  }
  b.output(v);
  const auto branch = [&](const std::string& name, const std::string& outer) {
    auto body = std::make_shared<Graph>();
    body->name = name;
    body->parent = &g;
    body->model.opset_imports = {{"", 13}};
    Variable* out = body->create_variable(name + "_out");
    body->create_operation("Identity", name + "_id", {body->create_variable(outer)}, {out});
    body->add_graph_output(out);
    return body;
  };
  auto then_body = branch("then", "conv1"), else_body = branch("else", "conv3");
  Variable* picked = g.create_variable("picked");
  Operation* if_op = g.create_operation("If", "if", {cond}, {picked},
                                        {Attribute::make_graph("then_branch", then_body),
                                         Attribute::make_graph("else_branch", else_body)});
  then_body->owner = else_body->owner = if_op;
  b.output(picked);
  for (bool which : {true, false}) {
    SCOPED_TRACE(which ? "then" : "else");
    const std::map<std::string, Tensor> in{{"x", random_input({1, 4, 8, 8})},
                                           {"cond", Tensor::scalar<bool>(which)}};
    b.trace(in);
    // The reference unfused: the executor's own fusion hides conv3 from the else branch (see
    // ExecutorFusionKeepsConvOutputForIfBody).
    const Converted c = convert_and_compare(g, in, small_convs(), true);
    EXPECT_EQ(c.summary.convs, 8);
    EXPECT_EQ(c.summary.fused_activations, 1);  // relu5; relu3's Conv output is read by else
    EXPECT_EQ(c.summary.transposes, 4);         // x; conv1, conv3 and conv7 back
    for (const char* name : {"conv1", "conv3"}) {
      const Variable* var = c.graph->find_variable(name);
      ASSERT_NE(var, nullptr) << name;
      ASSERT_NE(var->producer(), nullptr) << name;
      EXPECT_EQ(var->producer()->type, "Transpose") << name;
    }
  }
}

// ONNX Clip with min > max sets every value to max (what the unconverted graph gives).
TEST(ChannelsLast, FusedClipWithMinAboveMax) {
  // oneDNN refuses a clip post-op with min > max: such a Clip stays unfused.
  GraphBuilder b;
  Variable* v = b.input("x", {dim(1), dim(4), dim(8), dim(8)});
  for (int i = 0; i < 4; ++i) v = b.conv3x3("conv" + std::to_string(i), v, i ? 8 : 4, 8);
  b.output(b.clip("clip", v, 2.0f, 1.0f));
  const Tensor input = random_input({1, 4, 8, 8});
  b.trace({{"x", input}});
  const Tensor expected = run(b.graph(), {{"x", input}}).at("clip");
  for (float value : expected.to_float_vector()) ASSERT_EQ(value, 1.0f);
  const Converted c = convert_and_compare(b.graph(), {{"x", input}});
  EXPECT_EQ(c.summary.convs, 4);
}

// Not the pass: the executor's own Conv + Relu fusion, seen through the test above.
TEST(ChannelsLast, ExecutorFusionKeepsConvOutputForIfBody) {
  // A Conv output that an If/Loop/Scan body reads by name must not be fused with its Relu:
  // the body would get Relu(conv) instead of conv.
  GraphBuilder b;
  Graph& g = b.graph();
  Variable* x = b.input("x", {dim(1), dim(4), dim(8), dim(8)});
  Variable* cond = g.create_variable("cond");
  cond->dtype = DataType::Bool;
  g.add_graph_input(cond);
  b.output(b.op("Relu", "relu", {b.conv3x3("conv", x, 4, 8)}));
  std::vector<std::shared_ptr<Graph>> bodies;
  for (const char* name : {"then", "else"}) {
    auto body = std::make_shared<Graph>();
    body->name = name;
    body->parent = &g;
    body->model.opset_imports = {{"", 13}};
    Variable* out = body->create_variable(std::string(name) + "_out");
    body->create_operation("Identity", std::string(name) + "_id", {body->create_variable("conv")},
                           {out});
    body->add_graph_output(out);
    bodies.push_back(body);
  }
  Operation* if_op = g.create_operation("If", "if", {cond}, {g.create_variable("picked")},
                                        {Attribute::make_graph("then_branch", bodies[0]),
                                         Attribute::make_graph("else_branch", bodies[1])});
  for (auto& body : bodies) body->owner = if_op;
  b.output(g.find_variable("picked"));
  const std::map<std::string, Tensor> in{{"x", random_input({1, 4, 8, 8})},
                                         {"cond", Tensor::scalar<bool>(true)}};
  const Tensor fused = run(g, in).at("picked");
  const Tensor unfused = run(g, in, true).at("picked");
  bool negative = false;
  for (float v : unfused.to_float_vector()) negative |= v < 0;
  ASSERT_TRUE(negative);  // the raw Conv output, not the Relu's
  const std::string diff = mismatch(fused, unfused);
  EXPECT_TRUE(diff.empty()) << diff;
}

// 3x3 stride-1 Convs on planes of 14x14 and more with 16+ channels run Winograd (weights packed
// in its layout, x and y reordered around it one sample at a time), with a fused residual Add
// and Relu; the stride-2 Conv, the 1x1 shortcut and the 8-channel Conv stay direct.
// x [2, 8, 16, 16] -> c0 (-> 16) -> Relu -> c1 (16) -> + shortcut(x) -> Relu -> c2 (-> 32)
//   -> c3 (32, stride 2) -> c4 (-> 8) -> y.
std::unique_ptr<Graph> winograd_graph(int64_t batch) {
  GraphBuilder b;
  Variable* x = b.input("x", {dim(batch), dim(8), dim(16), dim(16)});
  Variable* shortcut = b.conv("shortcut", x, 8, spec(16, {1, 1}));  // first: c1 adds it
  Variable* v = b.op("Relu", "relu0", {b.conv3x3("c0", x, 8, 16)});
  v = b.conv3x3("c1", v, 16, 16);
  v = b.op("Add", "add", {v, shortcut});
  v = b.op("Relu", "relu1", {v});
  v = b.conv3x3("c2", v, 16, 32);
  ConvSpec down = spec(32, {3, 3});
  down.strides = {2, 2};
  down.pads = {1, 1, 1, 1};
  v = b.conv("c3", v, 32, down);
  b.output(b.conv3x3("c4", v, 32, 8));
  b.trace({{"x", random_input({batch, 8, 16, 16})}});
  return b.take();
}

TEST(ChannelsLast, WinogradConvs) {
  for (int64_t batch : {1, 3}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    const auto g = winograd_graph(batch);
    const std::map<std::string, Tensor> in{{"x", random_input({batch, 8, 16, 16}, 5)}};
    const Converted c = convert_and_compare(*g, in);
    EXPECT_EQ(c.summary.convs, 6);
    EXPECT_EQ(c.summary.winograd_convs, 2);  // c1 (with the Add and Relu), c2
    EXPECT_EQ(c.summary.fused_adds, 1);
    for (const char* name : {"c1", "c2"}) {
      const Operation* op = c.graph->find_operation(name);
      ASSERT_NE(op, nullptr) << name;
      EXPECT_EQ(op->attr_int("winograd_threads", 0), 1) << name;
      EXPECT_EQ(op->attr_ints("weights_shape")[0], name[1] == '1' ? 16 : 32) << name;
    }
    EXPECT_EQ(c.graph->find_operation("c1")->num_inputs(), 4u);
    for (const char* name : {"c0", "shortcut", "c3", "c4"})
      EXPECT_FALSE(c.graph->find_operation(name)->has_attr("winograd_threads")) << name;
    ChannelsLastOptions direct = small_convs();
    direct.winograd = false;
    EXPECT_EQ(convert_and_compare(*g, in, direct).summary.winograd_convs, 0);
  }
}

// Weights that do not fill oneDNN's Winograd layout (a hand-edited graph): an error naming the
// op, not a read past their end.
TEST(ChannelsLast, WinogradWeightsOfTheWrongSize) {
  auto g = winograd_graph(1);
  convert_to_channels_last(*g, small_convs());
  Operation* c1 = g->find_operation("c1");
  ASSERT_EQ(c1->attr_int("winograd_threads", 0), 1);
  g->set_input(c1, 1, g->create_variable("short", random_input({100})));
  expect_error(*g, {{"x", random_input({1, 8, 16, 16})}}, ErrorKind::InvalidModel,
               {"c1", "Winograd layout"});
}

// A hand-edited weights_format that names no oneDNN layout: an error naming the op.
TEST(ChannelsLast, WeightsFormatThatNamesNoLayout) {
  auto g = conv_chain(4, {1, 3, 9, 9});
  ChannelsLastOptions options = small_convs();
  options.winograd = false;
  convert_to_channels_last(*g, options);
  Operation* conv = g->find_operation("conv2");
  ASSERT_NE(conv, nullptr);
  ASSERT_TRUE(conv->has_attr("weights_format"));
  conv->set_attr(Attribute::make_int("weights_format", 99999));
  expect_error(*g, {{"x", random_input({1, 3, 9, 9})}}, ErrorKind::InvalidModel,
               {"conv2", "weights_format 99999"});
}

// Winograd weights are laid out for the primitive oneDNN makes on the packing's thread count
// (its descriptor for a 256-channel 14x14 conv is made from the thread count; the bytes here
// come out the same): run on another count, the kernel uses the packing's when its own would
// want another layout, and computes the same.
TEST(ChannelsLast, WinogradPackedForAnotherThreadCount) {
  const Shape shape{1, 256, 14, 14};
  GraphBuilder b;
  Variable* v = b.input("x", {dim(1), dim(256), dim(14), dim(14)});
  for (int i = 0; i < 4; ++i) v = b.conv3x3("conv" + std::to_string(i), v, 256, 256);
  b.output(v);
  const Tensor x = random_input(shape);
  b.trace({{"x", x}});
  const Tensor want = run(b.graph(), {{"x", x}}).at("conv3");
  for (int packed : {1, 2}) {
    auto g = b.graph().deep_copy();
    EXPECT_EQ(convert_to_channels_last(*g, small_convs(packed)).winograd_convs, 4);
    for (int threads : {1, 2}) {
      SCOPED_TRACE("packed on " + std::to_string(packed) + " threads, run on " +
                   std::to_string(threads));
      Executor executor(*g, ExecutorOptions{threads});
      const std::string diff = mismatch(executor.run({{"x", x}}).at(0), want);
      EXPECT_TRUE(diff.empty()) << diff;
    }
  }
}

}  // namespace
}  // namespace qforge
