// SPDX-License-Identifier: Apache-2.0
#include "qforge/tensor.h"

#include <cstring>
#include <new>

namespace qforge {

int64_t shape_numel(const Shape& shape) {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

std::string shape_to_string(const Shape& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::string dims_to_string(const std::vector<Dim>& dims) {
  std::vector<std::string> parts;
  for (const Dim& dim : dims)
    parts.push_back(dim.is_static() ? std::to_string(dim.value)
                                    : (dim.param.empty() ? "?" : dim.param));
  return fmt::format("[{}]", fmt::join(parts, ", "));
}

namespace {
constexpr std::align_val_t kAlignment{64};

std::shared_ptr<std::byte> allocate(size_t bytes, bool zeroed) {
  // Never allocate 0 bytes, so raw() is non-null for empty tensors too.
  const size_t size = bytes == 0 ? 64 : (bytes + 63) / 64 * 64;
  auto* memory = static_cast<std::byte*>(::operator new(size, kAlignment));
  if (zeroed) std::memset(memory, 0, size);
  return std::shared_ptr<std::byte>(memory, [](std::byte* p) { ::operator delete(p, kAlignment); });
}
}  // namespace

Tensor::Tensor(DataType dtype, Shape shape) : Tensor(dtype, std::move(shape), true) {}

Tensor Tensor::uninitialized(DataType dtype, Shape shape) {
  return Tensor(dtype, std::move(shape), false);
}

Tensor Tensor::adopt(DataType dtype, Shape shape, std::shared_ptr<std::byte> buffer) {
  if (dtype == DataType::String || dtype == DataType::Undefined || !buffer)
    fail(ErrorKind::Internal, "Tensor::adopt needs a numeric dtype and a buffer");
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.nbytes_ = static_cast<size_t>(t.numel()) * dtype_size(dtype);
  t.buffer_ = std::move(buffer);
  return t;
}

Tensor::Tensor(DataType dtype, Shape shape, bool zeroed) : dtype_(dtype), shape_(std::move(shape)) {
  for (int64_t dim : shape_)
    if (dim < 0)
      fail(ErrorKind::Shape, "negative dimension in tensor shape {}", shape_to_string(shape_));
  const int64_t count = numel();
  if (dtype_ == DataType::String) {
    strings_ = std::make_shared<std::vector<std::string>>(static_cast<size_t>(count));
    nbytes_ = 0;
    buffer_ = allocate(0, true);
    return;
  }
  const size_t element = dtype_size(dtype_);
  if (count > 0 && static_cast<uint64_t>(count) > (uint64_t{1} << 40) / (element ? element : 1))
    fail(ErrorKind::Shape, "tensor of shape {} is too large", shape_to_string(shape_));
  nbytes_ = static_cast<size_t>(count) * element;
  buffer_ = allocate(nbytes_, zeroed);
}

void Tensor::check_type(DataType requested) const {
  if (requested != dtype_)
    fail(ErrorKind::Internal, "tensor holds {} but was read as {}", dtype_name(dtype_),
         dtype_name(requested));
}

double Tensor::value_as_double(int64_t index) const {
  return visit_numeric_dtype(dtype_, [&](auto tag) -> double {
    using T = decltype(tag);
    return static_cast<double>(static_cast<const T*>(raw())[index]);
  });
}

std::vector<int64_t> Tensor::to_int64_vector() const {
  std::vector<int64_t> out(static_cast<size_t>(numel()));
  visit_numeric_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    const T* in = static_cast<const T*>(raw());
    for (size_t i = 0; i < out.size(); ++i) {
      if constexpr (std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>)
        out[i] = static_cast<int64_t>(static_cast<float>(in[i]));
      else
        out[i] = static_cast<int64_t>(in[i]);
    }
  });
  return out;
}

std::vector<float> Tensor::to_float_vector() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  visit_numeric_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    const T* in = static_cast<const T*>(raw());
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(in[i]);
  });
  return out;
}

Tensor Tensor::clone() const {
  if (!defined()) return {};
  Tensor copy(dtype_, shape_);
  if (dtype_ == DataType::String)
    *copy.strings_ = *strings_;
  else
    std::memcpy(copy.raw(), raw(), nbytes_);
  return copy;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != numel())
    fail(ErrorKind::Shape, "cannot reshape {} to {}", shape_to_string(shape_),
         shape_to_string(shape));
  Tensor view = *this;
  view.shape_ = std::move(shape);
  return view;
}

namespace {
template <typename To, typename From>
To convert_element(From value) {
  if constexpr (std::is_same_v<To, Float16> || std::is_same_v<To, BFloat16>) {
    return To(static_cast<float>(value));
  } else if constexpr (std::is_same_v<From, Float16> || std::is_same_v<From, BFloat16>) {
    return static_cast<To>(static_cast<float>(value));
  } else if constexpr (std::is_same_v<To, bool>) {
    return value != From{};
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    // Out-of-range float to int is undefined in C++; saturate NaN to 0 like common engines.
    if (!(value == value)) return To{};
    return static_cast<To>(static_cast<int64_t>(value));
  } else {
    return static_cast<To>(value);
  }
}
}  // namespace

Tensor Tensor::cast(DataType to) const {
  if (to == dtype_) return clone();
  Tensor out(to, shape_);
  const int64_t count = numel();
  if (to == DataType::String) {
    for (int64_t i = 0; i < count; ++i) {
      double v = value_as_double(i);
      out.strings()[static_cast<size_t>(i)] = fmt::format("{}", v);
    }
    return out;
  }
  if (dtype_ == DataType::String) {
    visit_numeric_dtype(to, [&](auto to_tag) {
      using To = decltype(to_tag);
      To* dst = static_cast<To*>(out.raw());
      for (int64_t i = 0; i < count; ++i)
        dst[i] = convert_element<To>(std::stod(strings()[static_cast<size_t>(i)]));
    });
    return out;
  }
  visit_numeric_dtype(dtype_, [&](auto from_tag) {
    using From = decltype(from_tag);
    const From* src = static_cast<const From*>(raw());
    visit_numeric_dtype(to, [&](auto to_tag) {
      using To = decltype(to_tag);
      To* dst = static_cast<To*>(out.raw());
      for (int64_t i = 0; i < count; ++i) dst[i] = convert_element<To>(src[i]);
    });
  });
  return out;
}

bool Tensor::equals(const Tensor& other) const {
  if (dtype_ != other.dtype_ || shape_ != other.shape_) return false;
  if (dtype_ == DataType::String) return strings() == other.strings();
  return nbytes_ == other.nbytes_ && std::memcmp(raw(), other.raw(), nbytes_) == 0;
}

}  // namespace qforge
