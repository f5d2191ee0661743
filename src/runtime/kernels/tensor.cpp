// SPDX-License-Identifier: Apache-2.0
// Kernel family: tensor (shape manipulation and data movement): Reshape, Flatten, Squeeze,
// Unsqueeze, Identity, Dropout, Transpose, Concat, Split, Slice, Pad, Tile, Expand,
// DepthToSpace, SpaceToDepth, CenterCropPad. Creation and selection ops are in
// tensor_create.cpp. Registered in register_tensor_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_tensor.cpp.
#include <algorithm>
#include <limits>
#include <random>

#include "axis_copy.h"
#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

void register_tensor_create_kernels(KernelRegistry& registry);  // tensor_create.cpp

namespace {

std::vector<int64_t> iota_offsets(int64_t count, int64_t stride) {
  std::vector<int64_t> out(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) out[static_cast<size_t>(i)] = i * stride;
  return out;
}

// Offset tables reading the whole of `in` in its own layout (the identity copy).
std::vector<std::vector<int64_t>> identity_offsets(const Shape& shape) {
  const std::vector<int64_t> strides = contiguous_strides(shape);
  std::vector<std::vector<int64_t>> offsets(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) offsets[d] = iota_offsets(shape[d], strides[d]);
  return offsets;
}

// ---- views: Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout ----

Shape reshape_target(const Shape& in, const std::vector<int64_t>& spec, bool allowzero,
                     const Operation& op) {
  Shape out(spec.size());
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t d = spec[i];
    if (d == 0 && !allowzero) {
      if (i >= in.size())
        fail(ErrorKind::Shape, "{}: shape entry {} is 0 but the input has rank {}", op.describe(),
             i, in.size());
      d = in[i];
    }
    if (d == -1) {
      if (infer >= 0) fail(ErrorKind::Shape, "{}: shape has more than one -1", op.describe());
      infer = static_cast<int64_t>(i);
      continue;
    }
    if (d < 0) fail(ErrorKind::Shape, "{}: invalid shape entry {}", op.describe(), d);
    out[i] = d;
    known *= d;
  }
  const int64_t total = shape_numel(in);
  if (infer >= 0) {
    if (known == 0 || total % known != 0)
      fail(ErrorKind::Shape, "{}: cannot reshape {} to [{}]", op.describe(), shape_to_string(in),
           fmt::join(spec, ", "));
    out[static_cast<size_t>(infer)] = total / known;
  } else if (known != total) {
    fail(ErrorKind::Shape, "{}: cannot reshape {} ({} elements) to {}", op.describe(),
         shape_to_string(in), total, shape_to_string(out));
  }
  return out;
}

void reshape(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const std::vector<int64_t> spec =
      ctx.op().opset < 5 ? ctx.attr_ints("shape") : read_int_list(ctx.input(1), ctx.op(), "shape");
  const bool allowzero = ctx.op().opset >= 14 && ctx.attr_int("allowzero", 0) != 0;
  ctx.set_output(0, data.reshaped(reshape_target(data.shape(), spec, allowzero, ctx.op())));
}

void flatten(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const int64_t rank = data.rank();
  int64_t axis = ctx.attr_int("axis", 1);
  if (axis < -rank || axis > rank)
    fail(ErrorKind::InvalidModel, "{}: axis {} is out of range for rank {}", ctx.op().describe(),
         axis, rank);
  if (axis < 0) axis += rank;
  const int a = static_cast<int>(axis);
  ctx.set_output(0, data.reshaped({dims_product(data.shape(), 0, a),
                                   dims_product(data.shape(), a, static_cast<int>(rank))}));
}

// Axes from the attribute (opset < 13) or the optional second input.
std::vector<int64_t> axes_attr_or_input(KernelContext& ctx, size_t input) {
  if (ctx.op().opset < 13) return ctx.attr_ints("axes");
  const Tensor* axes = ctx.optional_input(input);
  return axes ? read_int_list(*axes, ctx.op(), "axes") : std::vector<int64_t>{};
}

void squeeze(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const std::vector<int64_t> spec = axes_attr_or_input(ctx, 1);
  std::vector<bool> drop(data.shape().size(), false);
  if (spec.empty()) {
    for (size_t d = 0; d < drop.size(); ++d) drop[d] = data.shape()[d] == 1;
  } else {
    for (int a : normalize_axes(spec, data.rank(), ctx.op())) {
      if (data.dim(a) != 1)
        fail(ErrorKind::Shape, "{}: cannot squeeze axis {} of size {}", ctx.op().describe(), a,
             data.dim(a));
      drop[static_cast<size_t>(a)] = true;
    }
  }
  Shape out;
  for (size_t d = 0; d < drop.size(); ++d)
    if (!drop[d]) out.push_back(data.shape()[d]);
  ctx.set_output(0, data.reshaped(out));
}

