// SPDX-License-Identifier: Apache-2.0
// Calibration data loaders (src/data/): .npy folders in every layout, stacked arrays, .npz
// (stored and deflated, written here with libzip), TensorProto .pb, PNG images written with
// stb_image_write, the preprocessing arithmetic, collate, and every user-facing error.
#include <gtest/gtest.h>
#include <stb/stb_image_write.h>
#include <zip.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "data/data_internal.h"
#include "qforge/calibration_data.h"
#include "qforge/tensor_io.h"
#include "support/test_support.h"

namespace qforge {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

Dim sym(const std::string& name) {
  return Dim{-1, name};
}
Dim fix(int64_t value) {
  return Dim{value, ""};
}

struct InputDecl {
  std::string name;
  DataType dtype;
  std::optional<std::vector<Dim>> dims;
};

std::unique_ptr<Graph> make_graph(const std::vector<InputDecl>& inputs) {
  auto graph = std::make_unique<Graph>();
  for (const InputDecl& in : inputs) {
    Variable* v = graph->create_variable(in.name);
    v->dtype = in.dtype;
    v->shape = in.dims;
    graph->add_graph_input(v);
  }
  return graph;
}

// One float input [N, 2, 3].
std::unique_ptr<Graph> single_input_graph() {
  return make_graph({{"input", DataType::Float, std::vector<Dim>{sym("N"), fix(2), fix(3)}}});
}

// "a": float [N, 2]; "b": int64 [N].
std::unique_ptr<Graph> two_input_graph() {
  return make_graph({{"a", DataType::Float, std::vector<Dim>{sym("N"), fix(2)}},
                     {"b", DataType::Int64, std::vector<Dim>{sym("N")}}});
}

Tensor iota(Shape shape, float start) {
  Tensor t(DataType::Float, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = start + static_cast<float>(i);
  return t;
}

Tensor a_value(int i) {
  return iota({2}, 10.0f * i);
}
Tensor b_value(int i) {
  return Tensor::from_vector<int64_t>({}, {100 + i}).reshaped({1});
}

// The message of the Error `body` throws (fails the test if it throws nothing).
template <typename Body>
std::string error_of(Body&& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an error";
  return "";
}

#define EXPECT_ERROR_HAS(body, ...)                          \
  do {                                                       \
    const std::string message_ = error_of([&] { body; });    \
    for (const char* part_ : {__VA_ARGS__})                  \
      EXPECT_NE(message_.find(part_), std::string::npos)     \
          << "missing \"" << part_ << "\" in: " << message_; \
  } while (0)

void write_npz(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& arrays,
               bool deflate) {
  int code = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  ASSERT_NE(zip, nullptr);
  std::vector<std::string> buffers;
  buffers.reserve(arrays.size());  // libzip reads the buffers at zip_close
  for (const auto& [name, tensor] : arrays) {
    buffers.push_back(serialize_npy(tensor));
    zip_source_t* source = zip_source_buffer(zip, buffers.back().data(), buffers.back().size(), 0);
    const zip_int64_t index = zip_file_add(zip, (name + ".npy").c_str(), source, ZIP_FL_OVERWRITE);
    ASSERT_GE(index, 0);
    zip_set_file_compression(zip, static_cast<zip_uint64_t>(index),
                             deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  ASSERT_EQ(zip_close(zip), 0);
}

// An RGB image whose pixel (y, x, c) is 10*y + 3*x + c (plus `base`).
std::vector<uint8_t> test_pixels(int height, int width, int base = 0) {
  std::vector<uint8_t> pixels(static_cast<size_t>(height * width * 3));
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        pixels[static_cast<size_t>((y * width + x) * 3 + c)] =
            static_cast<uint8_t>(base + 10 * y + 3 * x + c);
  return pixels;
}

void write_png(const std::string& path, int height, int width, int base = 0) {
  const std::vector<uint8_t> pixels = test_pixels(height, width, base);
  ASSERT_NE(stbi_write_png(path.c_str(), width, height, 3, pixels.data(), width * 3), 0);
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

// ---------------------------------------------------------------------------------------------
// .npy folders

TEST(CalibrationData, NpyFolderOneSamplePerFileInNaturalOrder) {
  TempDir dir;
  for (int i : {0, 1, 2, 10})
    write_npy(dir.file(std::to_string(i) + ".npy"), iota({2, 3}, 100.0f * i));
  auto graph = single_input_graph();
  auto data = open_calibration_data(dir.path(), *graph);
  ASSERT_EQ(data->size(), 4u);
  EXPECT_NE(data->describe().find("4 .npy samples for input 'input'"), std::string::npos)
      << data->describe();
  Batch last = data->sample(3);  // 10.npy sorts after 2.npy
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last["input"].shape(), (Shape{1, 2, 3}));  // the batch axis was added
  EXPECT_EQ(last["input"].to_float_vector()[0], 1000.0f);
  EXPECT_EQ(data->sample(2)["input"].to_float_vector()[5], 205.0f);
}

TEST(CalibrationData, SampleWithBatchAxisIsKept) {
  TempDir dir;
  write_npy(dir.file("x.npy"), iota({4, 2, 3}, 0));
  auto graph = single_input_graph();
  auto data = open_calibration_data(dir.path(), *graph);
  EXPECT_EQ(data->sample(0)["input"].shape(), (Shape{4, 2, 3}));
}

TEST(CalibrationData, OneSubfolderPerInput) {
  TempDir dir;
  fs::create_directories(dir.file("a"));
  fs::create_directories(dir.file("b"));
  for (int i = 0; i < 3; ++i) {
    write_npy(dir.file(fmt::format("a/{:03}.npy", i)), a_value(i));
    write_npy(dir.file(fmt::format("b/{:03}.npy", i)), b_value(i));
  }
  auto graph = two_input_graph();
  auto data = open_calibration_data(dir.path(), *graph);
  ASSERT_EQ(data->size(), 3u);
  Batch s = data->sample(2);
  EXPECT_EQ(s["a"].shape(), (Shape{1, 2}));
  EXPECT_EQ(s["a"].to_float_vector(), (std::vector<float>{20, 21}));
  EXPECT_EQ(s["b"].to_int64_vector(), (std::vector<int64_t>{102}));
  EXPECT_NE(data->describe().find("one subfolder per input"), std::string::npos);
}

TEST(CalibrationData, InputIndexFileNames) {
  TempDir dir;
  for (int i : {0, 1, 7}) {
    write_npy(dir.file(fmt::format("a_{}.npy", i)), a_value(i));
    write_npy(dir.file(fmt::format("b_{:02}.npy", i)), b_value(i));  // leading zeros still match
  }
  auto graph = two_input_graph();
  auto data = open_calibration_data(dir.path(), *graph);
  ASSERT_EQ(data->size(), 3u);
  Batch s = data->sample(2);
  EXPECT_EQ(s["a"].to_float_vector(), (std::vector<float>{70, 71}));
  EXPECT_EQ(s["b"].to_int64_vector(), (std::vector<int64_t>{107}));
}

TEST(CalibrationData, InputIndexPicksTheLongestInputName) {
  TempDir dir;
  auto graph =
      make_graph({{"x", DataType::Float, std::nullopt}, {"x_1", DataType::Float, std::nullopt}});
  write_npy(dir.file("x_0.npy"), iota({1}, 1));
  write_npy(dir.file("x_1_0.npy"), iota({1}, 2));
  auto data = open_calibration_data(dir.path(), *graph);
  ASSERT_EQ(data->size(), 1u);
  Batch s = data->sample(0);
  EXPECT_EQ(s["x"].to_float_vector()[0], 1.0f);
  EXPECT_EQ(s["x_1"].to_float_vector()[0], 2.0f);
}

TEST(CalibrationData, StackedFilePerInputIsSlicedAlongAxis0) {
  TempDir dir;
  write_npy(dir.file("a.npy"), iota({5, 2}, 0));
  write_npy(dir.file("b.npy"), Tensor::from_vector<int64_t>({5}, {0, 1, 2, 3, 4}));
  auto graph = two_input_graph();
  auto data = open_calibration_data(dir.path(), *graph);
  ASSERT_EQ(data->size(), 5u);
  Batch s = data->sample(3);
  EXPECT_EQ(s["a"].shape(), (Shape{1, 2}));
  EXPECT_EQ(s["a"].to_float_vector(), (std::vector<float>{6, 7}));
  EXPECT_EQ(s["b"].shape(), (Shape{1}));
  EXPECT_EQ(s["b"].to_int64_vector(), (std::vector<int64_t>{3}));
  EXPECT_EQ(data->sample(0)["a"].to_float_vector(), (std::vector<float>{0, 1}));
}

TEST(CalibrationData, SingleStackedNpyFileAndInputNamedFileInFolder) {
  TempDir dir;
  write_npy(dir.file("input.npy"), iota({4, 2, 3}, 0));
  auto graph = single_input_graph();
  for (const std::string& path : {dir.file("input.npy"), dir.path()}) {
    auto data = open_calibration_data(path, *graph);
    ASSERT_EQ(data->size(), 4u) << path;
    Batch s = data->sample(1);
    EXPECT_EQ(s["input"].shape(), (Shape{1, 2, 3}));
    EXPECT_EQ(s["input"].to_float_vector()[0], 6.0f);
  }
}

TEST(CalibrationData, StackedRowsOfOtherDtypes) {
  TempDir dir;
  auto graph = make_graph({{"m", DataType::Bool, std::vector<Dim>{sym("N"), fix(3)}}});
  Tensor mask(DataType::Bool, {2, 3});
  mask.data<bool>()[4] = true;
  write_npy(dir.file("m.npy"), mask);
  auto data = open_calibration_data(dir.file("m.npy"), *graph);
  EXPECT_EQ(data->sample(1)["m"].to_int64_vector(), (std::vector<int64_t>{0, 1, 0}));
}

// ---------------------------------------------------------------------------------------------
// .npz

TEST(CalibrationData, NpzStoredAndDeflated) {
  for (bool deflate : {false, true}) {
    TempDir dir;
    const std::string path = dir.file("calib.npz");
    write_npz(
        path,
        {{"a", iota({6, 2}, 0)}, {"b", Tensor::from_vector<int64_t>({6}, {5, 4, 3, 2, 1, 0})}},
        deflate);
    auto graph = two_input_graph();
    auto data = open_calibration_data(path, *graph);
    ASSERT_EQ(data->size(), 6u);
    EXPECT_NE(data->describe().find("6 samples for inputs 'a', 'b'"), std::string::npos)
        << data->describe();
    // Forward, backward and repeated access all give the right rows.
    for (int i : {0, 4, 1, 5, 5, 2}) {
      Batch s = data->sample(static_cast<size_t>(i));
      EXPECT_EQ(s["a"].to_float_vector(), (std::vector<float>{2.0f * i, 2.0f * i + 1}))
          << i << deflate;
      EXPECT_EQ(s["b"].to_int64_vector(), (std::vector<int64_t>{5 - i})) << i << deflate;
    }
  }
}

TEST(CalibrationData, NpzLargeDeflatedMemberStreamsRows) {
  TempDir dir;
  const std::string path = dir.file("big.npz");
  auto graph =
      make_graph({{"x", DataType::Float, std::vector<Dim>{sym("N"), fix(3), fix(64), fix(64)}}});
  Tensor all = testing::random_tensor(DataType::Float, {8, 3, 64, 64}, 7);
  write_npz(path, {{"x", all}}, true);
  auto data = open_calibration_data(path, *graph);
  const int64_t row = 3 * 64 * 64;
  for (int i : {7, 3, 6, 0}) {
    const std::vector<float> got = data->sample(static_cast<size_t>(i))["x"].to_float_vector();
    ASSERT_EQ(static_cast<int64_t>(got.size()), row);
    EXPECT_EQ(got[0], all.data<float>()[i * row]);
    EXPECT_EQ(got[row - 1], all.data<float>()[(i + 1) * row - 1]);
  }
}

TEST(CalibrationData, NpzLoneArrayFeedsTheOnlyInput) {
  TempDir dir;
  write_npz(dir.file("c.npz"), {{"arr_0", iota({3, 2, 3}, 0)}}, false);
  auto graph = single_input_graph();
  auto data = open_calibration_data(dir.file("c.npz"), *graph);
  EXPECT_EQ(data->size(), 3u);
  EXPECT_EQ(data->sample(2)["input"].to_float_vector()[0], 12.0f);
}

// ---------------------------------------------------------------------------------------------
// TensorProto .pb

TEST(CalibrationData, PbFolderOneSamplePerFile) {
  TempDir dir;
  for (int i = 0; i < 3; ++i)
    write_tensor_pb(dir.file(fmt::format("input_{}.pb", i)), iota({1, 2, 3}, 10.0f * i));
  auto graph = single_input_graph();
  auto data = open_calibration_data(dir.path(), *graph);
  ASSERT_EQ(data->size(), 3u);
  EXPECT_EQ(data->sample(2)["input"].to_float_vector()[0], 20.0f);
  EXPECT_NE(data->describe().find(".pb samples"), std::string::npos);
}

TEST(CalibrationData, OnnxTestDataSetFolders) {
  TempDir dir;
  auto graph = two_input_graph();
  for (int i = 0; i < 2; ++i) {
    const std::string set = dir.file(fmt::format("test_data_set_{}", i));
    fs::create_directories(set);
    // Set 0 names its tensors (in the opposite file order); set 1 leaves the names empty.
    if (i == 0) {
      write_tensor_pb(set + "/input_0.pb", b_value(i), "b");
      write_tensor_pb(set + "/input_1.pb", a_value(i), "a");
    } else {
      write_tensor_pb(set + "/input_0.pb", a_value(i));
      write_tensor_pb(set + "/input_1.pb", b_value(i));
    }
    write_tensor_pb(set + "/output_0.pb", iota({1}, 0), "y");  // ignored
  }
  auto data = open_calibration_data(dir.path(), *graph);
  ASSERT_EQ(data->size(), 2u);
  for (int i = 0; i < 2; ++i) {
    Batch s = data->sample(static_cast<size_t>(i));
    EXPECT_EQ(s["a"].to_float_vector(), a_value(i).to_float_vector());
    EXPECT_EQ(s["b"].to_int64_vector(), b_value(i).to_int64_vector());
  }
}

TEST(CalibrationData, FlatPbFilesOfOneTestCase) {
  TempDir dir;
  write_tensor_pb(dir.file("input_0.pb"), a_value(3), "a");
  write_tensor_pb(dir.file("input_1.pb"), b_value(3), "b");
  auto graph = two_input_graph();
  auto data = open_calibration_data(dir.path(), *graph);
  ASSERT_EQ(data->size(), 1u);
  EXPECT_EQ(data->sample(0)["b"].to_int64_vector(), (std::vector<int64_t>{103}));
}

// ---------------------------------------------------------------------------------------------
// Images and preprocessing

TEST(CalibrationData, PreprocessMeanStdRgbNchw) {
  const std::vector<uint8_t> px = test_pixels(2, 3);
  PreprocessSpec spec;
  spec.mean = {0.1f, 0.2f, 0.3f};
  spec.std = {0.5f, 0.25f, 2.0f};
  Tensor t = data::preprocess_pixels(px.data(), 2, 3, 3, spec, "img");
  ASSERT_EQ(t.shape(), (Shape{1, 3, 2, 3}));
  const std::vector<float> v = t.to_float_vector();
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 3; ++x) {
        const float pixel = static_cast<float>(10 * y + 3 * x + c);
        EXPECT_NEAR(v[static_cast<size_t>((c * 2 + y) * 3 + x)],
                    (pixel / 255.0f - spec.mean[c]) / spec.std[c], 1e-6);
      }
}

TEST(CalibrationData, PreprocessBgrNhwcAndScale) {
  const std::vector<uint8_t> px = test_pixels(2, 2);
  PreprocessSpec spec;
  spec.color = "BGR";
  spec.layout = "NHWC";
  spec.scale = 1.0f;
  spec.mean = {1, 2, 3};  // in the output (B, G, R) order
  Tensor t = data::preprocess_pixels(px.data(), 2, 2, 3, spec, "img");
  ASSERT_EQ(t.shape(), (Shape{1, 2, 2, 3}));
  const std::vector<float> v = t.to_float_vector();
  // Pixel (1, 0): R=10, G=11, B=12.
  EXPECT_EQ(v[6], 12.0f - 1);
  EXPECT_EQ(v[7], 11.0f - 2);
  EXPECT_EQ(v[8], 10.0f - 3);
}

TEST(CalibrationData, PreprocessCenterCropOffsets) {
  const std::vector<uint8_t> px = test_pixels(5, 6);
  PreprocessSpec spec;
  spec.scale = 1.0f;
  spec.center_crop = std::make_pair(2, 3);
  Tensor t = data::preprocess_pixels(px.data(), 5, 6, 3, spec, "img");
  ASSERT_EQ(t.shape(), (Shape{1, 3, 2, 3}));
  // torchvision: top = round((5-2)/2) = round(1.5) = 2, left = round((6-3)/2) = round(1.5) = 2.
  EXPECT_EQ(t.to_float_vector()[0], 10.0f * 2 + 3.0f * 2);
  spec.center_crop = std::make_pair(6, 6);
  EXPECT_ERROR_HAS(data::preprocess_pixels(px.data(), 5, 6, 3, spec, "img.png"), "img.png",
                   "center crop 6x6 is larger than the image (5x6)");
}

TEST(CalibrationData, PreprocessBilinearResize) {
  // A 1x2 gray image [0, 100] resized to 1x4 with half-pixel centres: 0, 25, 75, 100.
  const std::vector<uint8_t> px = {0, 100};
  PreprocessSpec spec;
  spec.scale = 1.0f;
  spec.color = "GRAY";
  spec.resize = std::make_pair(1, 4);
  Tensor t = data::preprocess_pixels(px.data(), 1, 2, 1, spec, "img");
  ASSERT_EQ(t.shape(), (Shape{1, 1, 1, 4}));
  EXPECT_EQ(t.to_float_vector(), (std::vector<float>{0, 25, 75, 100}));
  // Shorter side: 4x6 -> 2x3 (the longer side keeps the aspect ratio), then a uint8 output.
  const std::vector<uint8_t> big = test_pixels(4, 6);
  PreprocessSpec shorter;
  shorter.resize_shorter = 2;
  shorter.scale = 1.0f;
  shorter.dtype = DataType::UInt8;
  Tensor s = data::preprocess_pixels(big.data(), 4, 6, 3, shorter, "img");
  ASSERT_EQ(s.shape(), (Shape{1, 3, 2, 3}));
  EXPECT_EQ(s.dtype(), DataType::UInt8);
  // Output (0, 0) samples source (0.5, 0.5): 10*0.5 + 3*0.5 = 6.5 -> rounds to even 6.
  EXPECT_EQ(s.to_int64_vector()[0], 6);
}

TEST(CalibrationData, ImageFolderEndToEnd) {
  TempDir dir;
  fs::create_directories(dir.file("cls_b"));
  fs::create_directories(dir.file("cls_a"));
  write_png(dir.file("cls_b/img.png"), 4, 4, 100);
  write_png(dir.file("cls_a/img.png"), 4, 4, 0);
  write_text(dir.file("labels.txt"), "ignored");
  auto graph =
      make_graph({{"image", DataType::Float, std::vector<Dim>{sym("N"), fix(3), fix(2), fix(2)}}});
  PreprocessSpec spec =
      parse_preprocess_spec(R"({"center_crop": 2, "scale": 1, "mean": [1, 2, 3]})", "spec.json");
  auto data = open_calibration_data(dir.path(), *graph, spec);
  ASSERT_EQ(data->size(), 2u);
  EXPECT_NE(data->describe().find("2 images for input 'image'"), std::string::npos)
      << data->describe();
  Tensor first = data->sample(0)["image"];  // cls_a sorts first
  ASSERT_EQ(first.shape(), (Shape{1, 3, 2, 2}));
  EXPECT_EQ(first.to_float_vector()[0], 10.0f + 3.0f - 1.0f);  // crop starts at (1, 1)
  EXPECT_EQ(data->sample(1)["image"].to_float_vector()[0], 100.0f + 13.0f - 1.0f);
}

TEST(CalibrationData, ImageFeedsTheNamedInputAndChecksTheModel) {
  TempDir dir;
  write_png(dir.file("a.png"), 4, 4);
  auto two = make_graph(
      {{"image", DataType::Float, std::nullopt}, {"mask", DataType::Float, std::nullopt}});
  EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *two), "'image', 'mask'", "\"input\"");
  PreprocessSpec spec;
  spec.input_name = "image";
  EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *two, spec), "model input 'mask'", "no data");
  spec.input_name = "nope";
  EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *two, spec), "'nope' is not a model input");
  auto half = make_graph({{"image", DataType::Float16, std::nullopt}});
  EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *half), "expects dtype float16", "float32");
  auto wrong =
      make_graph({{"image", DataType::Float, std::vector<Dim>{sym("N"), fix(3), fix(8), fix(8)}}});
  EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *wrong), "a.png", "input 'image'",
                   "expected shape [N, 3, 8, 8]", "found [1, 3, 4, 4]");
  // A single image file works too.
  auto ok =
      make_graph({{"image", DataType::Float, std::vector<Dim>{sym("N"), fix(3), fix(4), fix(4)}}});
  EXPECT_EQ(open_calibration_data(dir.file("a.png"), *ok)->size(), 1u);
  write_text(dir.file("b.png"), "not a png");
  auto data = open_calibration_data(dir.path(), *ok);
  EXPECT_ERROR_HAS(data->sample(1), "b.png", "cannot decode image");
}

