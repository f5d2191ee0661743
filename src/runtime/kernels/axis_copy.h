// SPDX-License-Identifier: Apache-2.0
// Data movement shared by the tensor, gather/scatter and resize kernel families: a dtype-blind
// element visit (by storage size, strings apart) and copy_by_axis_offsets, the one engine behind
// Transpose, Slice, Pad, Tile, Expand, DepthToSpace and nearest Resize. Tested through those
// kernels (tests/runtime/test_tensor.cpp, test_resize.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qforge/kernel.h"
#include "qforge/tensor.h"

namespace qforge::kernels {

// Storage stand-in for 16-byte elements (complex128).
struct Bytes16 {
  uint64_t low, high;
};

// Calls fn(T{}) with T an unsigned integer of the element size (1, 2, 4, 8 bytes), Bytes16, or
// std::string for string tensors: enough to move elements of any dtype.
template <typename Fn>
decltype(auto) visit_storage(DataType type, Fn&& fn) {
  if (type == DataType::String) return fn(std::string{});
  switch (dtype_size(type)) {
    case 1:
      return fn(uint8_t{});
    case 2:
      return fn(uint16_t{});
    case 4:
      return fn(uint32_t{});
    case 8:
      return fn(uint64_t{});
    case 16:
      return fn(Bytes16{});
    default:
      break;
  }
  fail(ErrorKind::UnsupportedOp, "dtype {} cannot be moved", dtype_name(type));
}

// Element pointer of a tensor in its storage type (see visit_storage).
template <typename T>
T* storage(Tensor& tensor) {
  if constexpr (std::is_same_v<T, std::string>)
    return tensor.strings().data();
  else
    return static_cast<T*>(tensor.raw());
}
template <typename T>
const T* storage(const Tensor& tensor) {
  if constexpr (std::is_same_v<T, std::string>)
    return tensor.strings().data();
  else
    return static_cast<const T*>(tensor.raw());
}

// out[o_0, ..., o_{r-1}] = in[sum_d offsets[d][o_d]] (element offsets into `in`), or `fill` (a
// one-element tensor of out's dtype; zero when null) where any offsets[d][o_d] is negative.
// `out` is allocated by the caller with shape {offsets[d].size()} and the dtype of `in`.
// Contiguous runs are copied with memcpy; rows are spread over `threads`.
void copy_by_axis_offsets(const Tensor& in, Tensor& out, std::vector<std::vector<int64_t>> offsets,
                          const Tensor* fill, int threads);

// Offsets of an output axis that reads input positions `index` (negative: fill) of an axis with
// element stride `stride`.
std::vector<int64_t> scaled_offsets(const std::vector<int64_t>& index, int64_t stride);

// Allocates output `index` of `ctx` as `in` with axes permuted (out axis d = in axis perm[d]).
Tensor& transpose_into(KernelContext& ctx, size_t index, const Tensor& in,
                       const std::vector<int>& perm);

}  // namespace qforge::kernels