void unsqueeze(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const std::vector<int64_t> spec = axes_attr_or_input(ctx, 1);
  const int64_t rank = data.rank() + static_cast<int64_t>(spec.size());
  std::vector<bool> inserted(static_cast<size_t>(rank), false);
  for (int a : normalize_axes(spec, rank, ctx.op())) inserted[static_cast<size_t>(a)] = true;
  Shape out;
  size_t next = 0;
  for (size_t d = 0; d < inserted.size(); ++d)
    out.push_back(inserted[d] ? 1 : data.shape()[next++]);
  ctx.set_output(0, data.reshaped(out));
}

void identity(KernelContext& ctx) {
  ctx.set_output(0, ctx.input(0));
}

// Training-mode Dropout draws its mask like the ONNX reference (numpy's legacy RandomState:
// MT19937 seeded with `seed`, 53-bit uniforms), so seeded runs reproduce the reference.
Tensor dropout_mask(const Shape& shape, float ratio, int64_t seed) {
  Tensor mask(DataType::Bool, shape);
  std::mt19937 engine(static_cast<uint32_t>(seed));
  bool* keep = mask.data<bool>();
  for (int64_t i = 0; i < mask.numel(); ++i) {
    const double a = static_cast<double>(engine() >> 5), b = static_cast<double>(engine() >> 6);
    keep[i] = (a * 67108864.0 + b) / 9007199254740992.0 >= ratio;
  }
  return mask;
}

void dropout(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const int64_t opset = ctx.op().opset;
  float ratio = ctx.attr_float("ratio", 0.5f);
  bool training = opset < 7 && ctx.attr_int("is_test", 0) == 0;
  if (opset >= 12) {
    if (const Tensor* r = ctx.optional_input(1)) ratio = static_cast<float>(r->value_as_double(0));
    const Tensor* t = ctx.optional_input(2);
    training = t && t->numel() > 0 && t->value_as_double(0) != 0.0;
  }
  if (ratio < 0.0f || ratio >= 1.0f)
    fail(ErrorKind::InvalidModel, "{}: ratio {} is outside [0, 1)", ctx.op().describe(), ratio);
  // Before opset 10 the mask has the data's type; from 10 on it is bool.
  const DataType mask_type = opset < 10 ? data.dtype() : DataType::Bool;
  if (!training || ratio == 0.0f) {
    ctx.set_output(0, data);
    if (ctx.output_wanted(1)) {
      Tensor ones(DataType::Bool, data.shape());
      std::fill_n(ones.data<bool>(), ones.numel(), true);
      ctx.set_output(1, mask_type == DataType::Bool ? ones : ones.cast(mask_type));
    }
    return;
  }
  const Tensor mask = dropout_mask(data.shape(), ratio, ctx.attr_int("seed", 0));
  const float scale = 1.0f / (1.0f - ratio);
  Tensor& out = ctx.allocate_output(0, data.dtype(), data.shape());
  visit_float_dtype(data.dtype(), ctx.op(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = data.data<T>();
    T* y = out.data<T>();
    const bool* keep = mask.data<bool>();
    for (int64_t i = 0; i < data.numel(); ++i)
      y[i] = keep[i] ? T(static_cast<compute_t<T>>(x[i]) * scale) : T(0.0f);
  });
  if (ctx.output_wanted(1))
    ctx.set_output(1, mask_type == DataType::Bool ? mask : mask.cast(mask_type));
}

// ---- Transpose, Concat, Split ----

void transpose(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  std::vector<int64_t> spec = ctx.attr_ints("perm");
  if (spec.empty())
    for (int d = data.rank(); d-- > 0;) spec.push_back(d);
  if (static_cast<int64_t>(spec.size()) != data.rank())
    fail(ErrorKind::InvalidModel, "{}: perm has {} entries for a tensor of rank {}",
         ctx.op().describe(), spec.size(), data.rank());
  const std::vector<int> perm = normalize_axes(spec, data.rank(), ctx.op());
  transpose_into(ctx, 0, data, perm);
}

