// SPDX-License-Identifier: Apache-2.0
// Internals shared by the calibration data loaders (src/data/): the model inputs a sample must
// match, the check that conforms one tensor to its input, natural file ordering, row-wise
// reading of stacked .npy arrays, and the constructors of the three dataset kinds.
// Tested in tests/data/test_calibration_data.cpp.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "qforge/calibration_data.h"

namespace qforge::data {

namespace fs = std::filesystem;

// A graph input the data must feed, copied out of the graph so that a data set does not depend
// on the Graph it was opened for staying alive.
struct ModelInput {
  std::string name;
  DataType dtype = DataType::Undefined;
  std::optional<std::vector<Dim>> shape;  // declared dims; nullopt: unknown
};
using InputRef = std::shared_ptr<const ModelInput>;
using ModelInputs = std::vector<InputRef>;

// Graph inputs without an initializer value.
ModelInputs model_inputs(const Graph& graph);
InputRef find_input(const ModelInputs& inputs, const std::string& name);
std::string quoted_names(const ModelInputs& inputs);  // "'a', 'b'"
std::string describe_input(const ModelInput& input);  // "float32 [N, 3, 8, 8]"

// Checks `tensor` against the declared dtype and static dims of `input`; adds a leading batch
// axis of 1 when the tensor lacks exactly that axis. `where` names the file.
Tensor conform_to_input(Tensor tensor, const ModelInput& input, const std::string& where);
// Every model input fed exactly once (names already checked by conform_to_input's callers).
void check_all_inputs_fed(const Batch& batch, const ModelInputs& inputs, const std::string& where);

// Orders names with digit runs compared as numbers ("2.npy" before "10.npy").
bool natural_less(const std::string& a, const std::string& b);
std::string lower_extension(const fs::path& path);  // ".npy", ".jpeg" (lower case)
bool is_image_extension(const std::string& ext);
// Shown in messages: the path as given, folders with a trailing '/'.
std::string display_path(const fs::path& path, bool folder);

// Random-access bytes: a plain file or a member of a zip archive.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Reads exactly `count` bytes at `offset`, or fails naming the source.
  virtual void read(uint64_t offset, void* dst, size_t count) = 0;
};
std::unique_ptr<ByteSource> open_file_source(const std::string& path);

// A .npy array read one row (index along axis 0) at a time; only the header is kept.
class StackedNpy {
 public:
  StackedNpy(std::unique_ptr<ByteSource> source, std::string display_name);
  int64_t rows() const { return shape_.empty() ? 0 : shape_[0]; }
  const Shape& shape() const { return shape_; }
  DataType dtype() const { return dtype_; }
  const std::string& name() const { return name_; }
  Tensor row(int64_t index);  // shape [1, shape[1:]...]

 private:
  std::unique_ptr<ByteSource> source_;
  std::string name_;
  DataType dtype_ = DataType::Undefined;
  Shape shape_;
  uint64_t data_offset_ = 0;
  size_t row_bytes_ = 0;
};

// One array per model input, sliced per sample (a stacked .npy per input, or a .npz).
struct StackedArray {
  InputRef input;
  std::unique_ptr<StackedNpy> array;
};
std::unique_ptr<CalibrationDataset> make_stacked_dataset(std::vector<StackedArray> arrays,
                                                         std::string source_description);
std::unique_ptr<CalibrationDataset> open_npz(const std::string& path, const ModelInputs& inputs);

// One file per input per sample (.npy or TensorProto .pb). A file whose input is null is a .pb
// of an ONNX test data set: its input comes from the TensorProto name, else from `index`.
// `layout` is a note for describe() ("one subfolder per input"), may be empty.
struct SampleFile {
  InputRef input;
  size_t index = 0;
  std::string path;
};
using SampleFiles = std::vector<SampleFile>;
std::unique_ptr<CalibrationDataset> make_file_dataset(std::vector<SampleFiles> samples,
                                                      ModelInputs inputs,
                                                      std::string source_description,
                                                      std::string layout);

// Images decoded with stb_image and preprocessed by `spec`; they feed `input`.
std::unique_ptr<CalibrationDataset> make_image_dataset(std::vector<std::string> files,
                                                       InputRef input, PreprocessSpec spec,
                                                       std::string folder);
// The preprocessing arithmetic on decoded 8-bit pixels (rows of width*channels bytes):
// resize, center crop, scale, mean/std, channel order, layout, dtype. Exposed for tests.
Tensor preprocess_pixels(const uint8_t* pixels, int height, int width, int channels,
                         const PreprocessSpec& spec, const std::string& where);
std::string describe_spec(const PreprocessSpec& spec);
// Images for the input named by spec.input_name (or the model's only input); `where` names
// the folder or file in messages.
std::unique_ptr<CalibrationDataset> open_image_files(
    std::vector<std::string> files, const ModelInputs& inputs,
    const std::optional<PreprocessSpec>& preprocess, const std::string& where);

// Picks the layout of a folder (see docs/calibration_data.md) and opens it.
std::unique_ptr<CalibrationDataset> open_folder(const fs::path& folder, const Graph& graph,
                                                const std::optional<PreprocessSpec>& preprocess);

}  // namespace qforge::data
