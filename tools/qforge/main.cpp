// SPDX-License-Identifier: Apache-2.0
// The qforge command line. Each subcommand lives in its own file and registers itself in
// kCommands below; errors from the library become one line on stderr and exit code 1.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.h"
#include "qforge/error.h"

namespace {
using qforge::cli::CommandSpec;
constexpr CommandSpec kCommands[] = {
    {qforge::cli::add_inspect_command}, {qforge::cli::add_run_command},
    {qforge::cli::add_bench_command},   {qforge::cli::add_quantize_command},
    {qforge::cli::add_format_command},
};
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qforge: post-training quantization toolkit"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "qforge 0.1.0");
  for (const CommandSpec& spec : kCommands) spec.add(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const qforge::Error& e) {
    std::fprintf(stderr, "qforge: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qforge: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
