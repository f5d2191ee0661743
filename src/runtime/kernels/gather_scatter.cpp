// SPDX-License-Identifier: Apache-2.0
// Kernel family: gather/scatter: Gather, GatherElements, GatherND, ScatterElements, ScatterND
// and the deprecated Scatter. Indices are checked before any access (an out-of-range index is
// a Shape error naming the node) and negative ones count from the back. Registered in
// register_gather_scatter_kernels (src/runtime/kernel_registry.cpp); tested in
// tests/runtime/test_gather_scatter.cpp.
#include <algorithm>

#include "axis_copy.h"
#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

namespace {

// Index values read as int64, each wrapped into [0, dim) or rejected.
int64_t wrap_index(int64_t value, int64_t dim, const Operation& op, const char* what) {
  if (value < -dim || value >= dim)
    fail(ErrorKind::Shape, "{}: {} {} is out of range for a dimension of size {}", op.describe(),
         what, value, dim);
  return value < 0 ? value + dim : value;
}

std::vector<int64_t> read_indices(const Tensor& indices, const Operation& op) {
  if (indices.dtype() != DataType::Int64 && indices.dtype() != DataType::Int32)
    fail(ErrorKind::InvalidModel, "{}: indices must be int32 or int64, got {}", op.describe(),
         dtype_name(indices.dtype()));
  return indices.to_int64_vector();
}

// Odometer position `flat` of `shape` as a multi-index.
void unravel(int64_t flat, const Shape& shape, int64_t* index) {
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
}

// ---- Gather, GatherElements, GatherND ----

void gather(KernelContext& ctx) {
  const Tensor &data = ctx.input(0), &indices = ctx.input(1);
  const int axis = normalize_axis(ctx.attr_int("axis", 0), data.rank(), ctx.op());
  const int64_t dim = data.dim(axis);
  std::vector<int64_t> index = read_indices(indices, ctx.op());
  for (int64_t& v : index) v = wrap_index(v, dim, ctx.op(), "index");
  Shape shape(data.shape().begin(), data.shape().begin() + axis);
  shape.insert(shape.end(), indices.shape().begin(), indices.shape().end());
  shape.insert(shape.end(), data.shape().begin() + axis + 1, data.shape().end());
  Tensor& out = ctx.allocate_output(0, data.dtype(), shape);
  const int64_t outer = dims_product(data.shape(), 0, axis);
  const int64_t inner = dims_product(data.shape(), axis + 1, data.rank());
  const int64_t n = static_cast<int64_t>(index.size());
  if (out.numel() == 0) return;
  visit_storage(data.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = storage<T>(data);
    T* y = storage<T>(out);
    parallel_for(ctx.num_threads(), outer * n, std::max<int64_t>(1, (1 << 14) / inner),
                 [&](int64_t begin, int64_t end) {
                   int64_t o = begin / n, k = begin % n;
                   for (int64_t r = begin; r < end; ++r, ++k) {
                     if (k == n) {
                       k = 0;
                       ++o;
                     }
                     std::copy_n(x + (o * dim + index[static_cast<size_t>(k)]) * inner, inner,
                                 y + r * inner);
                   }
                 });
  });
}

// Element offsets into data for GatherElements/ScatterElements: position p of `indices` reads
// data at p with its `axis` coordinate replaced by the index there.
std::vector<int64_t> element_offsets(const Shape& data_shape, const Tensor& indices, int axis,
                                     const Operation& op) {
  if (indices.rank() != static_cast<int>(data_shape.size()))
    fail(ErrorKind::Shape, "{}: indices {} and data {} differ in rank", op.describe(),
         shape_to_string(indices.shape()), shape_to_string(data_shape));
  for (int d = 0; d < indices.rank(); ++d)
    if (d != axis && indices.dim(d) > data_shape[static_cast<size_t>(d)])
      fail(ErrorKind::Shape, "{}: indices {} exceed data {} on axis {}", op.describe(),
           shape_to_string(indices.shape()), shape_to_string(data_shape), d);
  const std::vector<int64_t> index = read_indices(indices, op);
  const std::vector<int64_t> strides = contiguous_strides(data_shape);
  const int64_t dim = data_shape[static_cast<size_t>(axis)];
  std::vector<int64_t> offsets(index.size());
  std::vector<int64_t> pos(data_shape.size());
  for (size_t k = 0; k < index.size(); ++k) {
    unravel(static_cast<int64_t>(k), indices.shape(), pos.data());
    pos[static_cast<size_t>(axis)] = wrap_index(index[k], dim, op, "index");
    int64_t offset = 0;
    for (size_t d = 0; d < pos.size(); ++d) offset += pos[d] * strides[d];
    offsets[k] = offset;
  }
  return offsets;
}

