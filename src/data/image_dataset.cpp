// SPDX-License-Identifier: Apache-2.0
// Image calibration data: JPEG/PNG/BMP decoded with stb_image, then PreprocessSpec applied in
// torchvision's order (resize, center crop, scale, mean/std) into NCHW or NHWC. Opened by
// open_folder / open_calibration_data; tested in tests/data/test_calibration_data.cpp.
#include <stb/stb_image.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "data/data_internal.h"
#include "qforge/file_io.h"

namespace qforge::data {

namespace {

// Python's round() (half to even), which torchvision's center crop uses for its offsets.
int round_half_even(double value) {
  return static_cast<int>(std::nearbyint(value));
}

// Where output pixel i (of a crop starting at `offset` in an image resized to `resized`) reads
// the source: half-pixel centres, clamped at the borders like OpenCV's INTER_LINEAR.
struct Tap {
  int lo, hi;
  float frac;
};
std::vector<Tap> taps_for(int count, int offset, int resized, int in_size) {
  std::vector<Tap> taps(static_cast<size_t>(count));
  const double ratio = static_cast<double>(in_size) / resized;
  for (int i = 0; i < count; ++i) {
    double src = (i + offset + 0.5) * ratio - 0.5;
    src = std::clamp(src, 0.0, static_cast<double>(in_size - 1));
    const int lo = static_cast<int>(std::floor(src));
    taps[static_cast<size_t>(i)] = {lo, std::min(lo + 1, in_size - 1),
                                    static_cast<float>(src - lo)};
  }
  return taps;
}

std::pair<int, int> resized_size(int height, int width, const PreprocessSpec& spec) {
  if (spec.resize) return *spec.resize;
  if (spec.resize_shorter) {
    const int s = *spec.resize_shorter;
    // torchvision Resize(int): the shorter side becomes s, the longer one is truncated.
    if (height <= width) return {s, static_cast<int>(static_cast<int64_t>(s) * width / height)};
    return {static_cast<int>(static_cast<int64_t>(s) * height / width), s};
  }
  return {height, width};
}

Tensor to_dtype(const Tensor& values, DataType dtype) {
  if (dtype == DataType::Float) return values;
  if (dtype != DataType::UInt8 && dtype != DataType::Int8) return values.cast(dtype);
  // Integer pixels: round to nearest and saturate (a plain cast would wrap).
  const float lo = dtype == DataType::UInt8 ? 0.0f : -128.0f;
  const float hi = dtype == DataType::UInt8 ? 255.0f : 127.0f;
  Tensor out(dtype, values.shape());
  const float* in = values.data<float>();
  for (int64_t i = 0; i < values.numel(); ++i) {
    const float v = std::clamp(std::nearbyint(in[i]), lo, hi);
    if (dtype == DataType::UInt8)
      out.data<uint8_t>()[i] = static_cast<uint8_t>(v);
    else
      out.data<int8_t>()[i] = static_cast<int8_t>(v);
  }
  return out;
}

}  // namespace

Tensor preprocess_pixels(const uint8_t* pixels, int height, int width, int channels,
                         const PreprocessSpec& spec, const std::string& where) {
  const auto [rh, rw] = resized_size(height, width, spec);
  int oh = rh, ow = rw, top = 0, left = 0;
  if (spec.center_crop) {
    std::tie(oh, ow) = *spec.center_crop;
    if (oh > rh || ow > rw)
      fail(ErrorKind::Argument, "{}: center crop {}x{} is larger than the image ({}x{}{})", where,
           oh, ow, rh, rw, spec.resize || spec.resize_shorter ? " after resize" : "");
    top = round_half_even((rh - oh) / 2.0);
    left = round_half_even((rw - ow) / 2.0);
  }
  // The crop is taken from the resized image, so both maps compose into one set of taps.
  const std::vector<Tap> ys = taps_for(oh, top, rh, height);
  const std::vector<Tap> xs = taps_for(ow, left, rw, width);
  const bool nchw = spec.layout == "NCHW";
  Tensor out(DataType::Float, nchw ? Shape{1, channels, oh, ow} : Shape{1, oh, ow, channels});
  float* dst = out.data<float>();
  for (int c = 0; c < channels; ++c) {
    const int src_c = spec.color == "BGR" ? channels - 1 - c : c;
    const float mean = spec.mean.empty() ? 0.0f : spec.mean[spec.mean.size() == 1 ? 0 : c];
    const float inv_std = spec.std.empty() ? 1.0f : 1.0f / spec.std[spec.std.size() == 1 ? 0 : c];
    for (int y = 0; y < oh; ++y) {
      const Tap& ty = ys[static_cast<size_t>(y)];
      const uint8_t* row0 = pixels + static_cast<size_t>(ty.lo) * width * channels;
      const uint8_t* row1 = pixels + static_cast<size_t>(ty.hi) * width * channels;
      for (int x = 0; x < ow; ++x) {
        const Tap& tx = xs[static_cast<size_t>(x)];
        const auto at = [&](const uint8_t* row, int col) -> float {
          return row[col * channels + src_c];
        };
        const float top_v = at(row0, tx.lo) + (at(row0, tx.hi) - at(row0, tx.lo)) * tx.frac;
        const float bot_v = at(row1, tx.lo) + (at(row1, tx.hi) - at(row1, tx.lo)) * tx.frac;
        const float pixel = top_v + (bot_v - top_v) * ty.frac;
        const size_t index = nchw ? (static_cast<size_t>(c) * oh + y) * ow + x
                                  : (static_cast<size_t>(y) * ow + x) * channels + c;
        dst[index] = (pixel * spec.scale - mean) * inv_std;
      }
    }
  }
  return to_dtype(out, spec.dtype);
}

namespace {

class ImageDataset : public CalibrationDataset {
 public:
  ImageDataset(std::vector<std::string> files, InputRef input, PreprocessSpec spec,
               std::string folder)
      : files_(std::move(files)),
        input_(std::move(input)),
        spec_(std::move(spec)),
        folder_(std::move(folder)) {}

