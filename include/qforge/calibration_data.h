// SPDX-License-Identifier: Apache-2.0
// Calibration data (PPQ's dataloader + collate_fn): a sequence of batches, each a map from
// model input name to tensor. Sources: a folder of .npy files (one sample per file, or one
// stacked file per input), .npz archives, ONNX TensorProto .pb files, and images (JPEG/PNG via
// stb) with a declarative preprocessing spec. Streams: never loads the whole set at once.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "qforge/graph.h"
#include "qforge/tensor.h"

namespace qforge {

using Batch = std::map<std::string, Tensor>;

// Declarative image preprocessing (JSON keys in parentheses).
struct PreprocessSpec {
  std::optional<std::pair<int, int>> resize;       // ("resize": [h, w]) bilinear
  std::optional<int> resize_shorter;               // ("resize": 256) shorter side, keeps aspect
  std::optional<std::pair<int, int>> center_crop;  // ("center_crop": [h, w])
  std::vector<float> mean;                         // ("mean": [..]) per channel, after scale
  std::vector<float> std;                          // ("std": [..])
  float scale = 1.0f / 255.0f;                     // ("scale") pixel multiplier before mean/std
  std::string color = "RGB";                       // ("color": RGB | BGR | GRAY)
  std::string layout = "NCHW";                     // ("layout": NCHW | NHWC)
  DataType dtype = DataType::Float;                // ("dtype": float32 | uint8 ...)
  std::string input_name;                          // ("input"): model input it feeds
};
PreprocessSpec parse_preprocess_spec(const std::string& json_text, const std::string& where);

class CalibrationDataset {
 public:
  virtual ~CalibrationDataset() = default;
  virtual size_t size() const = 0;           // number of samples
  virtual Batch sample(size_t index) = 0;    // one sample (batch dimension 1 or as stored)
  virtual std::string describe() const = 0;  // "folder x: 512 .npy samples"
};

// Opens a folder or file of calibration data for `graph` (input names, dtypes and shapes are
// checked against the model: wrong names, shapes or dtypes are errors naming the file).
std::unique_ptr<CalibrationDataset> open_calibration_data(
    const std::string& path, const Graph& graph,
    const std::optional<PreprocessSpec>& preprocess = {});

// Stacks samples [begin, end) along axis 0 into one batch.
Batch collate(CalibrationDataset& dataset, size_t begin, size_t end);

// False when a float input of the batch holds NaN or Inf (calibration and analysis skip it).
bool batch_is_finite(const Batch& batch);

}  // namespace qforge
