// SPDX-License-Identifier: Apache-2.0
// `qforge format MODEL -o OUT.onnx [--no-<pass>]...`: runs format_graph (the passes listed by
// qforge::format_passes()) and writes the result. Registered in main.cpp's kCommands; tested in
// tests/passes/test_format_graph.cpp.
#include <cstdio>
#include <map>
#include <memory>

#include "commands.h"
#include "qforge/format.h"
#include "qforge/onnx_io.h"

namespace qforge::cli {

namespace {

std::map<std::string, int64_t> count_ops(const Graph& graph) {
  std::map<std::string, int64_t> counts;
  for (const auto& op : graph.operations()) ++counts[op->type];
  return counts;
}

std::string hyphenated(std::string name) {
  for (char& c : name)
    if (c == '_') c = '-';
  return name;
}

// "Constant -250, BatchNormalization -35, Resize +2"
std::string count_changes(const std::map<std::string, int64_t>& before,
                          const std::map<std::string, int64_t>& after) {
  std::map<std::string, int64_t> delta;
  for (const auto& [type, n] : before) delta[type] -= n;
  for (const auto& [type, n] : after) delta[type] += n;
  std::string out;
  for (const auto& [type, d] : delta)
    if (d != 0) out += fmt::format("{}{} {:+d}", out.empty() ? "" : ", ", type, d);
  return out.empty() ? "no op changes" : out;
}

int64_t total(const std::map<std::string, int64_t>& counts) {
  int64_t sum = 0;
  for (const auto& [type, n] : counts) sum += n;
  return sum;
}

}  // namespace

void add_format_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "format", "Run the graph formatting passes (PPQ's format_graph) and write the model");
  auto model = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();
  auto options = std::make_shared<FormatOptions>();
  cmd->add_option("model", *model, "ONNX model file")->required();
  cmd->add_option("-o,--output", *output, "Where to write the formatted model")->required();
  for (const FormatPassInfo& pass : format_passes()) {
    const std::string flag = hyphenated(pass.name);
    bool FormatOptions::*enabled = pass.enabled;
    cmd->add_flag_callback(
        fmt::format("--no-{},--no-{}", flag, pass.name),
        [options, enabled] { (*options).*enabled = false; },
        fmt::format("Skip {}: {}", pass.name, pass.summary));
  }
  cmd->callback([model, output, options] {
    const auto graph = load_onnx_graph(*model);
    const auto before = count_ops(*graph);
    format_graph(*graph, *options);
    const auto after = count_ops(*graph);
    save_onnx_graph(*graph, *output);
    std::printf("%s: %lld -> %lld ops (%s)\n", output->c_str(),
                static_cast<long long>(total(before)), static_cast<long long>(total(after)),
                count_changes(before, after).c_str());
  });
}

}  // namespace qforge::cli
