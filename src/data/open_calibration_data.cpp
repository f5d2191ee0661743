// SPDX-License-Identifier: Apache-2.0
// open_calibration_data: picks the loader for a path (.npz / .npy / .pb / image file, or a
// folder: folder_layout.cpp) and reads the first sample at once so that a mismatch with the
// model surfaces before calibration starts. Tested in tests/data/test_calibration_data.cpp.
#include "data/data_internal.h"

namespace qforge {

namespace {

using namespace data;

std::unique_ptr<CalibrationDataset> open_file(const fs::path& path, const Graph& graph,
                                              const std::optional<PreprocessSpec>& preprocess) {
  const std::string file = path.string();
  const std::string ext = lower_extension(path);
  const ModelInputs inputs = model_inputs(graph);
  if (inputs.empty()) fail(ErrorKind::Argument, "{}: the model has no inputs to feed", file);
  if (is_image_extension(ext)) return open_image_files({file}, inputs, preprocess, file);
  if (preprocess)
    fail(ErrorKind::Argument, "{}: an image preprocessing spec applies to images only", file);
  if (ext == ".npz") return open_npz(file, inputs);
  if ((ext == ".npy" || ext == ".pb") && inputs.size() > 1)
    fail(ErrorKind::Argument,
         "{}: one {} file feeds one input but the model has inputs {}; use a .npz archive or a "
         "folder (see docs/calibration_data.md)",
         file, ext, quoted_names(inputs));
  // A lone .npy holds the whole set stacked along axis 0; a lone .pb is one sample.
  if (ext == ".npy") {
    std::vector<StackedArray> arrays;
    arrays.push_back({inputs[0], std::make_unique<StackedNpy>(open_file_source(file), file)});
    return make_stacked_dataset(std::move(arrays), "file " + file);
  }
  if (ext == ".pb") return make_file_dataset({{{inputs[0], 0, file}}}, inputs, "file " + file, "");
  fail(ErrorKind::Argument,
       "{}: unsupported calibration data file (expected .npz, .npy, .pb, .jpg, .jpeg, .png, .bmp "
       "or a folder)",
       file);
}

}  // namespace

std::unique_ptr<CalibrationDataset> open_calibration_data(
    const std::string& path, const Graph& graph, const std::optional<PreprocessSpec>& preprocess) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) fail(ErrorKind::IO, "{}: no such file or folder", path);
  std::unique_ptr<CalibrationDataset> dataset = fs::is_directory(status)
                                                    ? open_folder(path, graph, preprocess)
                                                    : open_file(path, graph, preprocess);
  if (dataset->size() == 0)
    fail(ErrorKind::Argument, "{}: no calibration samples ({})",
         display_path(path, fs::is_directory(status)), dataset->describe());
  dataset->sample(0);
  return dataset;
}

}  // namespace qforge
