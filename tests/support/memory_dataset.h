// SPDX-License-Identifier: Apache-2.0
// An in-memory CalibrationDataset for tests (random samples with a fixed seed).
#pragma once

#include <random>

#include "qforge/calibration_data.h"

namespace qforge::testing {

class MemoryDataset : public CalibrationDataset {
 public:
  explicit MemoryDataset(std::vector<Batch> samples) : samples_(std::move(samples)) {}
  // `count` samples of one float input, uniform in [low, high).
  static MemoryDataset random(const std::string& input, const Shape& shape, size_t count, uint32_t seed,
                              float low = -1.0f, float high = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(low, high);
    std::vector<Batch> samples;
    for (size_t n = 0; n < count; ++n) {
      Tensor t(DataType::Float, shape);
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
      samples.push_back({{input, t}});
    }
    return MemoryDataset(std::move(samples));
  }
  size_t size() const override { return samples_.size(); }
  Batch sample(size_t index) override { return samples_.at(index); }
  std::string describe() const override { return "memory dataset of " + std::to_string(samples_.size()) + " samples"; }
  std::vector<Batch>& samples() { return samples_; }

 private:
  std::vector<Batch> samples_;
};

}  // namespace qforge::testing
