// SPDX-License-Identifier: Apache-2.0
// `qforge bench MODEL [--batch N] [--threads T] [--shape name=dims] [--repeat R]`: median
// latency of Executor::run on random inputs, after warm-up runs, and its memory: peak resident
// memory while running against parameters + the largest set of live activations.
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "commands.h"
#include "model_inputs.h"
#include "qforge/executor.h"
#include "qforge/onnx_io.h"

namespace qforge::cli {

namespace {

// "VmRSS" (current), "VmHWM" (peak since the last reset), "RssAnon" (private) or "RssFile"
// (pages of mapped files: library code) of this process, in bytes.
int64_t proc_status_bytes(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1)) * 1024;
  return 0;
}

// Restarts VmHWM from the current RSS (Linux: "5" to clear_refs), so the peak measured is the
// runs', not the model loader's.
void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}

// Bytes of the model's weights: initializers and Constant nodes' tensors.
int64_t parameter_bytes(const Graph& graph) {
  int64_t total = 0;
  for (const auto& var : graph.variables())
    if (var->is_parameter()) total += static_cast<int64_t>(var->value.nbytes());
  // Weights held by Constant nodes (exporters such as paddle2onnx write them so) count too.
  for (const auto& op : graph.operations())
    if (op->type == "Constant")
      if (const Attribute* value = op->find_attr("value"); value && value->t.defined())
        total += static_cast<int64_t>(value->t.nbytes());
  return total;
}

