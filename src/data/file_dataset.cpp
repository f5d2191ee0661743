// SPDX-License-Identifier: Apache-2.0
// Samples stored one file per input (.npy or ONNX TensorProto .pb): sample(i) reads just the
// files of sample i. Built by open_folder (folder_layout.cpp); tested in
// tests/data/test_calibration_data.cpp.
#include "data/data_internal.h"
#include "qforge/tensor_io.h"

namespace qforge::data {

namespace {

class FileDataset : public CalibrationDataset {
 public:
  FileDataset(std::vector<SampleFiles> samples, ModelInputs inputs, std::string source,
              std::string layout)
      : samples_(std::move(samples)),
        inputs_(std::move(inputs)),
        source_(std::move(source)),
        layout_(std::move(layout)) {}

  size_t size() const override { return samples_.size(); }

  Batch sample(size_t index) override {
    if (index >= samples_.size())
      fail(ErrorKind::Argument, "{}: sample {} out of range ({} samples)", source_, index,
           samples_.size());
    Batch batch;
    for (const SampleFile& file : samples_[index]) {
      InputRef input = file.input;
      Tensor tensor;
      if (lower_extension(file.path) == ".pb") {
        std::string proto_name;
        tensor = read_tensor_pb(file.path, &proto_name);
        if (!input) input = input_of_test_data_file(file, proto_name);
      } else {
        tensor = read_npy(file.path);
      }
      if (batch.count(input->name))
        fail(ErrorKind::Argument, "{}: input '{}' is given twice in sample {}", file.path,
             input->name, index);
      batch[input->name] = conform_to_input(std::move(tensor), *input, file.path);
    }
    check_all_inputs_fed(batch, inputs_,
                         samples_[index].size() == 1
                             ? samples_[index][0].path
                             : fmt::format("{} (sample {})", source_, index));
    return batch;
  }

  std::string describe() const override {
    const std::string ext = samples_.empty() ? "" : lower_extension(samples_[0][0].path) + " ";
    return fmt::format("{}: {} {}samples for input{} {}{}", source_, samples_.size(), ext,
                       inputs_.size() == 1 ? "" : "s", quoted_names(inputs_),
                       layout_.empty() ? "" : " (" + layout_ + ")");
  }

 private:
  // ONNX test data (input_K.pb): the TensorProto name picks the input when it names one,
  // else the file's index K does.
  InputRef input_of_test_data_file(const SampleFile& file, const std::string& proto_name) {
    if (InputRef named = find_input(inputs_, proto_name)) return named;
    if (!proto_name.empty() && inputs_.size() > 1)
      fail(ErrorKind::Argument, "{}: tensor '{}' is not a model input (inputs: {})", file.path,
           proto_name, quoted_names(inputs_));
    if (file.index >= inputs_.size())
      fail(ErrorKind::Argument, "{}: input index {} but the model has {} input{} ({})", file.path,
           file.index, inputs_.size(), inputs_.size() == 1 ? "" : "s", quoted_names(inputs_));
    return inputs_[file.index];
  }

  std::vector<SampleFiles> samples_;
  ModelInputs inputs_;
  std::string source_;
  std::string layout_;
};

}  // namespace

std::unique_ptr<CalibrationDataset> make_file_dataset(std::vector<SampleFiles> samples,
                                                      ModelInputs inputs,
                                                      std::string source_description,
                                                      std::string layout) {
  return std::make_unique<FileDataset>(std::move(samples), std::move(inputs),
                                       std::move(source_description), std::move(layout));
}

}  // namespace qforge::data
