// SPDX-License-Identifier: Apache-2.0
// One function per subcommand: it adds the subcommand to the app and sets its callback.
#pragma once

#include <CLI/CLI.hpp>

namespace qforge::cli {

struct CommandSpec {
  void (*add)(CLI::App& app);
};

void add_inspect_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_format_command(CLI::App& app);

}  // namespace qforge::cli
