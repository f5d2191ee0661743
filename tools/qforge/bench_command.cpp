// SPDX-License-Identifier: Apache-2.0
// `qforge bench MODEL [--batch N] [--threads T] [--shape name=dims] [--repeat R]`: median
// latency of Executor::run on random inputs, after warm-up runs.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "commands.h"
#include "model_inputs.h"
#include "qforge/executor.h"
#include "qforge/onnx_io.h"

namespace qforge::cli {

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Measure a model's median latency on CPU");
  struct Args {
    std::string model;
    std::vector<std::string> shapes;
    int64_t batch = 1;
    int threads = 0, repeat = 20, warmup = 3;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_option("--batch", args->batch, "Batch size for the first (dynamic) axis");
  cmd->add_option("--shape", args->shapes, "name=1x3x224x224 for inputs with dynamic dims");
  cmd->add_option("--threads", args->threads, "Threads (default: all cores)");
  cmd->add_option("--repeat", args->repeat, "Timed runs");
  cmd->add_option("--warmup", args->warmup, "Untimed runs first");
  cmd->add_flag("--json", args->json, "Print one JSON line");
  cmd->callback([args] {
    const auto graph = load_onnx_graph(args->model);
    const auto inputs = make_random_inputs(*graph, parse_shape_overrides(args->shapes), args->batch);
    Executor executor(*graph, ExecutorOptions{args->threads});
    for (int i = 0; i < args->warmup; ++i) executor.run(inputs);
    std::vector<double> times;
    for (int i = 0; i < std::max(args->repeat, 1); ++i) {
      const auto start = std::chrono::steady_clock::now();
      executor.run(inputs);
      times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2];
    if (args->json)
      std::printf("{\"model\": \"%s\", \"median_ms\": %.3f, \"min_ms\": %.3f, \"threads\": %d}\n", args->model.c_str(),
                  median, times.front(), executor.threads());
    else
      std::printf("%s: median %.3f ms, min %.3f ms over %zu runs, %d threads\n", args->model.c_str(), median,
                  times.front(), times.size(), executor.threads());
  });
}

}  // namespace qforge::cli