void gather_elements(KernelContext& ctx) {
  const Tensor &data = ctx.input(0), &indices = ctx.input(1);
  const int axis = normalize_axis(ctx.attr_int("axis", 0), data.rank(), ctx.op());
  const std::vector<int64_t> offsets = element_offsets(data.shape(), indices, axis, ctx.op());
  Tensor& out = ctx.allocate_output(0, data.dtype(), indices.shape());
  visit_storage(data.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = storage<T>(data);
    T* y = storage<T>(out);
    for (size_t k = 0; k < offsets.size(); ++k) y[k] = x[offsets[k]];
  });
}

// GatherND/ScatterND addressing: each index tuple of `indices` (last dim k) picks a slice of
// `slice` elements; tuple t of batch b starts at offsets[b * tuples + t] in data.
struct NdPlan {
  std::vector<int64_t> offsets;
  int64_t slice = 1;
};

NdPlan nd_plan(const Shape& data_shape, const Tensor& indices, int64_t batch_dims,
               const Operation& op) {
  const int64_t r = static_cast<int64_t>(data_shape.size()), q = indices.rank();
  if (q < 1 || batch_dims < 0 || batch_dims >= std::min(r, q))
    fail(ErrorKind::Shape, "{}: batch_dims {} is invalid for data rank {} and indices rank {}",
         op.describe(), batch_dims, r, q);
  const int64_t k = indices.dim(static_cast<int>(q - 1));
  if (k < 1 || k > r - batch_dims)
    fail(ErrorKind::Shape, "{}: index tuples of length {} for data {} with batch_dims {}",
         op.describe(), k, shape_to_string(data_shape), batch_dims);
  for (int64_t d = 0; d < batch_dims; ++d)
    if (indices.dim(static_cast<int>(d)) != data_shape[static_cast<size_t>(d)])
      fail(ErrorKind::Shape, "{}: batch dimensions of data {} and indices {} differ", op.describe(),
           shape_to_string(data_shape), shape_to_string(indices.shape()));
  const int b = static_cast<int>(batch_dims);
  const std::vector<int64_t> strides = contiguous_strides(data_shape);
  const int64_t batch_stride = dims_product(data_shape, b, static_cast<int>(r));
  const int64_t tuples = dims_product(indices.shape(), b, static_cast<int>(q - 1));
  const std::vector<int64_t> index = read_indices(indices, op);
  NdPlan plan;
  plan.slice = dims_product(data_shape, static_cast<int>(b + k), static_cast<int>(r));
  plan.offsets.resize(index.size() / static_cast<size_t>(k));
  for (size_t t = 0; t < plan.offsets.size(); ++t) {
    int64_t offset = static_cast<int64_t>(t) / std::max<int64_t>(tuples, 1) * batch_stride;
    for (int64_t j = 0; j < k; ++j) {
      const size_t d = static_cast<size_t>(b + j);
      offset += wrap_index(index[t * static_cast<size_t>(k) + static_cast<size_t>(j)],
                           data_shape[d], op, "index") *
                strides[d];
    }
    plan.offsets[t] = offset;
  }
  return plan;
}

void gather_nd(KernelContext& ctx) {
  const Tensor &data = ctx.input(0), &indices = ctx.input(1);
  const int64_t batch_dims = ctx.op().opset >= 12 ? ctx.attr_int("batch_dims", 0) : 0;
  const NdPlan plan = nd_plan(data.shape(), indices, batch_dims, ctx.op());
  const int64_t k = indices.dim(indices.rank() - 1);
  Shape shape(indices.shape().begin(), indices.shape().end() - 1);
  shape.insert(shape.end(), data.shape().begin() + batch_dims + k, data.shape().end());
  Tensor& out = ctx.allocate_output(0, data.dtype(), shape);
  visit_storage(data.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = storage<T>(data);
    T* y = storage<T>(out);
    for (size_t t = 0; t < plan.offsets.size(); ++t)
      std::copy_n(x + plan.offsets[t], plan.slice, y + static_cast<int64_t>(t) * plan.slice);
  });
}

// ---- ScatterElements, ScatterND, Scatter ----

enum class Reduction { None, Add, Mul, Max, Min };

Reduction read_reduction(KernelContext& ctx) {
  const std::string r = ctx.op().opset >= 16 ? ctx.attr_string("reduction", "none") : "none";
  if (r == "none") return Reduction::None;
  if (r == "add") return Reduction::Add;
  if (r == "mul") return Reduction::Mul;
  if (r == "max" && ctx.op().opset >= 18) return Reduction::Max;
  if (r == "min" && ctx.op().opset >= 18) return Reduction::Min;
  fail(ErrorKind::InvalidModel, "{}: unknown reduction '{}'", ctx.op().describe(), r);
}

