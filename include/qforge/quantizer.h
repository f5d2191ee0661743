// SPDX-License-Identifier: Apache-2.0
// PPQ's quantization entry points: QuantizationSetting (which passes run, with their options),
// the Quantizer (builds per-port configs from a platform table and runs the pass pipeline), and
// quantize_onnx_model, which does load -> format -> dispatch -> quantize in one call.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "qforge/calibration_data.h"
#include "qforge/dispatch.h"
#include "qforge/graph.h"
#include "qforge/observer.h"
#include "qforge/platform.h"

namespace qforge {

struct QuantizationSetting {
  std::string dispatcher = "conservative";
  DispatchingTable dispatching_table;
  bool fusion = true;               // Conv/Gemm + activation; passive ops share scales
  bool quantize_parameter = true;   // per-channel weights
  bool quantize_activation = true;  // runtime calibration
  std::string activation_observer;  // "" = the platform's default
  ObserverOptions observer;
  bool alignment = true;           // Concat / Add / pooling scale alignment
  bool passive_parameters = true;  // bias = s_in * s_w, Clip bounds, Pad value
  bool bias_correction = false;
  bool baking = true;
  // Baking keeps each weight's float value (Variable::fp32_value, PPQ's stored_value) for error
  // analysis; off, it is dropped (a model's weights less memory once quantized).
  bool keep_fp32_parameters = true;
  int calib_steps = 32;  // batches of calibration data
  int calib_batch = 1;   // samples per batch
  int threads = 0;
  bool progress = true;  // progress bar on a terminal (never in logs)
};
QuantizationSetting default_setting();
// JSON (the CLI's --setting file): unknown keys are errors naming the key.
QuantizationSetting parse_setting(const std::string& json_text, const std::string& where);
// The JSON keys, one per field of QuantizationSetting and of its ObserverOptions.
std::vector<std::string> setting_keys();

// Counts from calibration, for the report.
struct CalibrationReport {
  int64_t samples = 0;
  int64_t skipped_samples = 0;  // samples holding NaN/Inf
  double seconds = 0;
  int64_t batch = 1;  // samples stacked per executor run (calib_batch, or 1: see note)
  int64_t runs = 0;   // executor runs, all passes together
  std::string note;   // why calib_batch was not used, when it was not
};

class Quantizer {
 public:
  Quantizer(Platform platform, Graph& graph);
  // Runs the pipeline of `setting` with calibration data; the graph's ops get configs.
  void quantize(CalibrationDataset& data, const QuantizationSetting& setting);
  // Only builds every port's config from the platform table (state INITIAL): PPQ's
  // do_quantize=False.
  void initialize(const QuantizationSetting& setting);
  // A table of ops and their TQCs by state.
  std::string report() const;
  const Platform& platform() const { return platform_; }
  Graph& graph() { return graph_; }
  const CalibrationReport& calibration() const { return calibration_; }

 private:
  Platform platform_;
  Graph& graph_;
  CalibrationReport calibration_;
};

// Load, format, dispatch and quantize. `dataset` provides samples (its first one traces the
// graph's shapes). Returns the quantized graph.
std::unique_ptr<Graph> quantize_onnx_model(const std::string& onnx_file,
                                           CalibrationDataset& dataset, const Platform& platform,
                                           const QuantizationSetting& setting = default_setting());

// PPQ's quantize_onnx_model(onnx_import_file, calib_dataloader, calib_steps, input_shape | inputs,
// platform, setting, collate_fn, do_quantize, verbose), argument for argument:
// - `calib_steps` overrides setting.calib_steps;
// - `trace_inputs` are the tensors the graph's shapes are traced with (PPQ's `inputs`), or
//   `input_shapes` their shapes (PPQ's `input_shape`: zero tensors of the model's dtypes);
//   neither: the first calibration sample;
// - `collate_fn`, when set, turns each calibration sample into the model's inputs;
// - `do_quantize` false stops after dispatch with every config initialized (state INITIAL);
// - `verbose` > 0 prints the report of ops and configs by state.
using CollateFn = std::function<Batch(const Batch&)>;
struct QuantizeOnnxOptions {
  int calib_steps = 32;
  Batch trace_inputs;
  std::map<std::string, Shape> input_shapes;
  QuantizationSetting setting = default_setting();
  CollateFn collate_fn;
  bool do_quantize = true;
  int verbose = 0;
};
std::unique_ptr<Graph> quantize_onnx_model(const std::string& onnx_file,
                                           CalibrationDataset& calib_dataloader,
                                           const Platform& platform,
                                           const QuantizeOnnxOptions& options);

// An executor over a quantized graph with fake quantization on every active TQC.
class Executor;
void attach_fake_quantization(Executor& executor, const Graph& graph);
// Only the delegates the full simulation places on ops for which `only` is true (an edge
// quantized by its producer stays with the producer): simulates those ops' quantization alone.
void attach_fake_quantization(Executor& executor, const Graph& graph,
                              const std::function<bool(const Operation&)>& only);

}  // namespace qforge