TEST(CalibrationData, ParsePreprocessSpec) {
  PreprocessSpec spec = parse_preprocess_spec(
      R"({"resize": [256, 320], "center_crop": [224, 224], "mean": [0.485, 0.456, 0.406],
          "std": [0.229, 0.224, 0.225], "scale": 0.5, "color": "bgr", "layout": "NHWC",
          "dtype": "float16", "input": "data"})",
      "spec.json");
  EXPECT_EQ(spec.resize, (std::pair<int, int>{256, 320}));
  EXPECT_EQ(spec.center_crop, (std::pair<int, int>{224, 224}));
  EXPECT_EQ(spec.mean.size(), 3u);
  EXPECT_FLOAT_EQ(spec.std[2], 0.225f);
  EXPECT_EQ(spec.scale, 0.5f);
  EXPECT_EQ(spec.color, "BGR");
  EXPECT_EQ(spec.layout, "NHWC");
  EXPECT_EQ(spec.dtype, DataType::Float16);
  EXPECT_EQ(spec.input_name, "data");
  EXPECT_EQ(parse_preprocess_spec(R"({"resize": 256})", "s").resize_shorter, 256);
  EXPECT_EQ(parse_preprocess_spec("{}", "s").scale, 1.0f / 255.0f);

  EXPECT_ERROR_HAS(parse_preprocess_spec(R"({"mean": [0.5], "rezise": 3})", "spec.json"),
                   "spec.json", "unknown preprocessing key 'rezise'");
  for (const char* key :
       {"resize", "center_crop", "mean", "std", "scale", "color", "layout", "dtype", "input"}) {
    const std::string named = fmt::format("key '{}'", key);
    EXPECT_ERROR_HAS(
        parse_preprocess_spec(fmt::format(R"({{"{}": {{"x": 1}}}})", key), "spec.json"),
        "spec.json", named.c_str());
  }
  EXPECT_ERROR_HAS(parse_preprocess_spec(R"({"resize": [0, 3]})", "s"), "key 'resize'");
  EXPECT_ERROR_HAS(parse_preprocess_spec(R"({"resize": 2.5})", "s"), "key 'resize'");
  EXPECT_ERROR_HAS(parse_preprocess_spec(R"({"color": "CMYK"})", "s"), "key 'color'", "\"CMYK\"");
  EXPECT_ERROR_HAS(parse_preprocess_spec(R"({"mean": [1, 2]})", "s"), "key 'mean' has 2 values");
  EXPECT_ERROR_HAS(parse_preprocess_spec(R"({"std": [1, 0, 1]})", "s"), "'std' holds a zero");
  EXPECT_ERROR_HAS(parse_preprocess_spec(R"({"color": "GRAY", "mean": [1, 2, 3]})", "s"),
                   "'mean' has 3 values");
  EXPECT_ERROR_HAS(parse_preprocess_spec("{not json", "spec.json"), "spec.json", "not valid JSON");
  EXPECT_ERROR_HAS(parse_preprocess_spec("[1]", "spec.json"), "must be a JSON object");
}

