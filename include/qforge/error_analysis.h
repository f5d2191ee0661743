// SPDX-License-Identifier: Apache-2.0
// PPQ's error analysis of a quantized graph. graphwise_error_analyse: quantization on everywhere
// vs off everywhere, compared at each op's output (error accumulated from the inputs up to the
// op). layerwise_error_analyse: one op quantized at a time, compared at the graph outputs (the
// op's own sensitivity). Both stream: per row only running sums, never activations across
// batches. Code in src/analysis/, tests in tests/analysis/test_error_analysis.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qforge/calibration_data.h"
#include "qforge/graph.h"

namespace qforge {

// Which ops get a row.
enum class AnalysedOps {
  Computing,  // PPQ's choice: dispatched Conv, ConvTranspose, Gemm, MatMul
  Quantized,  // every op with at least one active quantization config
  All,        // every op, FP32 ones included (shows how error propagates)
};
const char* analysed_ops_name(AnalysedOps ops);
AnalysedOps analysed_ops_from_name(const std::string& name);  // "computing" | "quantized" | "all"

struct ErrorAnalysisOptions {
  int steps = 8;         // batches of data
  int batch = 1;         // samples per batch
  int threads = 0;       // 0: all cores
  bool progress = true;  // progress bar on a terminal (never in logs)
  AnalysedOps ops = AnalysedOps::Computing;
};

// Running sums over every compared element pair (q: quantized run, f: FP32 run), fixed size
// whatever the number of samples.
struct ErrorStats {
  double noise = 0;            // sum (q - f)^2
  double signal = 0;           // sum f^2
  double quantized_power = 0;  // sum q^2
  double dot = 0;              // sum q * f
  double max_abs_error = 0;    // max |q - f|
  int64_t elements = 0;        // pairs compared
  int64_t left_out = 0;        // pairs not compared: NaN/Inf on either side, or shapes that
                               // differ between the runs (data-dependent shapes)

  // Adds float tensors of one shape (other dtypes are not compared).
  void add(const Tensor& quantized, const Tensor& reference);
  void merge(const ErrorStats& other);
  // PPQ's "snr" measure: noise / signal (0 when both are 0, +inf when only signal is 0).
  double noise_signal_ratio() const;
  // 10 log10(signal / noise); +inf without noise.
  double snr_db() const;
  // sum(q f) / sqrt(sum q^2 * sum f^2); 1 when both are all zero.
  double cosine() const;
};

struct LayerError {
  std::string name;  // op name (graph output name in ErrorAnalysis::outputs)
  std::string type;  // op type (producer's type for a graph output)
  ErrorStats stats;
};

struct ErrorAnalysis {
  std::string method;               // "graphwise" | "layerwise"
  std::vector<LayerError> ops;      // topological order
  std::vector<LayerError> outputs;  // graphwise: one row per graph output
  int64_t samples = 0;              // samples compared
  int64_t skipped_samples = 0;      // samples holding NaN/Inf, left out as calibration does
  // Baked parameters without their FP32 value (Variable::fp32_value): the FP32 reference then
  // runs with quantized weights and weight error is not measured.
  int64_t baked_without_fp32_value = 0;
};

// Runs FP32 and simulated quantization on each batch and compares every analysed op's outputs
// and every graph output. An Argument error when the graph has no active quantization config,
// the data is empty, or every sample holds NaN/Inf.
ErrorAnalysis graphwise_error_analyse(const Graph& quantized_graph, CalibrationDataset& data,
                                      const ErrorAnalysisOptions& options = {});

// For each analysed op in turn, simulates only the quantization that op performs (the ports
// attach_fake_quantization gives it; everything else in FP32) and compares the graph outputs,
// all outputs summed into one row. One graph run per op and batch.
ErrorAnalysis layerwise_error_analyse(const Graph& quantized_graph, CalibrationDataset& data,
                                      const ErrorAnalysisOptions& options = {});

struct ErrorTableOptions {
  bool sort_by_error = false;  // worst first instead of topological order
  int mark_worst = 3;          // '*' on the rows with the largest noise/signal ratio
};
// Aligned text: op, type, noise/signal %, SNR dB, cosine, max abs error, worst marks.
std::string format_error_table(const ErrorAnalysis& analysis,
                               const ErrorTableOptions& options = {});
// {"method", "samples", "skipped_samples", "ops": [{name, type, noise_signal_ratio, snr_db,
// cosine, max_abs_error, elements, left_out}], "outputs": [...]}; infinities as null.
std::string error_analysis_to_json(const ErrorAnalysis& analysis);
// Several analyses as one object keyed by method ({"graphwise": {...}, "layerwise": {...}}).
std::string error_analysis_to_json(const std::vector<ErrorAnalysis>& analyses);

}  // namespace qforge
