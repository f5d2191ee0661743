// SPDX-License-Identifier: Apache-2.0
// Kernel family: tensor, part 2 (creation and selection): Shape, Size, Constant,
// ConstantOfShape, Range, EyeLike, Trilu, OneHot, NonZero, Compress, ReverseSequence.
// Registered from register_tensor_kernels (tensor.cpp); tested in tests/runtime/test_tensor.cpp.
#include <algorithm>
#include <cmath>

#include "axis_copy.h"
#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

void register_tensor_create_kernels(KernelRegistry& registry);

namespace {

// ---- Shape, Size, Constant, ConstantOfShape ----

void shape(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const int64_t rank = data.rank();
  int64_t start = 0, end = rank;
  if (ctx.op().opset >= 15) {
    start = ctx.attr_int("start", 0);
    end = ctx.attr_int("end", rank);
  }
  // Negative values count from the back; both are clamped to [0, rank].
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  const Shape dims(data.shape().begin() + start, data.shape().begin() + std::max(start, end));
  ctx.set_output(0, Tensor::from_vector<int64_t>({static_cast<int64_t>(dims.size())}, dims));
}

void size(KernelContext& ctx) {
  ctx.set_output(0, Tensor::scalar<int64_t>(ctx.input(0).numel()));
}

Tensor string_tensor(Shape shape, const std::vector<std::string>& values) {
  Tensor t(DataType::String, std::move(shape));
  t.strings() = values;
  return t;
}

void constant(KernelContext& ctx) {
  const Operation& op = ctx.op();
  if (op.attributes.size() != 1)
    fail(ErrorKind::InvalidModel, "{}: needs exactly one value attribute, has {}", op.describe(),
         op.attributes.size());
  const Attribute& a = op.attributes[0];
  const int64_t n = static_cast<int64_t>(a.name == "value_floats" ? a.floats.size()
                                         : a.name == "value_ints" ? a.ints.size()
                                                                  : a.strings.size());
  if (a.name == "value" && a.t.defined()) return ctx.set_output(0, a.t);
  if (a.name == "value_float") return ctx.set_output(0, Tensor::scalar(a.f));
  if (a.name == "value_floats") return ctx.set_output(0, Tensor::from_vector({n}, a.floats));
  if (a.name == "value_int") return ctx.set_output(0, Tensor::scalar<int64_t>(a.i));
  if (a.name == "value_ints") return ctx.set_output(0, Tensor::from_vector({n}, a.ints));
  if (a.name == "value_string") return ctx.set_output(0, string_tensor({}, {a.s}));
  if (a.name == "value_strings") return ctx.set_output(0, string_tensor({n}, a.strings));
  fail(ErrorKind::UnsupportedOp, "{}: value attribute '{}' is not supported", op.describe(),
       a.name);
}

// Fills `out` with the one element of `value` (same dtype).
void fill_with(Tensor& out, const Tensor& value) {
  visit_storage(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    std::fill_n(storage<T>(out), out.numel(), storage<T>(value)[0]);
  });
}

void constant_of_shape(KernelContext& ctx) {
  const Shape dims = read_int_list(ctx.input(0), ctx.op(), "shape");
  for (int64_t d : dims)
    if (d < 0) fail(ErrorKind::Shape, "{}: negative dimension {}", ctx.op().describe(), d);
  const Tensor* value = ctx.op().attr_tensor("value");
  if (value && value->numel() != 1)
    fail(ErrorKind::InvalidModel, "{}: value must hold one element", ctx.op().describe());
  const Tensor zero = Tensor::scalar(0.0f);
  const Tensor& v = value ? *value : zero;
  fill_with(ctx.allocate_output(0, v.dtype(), dims), v);
}

// ---- Range, EyeLike, Trilu ----

template <typename T>
int64_t range_count(T start, T limit, T delta) {
  if constexpr (std::is_integral_v<T>) {
    const int64_t diff = static_cast<int64_t>(limit) - static_cast<int64_t>(start);
    const int64_t step = static_cast<int64_t>(delta);
    if (diff == 0 || (diff > 0) != (step > 0)) return 0;
    const int64_t a = diff > 0 ? diff : -diff, b = step > 0 ? step : -step;
    return (a + b - 1) / b;
  } else {
    const double n = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) /
                               static_cast<double>(delta));
    return n > 0 ? static_cast<int64_t>(n) : 0;
  }
}