// ---------------------------------------------------------------------------------------------
// Checks against the model

TEST(CalibrationData, EmptyAndMissingPaths) {
  TempDir dir;
  auto graph = single_input_graph();
  EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *graph), dir.path().c_str(),
                   "no calibration data");
  write_text(dir.file("README.md"), "no data here");
  EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *graph), "no calibration data");
  EXPECT_ERROR_HAS(open_calibration_data(dir.file("missing"), *graph), "missing", "no such file");
  write_npy(dir.file("input.npy"), Tensor(DataType::Float, {0, 2, 3}));
  EXPECT_ERROR_HAS(open_calibration_data(dir.file("input.npy"), *graph), "no calibration samples");
  write_text(dir.file("data.csv"), "1,2");
  EXPECT_ERROR_HAS(open_calibration_data(dir.file("data.csv"), *graph), "data.csv", "unsupported");
}

TEST(CalibrationData, DtypeMismatchNamesFileAndInput) {
  TempDir dir;
  write_npy(dir.file("0.npy"), iota({2, 3}, 0).cast(DataType::Double));
  auto graph = single_input_graph();
  EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *graph), "0.npy", "input 'input'",
                   "expected dtype float32, found float64");
}

TEST(CalibrationData, ShapeMismatchNamesFileAndInput) {
  TempDir dir;
  write_npy(dir.file("0.npy"), iota({2, 3}, 0));
  write_npy(dir.file("1.npy"), iota({2, 4}, 0));
  auto graph = single_input_graph();
  auto data = open_calibration_data(dir.path(), *graph);  // sample 0 is fine
  EXPECT_ERROR_HAS(data->sample(1), "1.npy", "input 'input'", "expected shape [N, 2, 3]",
                   "found [2, 4]");
  write_npy(dir.file("1.npy"), iota({3}, 0));
  EXPECT_ERROR_HAS(data->sample(1), "1.npy", "found [3]");
  // A model with a static batch of 2 does not take a sample without the batch axis.
  auto batch2 = make_graph({{"input", DataType::Float, std::vector<Dim>{fix(2), fix(2), fix(3)}}});
  EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *batch2), "0.npy", "expected shape [2, 2, 3]");
}