// Mean ms per run by op type and for the slowest ops, to stderr with --json (stdout keeps one
// JSON line).
void print_profile(const std::vector<OperationTiming>& timings, size_t runs, size_t top,
                   bool to_stderr) {
  FILE* out = to_stderr ? stderr : stdout;
  std::map<std::string, std::pair<double, int64_t>> by_type;
  double total = 0;
  for (const OperationTiming& t : timings) {
    by_type[t.type].first += t.total_ms;
    ++by_type[t.type].second;
    total += t.total_ms;
  }
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> types(by_type.begin(),
                                                                        by_type.end());
  std::sort(types.begin(), types.end(),
            [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  const double per_run = 1.0 / static_cast<double>(std::max<size_t>(runs, 1));
  std::fprintf(out, "%-24s %6s %10s %7s\n", "op type", "ops", "ms/run", "share");
  for (const auto& [type, v] : types)
    std::fprintf(out, "%-24s %6lld %10.3f %6.1f%%\n", type.c_str(),
                 static_cast<long long>(v.second), v.first * per_run,
                 100.0 * v.first / std::max(total, 1e-12));
  std::vector<OperationTiming> slowest = timings;
  std::sort(slowest.begin(), slowest.end(),
            [](const auto& a, const auto& b) { return a.total_ms > b.total_ms; });
  slowest.resize(std::min<size_t>(slowest.size(), top));
  std::fprintf(out, "slowest ops (ms/run):\n");
  for (const OperationTiming& t : slowest)
    std::fprintf(out, "  %8.3f  %s (%s)\n", t.total_ms * per_run, t.name.c_str(), t.type.c_str());
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Measure a model's median latency on CPU");
  struct Args {
    std::string model;
    std::vector<std::string> shapes;
    LayoutFlags layout;
    int64_t batch = 1;
    int threads = 0, repeat = 20, warmup = 3;
    size_t top = 10;
    bool json = false, keep_weights = false, profile = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_option("--batch", args->batch, "Batch size for the first (dynamic) axis");
  cmd->add_option("--shape", args->shapes, "name=1x3x224x224 for inputs with dynamic dims");
  cmd->add_option("--threads", args->threads, "Threads (default: all cores)");
  cmd->add_option("--repeat", args->repeat, "Timed runs");
  cmd->add_option("--warmup", args->warmup, "Untimed runs first");
  cmd->add_flag("--json", args->json, "Print one JSON line");
  cmd->add_flag("--keep-prepared-weights", args->keep_weights,
                "Keep conv weights in oneDNN's layout between runs (faster, more memory)");
  add_layout_flags(*cmd, args->layout);
  cmd->add_option("--top", args->top, "With --profile: how many of the slowest ops to list");
  cmd->add_flag("--profile", args->profile,
                "Also print where the time went: per op type and the slowest ops (timed runs)");
  cmd->callback([args] {
    prepare_onnx_schemas();  // a per-process cost of the loader, not of this model
    const int64_t rss_before_model = proc_status_bytes("VmRSS");
    const int64_t anon_before_model = proc_status_bytes("RssAnon");
    const int64_t file_before_model = proc_status_bytes("RssFile");
    const auto graph = load_onnx_graph(args->model);
    const auto inputs =
        make_random_inputs(*graph, parse_shape_overrides(args->shapes), args->batch);
    // The model's own parameters: the packed copies that replace them are about the same size.
    const int64_t param_bytes = parameter_bytes(*graph);
    apply_layout(*graph, args->layout, inputs, args->threads, !args->json);
    ExecutorOptions options;
    options.threads = args->threads;
    options.keep_prepared_weights = args->keep_weights;
    options.profile = args->profile;
    Executor executor(*graph, options);
    malloc_trim(0);  // hand the loader's freed buffers back before measuring
    reset_peak_rss();
    // The warm-up runs page in the code (oneDNN's alone is ~7 MiB of shared, file-backed pages;
    // the second run takes the paths that reuse kernel states and the arena's plan) and plan the
    // arena. Restarting the peak after them bounds the private memory of the runs that follow
    // from above: file pages only grow, so anon <= peak - file pages now.
    for (int i = 0; i < std::max(args->warmup, 1); ++i) executor.run(inputs);
    const int64_t warmup_peak = proc_status_bytes("VmHWM");
    const int64_t file_after_warmup = proc_status_bytes("RssFile");
    reset_peak_rss();
    const size_t warmup_runs = static_cast<size_t>(std::max(args->warmup, 1));
    std::vector<double> times;
    for (int i = 0; i < std::max(args->repeat, 1); ++i) {
      const auto start = std::chrono::steady_clock::now();
      executor.run(inputs);
      times.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
    }
    std::sort(times.begin(), times.end());
    if (args->profile)
      print_profile(executor.profile(), warmup_runs + times.size(), args->top, args->json);
    const double median = times[times.size() / 2];
    const double mib = 1024.0 * 1024.0;
    const double params = static_cast<double>(param_bytes) / mib;
    const double activations = static_cast<double>(executor.peak_activation_bytes()) / mib;
    const int64_t steady_peak = proc_status_bytes("VmHWM");
    const double peak =
        static_cast<double>(std::max(warmup_peak, steady_peak) - rss_before_model) / mib;
    const double code = static_cast<double>(proc_status_bytes("RssFile") - file_before_model) / mib;
    const double private_peak =
        static_cast<double>(steady_peak - file_after_warmup - anon_before_model) / mib;
    const double ratio = private_peak / std::max(params + activations, 1e-9);
    const double arena = static_cast<double>(executor.arena_bytes()) / mib;
    if (args->json)
      std::printf(
          "{\"model\": \"%s\", \"median_ms\": %.3f, \"min_ms\": %.3f, \"threads\": %d, "
          "\"params_mib\": %.2f, \"peak_activations_mib\": %.2f, \"peak_rss_mib\": %.2f, "
          "\"code_mib\": %.2f, \"private_peak_mib\": %.2f, \"memory_ratio\": %.3f, "
          "\"arena_mib\": %.2f}\n",
          args->model.c_str(), median, times.front(), executor.threads(), params, activations, peak,
          code, private_peak, ratio, arena);
    else
      std::printf(
          "%s: median %.3f ms, min %.3f ms over %zu runs, %d threads\n"
          "memory: peak RSS %.1f MiB above the process before loading, %.1f MiB of it library "
          "code paged in; private memory while running at most %.1f MiB = %.2f x (parameters "
          "%.1f MiB + largest live activations %.1f MiB); activation arena %.1f MiB\n",
          args->model.c_str(), median, times.front(), times.size(), executor.threads(), peak, code,
          private_peak, ratio, params, activations, arena);
  });
}

}  // namespace qforge::cli
