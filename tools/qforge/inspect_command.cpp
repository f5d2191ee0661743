// SPDX-License-Identifier: Apache-2.0
// `qforge inspect MODEL [--json]`
#include <cstdio>

#include "commands.h"
#include "qforge/model_summary.h"
#include "qforge/onnx_io.h"

namespace qforge::cli {

void add_inspect_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("inspect", "Show a model's ops, inputs, outputs, parameters and opsets");
  auto model = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("model", *model, "ONNX model file")->required();
  cmd->add_flag("--json", *json, "Print JSON for machines");
  cmd->callback([model, json] {
    const auto graph = load_onnx_graph(*model);
    const ModelSummary summary = summarize_model(*graph);
    const std::string text = *json ? summary_to_json(summary) + "\n" : summary_to_text(summary);
    std::fputs(text.c_str(), stdout);
  });
}

}  // namespace qforge::cli