TEST(CalibrationData, SymbolicAndUnknownDimsMatchAnything) {
  TempDir dir;
  write_npy(dir.file("0.npy"), iota({1, 7, 5}, 0));
  auto graph =
      make_graph({{"input", DataType::Float, std::vector<Dim>{sym("N"), sym("T"), Dim{}}}});
  EXPECT_EQ(open_calibration_data(dir.path(), *graph)->sample(0)["input"].shape(),
            (Shape{1, 7, 5}));
  auto untyped = make_graph({{"input", DataType::Undefined, std::nullopt}});
  EXPECT_EQ(open_calibration_data(dir.path(), *untyped)->sample(0)["input"].shape(),
            (Shape{1, 7, 5}));
}

TEST(CalibrationData, UnknownInputNames) {
  auto graph = two_input_graph();
  {
    TempDir dir;
    write_npy(dir.file("a_0.npy"), a_value(0));
    write_npy(dir.file("c_0.npy"), a_value(0));
    EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *graph), "c_0.npy", "'a', 'b'");
  }
  {
    TempDir dir;
    fs::create_directories(dir.file("a"));
    fs::create_directories(dir.file("c"));
    write_npy(dir.file("a/0.npy"), a_value(0));
    write_npy(dir.file("c/0.npy"), a_value(0));
    EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *graph), "c/",
                     "does not name a model input");
  }
  {
    TempDir dir;
    write_npy(dir.file("a.npy"), iota({2, 2}, 0));
    write_npy(dir.file("c.npy"), iota({2, 2}, 0));
    EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *graph), "c.npy",
                     "'c' is not a model input");
  }
  {
    TempDir dir;
    write_npz(dir.file("x.npz"), {{"a", iota({2, 2}, 0)}, {"c", iota({2}, 0)}}, false);
    EXPECT_ERROR_HAS(open_calibration_data(dir.file("x.npz"), *graph), "x.npz",
                     "array 'c' is not a model input");
  }
  {
    TempDir dir;
    fs::create_directories(dir.file("test_data_set_0"));
    write_tensor_pb(dir.file("test_data_set_0/input_0.pb"), a_value(0), "zzz");
    EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *graph), "input_0.pb",
                     "tensor 'zzz' is not a model input");
  }
}

