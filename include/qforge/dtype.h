// SPDX-License-Identifier: Apache-2.0
// Element types; values equal ONNX TensorProto.DataType so conversion is a cast.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace qforge {

enum class DataType : int32_t {
  Undefined = 0,
  Float = 1,
  UInt8 = 2,
  Int8 = 3,
  UInt16 = 4,
  Int16 = 5,
  Int32 = 6,
  Int64 = 7,
  String = 8,
  Bool = 9,
  Float16 = 10,
  Double = 11,
  UInt32 = 12,
  UInt64 = 13,
  Complex64 = 14,
  Complex128 = 15,
  BFloat16 = 16,
  Float8E4M3FN = 17,
  Float8E4M3FNUZ = 18,
  Float8E5M2 = 19,
  Float8E5M2FNUZ = 20,
  UInt4 = 21,
  Int4 = 22,
};

// Bytes per element (0 for String and Undefined; 4-bit types report 1 and are stored unpacked).
size_t dtype_size(DataType type);
const char* dtype_name(DataType type);  // "float32", "int8", ...
bool dtype_is_known(int32_t onnx_value);
bool dtype_is_floating(DataType type);  // float16/bfloat16/float/double
bool dtype_is_integer(DataType type);   // signed or unsigned integer (not bool)
bool dtype_is_signed(DataType type);

// IEEE half and bfloat16 conversions (round to nearest even).
float half_to_float(uint16_t bits);
uint16_t float_to_half(float value);
float bfloat16_to_float(uint16_t bits);
uint16_t float_to_bfloat16(float value);

// Storage types for 16-bit floats; arithmetic goes through float.
struct Float16 {
  uint16_t bits = 0;
  Float16() = default;
  explicit Float16(float value) : bits(float_to_half(value)) {}
  operator float() const { return half_to_float(bits); }
};
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  explicit BFloat16(float value) : bits(float_to_bfloat16(value)) {}
  operator float() const { return bfloat16_to_float(bits); }
};

template <typename T>
constexpr DataType dtype_of();
template <> constexpr DataType dtype_of<Float16>() { return DataType::Float16; }
template <> constexpr DataType dtype_of<BFloat16>() { return DataType::BFloat16; }
template <> constexpr DataType dtype_of<float>() { return DataType::Float; }
template <> constexpr DataType dtype_of<double>() { return DataType::Double; }
template <> constexpr DataType dtype_of<int8_t>() { return DataType::Int8; }
template <> constexpr DataType dtype_of<uint8_t>() { return DataType::UInt8; }
template <> constexpr DataType dtype_of<int16_t>() { return DataType::Int16; }
template <> constexpr DataType dtype_of<uint16_t>() { return DataType::UInt16; }
template <> constexpr DataType dtype_of<int32_t>() { return DataType::Int32; }
template <> constexpr DataType dtype_of<uint32_t>() { return DataType::UInt32; }
template <> constexpr DataType dtype_of<int64_t>() { return DataType::Int64; }
template <> constexpr DataType dtype_of<uint64_t>() { return DataType::UInt64; }
template <> constexpr DataType dtype_of<bool>() { return DataType::Bool; }

// Calls fn(T{}) with T the C++ type of a numeric dtype (float, double, Float16, BFloat16,
// int8..uint64, bool); fails for others.
template <typename Fn>
decltype(auto) visit_numeric_dtype(DataType type, Fn&& fn);

}  // namespace qforge

#include "qforge/error.h"

namespace qforge {
template <typename Fn>
decltype(auto) visit_numeric_dtype(DataType type, Fn&& fn) {
  switch (type) {
    case DataType::Float: return fn(float{});
    case DataType::Double: return fn(double{});
    case DataType::Float16: return fn(Float16{});
    case DataType::BFloat16: return fn(BFloat16{});
    case DataType::Int8: return fn(int8_t{});
    case DataType::UInt8: return fn(uint8_t{});
    case DataType::Int16: return fn(int16_t{});
    case DataType::UInt16: return fn(uint16_t{});
    case DataType::Int32: return fn(int32_t{});
    case DataType::UInt32: return fn(uint32_t{});
    case DataType::Int64: return fn(int64_t{});
    case DataType::UInt64: return fn(uint64_t{});
    case DataType::Bool: return fn(bool{});
    default: break;
  }
  fail(ErrorKind::UnsupportedOp, "dtype {} is not supported here", dtype_name(type));
}
}  // namespace qforge