  size_t size() const override { return files_.size(); }

  Batch sample(size_t index) override {
    if (index >= files_.size())
      fail(ErrorKind::Argument, "{}: sample {} out of range ({} images)", folder_, index,
           files_.size());
    const std::string& path = files_[index];
    const std::string bytes = read_file(path);
    const int wanted = spec_.color == "GRAY" ? 1 : 3;
    int width = 0, height = 0, stored_channels = 0;
    stbi_uc* pixels = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                            static_cast<int>(bytes.size()), &width, &height,
                                            &stored_channels, wanted);
    if (!pixels)
      fail(ErrorKind::Argument, "{}: cannot decode image ({})", path, stbi_failure_reason());
    std::unique_ptr<stbi_uc, void (*)(void*)> owner(pixels, stbi_image_free);
    Tensor tensor = preprocess_pixels(pixels, height, width, wanted, spec_, path);
    return {{input_->name, conform_to_input(std::move(tensor), *input_, path)}};
  }

  std::string describe() const override {
    return fmt::format("{}: {} images for input '{}' ({})", folder_, files_.size(), input_->name,
                       describe_spec(spec_));
  }

 private:
  std::vector<std::string> files_;
  InputRef input_;
  PreprocessSpec spec_;
  std::string folder_;
};

}  // namespace

std::unique_ptr<CalibrationDataset> make_image_dataset(std::vector<std::string> files,
                                                       InputRef input, PreprocessSpec spec,
                                                       std::string folder) {
  if (input->dtype != DataType::Undefined && input->dtype != spec.dtype)
    fail(ErrorKind::Argument,
         "{}: input '{}' expects dtype {} but the preprocessing produces {} (set the preprocessing "
         "key \"dtype\")",
         folder, input->name, dtype_name(input->dtype), dtype_name(spec.dtype));
  return std::make_unique<ImageDataset>(std::move(files), std::move(input), std::move(spec),
                                        std::move(folder));
}

}  // namespace qforge::data