TEST(CalibrationData, MissingInputs) {
  auto graph = two_input_graph();
  {
    TempDir dir;
    fs::create_directories(dir.file("a"));
    write_npy(dir.file("a/0.npy"), a_value(0));
    EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *graph), "no subfolder for model input 'b'",
                     "int64 [N]");
  }
  {
    TempDir dir;
    write_npy(dir.file("a_0.npy"), a_value(0));
    write_npy(dir.file("b_0.npy"), b_value(0));
    write_npy(dir.file("a_1.npy"), a_value(1));
    EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *graph),
                     "sample 1 has no file for model input 'b'", "b_1.npy");
  }
  {
    TempDir dir;
    write_npy(dir.file("a.npy"), iota({2, 2}, 0));
    EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *graph), "no b.npy for model input 'b'");
  }
  {
    TempDir dir;
    write_npz(dir.file("x.npz"), {{"a", iota({2, 2}, 0)}}, true);
    EXPECT_ERROR_HAS(open_calibration_data(dir.file("x.npz"), *graph), "x.npz",
                     "no array for model input 'b'");
  }
  {
    TempDir dir;
    fs::create_directories(dir.file("test_data_set_0"));
    write_tensor_pb(dir.file("test_data_set_0/input_0.pb"), a_value(0), "a");
    EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *graph), "no data for model input 'b'");
  }
  {
    TempDir dir;
    write_npy(dir.file("x.npy"), iota({2, 2}, 0));
    EXPECT_ERROR_HAS(open_calibration_data(dir.file("x.npy"), *graph), "x.npy", "'a', 'b'", ".npz");
  }
}

