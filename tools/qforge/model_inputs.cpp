// SPDX-License-Identifier: Apache-2.0
#include "model_inputs.h"

#include <CLI/CLI.hpp>

#include <random>

#include "qforge/calibration_data.h"
#include "qforge/channels_last.h"
#include "qforge/error.h"
#include "qforge/executor.h"
#include "qforge/tensor_io.h"

namespace qforge::cli {

namespace {
std::vector<const Variable*> feedable_inputs(const Graph& graph) {
  std::vector<const Variable*> out;
  for (const Variable* in : graph.inputs())
    if (!in->is_parameter()) out.push_back(in);
  return out;
}

Tensor read_tensor_file(const std::string& path) {
  if (path.size() > 3 && path.substr(path.size() - 3) == ".pb") return read_tensor_pb(path);
  return read_npy(path);
}
}  // namespace

std::map<std::string, Tensor> read_input_files(const Graph& graph,
                                               const std::vector<std::string>& specs) {
  const auto feeds = feedable_inputs(graph);
  std::map<std::string, Tensor> inputs;
  for (const std::string& spec : specs) {
    const auto eq = spec.find('=');
    std::string name, path;
    if (eq == std::string::npos) {
      if (feeds.size() != 1)
        fail(ErrorKind::Argument, "--input {}: the model has {} inputs; use name=file", spec,
             feeds.size());
      name = feeds[0]->name;
      path = spec;
    } else {
      name = spec.substr(0, eq);
      path = spec.substr(eq + 1);
    }
    inputs[name] = read_tensor_file(path);
  }
  return inputs;
}

std::map<std::string, Shape> parse_shape_overrides(const std::vector<std::string>& specs) {
  std::map<std::string, Shape> shapes;
  for (const std::string& spec : specs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos)
      fail(ErrorKind::Argument, "--shape {}: expected name=1x3x224x224", spec);
    Shape shape;
    std::string dims = spec.substr(eq + 1);
    size_t start = 0;
    while (start <= dims.size()) {
      const size_t x = dims.find('x', start);
      const std::string part =
          dims.substr(start, x == std::string::npos ? std::string::npos : x - start);
      try {
        shape.push_back(std::stoll(part));
      } catch (const std::exception&) {
        fail(ErrorKind::Argument, "--shape {}: '{}' is not a number", spec, part);
      }
      if (x == std::string::npos) break;
      start = x + 1;
    }
    shapes[spec.substr(0, eq)] = shape;
  }
  return shapes;
}

std::map<std::string, Tensor> make_random_inputs(const Graph& graph,
                                                 const std::map<std::string, Shape>& shapes,
                                                 int64_t batch) {
  std::map<std::string, Tensor> inputs;
  std::mt19937 rng(1234);
  for (const Variable* in : feedable_inputs(graph)) {
    Shape shape;
    if (auto it = shapes.find(in->name); it != shapes.end()) {
      shape = it->second;
    } else {
      if (!in->shape)
        fail(ErrorKind::Argument, "input '{}' has no declared shape; give --shape {}=...", in->name,
             in->name);
      for (size_t i = 0; i < in->shape->size(); ++i) {
        const Dim& d = (*in->shape)[i];
        if (d.is_static())
          shape.push_back(i == 0 && batch > 0 ? batch : d.value);
        else if (i == 0)
          shape.push_back(batch > 0 ? batch : 1);
        else
          fail(ErrorKind::Argument, "input '{}' has dynamic shape {}; give --shape {}=...",
               in->name, dims_to_string(*in->shape), in->name);
      }
    }
    const DataType dtype = in->dtype == DataType::Undefined ? DataType::Float : in->dtype;
    Tensor values(DataType::Float, shape);
    std::uniform_real_distribution<float> dist(0.0f, 1.0f);
    for (int64_t i = 0; i < values.numel(); ++i) values.data<float>()[i] = dist(rng);
    inputs[in->name] = dtype == DataType::Float ? values : values.cast(dtype);
  }
  return inputs;
}

namespace {
// Whether every Conv input's channels and spatial dims are known (the pass needs them).
bool conv_shapes_known(const Graph& graph) {
  for (const auto& op : graph.operations()) {
    if (op->type != "Conv" || !(op->domain.empty() || op->domain == "ai.onnx")) continue;
    const Variable* x = op->input(0);
    if (!x || !x->shape || x->shape->size() != 4) return false;
    for (size_t d = 1; d < 4; ++d)
      if (!(*x->shape)[d].is_static()) return false;
  }
  return true;
}

}  // namespace

void add_layout_flags(CLI::App& cmd, LayoutFlags& flags) {
  cmd.add_option("--layout", flags.layout,
                 "channels-last (default: conv chains that pay run on [N, H, W, C] data, weights "
                 "packed once), channels-last-all (every eligible op, whether it pays or not) or "
                 "onnx (the graph as loaded)");
  cmd.add_flag("--no-winograd", flags.no_winograd,
               "With a channels-last layout: run 3x3 convs directly, not as Winograd's F(2x2, "
               "3x3) (slower, rounding as a direct conv's)");
  cmd.add_flag("--no-conv-chains", flags.no_conv_chains,
               "With a channels-last layout: run each conv on its own, not convs that read only "
               "the one before band by band of rows (slower on MobileNets, same results)");
}

void apply_layout(Graph& graph, const LayoutFlags& flags,
                  const std::map<std::string, Tensor>& inputs, int threads, bool verbose) {
  const std::string& layout = flags.layout;
  if (layout == "onnx") return;
  if (layout != "channels-last" && layout != "channels-last-all")
    fail(ErrorKind::Argument,
         "--layout: expected channels-last, channels-last-all or onnx, got '{}'", layout);
  if (!conv_shapes_known(graph)) trace_operation_meta(graph, inputs, ExecutorOptions{threads});
  ChannelsLastOptions options;
  options.threads = threads;
  // oneDNN's fused activations and Winograd's transforms change where NaN and Inf land.
  const bool finite = batch_is_finite(inputs);
  options.fuse_activations = finite;
  options.winograd = !flags.no_winograd && finite;
  options.conv_chains = !flags.no_conv_chains;
  options.only_chains_that_pay = layout == "channels-last";
  const ChannelsLastSummary s = convert_to_channels_last(graph, options);
  if (verbose)
    std::fprintf(stderr,
                 "channels-last: %d convs (%d with packed weights, %d of them Winograd; %d "
                 "activations and %d Adds fused; %d run in %d chains), %d pools, %d other ops, "
                 "%d transposes\n",
                 s.convs, s.packed_convs, s.winograd_convs, s.fused_activations, s.fused_adds,
                 s.chained_convs, s.conv_chains, s.pools, s.other_ops, s.transposes);
}

}  // namespace qforge::cli
