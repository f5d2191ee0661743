// SPDX-License-Identifier: Apache-2.0
// Tensor, dtype conversions, .npy and TensorProto .pb files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "qforge/file_io.h"
#include "qforge/tensor_io.h"
#include "support/test_support.h"

namespace qforge {
namespace {

TEST(Tensor, ConstructShareCloneReshape) {
  Tensor t = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.nbytes(), 24u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u);
  Tensor shared = t;
  shared.data<float>()[0] = 9;
  EXPECT_EQ(t.data<float>()[0], 9);
  Tensor copy = t.clone();
  copy.data<float>()[0] = 1;
  EXPECT_EQ(t.data<float>()[0], 9);
  Tensor r = t.reshaped({3, 2});
  EXPECT_EQ(r.raw(), t.raw());
  EXPECT_THROW(t.reshaped({4}), Error);
  EXPECT_THROW(t.data<int32_t>(), Error);
  EXPECT_THROW(Tensor::from_vector<float>({2}, {1, 2, 3}), Error);
  Tensor empty(DataType::Float, {0, 3});
  EXPECT_EQ(empty.numel(), 0);
  EXPECT_NE(empty.raw(), nullptr);
}

TEST(Tensor, CastSaturatesNothingAndKeepsValues) {
  Tensor t = Tensor::from_vector<float>({4}, {1.5f, -2.25f, 0.0f, 65504.0f});
  EXPECT_EQ(t.cast(DataType::Int64).to_int64_vector(), (std::vector<int64_t>{1, -2, 0, 65504}));
  EXPECT_EQ(t.cast(DataType::Float16).to_float_vector(), t.to_float_vector());
  EXPECT_EQ(t.cast(DataType::Bool).to_int64_vector(), (std::vector<int64_t>{1, 1, 0, 1}));
  Tensor nan = Tensor::from_vector<float>({1}, {NAN});
  EXPECT_EQ(nan.cast(DataType::Int32).to_int64_vector()[0], 0);
}

TEST(DType, HalfAndBfloatRoundTrip) {
  for (float v : {0.0f, 1.0f, -1.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.333251953125f})
    EXPECT_EQ(half_to_float(float_to_half(v)), v) << v;
  EXPECT_EQ(float_to_half(1e6f), 0x7c00);  // overflow to +inf
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(NAN))));
  // Round half to even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10.
  EXPECT_EQ(half_to_float(float_to_half(1.0f + std::ldexp(1.0f, -11))), 1.0f);
  EXPECT_EQ(bfloat16_to_float(float_to_bfloat16(3.140625f)), 3.140625f);
  EXPECT_EQ(dtype_size(DataType::Float16), 2u);
  EXPECT_STREQ(dtype_name(DataType::Int8), "int8");
}

TEST(TensorIO, NpyRoundTripAllTypes) {
  testing::TempDir dir;
  const std::vector<Tensor> samples = {
      Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4}), Tensor::from_vector<int64_t>({3}, {-1, 0, 7}),
      Tensor::from_vector<uint8_t>({}, {5}), Tensor::from_vector<bool>({2}, {true, false}),
      Tensor::from_vector<double>({1, 1, 2}, {0.5, -0.25}), Tensor(DataType::Int8, {0, 4})};
  for (size_t i = 0; i < samples.size(); ++i) {
    const std::string path = dir.file(fmt::format("t{}.npy", i));
    write_npy(path, samples[i]);
    EXPECT_TRUE(read_npy(path).equals(samples[i])) << i;
  }
}

TEST(TensorIO, NpyRejectsBadFiles) {
  testing::TempDir dir;
  write_file_atomic(dir.file("bad.npy"), "not numpy");
  EXPECT_THROW(read_npy(dir.file("bad.npy")), Error);
  std::string good = serialize_npy(Tensor::from_vector<float>({4}, {1, 2, 3, 4}));
  write_file_atomic(dir.file("short.npy"), good.substr(0, good.size() - 3));
  try {
    read_npy(dir.file("short.npy"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("short.npy"), std::string::npos);
  }
  EXPECT_THROW(read_npy(dir.file("missing.npy")), Error);
}

TEST(TensorIO, TensorProtoRoundTrip) {
  testing::TempDir dir;
  Tensor t = Tensor::from_vector<int32_t>({2, 2}, {1, -2, 3, -4});
  write_tensor_pb(dir.file("t.pb"), t, "x");
  std::string name;
  EXPECT_TRUE(read_tensor_pb(dir.file("t.pb"), &name).equals(t));
  EXPECT_EQ(name, "x");
  Tensor s(DataType::String, {2});
  s.strings() = {"a", "bc"};
  write_tensor_pb(dir.file("s.pb"), s);
  EXPECT_EQ(read_tensor_pb(dir.file("s.pb")).strings(), s.strings());
}

TEST(FileIO, AtomicWriteReplacesWholeFile) {
  testing::TempDir dir;
  write_file_atomic(dir.file("f"), "first version");
  write_file_atomic(dir.file("f"), "2");
  EXPECT_EQ(read_file(dir.file("f")), "2");
  EXPECT_THROW(write_file_atomic(dir.file("no/such/folder/f"), "x"), Error);
  EXPECT_THROW(ensure_not_same_file(dir.file("f"), dir.file("f")), Error);
}

}  // namespace
}  // namespace qforge