TEST(CalibrationData, MismatchedCountsMixedKindsAndStrayPreprocessing) {
  auto graph = two_input_graph();
  {
    TempDir dir;
    fs::create_directories(dir.file("a"));
    fs::create_directories(dir.file("b"));
    write_npy(dir.file("a/0.npy"), a_value(0));
    write_npy(dir.file("a/1.npy"), a_value(1));
    write_npy(dir.file("b/0.npy"), b_value(0));
    EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *graph),
                     "'a' holds 2 files but 'b' holds 1");
  }
  {
    TempDir dir;
    write_npy(dir.file("a.npy"), iota({3, 2}, 0));
    write_npy(dir.file("b.npy"), Tensor(DataType::Int64, {2}));
    EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *graph), "holds 3 samples but", "b.npy",
                     "holds 2");
  }
  auto single = single_input_graph();
  {
    TempDir dir;
    write_npy(dir.file("0.npy"), iota({2, 3}, 0));
    write_png(dir.file("1.png"), 2, 3);
    EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *single), "mixes data kinds", ".npy",
                     "image");
  }
  {
    TempDir dir;
    write_npy(dir.file("0.npy"), iota({2, 3}, 0));
    EXPECT_ERROR_HAS(open_calibration_data(dir.path(), *single, PreprocessSpec{}),
                     "applies to images only");
  }
}

