// SPDX-License-Identifier: Apache-2.0
// Error analysis results as an aligned text table (worst rows marked, optionally sorted) and as
// JSON (qforge/error_analysis.h). Printed by `qforge quantize --analyse`; tested in
// tests/analysis/test_error_analysis.cpp.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "qforge/error_analysis.h"

namespace qforge {

namespace {

std::string format_finite(double value, const char* spec) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return fmt::format(fmt::runtime(spec), value);
}

struct Cells {
  std::string ratio, snr, cosine, max_abs;
};

Cells cells(const ErrorStats& s) {
  if (s.elements == 0) return {"-", "-", "-", "-"};
  return {format_finite(s.noise_signal_ratio() * 100, "{:.4f}%"),
          format_finite(s.snr_db(), "{:.2f}"), format_finite(s.cosine(), "{:.6f}"),
          format_finite(s.max_abs_error, "{:.4g}")};
}

// Indices of the `count` rows with the largest noise/signal ratio (rows with noise only).
std::vector<size_t> worst_rows(const std::vector<LayerError>& rows, int count) {
  std::vector<size_t> order;
  for (size_t r = 0; r < rows.size(); ++r)
    if (rows[r].stats.elements > 0 && rows[r].stats.noise > 0) order.push_back(r);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return rows[a].stats.noise_signal_ratio() > rows[b].stats.noise_signal_ratio();
  });
  if (order.size() > static_cast<size_t>(std::max(count, 0)))
    order.resize(static_cast<size_t>(std::max(count, 0)));
  return order;
}

std::string table_rows(const std::vector<LayerError>& rows, const std::vector<size_t>& order,
                       const std::vector<size_t>& worst, size_t name_width, size_t type_width) {
  std::string out;
  for (size_t r : order) {
    const LayerError& row = rows[r];
    const Cells c = cells(row.stats);
    const bool marked = std::find(worst.begin(), worst.end(), r) != worst.end();
    std::string name =
        row.name.size() > name_width ? row.name.substr(0, name_width - 1) + "~" : row.name;
    out +=
        fmt::format("{:<{}}  {:<{}}  {:>13}  {:>8}  {:>9}  {:>10}{}\n", name, name_width, row.type,
                    type_width, c.ratio, c.snr, c.cosine, c.max_abs, marked ? "  *" : "");
  }
  return out;
}

nlohmann::json finite_or_null(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json();
}

nlohmann::json rows_json(const std::vector<LayerError>& rows) {
  nlohmann::json list = nlohmann::json::array();
  for (const LayerError& row : rows) {
    const ErrorStats& s = row.stats;
    list.push_back({{"name", row.name},
                    {"type", row.type},
                    {"noise_signal_ratio", finite_or_null(s.noise_signal_ratio())},
                    {"snr_db", finite_or_null(s.snr_db())},
                    {"cosine", finite_or_null(s.cosine())},
                    {"max_abs_error", s.max_abs_error},
                    {"elements", s.elements},
                    {"left_out", s.left_out}});
  }
  return list;
}

nlohmann::json analysis_json(const ErrorAnalysis& a) {
  return {{"method", a.method},
          {"samples", a.samples},
          {"skipped_samples", a.skipped_samples},
          {"baked_without_fp32_value", a.baked_without_fp32_value},
          {"ops", rows_json(a.ops)},
          {"outputs", rows_json(a.outputs)}};
}

}  // namespace

std::string format_error_table(const ErrorAnalysis& analysis, const ErrorTableOptions& options) {
  const bool layerwise = analysis.method == "layerwise";
  std::string out =
      fmt::format("{} error analysis ({}): {} samples, {} skipped (NaN/Inf)\n", analysis.method,
                  layerwise ? "each op quantized alone, error at the graph outputs"
                            : "all ops quantized, error at each op's output",
                  analysis.samples, analysis.skipped_samples);
  if (analysis.baked_without_fp32_value > 0)
    out += fmt::format(
        "note: {} baked parameters have no FP32 value; their quantization error is not measured\n",
        analysis.baked_without_fp32_value);
  size_t name_width = 2, type_width = 4;
  for (const auto* rows : {&analysis.ops, &analysis.outputs})
    for (const LayerError& row : *rows) {
      name_width = std::max(name_width, std::min<size_t>(row.name.size(), 48));
      type_width = std::max(type_width, row.type.size());
    }
  const std::vector<size_t> worst = worst_rows(analysis.ops, options.mark_worst);
  std::vector<size_t> order(analysis.ops.size());
  for (size_t r = 0; r < order.size(); ++r) order[r] = r;
  if (options.sort_by_error) {
    std::vector<size_t> ranked = worst_rows(analysis.ops, static_cast<int>(analysis.ops.size()));
    for (size_t r : order)
      if (std::find(ranked.begin(), ranked.end(), r) == ranked.end()) ranked.push_back(r);
    order = std::move(ranked);
  }
  out += fmt::format("{:<{}}  {:<{}}  {:>13}  {:>8}  {:>9}  {:>10}\n", "op", name_width, "type",
                     type_width, "noise/signal", "SNR dB", "cosine", "max abs");
  out += table_rows(analysis.ops, order, worst, name_width, type_width);
  if (!analysis.outputs.empty()) {
    out += "graph outputs:\n";
    std::vector<size_t> all(analysis.outputs.size());
    for (size_t r = 0; r < all.size(); ++r) all[r] = r;
    out += table_rows(analysis.outputs, all, {}, name_width, type_width);
  }
  if (!worst.empty())
    out += fmt::format("* the {} rows with the largest noise/signal ratio\n", worst.size());
  return out;
}

std::string error_analysis_to_json(const ErrorAnalysis& analysis) {
  return analysis_json(analysis).dump(2);
}

std::string error_analysis_to_json(const std::vector<ErrorAnalysis>& analyses) {
  nlohmann::json doc = nlohmann::json::object();
  for (const ErrorAnalysis& a : analyses) doc[a.method] = analysis_json(a);
  return doc.dump(2);
}

}  // namespace qforge
