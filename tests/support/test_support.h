// SPDX-License-Identifier: Apache-2.0
// Shared test helpers: temporary folders, the ONNX backend test data, and ONNX Runtime runs
// through scripts/ort_run.js (one node process for a whole batch of models).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "qforge/tensor.h"

namespace qforge::testing {

// A fresh folder under the build tree, removed at scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// /usr/share/libonnx-testdata/data, or "" when the package is missing.
std::string backend_test_data_dir();
// Folder of an npm-packed model (third_party/models/NAME), or "" when setup has not run.
std::string npm_model_dir(const std::string& name);
bool ort_available();

struct OrtJob {
  std::string model;
  std::map<std::string, std::string> inputs;  // input name -> .npy path
  std::string output_dir;
  bool optimize = false;  // ORT graph optimizations (off: reference semantics)
};
struct OrtResult {
  bool ok = false;
  std::string error;
  std::vector<std::string> output_names;
  std::vector<Tensor> outputs;  // in session output order (read from output_dir)
};
std::vector<OrtResult> run_ort(const std::vector<OrtJob>& jobs);

// Largest |a-b| / (atol + rtol*|b|) style check; returns a message on mismatch, "" when close.
std::string compare_tensors(const Tensor& actual, const Tensor& expected, double rtol, double atol);

// Random float tensor with a fixed seed.
Tensor random_tensor(DataType dtype, const Shape& shape, uint32_t seed, float low = -1.0f, float high = 1.0f);

}  // namespace qforge::testing