TEST(CalibrationData, CorruptStackedArraysAndArchives) {
  TempDir dir;
  auto graph = single_input_graph();
  const std::string npy = serialize_npy(iota({3, 2, 3}, 0));
  write_text(dir.file("short.npy"), npy.substr(0, npy.size() - 4));
  EXPECT_ERROR_HAS(open_calibration_data(dir.file("short.npy"), *graph), "short.npy", "needs 72");
  std::string big_endian = npy;
  big_endian.replace(big_endian.find("<f4"), 3, ">f4");
  write_text(dir.file("be.npy"), big_endian);
  EXPECT_ERROR_HAS(open_calibration_data(dir.file("be.npy"), *graph), "be.npy", "'>f4'");
  std::string fortran = npy;
  fortran.replace(fortran.find("False"), 5, "True ");
  write_text(dir.file("f.npy"), fortran);
  EXPECT_ERROR_HAS(open_calibration_data(dir.file("f.npy"), *graph), "f.npy", "Fortran");
  write_text(dir.file("junk.npy"), "garbage that is long enough");
  EXPECT_ERROR_HAS(open_calibration_data(dir.file("junk.npy"), *graph), "junk.npy", "not a .npy");
  write_text(dir.file("junk.npz"), "not a zip archive at all");
  EXPECT_ERROR_HAS(open_calibration_data(dir.file("junk.npz"), *graph), "junk.npz", "cannot open");
  write_npz(dir.file("scalar.npz"), {{"input", Tensor::scalar<float>(1.0f)}}, false);
  EXPECT_ERROR_HAS(open_calibration_data(dir.file("scalar.npz"), *graph), "scalar.npz",
                   "batch axis");
}