void range(KernelContext& ctx) {
  const Tensor &start = ctx.input(0), &limit = ctx.input(1), &delta = ctx.input(2);
  for (const Tensor* t : {&start, &limit, &delta})
    if (t->numel() != 1 || t->dtype() != start.dtype())
      fail(ErrorKind::InvalidModel, "{}: start, limit and delta must be scalars of one dtype",
           ctx.op().describe());
  visit_numeric_dtype(start.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = compute_t<T>;
    const C s = static_cast<C>(start.data<T>()[0]), l = static_cast<C>(limit.data<T>()[0]);
    const C d = static_cast<C>(delta.data<T>()[0]);
    if (d == C{}) fail(ErrorKind::InvalidModel, "{}: delta is 0", ctx.op().describe());
    if constexpr (std::is_same_v<T, bool>) {
      fail(ErrorKind::UnsupportedOp, "{}: bool range", ctx.op().describe());
    } else {
      const int64_t n = range_count<C>(s, l, d);
      T* out = ctx.allocate_output(0, start.dtype(), {n}).template data<T>();
      for (int64_t i = 0; i < n; ++i) out[i] = T(static_cast<C>(s + static_cast<C>(i) * d));
    }
  });
}

void eye_like(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  if (data.rank() != 2)
    fail(ErrorKind::Shape, "{}: input must be 2-D, got {}", ctx.op().describe(),
         shape_to_string(data.shape()));
  const DataType type =
      static_cast<DataType>(ctx.attr_int("dtype", static_cast<int64_t>(data.dtype())));
  const int64_t k = ctx.attr_int("k", 0), rows = data.dim(0), cols = data.dim(1);
  Tensor& out = ctx.allocate_output(0, type, data.shape());
  const Tensor one = Tensor::scalar(1.0f).cast(type);
  visit_storage(type, [&](auto tag) {
    using T = decltype(tag);
    T* y = storage<T>(out);
    for (int64_t i = 0; i < rows; ++i)
      if (i + k >= 0 && i + k < cols) y[i * cols + i + k] = storage<T>(one)[0];
  });
}

void trilu(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  if (data.rank() < 2) fail(ErrorKind::Shape, "{}: input must have rank >= 2", ctx.op().describe());
  const int64_t rows = data.dim(data.rank() - 2), cols = data.dim(data.rank() - 1);
  int64_t k = 0;
  if (const Tensor* kt = ctx.optional_input(1)) k = read_int_scalar(*kt, ctx.op(), "k");
  k = std::clamp<int64_t>(k, -rows - 1, cols + 1);
  const bool upper = ctx.attr_int("upper", 1) != 0;
  Tensor& out = ctx.allocate_output(0, data.dtype(), data.shape());
  const int64_t matrices = rows * cols == 0 ? 0 : data.numel() / (rows * cols);
  visit_storage(data.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = storage<T>(data);
    T* y = storage<T>(out);
    for (int64_t m = 0; m < matrices; ++m)
      for (int64_t i = 0; i < rows; ++i) {
        // Kept columns: j >= i + k (upper) or j <= i + k (lower); the rest stay zero.
        const int64_t from = upper ? std::clamp<int64_t>(i + k, 0, cols) : 0;
        const int64_t to = upper ? cols : std::clamp<int64_t>(i + k + 1, 0, cols);
        const int64_t row = (m * rows + i) * cols;
        std::copy(x + row + from, x + row + to, y + row + from);
      }
  });
}

// ---- OneHot, NonZero, Compress, ReverseSequence ----

void one_hot(KernelContext& ctx) {
  const Tensor &indices = ctx.input(0), &depth_t = ctx.input(1), &values = ctx.input(2);
  if (depth_t.numel() != 1 || values.numel() != 2)
    fail(ErrorKind::InvalidModel, "{}: depth needs one element and values two",
         ctx.op().describe());
  const int64_t depth = static_cast<int64_t>(depth_t.value_as_double(0));
  if (depth <= 0)
    fail(ErrorKind::InvalidModel, "{}: depth {} is not positive", ctx.op().describe(), depth);
  const int axis = normalize_axis(ctx.attr_int("axis", -1), indices.rank() + 1, ctx.op());
  Shape shape = indices.shape();
  shape.insert(shape.begin() + axis, depth);
  const int64_t inner = dims_product(indices.shape(), axis, indices.rank());
  const int64_t outer = inner == 0 ? 0 : indices.numel() / inner;
  const std::vector<int64_t> index = indices.to_int64_vector();
  Tensor& out = ctx.allocate_output(0, values.dtype(), shape);
  visit_storage(values.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* y = storage<T>(out);
    const T off = storage<T>(values)[0], on = storage<T>(values)[1];
    std::fill_n(y, out.numel(), off);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t v = index[static_cast<size_t>(o * inner + i)];
        if (v < 0) v += depth;  // negative indices count from the back
        if (v >= 0 && v < depth) y[(o * depth + v) * inner + i] = on;
      }
  });
}

