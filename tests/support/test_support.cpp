// SPDX-License-Identifier: Apache-2.0
#include "support/test_support.h"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "qforge/file_io.h"
#include "qforge/tensor_io.h"

namespace qforge::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  path_ = (fs::path(QFORGE_BINARY_DIR) / "test_tmp" /
           fmt::format("t{}_{}_{:x}", ::getpid(), counter++, rd()))
              .string();
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!std::getenv("QFORGE_KEEP_TEST_FILES")) fs::remove_all(path_, ec);
}

std::string backend_test_data_dir() {
  const std::string dir = "/usr/share/libonnx-testdata/data";
  return fs::is_directory(dir) ? dir : "";
}

std::string npm_model_dir(const std::string& name) {
  const fs::path dir = fs::path(QFORGE_SOURCE_DIR) / "third_party" / "models" / name;
  return fs::is_directory(dir) ? dir.string() : "";
}

bool ort_available() {
  return fs::exists(fs::path(QFORGE_SOURCE_DIR) / "third_party/npm/node_modules/onnxruntime-node/package.json");
}

std::vector<OrtResult> run_ort(const std::vector<OrtJob>& jobs) {
  TempDir dir;
  nlohmann::json list = nlohmann::json::array();
  for (const OrtJob& job : jobs)
    list.push_back({{"model", job.model},
                    {"inputs", job.inputs},
                    {"output_dir", job.output_dir},
                    {"optimization", job.optimize ? "all" : "disabled"},
                    {"threads", 1}});
  const std::string jobs_file = dir.file("jobs.json"), results_file = dir.file("results.json");
  write_file_atomic(jobs_file, list.dump());
  const std::string command = fmt::format("node '{}/scripts/ort_run.js' '{}' '{}'", QFORGE_SOURCE_DIR,
                                          jobs_file, results_file);
  if (std::system(command.c_str()) != 0) throw std::runtime_error("ort_run.js failed: " + command);
  const auto results = nlohmann::json::parse(read_file(results_file));
  std::vector<OrtResult> out;
  for (size_t i = 0; i < jobs.size(); ++i) {
    OrtResult r;
    r.ok = results[i].value("ok", false);
    r.error = results[i].value("error", "");
    if (r.ok) {
      r.output_names = results[i]["outputs"].get<std::vector<std::string>>();
      for (size_t k = 0; k < r.output_names.size() && !jobs[i].output_dir.empty(); ++k)
        r.outputs.push_back(read_npy(fmt::format("{}/{}.npy", jobs[i].output_dir, k)));
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::string compare_tensors(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  if (actual.dtype() != expected.dtype())
    return fmt::format("dtype {} vs expected {}", dtype_name(actual.dtype()), dtype_name(expected.dtype()));
  if (actual.shape() != expected.shape())
    return fmt::format("shape {} vs expected {}", shape_to_string(actual.shape()), shape_to_string(expected.shape()));
  if (actual.dtype() == DataType::String)
    return actual.strings() == expected.strings() ? "" : "string contents differ";
  for (int64_t i = 0; i < actual.numel(); ++i) {
    const double a = actual.value_as_double(i), e = expected.value_as_double(i);
    if (std::isnan(a) && std::isnan(e)) continue;
    if (a == e) continue;
    if (!(std::abs(a - e) <= atol + rtol * std::abs(e)))
      return fmt::format("element {}: {} vs expected {}", i, a, e);
  }
  return "";
}

Tensor random_tensor(DataType dtype, const Shape& shape, uint32_t seed, float low, float high) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(low, high);
  Tensor t(DataType::Float, shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return dtype == DataType::Float ? t : t.cast(dtype);
}

}  // namespace qforge::testing
