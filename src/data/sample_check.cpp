// SPDX-License-Identifier: Apache-2.0
// Checks calibration samples against the model's inputs (names, dtypes, static dims, the
// optional batch axis) and the small naming helpers every loader shares (data_internal.h).
// Tested in tests/data/test_calibration_data.cpp.
#include <algorithm>
#include <cctype>

#include "data/data_internal.h"

namespace qforge::data {

ModelInputs model_inputs(const Graph& graph) {
  ModelInputs inputs;
  // Old models list initializers among the inputs; those have a value and need no data.
  for (const Variable* v : graph.inputs())
    if (!v->is_parameter())
      inputs.push_back(std::make_shared<const ModelInput>(ModelInput{v->name, v->dtype, v->shape}));
  return inputs;
}

InputRef find_input(const ModelInputs& inputs, const std::string& name) {
  for (const InputRef& v : inputs)
    if (v->name == name) return v;
  return nullptr;
}

std::string quoted_names(const ModelInputs& inputs) {
  std::string out;
  for (const InputRef& v : inputs) out += fmt::format("{}'{}'", out.empty() ? "" : ", ", v->name);
  return out;
}

std::string describe_input(const ModelInput& input) {
  return fmt::format("{} {}", dtype_name(input.dtype),
                     input.shape ? dims_to_string(*input.shape) : std::string("(any shape)"));
}

namespace {

bool dims_match(const Shape& shape, const std::vector<Dim>& dims, size_t first_dim) {
  for (size_t i = first_dim; i < dims.size(); ++i)
    if (dims[i].is_static() && dims[i].value != shape[i - first_dim]) return false;
  return true;
}

}  // namespace

Tensor conform_to_input(Tensor tensor, const ModelInput& input, const std::string& where) {
  if (input.dtype != DataType::Undefined && tensor.dtype() != input.dtype)
    fail(ErrorKind::Argument, "{}: input '{}': expected dtype {}, found {}{}", where, input.name,
         dtype_name(input.dtype), dtype_name(tensor.dtype()),
         tensor.dtype() == DataType::Double && input.dtype == DataType::Float
             ? " (save the array with .astype(numpy.float32))"
             : "");
  if (!input.shape) return tensor;
  const std::vector<Dim>& dims = *input.shape;
  const size_t rank = static_cast<size_t>(tensor.rank());
  if (rank == dims.size() && dims_match(tensor.shape(), dims, 0)) return tensor;
  // A sample without the batch axis: the model's first dim must accept a batch of 1.
  if (rank + 1 == dims.size() && (!dims[0].is_static() || dims[0].value == 1) &&
      dims_match(tensor.shape(), dims, 1)) {
    Shape batched = tensor.shape();
    batched.insert(batched.begin(), 1);
    return tensor.reshaped(std::move(batched));
  }
  fail(ErrorKind::Argument, "{}: input '{}': expected shape {}, found {}", where, input.name,
       dims_to_string(dims), shape_to_string(tensor.shape()));
}

void check_all_inputs_fed(const Batch& batch, const ModelInputs& inputs, const std::string& where) {
  for (const InputRef& v : inputs)
    if (!batch.count(v->name))
      fail(ErrorKind::Argument, "{}: no data for model input '{}' ({})", where, v->name,
           describe_input(*v));
}

bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i]));
    const bool db = std::isdigit(static_cast<unsigned char>(b[j]));
    if (da && db) {
      size_t ei = i, ej = j;
      while (ei < a.size() && std::isdigit(static_cast<unsigned char>(a[ei]))) ++ei;
      while (ej < b.size() && std::isdigit(static_cast<unsigned char>(b[ej]))) ++ej;
      // Compare the runs as numbers without overflow: strip leading zeros, then length, digits.
      size_t zi = i, zj = j;
      while (zi + 1 < ei && a[zi] == '0') ++zi;
      while (zj + 1 < ej && b[zj] == '0') ++zj;
      if (ei - zi != ej - zj) return ei - zi < ej - zj;
      const int cmp = a.compare(zi, ei - zi, b, zj, ej - zj);
      if (cmp != 0) return cmp < 0;
      if (ei - i != ej - j) return ei - i < ej - j;  // "01" after "1": keeps the order total
      i = ei;
      j = ej;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

std::string lower_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

bool is_image_extension(const std::string& ext) {
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}

std::string display_path(const fs::path& path, bool folder) {
  std::string text = path.string();
  if (folder && (text.empty() || text.back() != '/')) text += '/';
  return text;
}

}  // namespace qforge::data