void concat(KernelContext& ctx) {
  const Tensor& first = ctx.input(0);
  const int64_t rank = first.rank();
  if (rank == 0) fail(ErrorKind::Shape, "{}: cannot concatenate scalars", ctx.op().describe());
  const int axis = normalize_axis(ctx.attr_int("axis", 1), rank, ctx.op());
  Shape shape = first.shape();
  shape[static_cast<size_t>(axis)] = 0;
  std::vector<const Tensor*> parts;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor& t = ctx.input(i);
    bool ok = t.rank() == rank && t.dtype() == first.dtype();
    for (int d = 0; ok && d < rank; ++d) ok = d == axis || t.dim(d) == first.dim(d);
    if (!ok)
      fail(ErrorKind::Shape, "{}: input {} ({} {}) does not match input 0 ({} {}) on axis {}",
           ctx.op().describe(), i, dtype_name(t.dtype()), shape_to_string(t.shape()),
           dtype_name(first.dtype()), shape_to_string(first.shape()), axis);
    shape[static_cast<size_t>(axis)] += t.dim(axis);
    parts.push_back(&t);
  }
  Tensor& out =
      ctx.allocate_output(0, first.dtype(), shape, KernelContext::OutputInit::Uninitialized);
  const int64_t outer = dims_product(shape, 0, axis);
  const int64_t inner = dims_product(shape, axis + 1, static_cast<int>(rank));
  const int64_t row = shape[static_cast<size_t>(axis)] * inner;
  if (out.numel() == 0) return;
  visit_storage(first.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* dst = storage<T>(out);
    parallel_for(ctx.num_threads(), outer, std::max<int64_t>(1, (1 << 14) / row),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t o = begin; o < end; ++o) {
                     T* at = dst + o * row;
                     for (const Tensor* part : parts) {
                       const int64_t n = part->dim(axis) * inner;
                       if (n == 0) continue;
                       std::copy_n(storage<T>(*part) + o * n, n, at);
                       at += n;
                     }
                   }
                 });
  });
}

std::vector<int64_t> split_sizes(KernelContext& ctx, int64_t dim) {
  const int64_t opset = ctx.op().opset;
  std::vector<int64_t> sizes;
  if (opset >= 13 || opset == 1) {
    if (const Tensor* s = ctx.optional_input(1)) sizes = read_int_list(*s, ctx.op(), "split");
  }
  if (opset < 13 && sizes.empty()) sizes = ctx.attr_ints("split");
  const int64_t outputs = static_cast<int64_t>(ctx.num_outputs());
  if (!sizes.empty()) {
    int64_t sum = 0;
    for (int64_t s : sizes) {
      if (s < 0) fail(ErrorKind::InvalidModel, "{}: negative split size", ctx.op().describe());
      sum += s;
    }
    if (sum != dim || static_cast<int64_t>(sizes.size()) != outputs)
      fail(ErrorKind::Shape, "{}: split [{}] does not divide a dimension of {} into {} outputs",
           ctx.op().describe(), fmt::join(sizes, ", "), dim, outputs);
    return sizes;
  }
  int64_t parts = outputs;
  if (opset >= 18 && ctx.op().has_attr("num_outputs")) parts = ctx.attr_int("num_outputs", 0);
  if (parts != outputs || parts <= 0)
    fail(ErrorKind::InvalidModel, "{}: num_outputs {} but the node has {} outputs",
         ctx.op().describe(), parts, outputs);
  // Opset 18: the last chunk may be smaller; before, the dimension must divide evenly.
  const int64_t chunk = (dim + parts - 1) / parts;
  if (opset < 18 && dim % parts != 0)
    fail(ErrorKind::Shape, "{}: dimension {} does not split evenly into {} outputs",
         ctx.op().describe(), dim, parts);
  for (int64_t i = 0; i < parts; ++i)
    sizes.push_back(std::max<int64_t>(0, std::min(chunk, dim - i * chunk)));
  return sizes;
}

void split(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const int axis = normalize_axis(ctx.attr_int("axis", 0), data.rank(), ctx.op());
  const std::vector<int64_t> sizes = split_sizes(ctx, data.dim(axis));
  const std::vector<int64_t> strides = contiguous_strides(data.shape());
  int64_t start = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    Shape shape = data.shape();
    shape[static_cast<size_t>(axis)] = sizes[i];
    std::vector<std::vector<int64_t>> offsets(shape.size());
    for (size_t d = 0; d < shape.size(); ++d) offsets[d] = iota_offsets(shape[d], strides[d]);
    for (int64_t& v : offsets[static_cast<size_t>(axis)])
      v += start * strides[static_cast<size_t>(axis)];
    Tensor& out = ctx.allocate_output(i, data.dtype(), shape);
    copy_by_axis_offsets(data, out, std::move(offsets), nullptr, ctx.num_threads());
    start += sizes[i];
  }
}

