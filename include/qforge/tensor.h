// SPDX-License-Identifier: Apache-2.0
// Tensor: a dtype, a static shape and a shared, 64-byte aligned buffer. Copies share the
// buffer (like a framework tensor); clone() makes an independent copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "qforge/dtype.h"
#include "qforge/error.h"

namespace qforge {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
std::string shape_to_string(const Shape& shape);  // "[1, 3, 224, 224]"

// A dimension of a variable's declared shape: static, symbolic (dim_param) or unknown.
struct Dim {
  int64_t value = -1;  // >= 0 when static
  std::string param;   // symbolic name when not static (may be empty: unknown)
  bool is_static() const { return value >= 0; }
  bool operator==(const Dim&) const = default;
};
std::string dims_to_string(const std::vector<Dim>& dims);  // "[N, 3, 224, 224]"

class Tensor {
 public:
  Tensor() = default;
  // Allocates a zero-filled tensor.
  Tensor(DataType dtype, Shape shape);
  // Allocates without clearing the bytes (strings are still empty strings): for outputs whose
  // every element the caller writes, where the clearing pass would cost a memory sweep.
  static Tensor uninitialized(DataType dtype, Shape shape);

  // Wraps a buffer allocated elsewhere (64-byte aligned, at least dtype size x numel bytes; not
  // for strings); the buffer's deleter runs when the last Tensor sharing it goes.
  static Tensor adopt(DataType dtype, Shape shape, std::shared_ptr<std::byte> buffer);

  template <typename T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values);
  template <typename T>
  static Tensor scalar(T value) {
    return from_vector<T>({}, std::vector<T>{value});
  }

  bool defined() const { return dtype_ != DataType::Undefined; }
  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int axis) const { return shape_.at(static_cast<size_t>(axis)); }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return nbytes_; }

  // True when no other Tensor shares this buffer (the executor may then reuse it in place).
  bool sole_owner() const { return buffer_ && !strings_ && buffer_.use_count() == 1; }

  void* raw() { return buffer_.get(); }
  const void* raw() const { return buffer_.get(); }
  template <typename T>
  T* data() {
    check_type(dtype_of<T>());
    return reinterpret_cast<T*>(buffer_.get());
  }
  template <typename T>
  const T* data() const {
    check_type(dtype_of<T>());
    return reinterpret_cast<const T*>(buffer_.get());
  }
  // Element i converted to double (any numeric dtype); for tests, folding and reports.
  double value_as_double(int64_t index) const;
  // All elements as int64 (integer/bool dtypes, e.g. shape tensors).
  std::vector<int64_t> to_int64_vector() const;
  // All elements as float (any numeric dtype).
  std::vector<float> to_float_vector() const;

  // String tensors keep their elements here (the byte buffer is empty).
  std::vector<std::string>& strings() { return *strings_; }
  const std::vector<std::string>& strings() const { return *strings_; }

  Tensor clone() const;
  // Same buffer, new shape with the same element count.
  Tensor reshaped(Shape shape) const;
  // Same bytes reinterpreted as another dtype of the same element size... or a full conversion:
  Tensor cast(DataType to) const;

  // Bitwise equality of dtype, shape and contents.
  bool equals(const Tensor& other) const;

 private:
  Tensor(DataType dtype, Shape shape, bool zeroed);
  void check_type(DataType requested) const;
  DataType dtype_ = DataType::Undefined;
  Shape shape_;
  size_t nbytes_ = 0;
  std::shared_ptr<std::byte> buffer_;
  std::shared_ptr<std::vector<std::string>> strings_;
};

template <typename T>
Tensor Tensor::from_vector(Shape shape, const std::vector<T>& values) {
  Tensor tensor(dtype_of<T>(), std::move(shape));
  if (static_cast<int64_t>(values.size()) != tensor.numel())
    fail(ErrorKind::Shape, "tensor of shape {} needs {} values, got {}",
         shape_to_string(tensor.shape()), tensor.numel(), values.size());
  T* out = tensor.data<T>();
  for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  return tensor;
}

}  // namespace qforge
