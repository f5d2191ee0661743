// SPDX-License-Identifier: Apache-2.0
// ChannelsLastConvChain (src/runtime/kernels/conv_chain.cpp) and the step of the channels-last
// pass that makes it (src/runtime/conv_chains.cpp): small graphs run before and after the pass
// must give the same outputs, with bands from one row to the whole plane, on one and two
// threads (each a part of the rows), batches of one and more, and every geometry a stage may
// have; which convs chain, and bad inputs.
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "channels_last_graphs.h"
#include "qforge/channels_last.h"
#include "qforge/executor.h"
#include "support/test_support.h"

namespace qforge {
namespace {

using namespace channels_last_test;

// Chains of any size, bands of `band_bytes`.
ChannelsLastOptions chained(int threads, int64_t band_bytes, bool finite_inputs = true) {
  ChannelsLastOptions options = small_convs(threads, finite_inputs);
  options.conv_chain_min_bytes = 0;
  options.conv_chain_band_bytes = band_bytes;
  return options;
}

ConvSpec pointwise(int64_t out) {
  return spec(out, {1, 1});
}

ConvSpec depthwise(int64_t channels, int64_t stride) {
  ConvSpec s = spec(channels, {3, 3});
  s.group = channels;
  s.strides = {stride, stride};
  s.pads = {1, 1, 1, 1};
  return s;
}

// A 3x3 stem conv and two MobileNetV2 blocks on an odd-sized plane: 1x1 expand + Clip(0, 6),
// depthwise 3x3 + Clip, 1x1 project (+ the stem's output, the residual), then the same with a
// stride-2 depthwise and Relu; the Clips and Relus left out without `activations`.
std::unique_ptr<Graph> mobilenet_blocks(const Shape& x_shape, bool activations = true) {
  GraphBuilder b;
  Variable* x = b.input("x", {Dim{-1, "N"}, dim(x_shape[1]), dim(x_shape[2]), dim(x_shape[3])});
  const int64_t c = x_shape[1];
  const auto clip = [&](const std::string& name, Variable* v) {
    return activations ? b.clip(name + ".clip", v, 0.0f, 6.0f) : v;
  };
  const auto relu = [&](const std::string& name, Variable* v) {
    return activations ? b.op("Relu", name + ".relu", {v}) : v;
  };
  Variable* stem = relu("stem", b.conv3x3("stem", x, c, c));
  Variable* v = clip("e1", b.conv("e1", stem, c, pointwise(4 * c)));
  v = clip("d1", b.conv("d1", v, 4 * c, depthwise(4 * c, 1)));
  v = b.op("Add", "add", {b.conv("p1", v, 4 * c, pointwise(c)), stem});
  v = relu("e2", b.conv("e2", v, c, pointwise(4 * c)));
  v = relu("d2", b.conv("d2", v, 4 * c, depthwise(4 * c, 2)));
  b.output(b.conv("p2", v, 4 * c, pointwise(2 * c)));
  b.trace({{"x", random_input(x_shape)}});
  return b.take();
}

TEST(ConvChain, MobileNetBlocks) {
  const auto g = mobilenet_blocks({1, 8, 19, 13});
  for (int threads : {1, 2})
    for (int64_t band_bytes : {int64_t{1}, int64_t{6000}, int64_t{1} << 30})
      for (int64_t batch : {1, 3}) {
        SCOPED_TRACE(
            fmt::format("{} threads, bands of {} bytes, batch {}", threads, band_bytes, batch));
        const std::map<std::string, Tensor> in{{"x", random_input({batch, 8, 19, 13}, 3)}};
        const Converted c = convert_and_compare(*g, in, chained(threads, band_bytes));
        EXPECT_EQ(c.summary.conv_chains, 2);  // the residual ends the first
        EXPECT_EQ(c.summary.chained_convs, 6);
        EXPECT_EQ(count_ops(*c.graph, "ChannelsLastConvChain"), 2);
        EXPECT_EQ(count_ops(*c.graph, "ChannelsLastConv"), 1);  // the stem
      }
}

// The chain runs each conv as the unchained pass does: the same outputs to the bit.
TEST(ConvChain, SameAsConvsRunOneByOne) {
  const auto g = mobilenet_blocks({1, 8, 23, 9});
  const std::map<std::string, Tensor> in{{"x", random_input({2, 8, 23, 9}, 4)}};
  for (int threads : {1, 2}) {
    auto one_by_one = g->deep_copy();
    ChannelsLastOptions unchained = small_convs(threads);
    unchained.conv_chains = false;
    EXPECT_EQ(convert_to_channels_last(*one_by_one, unchained).conv_chains, 0);
    auto banded = g->deep_copy();
    EXPECT_EQ(convert_to_channels_last(*banded, chained(threads, 4000)).conv_chains, 2);
    Executor a(*one_by_one, ExecutorOptions{threads}), b(*banded, ExecutorOptions{threads});
    const Tensor want = a.run(in).at(0), got = b.run(in).at(0);
    EXPECT_EQ(testing::compare_tensors(got, want, 0.0, 0.0), "") << threads << " threads";
  }
}

// Stages of every geometry: strides, dilations, asymmetric and SAME pads, rows that the next
// stage never reads, 7x7, 5x5 and 1x3 kernels, grouped convs, no bias; a strided last stage
// whose top padding reaches into its second band.
TEST(ConvChain, GeometryVariety) {
  const auto make = [](int64_t out, std::vector<int64_t> kernel, std::vector<int64_t> strides,
                       std::vector<int64_t> dilations, std::vector<int64_t> pads) {
    ConvSpec s = spec(out, std::move(kernel));
    s.strides = std::move(strides);
    s.dilations = std::move(dilations);
    s.pads = std::move(pads);
    return s;
  };
  std::vector<ConvSpec> long_chain{
      make(12, {7, 7}, {2, 2}, {}, {3, 2, 1, 0}), make(12, {5, 5}, {}, {2, 2}, {4, 4, 4, 4}),
      make(16, {1, 3}, {3, 1}, {}, {0, 1, 0, 1}),  // stride 3 skips rows
      make(16, {3, 3}, {}, {}, {}), make(8, {2, 2}, {2, 2}, {}, {})};
  long_chain[1].group = 4;
  long_chain[2].bias = false;
  long_chain[3].auto_pad = "SAME_LOWER";
  const std::vector<ConvSpec> short_chain{make(8, {1, 1}, {}, {}, {}),
                                          make(8, {5, 5}, {2, 2}, {}, {4, 2, 3, 2})};
  for (const auto& stages : {long_chain, short_chain}) {
    GraphBuilder b;
    Variable* v = b.input("x", {dim(1), dim(6), dim(41), dim(17)});
    int64_t channels = 6;
    for (size_t i = 0; i < stages.size(); ++i) {
      v = b.conv("c" + std::to_string(i), v, channels, stages[i]);
      channels = stages[i].out;
    }
    b.output(v);
    const Tensor x = random_input({1, 6, 41, 17}, 9);
    b.trace({{"x", x}});
    for (int threads : {1, 2})
      for (int64_t band_bytes : {int64_t{1}, int64_t{9000}, int64_t{1} << 30}) {
        SCOPED_TRACE(fmt::format("{} stages, {} threads, bands of {} bytes", stages.size(), threads,
                                 band_bytes));
        ChannelsLastOptions options = chained(threads, band_bytes);
        options.only_chains_that_pay = false;  // two convs, two Transposes
        const Converted c = convert_and_compare(b.graph(), {{"x", x}}, options);
        EXPECT_EQ(c.summary.conv_chains, 1);
        EXPECT_EQ(c.summary.chained_convs, static_cast<int>(stages.size()));
      }
  }
}

// Random chains of 2 to 4 convs (kernel, stride, dilation, pads and groups drawn per stage),
// random planes, bands and thread counts: each computes what the convs do unconverted.
TEST(ConvChain, RandomChains) {
  std::mt19937 rng(2026);
  const auto draw = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int chains = 0;
  for (int trial = 0; trial < 40; ++trial) {
    GraphBuilder b;
    const int64_t height = draw(5, 40), width = draw(3, 20), in_channels = draw(1, 6);
    Variable* v = b.input("x", {dim(draw(1, 2)), dim(in_channels), dim(height), dim(width)});
    int64_t channels = in_channels, h = height, w = width;
    const int stages = draw(2, 4);
    std::string description;
    for (int i = 0; i < stages && h > 0 && w > 0; ++i) {
      ConvSpec s = spec(4 * draw(1, 3), {draw(1, 5), draw(1, 3)});
      const int64_t stride = draw(1, 3), dilation = draw(1, 2);
      s.strides = {stride, draw(1, 2)};
      s.dilations = {dilation, 1};
      // Pads up to the kernel's extent less one, as models have them (taller pads: below).
      const int extent = static_cast<int>((s.kernel[0] - 1) * dilation);
      const int wide = static_cast<int>(s.kernel[1] - 1);
      s.pads = {draw(0, extent), draw(0, wide), draw(0, extent), draw(0, wide)};
      if (channels % 2 == 0 && s.out % 2 == 0 && draw(0, 1)) s.group = 2;
      s.bias = draw(0, 3) > 0;
      const int64_t extent_h = (s.kernel[0] - 1) * dilation + 1;
      const int64_t out_h = (h + s.pads[0] + s.pads[2] - extent_h) / stride + 1;
      const int64_t out_w = (w + s.pads[1] + s.pads[3] - s.kernel[1]) / s.strides[1] + 1;
      if (h + s.pads[0] + s.pads[2] < extent_h || w + s.pads[1] + s.pads[3] < s.kernel[1]) break;
      v = b.conv(fmt::format("c{}", i), v, channels, s);
      description += fmt::format(" [{}x{} s{} d{} pads {},{} g{}]", s.kernel[0], s.kernel[1],
                                 stride, dilation, s.pads[0], s.pads[2], s.group);
      channels = s.out;
      h = out_h;
      w = out_w;
    }
    b.output(v);
    const Shape x_shape{(*b.graph().inputs()[0]->shape)[0].value, in_channels, height, width};
    const Tensor x = random_input(x_shape, 100 + static_cast<uint32_t>(trial));
    b.trace({{"x", x}});
    const int threads = draw(1, 2);
    const int64_t band_bytes = std::array<int64_t, 3>{1, 2000, 1 << 30}[draw(0, 2)];
    SCOPED_TRACE(fmt::format("trial {}: {}x{}x{}, {} threads, bands of {} bytes:{}", trial,
                             in_channels, height, width, threads, band_bytes, description));
    ChannelsLastOptions options = chained(threads, band_bytes);
    options.only_chains_that_pay = false;
    const Converted c = convert_and_compare(b.graph(), {{"x", x}}, options);
    chains += c.summary.conv_chains;
  }
  // 38 of the 40 chained when written (the others: one conv, or band convs that want weight
  // layouts of their own); oneDNN picks layouts per instruction set, hence the margin.
  EXPECT_GT(chains, 25);
}

// Inputs with NaN and Inf: the chain keeps them where the convs put them. (With such inputs
// the pass fuses no activation, which would then stand between the convs.)
TEST(ConvChain, NanAndInfPropagate) {
  const auto g = mobilenet_blocks({1, 4, 15, 11}, false);
  Tensor x = random_input({1, 4, 15, 11}, 5);
  x.data<float>()[7] = std::numeric_limits<float>::quiet_NaN();
  x.data<float>()[300] = std::numeric_limits<float>::infinity();
  x.data<float>()[501] = -std::numeric_limits<float>::infinity();
  const Converted c = convert_and_compare(*g, {{"x", x}}, chained(1, 1, false), true);
  EXPECT_EQ(c.summary.conv_chains, 2);
}

// Which convs chain: over values large enough per thread, read by the next conv alone; a value
// that is also a graph output ends a chain.
TEST(ConvChain, WhichConvsChain) {
  const Shape shape{1, 8, 32, 32};  // e1, d1 and e2 write 128 KiB values, stem and d2 32 KiB
  const auto g = mobilenet_blocks(shape);
  const std::map<std::string, Tensor> in{{"x", random_input(shape)}};
  const auto chains_with = [&](int threads, int64_t min_bytes) {
    ChannelsLastOptions options = chained(threads, 4096);
    options.conv_chain_min_bytes = min_bytes;
    return convert_and_compare(*g, in, options).summary.chained_convs;
  };
  EXPECT_EQ(chains_with(1, 128 * 1024), 6);
  EXPECT_EQ(chains_with(1, 129 * 1024), 0);  // no value that large
  EXPECT_EQ(chains_with(2, 128 * 1024), 0);  // 64 KiB per thread
  EXPECT_EQ(chains_with(2, 64 * 1024), 6);
  EXPECT_EQ(convert_and_compare(*g, in, small_convs()).summary.conv_chains, 0);  // < 1 MiB

  auto with_output = g->deep_copy();  // d1's output is also a graph output
  with_output->add_graph_output(with_output->find_variable("d1.clip"));
  const Converted c = convert_and_compare(*with_output, in, chained(1, 4096));
  EXPECT_EQ(c.summary.conv_chains, 2);  // e1 -> d1, e2 -> d2 -> p2
  EXPECT_EQ(c.summary.chained_convs, 5);
  EXPECT_NE(c.graph->find_operation("p1"), nullptr);
}

// The executor resolves the batch each run: one executor, batches of 1, 4 and 2.
TEST(ConvChain, BatchChangesBetweenRuns) {
  const auto g = mobilenet_blocks({1, 8, 17, 17});
  auto converted = g->deep_copy();
  EXPECT_EQ(convert_to_channels_last(*converted, chained(2, 5000)).conv_chains, 2);
  Executor executor(*converted, ExecutorOptions{2});
  for (int64_t batch : {1, 4, 2}) {
    const std::map<std::string, Tensor> in{{"x", random_input({batch, 8, 17, 17}, 11)}};
    const std::string diff = mismatch(executor.run_named(in).at("p2"), run(*g, in).at("p2"));
    EXPECT_TRUE(diff.empty()) << "batch " << batch << ": " << diff;
  }
}

// Weights in another layout than the band convs read (plain OIHW here, as after packing for
// another thread count): the chain reorders them every run and computes the same.
TEST(ConvChain, WeightsInAnotherLayoutAreReordered) {
  const auto g = mobilenet_blocks({1, 8, 13, 11});
  const std::map<std::string, Tensor> in{{"x", random_input({2, 8, 13, 11}, 8)}};
  auto converted = g->deep_copy();
  ASSERT_EQ(convert_to_channels_last(*converted, chained(2, 3000)).conv_chains, 2);
  for (const auto& op : converted->operations()) {
    if (op->type != "ChannelsLastConvChain") continue;
    for (size_t i = 0; i < 3; ++i) {
      const std::string node = op->attr_string(fmt::format("stage{}.node", i), "");
      const Variable* plain = g->find_variable(node + ".w");
      ASSERT_NE(plain, nullptr) << node;
      converted->set_input(op.get(), 1 + 2 * i,
                           converted->create_variable(node + ".plain", plain->value));
      op->set_attr(Attribute::make_int(fmt::format("stage{}.weights_format", i), 0));
    }
  }
  for (int threads : {1, 2}) {
    Executor executor(*converted, ExecutorOptions{threads});
    const std::string diff = mismatch(executor.run_named(in).at("p2"), run(*g, in).at("p2"));
    EXPECT_TRUE(diff.empty()) << threads << " threads: " << diff;
  }
}

// Pads as tall as a stage's kernel: bands wholly in the padding would read no row, so the pass
// leaves the convs unchained (and they compute as before).
TEST(ConvChain, PadsAsTallAsTheKernelStayUnchained) {
  GraphBuilder b;
  Variable* v = b.input("x", {dim(1), dim(4), dim(12), dim(9)});
  ConvSpec tall = spec(8, {1, 1});
  tall.pads = {2, 0, 2, 0};
  v = b.conv("c0", v, 4, tall);
  v = b.conv("c1", v, 8, spec(8, {3, 3}));
  b.output(v);
  const Tensor x = random_input({1, 4, 12, 9});
  b.trace({{"x", x}});
  ChannelsLastOptions options = chained(1, 1);
  options.only_chains_that_pay = false;
  const Converted c = convert_and_compare(b.graph(), {{"x", x}}, options);
  EXPECT_EQ(c.summary.convs, 2);
  EXPECT_EQ(c.summary.conv_chains, 0);
}

// A hand-edited chain: weights that do not fill their layout, or a residual of another shape,
// give an error naming the stage or the op, not a read past the end.
TEST(ConvChain, BadInputsAreErrors) {
  const auto g = mobilenet_blocks({1, 8, 9, 9});
  const std::map<std::string, Tensor> in{{"x", random_input({1, 8, 9, 9})}};
  auto converted = g->deep_copy();
  ASSERT_EQ(convert_to_channels_last(*converted, chained(1, 4096)).conv_chains, 2);
  Operation* chain = nullptr;
  for (const auto& op : converted->operations())
    if (op->type == "ChannelsLastConvChain" && op->num_inputs() == 8) chain = op.get();
  ASSERT_NE(chain, nullptr);  // e1 -> d1 -> p1 with the residual

  // A copy of the converted graph with `edit` applied to the chain.
  const auto edited = [&](const std::function<void(Graph&, Operation&)>& edit) {
    auto copy = converted->deep_copy();
    edit(*copy, *copy->find_operation(chain->name));
    return copy;
  };
  expect_error(*edited([](Graph& g, Operation& op) {
    g.set_input(&op, 3, g.create_variable("short", random_input({5})));
  }),
               in, ErrorKind::InvalidModel, {"'d1'"});
  expect_error(*edited([](Graph& g, Operation& op) {
    g.set_input(&op, 7, g.create_variable("r", random_input({1, 9, 9, 4})));
  }),
               in, ErrorKind::Shape, {chain->name, "[1, 9, 9, 8]"});
  expect_error(*edited([](Graph&, Operation& op) {
    op.set_attr(Attribute::make_int("stage1.weights_format", 99999));
  }),
               in, ErrorKind::InvalidModel, {"'d1'", "weights_format"});
  expect_error(
      *edited([](Graph&, Operation& op) { op.set_attr(Attribute::make_int("stages", 5)); }), in,
      ErrorKind::InvalidModel, {"stages"});
}

}  // namespace
}  // namespace qforge