// ---- Slice ----

struct SliceAxis {
  int64_t start, step, count;
};

SliceAxis slice_axis(int64_t start, int64_t end, int64_t step, int64_t dim) {
  if (dim == 0) return {0, step, 0};
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    return {start, step, end > start ? (end - start - 1) / step + 1 : 0};
  }
  start = std::clamp<int64_t>(start, 0, dim - 1);
  end = std::clamp<int64_t>(end, -1, dim - 1);
  const int64_t magnitude =
      step == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -step;
  return {start, step, start > end ? (start - end - 1) / magnitude + 1 : 0};
}

void slice(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Operation& op = ctx.op();
  std::vector<int64_t> starts, ends, axes, steps;
  if (op.opset < 10) {
    starts = ctx.attr_ints("starts");
    ends = ctx.attr_ints("ends");
    axes = ctx.attr_ints("axes");
  } else {
    starts = read_int_list(ctx.input(1), op, "starts");
    ends = read_int_list(ctx.input(2), op, "ends");
    if (const Tensor* a = ctx.optional_input(3)) axes = read_int_list(*a, op, "axes");
    if (const Tensor* s = ctx.optional_input(4)) steps = read_int_list(*s, op, "steps");
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    fail(ErrorKind::InvalidModel, "{}: starts, ends, axes and steps differ in length",
         op.describe());
  const std::vector<int> norm = normalize_axes(axes, data.rank(), op);
  const std::vector<int64_t> strides = contiguous_strides(data.shape());
  Shape shape = data.shape();
  std::vector<std::vector<int64_t>> offsets = identity_offsets(shape);
  for (size_t i = 0; i < norm.size(); ++i) {
    const size_t d = static_cast<size_t>(norm[i]);
    if (steps[i] == 0) fail(ErrorKind::InvalidModel, "{}: step is 0", op.describe());
    const SliceAxis s = slice_axis(starts[i], ends[i], steps[i], shape[d]);
    shape[d] = s.count;
    offsets[d].resize(static_cast<size_t>(s.count));
    for (int64_t k = 0; k < s.count; ++k)
      offsets[d][static_cast<size_t>(k)] = (s.start + k * s.step) * strides[d];
  }
  Tensor& out = ctx.allocate_output(0, data.dtype(), shape);
  copy_by_axis_offsets(data, out, std::move(offsets), nullptr, ctx.num_threads());
}

// ---- Pad, CenterCropPad ----

enum class PadMode { Constant, Reflect, Edge, Wrap };

// Input positions read by one padded axis: negative pads crop first, then `mode` fills the
// pads from the cropped extent (as the ONNX reference does).
std::vector<int64_t> pad_axis(int64_t dim, int64_t begin, int64_t end, PadMode mode,
                              const Operation& op) {
  const int64_t first = std::max<int64_t>(0, -begin);
  const int64_t kept = dim - first - std::max<int64_t>(0, -end);
  const int64_t size = dim + begin + end;
  if (kept < 0 || size < 0)
    fail(ErrorKind::Shape, "{}: pads {} and {} remove more than the dimension {}", op.describe(),
         begin, end, dim);
  const int64_t lead = std::max<int64_t>(0, begin);
  std::vector<int64_t> index(static_cast<size_t>(size));
  for (int64_t o = 0; o < size; ++o) {
    int64_t p = o - lead;
    if (p < 0 || p >= kept) {
      if (mode == PadMode::Constant) {
        index[static_cast<size_t>(o)] = -1;
        continue;
      }
      if (kept == 0)
        fail(ErrorKind::Shape, "{}: cannot pad an empty dimension in this mode", op.describe());
      if (mode == PadMode::Edge) {
        p = std::clamp<int64_t>(p, 0, kept - 1);
      } else if (mode == PadMode::Wrap) {
        p = ((p % kept) + kept) % kept;
      } else if (kept == 1) {
        p = 0;
      } else {
        const int64_t period = 2 * (kept - 1);
        p = ((p % period) + period) % period;
        if (p >= kept) p = period - p;
      }
    }
    index[static_cast<size_t>(o)] = first + p;
  }
  return index;
}

PadMode pad_mode(const std::string& mode, const Operation& op) {
  if (mode == "constant") return PadMode::Constant;
  if (mode == "reflect") return PadMode::Reflect;
  if (mode == "edge") return PadMode::Edge;
  if (mode == "wrap") return PadMode::Wrap;
  fail(ErrorKind::InvalidModel, "{}: unknown pad mode '{}'", op.describe(), mode);
}

void pad(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Operation& op = ctx.op();
  const int64_t rank = data.rank();
  std::vector<int64_t> pads;
  Tensor fill;
  if (op.opset < 11) {
    pads = ctx.attr_ints(op.opset < 2 ? "paddings" : "pads");
    if (data.dtype() != DataType::String)
      fill = Tensor::scalar(ctx.attr_float("value", 0.0f)).cast(data.dtype());
  } else {
    pads = read_int_list(ctx.input(1), op, "pads");
    const Tensor* value = ctx.optional_input(2);
    if (value && value->numel() > 0) {
      if (value->dtype() != data.dtype())
        fail(ErrorKind::InvalidModel, "{}: constant_value is {}, data is {}", op.describe(),
             dtype_name(value->dtype()), dtype_name(data.dtype()));
      fill = *value;
    }
  }
  std::vector<int> axes;
  if (const Tensor* a = op.opset >= 18 ? ctx.optional_input(3) : nullptr) {
    axes = normalize_axes(read_int_list(*a, op, "axes"), rank, op);
  } else {
    for (int d = 0; d < rank; ++d) axes.push_back(d);
  }
  if (pads.size() != 2 * axes.size())
    fail(ErrorKind::InvalidModel, "{}: {} pads for {} axes", op.describe(), pads.size(),
         axes.size());
  const PadMode mode = pad_mode(ctx.attr_string("mode", "constant"), op);
  const std::vector<int64_t> strides = contiguous_strides(data.shape());
  std::vector<std::vector<int64_t>> offsets = identity_offsets(data.shape());
  Shape shape = data.shape();
  for (size_t i = 0; i < axes.size(); ++i) {
    const size_t d = static_cast<size_t>(axes[i]);
    const auto index = pad_axis(shape[d], pads[i], pads[i + axes.size()], mode, op);
    shape[d] = static_cast<int64_t>(index.size());
    offsets[d] = scaled_offsets(index, strides[d]);
  }
  Tensor& out = ctx.allocate_output(0, data.dtype(), shape);
  copy_by_axis_offsets(data, out, std::move(offsets), fill.defined() ? &fill : nullptr,
                       ctx.num_threads());
}

void center_crop_pad(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Operation& op = ctx.op();
  const std::vector<int64_t> target = read_int_list(ctx.input(1), op, "shape");
  std::vector<int> axes;
  if (op.has_attr("axes")) {
    axes = normalize_axes(ctx.attr_ints("axes"), data.rank(), op);
  } else {
    for (int d = 0; d < data.rank(); ++d) axes.push_back(d);
  }
  if (target.size() != axes.size())
    fail(ErrorKind::InvalidModel, "{}: shape has {} entries for {} axes", op.describe(),
         target.size(), axes.size());
  const std::vector<int64_t> strides = contiguous_strides(data.shape());
  std::vector<std::vector<int64_t>> offsets = identity_offsets(data.shape());
  Shape shape = data.shape();
  for (size_t i = 0; i < axes.size(); ++i) {
    const size_t d = static_cast<size_t>(axes[i]);
    if (target[i] < 0) fail(ErrorKind::Shape, "{}: negative target size", op.describe());
    // Crop from, or pad before, the floor of half the difference.
    const int64_t shift =
        target[i] <= shape[d] ? (shape[d] - target[i]) / 2 : -((target[i] - shape[d]) / 2);
    std::vector<int64_t> index(static_cast<size_t>(target[i]));
    for (int64_t o = 0; o < target[i]; ++o) {
      const int64_t p = o + shift;
      index[static_cast<size_t>(o)] = p >= 0 && p < shape[d] ? p : -1;
    }
    shape[d] = target[i];
    offsets[d] = scaled_offsets(index, strides[d]);
  }
  Tensor& out = ctx.allocate_output(0, data.dtype(), shape);
  copy_by_axis_offsets(data, out, std::move(offsets), nullptr, ctx.num_threads());
}

// ---- Tile, Expand ----

void tile(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const std::vector<int64_t> repeats = read_int_list(ctx.input(1), ctx.op(), "repeats");
  if (static_cast<int64_t>(repeats.size()) != data.rank())
    fail(ErrorKind::Shape, "{}: {} repeats for a tensor of rank {}", ctx.op().describe(),
         repeats.size(), data.rank());
  const std::vector<int64_t> strides = contiguous_strides(data.shape());
  Shape shape = data.shape();
  std::vector<std::vector<int64_t>> offsets(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    if (repeats[d] < 0) fail(ErrorKind::Shape, "{}: negative repeat", ctx.op().describe());
    const int64_t dim = shape[d];
    shape[d] = dim * repeats[d];
    offsets[d].resize(static_cast<size_t>(shape[d]));
    for (int64_t o = 0; o < shape[d]; ++o)
      offsets[d][static_cast<size_t>(o)] = (o % dim) * strides[d];
  }
  Tensor& out = ctx.allocate_output(0, data.dtype(), shape);
  copy_by_axis_offsets(data, out, std::move(offsets), nullptr, ctx.num_threads());
}

void expand(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Shape target = read_int_list(ctx.input(1), ctx.op(), "shape");
  const Shape shape = broadcast_shapes({data.shape(), target}, ctx.op());
  const std::vector<int64_t> strides = broadcast_strides(data.shape(), shape);
  std::vector<std::vector<int64_t>> offsets(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) offsets[d] = iota_offsets(shape[d], strides[d]);
  Tensor& out = ctx.allocate_output(0, data.dtype(), shape);
  copy_by_axis_offsets(data, out, std::move(offsets), nullptr, ctx.num_threads());
}

// ---- DepthToSpace, SpaceToDepth ----

void depth_to_space(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const int64_t b = ctx.attr_int("blocksize", 0);
  if (data.rank() != 4 || b <= 0 || data.dim(1) % (b * b) != 0)
    fail(ErrorKind::Shape, "{}: needs a 4-D input with channels divisible by blocksize^2 ({})",
         ctx.op().describe(), shape_to_string(data.shape()));
  const int64_t n = data.dim(0), c = data.dim(1) / (b * b), h = data.dim(2), w = data.dim(3);
  const bool crd = ctx.op().opset >= 11 && ctx.attr_string("mode", "DCR") == "CRD";
  const Tensor view = crd ? data.reshaped({n, c, b, b, h, w}) : data.reshaped({n, b, b, c, h, w});
  const std::vector<int> perm =
      crd ? std::vector<int>{0, 1, 4, 2, 5, 3} : std::vector<int>{0, 3, 4, 1, 5, 2};
  Tensor& out = transpose_into(ctx, 0, view, perm);
  out = out.reshaped({n, c, h * b, w * b});
}

void space_to_depth(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const int64_t b = ctx.attr_int("blocksize", 0);
  if (data.rank() != 4 || b <= 0 || data.dim(2) % b != 0 || data.dim(3) % b != 0)
    fail(ErrorKind::Shape, "{}: needs a 4-D input with H and W divisible by blocksize ({})",
         ctx.op().describe(), shape_to_string(data.shape()));
  const int64_t n = data.dim(0), c = data.dim(1), h = data.dim(2) / b, w = data.dim(3) / b;
  Tensor& out = transpose_into(ctx, 0, data.reshaped({n, c, h, b, w, b}), {0, 3, 5, 1, 2, 4});
  out = out.reshaped({n, c * b * b, h, w});
}

}  // namespace

