// SPDX-License-Identifier: Apache-2.0
// `qforge quantize MODEL --calib DIR --platform trt_int8 -o OUT.onnx [--preprocess spec.json]
//  [--setting setting.json] [--dispatch table.json] [--steps N] [--batch N] [--report]
//  [--config-out configs.json] [--analyse graphwise|layerwise|both [--analyse-steps N]
//  [--analyse-ops computing|quantized|all] [--analyse-json FILE]]`
#include <cstdio>

#include "commands.h"
#include "qforge/dispatch.h"
#include "qforge/error_analysis.h"
#include "qforge/executor.h"
#include "qforge/export.h"
#include "qforge/file_io.h"
#include "qforge/format.h"
#include "qforge/onnx_io.h"
#include "qforge/quantizer.h"

namespace qforge::cli {

namespace {

struct AnalyseArgs {
  std::string method, ops = "computing", json;
  int steps = 8;
};

// PPQ's graphwise/layerwise error analysis of the quantized graph on the calibration data:
// tables on stdout, optionally JSON.
void print_error_analysis(const Graph& graph, CalibrationDataset& data,
                          const QuantizationSetting& setting, const AnalyseArgs& args) {
  ErrorAnalysisOptions options;
  options.steps = args.steps;
  options.batch = setting.calib_batch;
  options.threads = setting.threads;
  options.progress = setting.progress;
  options.ops = analysed_ops_from_name(args.ops);
  std::vector<ErrorAnalysis> analyses;
  if (args.method == "graphwise" || args.method == "both")
    analyses.push_back(graphwise_error_analyse(graph, data, options));
  if (args.method == "layerwise" || args.method == "both")
    analyses.push_back(layerwise_error_analyse(graph, data, options));
  for (const ErrorAnalysis& analysis : analyses)
    std::fputs(format_error_table(analysis).c_str(), stdout);
  if (!args.json.empty()) write_file_atomic(args.json, error_analysis_to_json(analyses) + "\n");
}

}  // namespace

void add_quantize_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("quantize", "Calibrate and quantize a model, export it for an engine");
  struct Args {
    std::string model, calib, preprocess, platform = "trt_int8", output, setting, dispatch,
                                          config_out, observer;
    int steps = 0, batch = 0, threads = 0;
    bool report = false;
    AnalyseArgs analyse;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_option("--calib", args->calib, "Calibration data: folder of .npy/.pb/images, or .npz")
      ->required();
  cmd->add_option("--preprocess", args->preprocess, "Image preprocessing spec (JSON)");
  cmd->add_option("--platform", args->platform, "Built-in platform name or a platform .json file");
  cmd->add_option("-o,--output", args->output, "Quantized model to write")->required();
  cmd->add_option("--setting", args->setting, "QuantizationSetting JSON");
  cmd->add_option("--dispatch", args->dispatch,
                  "Dispatching table JSON: op name or type -> FP32 or platform");
  cmd->add_option("--observer", args->observer,
                  "Activation observer: minmax, percentile, kl, mse, ...");
  cmd->add_option("--steps", args->steps, "Calibration batches (default 32)");
  cmd->add_option("--batch", args->batch, "Samples per calibration batch (default 1)");
  cmd->add_option("--threads", args->threads, "Threads (default: all cores)");
  cmd->add_option("--config-out", args->config_out, "Write every port's scale/offset as JSON");
  cmd->add_flag("--report", args->report, "Print the table of ops and configs by state");
  auto* analyse =
      cmd->add_option("--analyse", args->analyse.method, "Error analysis after quantizing (PPQ's)")
          ->check(CLI::IsMember({"graphwise", "layerwise", "both"}));
  cmd->add_option("--analyse-steps", args->analyse.steps,
                  "Batches of calibration data the analysis runs (default 8)")
      ->check(CLI::PositiveNumber)
      ->needs(analyse);
  cmd->add_option("--analyse-ops", args->analyse.ops,
                  "Rows: computing (Conv/Gemm/MatMul, default), quantized, all")
      ->check(CLI::IsMember({"computing", "quantized", "all"}))
      ->needs(analyse);
  cmd->add_option("--analyse-json", args->analyse.json, "Write the analysis as JSON")
      ->needs(analyse);
  cmd->callback([args] {
    ensure_not_same_file(args->model, args->output);
    if (!args->analyse.json.empty()) ensure_not_same_file(args->model, args->analyse.json);
    const Platform platform = load_platform(args->platform);
    QuantizationSetting setting = args->setting.empty()
                                      ? default_setting()
                                      : parse_setting(read_file(args->setting), args->setting);
    if (!args->dispatch.empty())
      setting.dispatching_table =
          parse_dispatching_table(read_file(args->dispatch), args->dispatch);
    if (!args->observer.empty()) setting.activation_observer = args->observer;
    if (args->steps > 0) setting.calib_steps = args->steps;
    if (args->batch > 0) setting.calib_batch = args->batch;
    if (args->threads > 0) setting.threads = args->threads;
    // The float weights are only read by the error analysis: without it, one copy of the weights
    // less in memory (resnet18: 45 MB).
    if (args->analyse.method.empty()) setting.keep_fp32_parameters = false;
    std::optional<PreprocessSpec> preprocess;
    if (!args->preprocess.empty())
      preprocess = parse_preprocess_spec(read_file(args->preprocess), args->preprocess);

    auto graph = load_onnx_graph(args->model);
    format_graph(*graph);
    auto data = open_calibration_data(args->calib, *graph, preprocess);
    if (data->size() == 0) fail(ErrorKind::Argument, "{}: no calibration samples", args->calib);
    trace_operation_meta(*graph, collate(*data, 0, 1), ExecutorOptions{setting.threads});
    dispatch_graph(*graph, platform, setting.dispatcher, setting.dispatching_table);
    Quantizer quantizer(platform, *graph);
    quantizer.quantize(*data, setting);
    export_graph(*graph, platform, args->output, args->config_out);
    if (args->report) std::fputs(quantizer.report().c_str(), stdout);
    const CalibrationReport& calib = quantizer.calibration();
    std::printf("quantized %s for %s with %lld calibration samples (%lld skipped) in %.2fs -> %s\n",
                args->model.c_str(), platform.name.c_str(), static_cast<long long>(calib.samples),
                static_cast<long long>(calib.skipped_samples), calib.seconds, args->output.c_str());
    if (!args->analyse.method.empty()) print_error_analysis(*graph, *data, setting, args->analyse);
  });
}

}  // namespace qforge::cli