TEST(CalibrationData, NonFiniteValuesAreNotErrors) {
  TempDir dir;
  Tensor t = iota({2, 3}, 0);
  t.data<float>()[1] = std::numeric_limits<float>::quiet_NaN();
  t.data<float>()[2] = std::numeric_limits<float>::infinity();
  write_npy(dir.file("0.npy"), t);
  auto graph = single_input_graph();
  auto data = open_calibration_data(dir.path(), *graph);
  EXPECT_TRUE(std::isnan(data->sample(0)["input"].to_float_vector()[1]));
}

TEST(CalibrationData, ReadsLazilyAndOutlivesTheGraph) {
  TempDir dir;
  for (int i = 0; i < 3; ++i)
    write_npy(dir.file(fmt::format("{}.npy", i)), iota({2, 3}, 10.0f * i));
  auto graph = single_input_graph();
  auto data = open_calibration_data(dir.path(), *graph);
  graph.reset();  // the data set keeps its own copy of the input declarations
  // A file changed after opening is read as it is now: nothing was cached.
  write_npy(dir.file("2.npy"), iota({2, 3}, 500.0f));
  EXPECT_EQ(data->sample(2)["input"].to_float_vector()[0], 500.0f);
  fs::remove(dir.file("1.npy"));
  EXPECT_ERROR_HAS(data->sample(1), "1.npy");
  EXPECT_ERROR_HAS(data->sample(3), "out of range");
}

// ---------------------------------------------------------------------------------------------
// collate

TEST(CalibrationData, CollateConcatenatesAlongAxis0) {
  TempDir dir;
  write_npy(dir.file("a.npy"), iota({4, 2}, 0));
  write_npy(dir.file("b.npy"), Tensor::from_vector<int64_t>({4}, {9, 8, 7, 6}));
  auto graph = two_input_graph();
  auto data = open_calibration_data(dir.path(), *graph);
  Batch batch = collate(*data, 1, 4);
  EXPECT_EQ(batch["a"].shape(), (Shape{3, 2}));
  EXPECT_EQ(batch["a"].to_float_vector(), (std::vector<float>{2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(batch["b"].to_int64_vector(), (std::vector<int64_t>{8, 7, 6}));
  EXPECT_EQ(collate(*data, 2, 3)["a"].shape(), (Shape{1, 2}));
  EXPECT_ERROR_HAS(collate(*data, 3, 5), "cannot collate samples [3, 5) of 4");
  EXPECT_ERROR_HAS(collate(*data, 2, 2), "cannot collate");
}

TEST(CalibrationData, CollateRejectsShapesThatDifferBeyondAxis0) {
  TempDir dir;
  write_npy(dir.file("0.npy"), iota({1, 2, 3}, 0));
  write_npy(dir.file("1.npy"), iota({2, 2, 3}, 0));  // a different batch size is fine
  write_npy(dir.file("2.npy"), iota({1, 2, 4}, 0));
  auto graph =
      make_graph({{"input", DataType::Float, std::vector<Dim>{sym("N"), fix(2), sym("W")}}});
  auto data = open_calibration_data(dir.path(), *graph);
  EXPECT_EQ(collate(*data, 0, 2)["input"].shape(), (Shape{3, 2, 3}));
  EXPECT_ERROR_HAS(collate(*data, 0, 3), "input 'input'", "sample 0 is float32 [1, 2, 3]",
                   "sample 2 is float32 [1, 2, 4]");
}

}  // namespace
}  // namespace qforge

namespace qforge {
namespace {

TEST(Collate, BatchIsFiniteLooksAtFloatInputs) {
  Batch batch{{"x", Tensor::from_vector<float>({2}, {1.0f, 2.0f})},
              {"ids", Tensor::from_vector<int64_t>({1}, {7})}};
  EXPECT_TRUE(batch_is_finite(batch));
  batch["x"].data<float>()[1] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(batch_is_finite(batch));
  batch["x"].data<float>()[1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(batch_is_finite(batch));
}

}  // namespace
}  // namespace qforge