template <typename T>
T combine(Reduction reduction, T a, T b) {
  if constexpr (std::is_same_v<T, bool>) {
    const bool any = reduction == Reduction::Add || reduction == Reduction::Max;
    return any ? (a || b) : (a && b);
  } else {
    using C = compute_t<T>;
    const C x = static_cast<C>(a), y = static_cast<C>(b);
    switch (reduction) {
      case Reduction::Add:
        return T(static_cast<C>(x + y));
      case Reduction::Mul:
        return T(static_cast<C>(x * y));
      case Reduction::Max:
        return T(std::max(x, y));
      case Reduction::Min:
        return T(std::min(x, y));
      case Reduction::None:
        break;
    }
    return b;
  }
}

// out = data, then out[targets[k]] = updates[k * slice + j] for j < slice (in order), combined
// with `reduction`.
void scatter_into(KernelContext& ctx, const Tensor& data, const Tensor& updates,
                  const std::vector<int64_t>& targets, int64_t slice, Reduction reduction) {
  if (updates.dtype() != data.dtype())
    fail(ErrorKind::InvalidModel, "{}: updates are {}, data is {}", ctx.op().describe(),
         dtype_name(updates.dtype()), dtype_name(data.dtype()));
  if (updates.numel() != static_cast<int64_t>(targets.size()) * slice)
    fail(ErrorKind::Shape, "{}: updates {} do not match the indices", ctx.op().describe(),
         shape_to_string(updates.shape()));
  Tensor& out = ctx.allocate_output(0, data.dtype(), data.shape());
  if (reduction == Reduction::None || data.dtype() == DataType::String) {
    if (reduction != Reduction::None)
      fail(ErrorKind::UnsupportedOp, "{}: reductions need numeric data", ctx.op().describe());
    visit_storage(data.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* y = storage<T>(out);
      const T* u = storage<T>(updates);
      std::copy_n(storage<T>(data), data.numel(), y);
      for (size_t k = 0; k < targets.size(); ++k)
        std::copy_n(u + static_cast<int64_t>(k) * slice, slice, y + targets[k]);
    });
    return;
  }
  visit_numeric_dtype(data.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* y = out.data<T>();
    const T* u = updates.data<T>();
    std::copy_n(data.data<T>(), data.numel(), y);
    for (size_t k = 0; k < targets.size(); ++k)
      for (int64_t j = 0; j < slice; ++j)
        y[targets[k] + j] =
            combine(reduction, y[targets[k] + j], u[static_cast<int64_t>(k) * slice + j]);
  });
}

void scatter_elements(KernelContext& ctx) {
  const Tensor &data = ctx.input(0), &indices = ctx.input(1), &updates = ctx.input(2);
  const int axis = normalize_axis(ctx.attr_int("axis", 0), data.rank(), ctx.op());
  if (updates.shape() != indices.shape())
    fail(ErrorKind::Shape, "{}: updates {} and indices {} differ in shape", ctx.op().describe(),
         shape_to_string(updates.shape()), shape_to_string(indices.shape()));
  const std::vector<int64_t> targets = element_offsets(data.shape(), indices, axis, ctx.op());
  const Reduction reduction = ctx.op().type == "Scatter" ? Reduction::None : read_reduction(ctx);
  scatter_into(ctx, data, updates, targets, 1, reduction);
}

void scatter_nd(KernelContext& ctx) {
  const Tensor &data = ctx.input(0), &indices = ctx.input(1), &updates = ctx.input(2);
  const NdPlan plan = nd_plan(data.shape(), indices, 0, ctx.op());
  const int64_t k = indices.dim(indices.rank() - 1);
  Shape expected(indices.shape().begin(), indices.shape().end() - 1);
  expected.insert(expected.end(), data.shape().begin() + k, data.shape().end());
  if (updates.shape() != expected)
    fail(ErrorKind::Shape, "{}: updates have shape {}, expected {}", ctx.op().describe(),
         shape_to_string(updates.shape()), shape_to_string(expected));
  scatter_into(ctx, data, updates, plan.offsets, plan.slice, read_reduction(ctx));
}

}  // namespace

void register_gather_scatter_kernels(KernelRegistry& registry) {
  registry.add("", "Gather", 1, kLatestOpset, gather);
  registry.add("", "GatherElements", 11, kLatestOpset, gather_elements);
  registry.add("", "GatherND", 11, kLatestOpset, gather_nd);
  registry.add("", "ScatterElements", 11, kLatestOpset, scatter_elements);
  registry.add("", "ScatterND", 11, kLatestOpset, scatter_nd);
  registry.add("", "Scatter", 9, 10, scatter_elements);
}

}  // namespace qforge::kernels
