// SPDX-License-Identifier: Apache-2.0
// `qforge run MODEL --input name=file.npy ... [--output-dir DIR] [--threads T]`
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "model_inputs.h"
#include "qforge/executor.h"
#include "qforge/onnx_io.h"
#include "qforge/tensor_io.h"

namespace qforge::cli {

namespace {
std::string safe_file_name(const std::string& name) {
  std::string out = name;
  for (char& c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) c = '_';
  return out;
}

std::string describe_values(const Tensor& t) {
  if (t.dtype() == DataType::String || t.numel() == 0) return "";
  double lo = INFINITY, hi = -INFINITY, sum = 0;
  int64_t non_finite = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = t.value_as_double(i);
    if (!std::isfinite(v)) {
      ++non_finite;
      continue;
    }
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  const int64_t finite = t.numel() - non_finite;
  std::string out = finite ? fmt::format("min {:.6g} max {:.6g} mean {:.6g}", lo, hi,
                                         sum / static_cast<double>(finite))
                           : "";
  if (non_finite) out += fmt::format(" ({} NaN/Inf)", non_finite);
  return out;
}
}  // namespace

void add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Run a model on CPU and write its outputs as .npy");
  struct Args {
    std::string model, output_dir;
    std::vector<std::string> inputs;
    LayoutFlags layout;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_option("--input,-i", args->inputs, "name=file.npy or name=file.pb (repeatable)");
  cmd->add_option("--output-dir,-o", args->output_dir, "Write each output as DIR/<name>.npy");
  cmd->add_option("--threads", args->threads, "Threads (default: all cores)");
  add_layout_flags(*cmd, args->layout);
  cmd->callback([args] {
    const auto graph = load_onnx_graph(args->model);
    const auto inputs = read_input_files(*graph, args->inputs);
    apply_layout(*graph, args->layout, inputs, args->threads, false);
    Executor executor(*graph, ExecutorOptions{args->threads});
    const auto outputs = executor.run(inputs);
    if (!args->output_dir.empty()) std::filesystem::create_directories(args->output_dir);
    for (size_t i = 0; i < outputs.size(); ++i) {
      const std::string& name = graph->outputs()[i]->name;
      std::printf("%-32s %-8s %-20s %s\n", name.c_str(), dtype_name(outputs[i].dtype()),
                  shape_to_string(outputs[i].shape()).c_str(), describe_values(outputs[i]).c_str());
      if (!args->output_dir.empty())
        write_npy(args->output_dir + "/" + safe_file_name(name) + ".npy", outputs[i]);
    }
  });
}

}  // namespace qforge::cli