void register_tensor_kernels(KernelRegistry& registry) {
  registry.add("", "Reshape", 1, kLatestOpset, reshape);
  registry.add("", "Flatten", 1, kLatestOpset, flatten);
  registry.add("", "Squeeze", 1, kLatestOpset, squeeze);
  registry.add("", "Unsqueeze", 1, kLatestOpset, unsqueeze);
  registry.add("", "Identity", 1, kLatestOpset, identity);
  registry.add("", "Dropout", 1, kLatestOpset, dropout);
  registry.add("", "Transpose", 1, kLatestOpset, transpose);
  registry.add("", "Concat", 1, kLatestOpset, concat);
  registry.add("", "Split", 1, kLatestOpset, split);
  registry.add("", "Slice", 1, kLatestOpset, slice);
  registry.add("", "Pad", 1, kLatestOpset, pad);
  registry.add("", "CenterCropPad", 18, kLatestOpset, center_crop_pad);
  registry.add("", "Tile", 6, kLatestOpset, tile);
  registry.add("", "Expand", 8, kLatestOpset, expand);
  registry.add("", "DepthToSpace", 1, kLatestOpset, depth_to_space);
  registry.add("", "SpaceToDepth", 1, kLatestOpset, space_to_depth);
  register_tensor_create_kernels(registry);
}

}  // namespace qforge::kernels