void non_zero(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  std::vector<int64_t> hits;
  visit_numeric_dtype(data.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = data.data<T>();
    for (int64_t i = 0; i < data.numel(); ++i)
      if (static_cast<compute_t<T>>(x[i]) != compute_t<T>{}) hits.push_back(i);
  });
  // A scalar reads as a one-element vector (numpy's nonzero does the same).
  const Shape dims = data.rank() == 0 ? Shape{1} : data.shape();
  const int64_t rank = static_cast<int64_t>(dims.size()), n = static_cast<int64_t>(hits.size());
  int64_t* y = ctx.allocate_output(0, DataType::Int64, {rank, n}).data<int64_t>();
  for (int64_t k = 0; k < n; ++k) {
    int64_t flat = hits[static_cast<size_t>(k)];
    for (int64_t d = rank; d-- > 0;) {
      y[d * n + k] = flat % dims[static_cast<size_t>(d)];
      flat /= dims[static_cast<size_t>(d)];
    }
  }
}

void compress(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& condition = ctx.input(1);
  const bool flat = !ctx.op().has_attr("axis");
  const Tensor view = flat ? data.reshaped({data.numel()}) : data;
  const int axis = flat ? 0 : normalize_axis(ctx.attr_int("axis", 0), data.rank(), ctx.op());
  const int64_t dim = view.dim(axis);
  std::vector<int64_t> picked;
  for (int64_t i = 0; i < condition.numel(); ++i) {
    if (condition.value_as_double(i) == 0.0) continue;
    if (i >= dim)
      fail(ErrorKind::Shape, "{}: condition selects index {} of a dimension of {}",
           ctx.op().describe(), i, dim);
    picked.push_back(i);
  }
  const std::vector<int64_t> strides = contiguous_strides(view.shape());
  Shape shape = view.shape();
  std::vector<std::vector<int64_t>> offsets(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    std::vector<int64_t> index(static_cast<size_t>(shape[d]));
    for (int64_t i = 0; i < shape[d]; ++i) index[static_cast<size_t>(i)] = i;
    if (static_cast<int>(d) == axis) index = picked;
    shape[d] = static_cast<int64_t>(index.size());
    offsets[d] = scaled_offsets(index, strides[d]);
  }
  Tensor& out = ctx.allocate_output(0, data.dtype(), shape);
  copy_by_axis_offsets(view, out, std::move(offsets), nullptr, ctx.num_threads());
}

void reverse_sequence(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const std::vector<int64_t> lens = read_int_list(ctx.input(1), ctx.op(), "sequence_lens");
  const int64_t batch_axis = ctx.attr_int("batch_axis", 1),
                time_axis = ctx.attr_int("time_axis", 0);
  if (data.rank() < 2 || batch_axis + time_axis != 1 || batch_axis * time_axis != 0)
    fail(ErrorKind::InvalidModel,
         "{}: batch_axis and time_axis must be 0 and 1 of a rank >= 2 input", ctx.op().describe());
  const int64_t batch = data.dim(static_cast<int>(batch_axis));
  const int64_t steps = data.dim(static_cast<int>(time_axis));
  const int64_t inner = dims_product(data.shape(), 2, data.rank());
  if (static_cast<int64_t>(lens.size()) != batch)
    fail(ErrorKind::Shape, "{}: {} sequence lengths for a batch of {}", ctx.op().describe(),
         lens.size(), batch);
  Tensor& out = ctx.allocate_output(0, data.dtype(), data.shape());
  visit_storage(data.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = storage<T>(data);
    T* y = storage<T>(out);
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t len = lens[static_cast<size_t>(b)];
      if (len < 0 || len > steps)
        fail(ErrorKind::Shape, "{}: sequence length {} outside [0, {}]", ctx.op().describe(), len,
             steps);
      for (int64_t t = 0; t < steps; ++t) {
        const int64_t from = t < len ? len - 1 - t : t;
        auto block = [&](int64_t step) {
          return (time_axis == 0 ? step * batch + b : b * steps + step) * inner;
        };
        std::copy_n(x + block(from), inner, y + block(t));
      }
    }
  });
}

}  // namespace

void register_tensor_create_kernels(KernelRegistry& registry) {
  registry.add("", "Shape", 1, kLatestOpset, shape);
  registry.add("", "Size", 1, kLatestOpset, size);
  registry.add("", "Constant", 1, kLatestOpset, constant);
  registry.add("", "ConstantOfShape", 9, kLatestOpset, constant_of_shape);
  registry.add("", "Range", 11, kLatestOpset, range);
  registry.add("", "EyeLike", 9, kLatestOpset, eye_like);
  registry.add("", "Trilu", 14, kLatestOpset, trilu);
  registry.add("", "OneHot", 9, kLatestOpset, one_hot);
  registry.add("", "NonZero", 9, kLatestOpset, non_zero);
  registry.add("", "Compress", 9, kLatestOpset, compress);
  registry.add("", "ReverseSequence", 10, kLatestOpset, reverse_sequence);
}

}  // namespace qforge::kernels
