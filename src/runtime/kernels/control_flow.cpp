// SPDX-License-Identifier: Apache-2.0
// Kernel family: control_flow (If, Loop, Scan in its opset 8 and 9+ forms). Bodies run through
// KernelContext::run_subgraph; the executor resolves the outer-scope names a body reads.
// Registered in register_control_flow_kernels (listed in src/runtime/kernel_registry.cpp);
// tested in tests/runtime/test_control_flow.cpp.
#include <cstring>

#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

namespace {

const Graph& body_attr(const KernelContext& ctx, const char* name) {
  const Attribute* attr = ctx.op().find_attr(name);
  if (!attr || attr->type != AttributeType::Graph || !attr->g)
    fail(ErrorKind::InvalidModel, "{}: graph attribute '{}' is missing", ctx.op().describe(), name);
  return *attr->g;
}

bool truth(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (t.numel() != 1 || t.dtype() == DataType::String)
    fail(ErrorKind::InvalidModel, "{}: {} must hold one boolean, got {} of shape {}",
         ctx.op().describe(), what, dtype_name(t.dtype()), shape_to_string(t.shape()));
  return t.value_as_double(0) != 0.0;
}

std::vector<Tensor> run_body(const KernelContext& ctx, const Graph& body,
                             const std::vector<Tensor>& inputs, size_t expected_outputs) {
  if (body.inputs().size() != inputs.size())
    fail(ErrorKind::InvalidModel, "{}: body '{}' declares {} inputs, the op passes {}",
         ctx.op().describe(), body.name, body.inputs().size(), inputs.size());
  std::vector<Tensor> outs = ctx.run_subgraph(body, inputs);
  if (outs.size() != expected_outputs)
    fail(ErrorKind::InvalidModel, "{}: body '{}' returned {} outputs, expected {}",
         ctx.op().describe(), body.name, outs.size(), expected_outputs);
  return outs;
}

// ---- slicing and stacking along an axis (any dtype, strings included) ----

// t with `axis` removed, at position `index`.
Tensor take_slice(const Tensor& t, int axis, int64_t index) {
  Shape shape = t.shape();
  shape.erase(shape.begin() + axis);
  Tensor out(t.dtype(), shape);
  const int64_t outer = dims_product(t.shape(), 0, axis);
  const int64_t inner = dims_product(t.shape(), axis + 1, t.rank());
  const int64_t n = t.dim(axis);
  if (t.dtype() == DataType::String) {
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i)
        out.strings()[o * inner + i] = t.strings()[(o * n + index) * inner + i];
    return out;
  }
  const size_t bytes = static_cast<size_t>(inner) * dtype_size(t.dtype());
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(static_cast<char*>(out.raw()) + o * bytes,
                static_cast<const char*>(t.raw()) + (o * n + index) * bytes, bytes);
  return out;
}

// parts[k] becomes position k along a new `axis` (0 <= axis <= part rank).
Tensor stack(const KernelContext& ctx, const std::vector<Tensor>& parts, int axis) {
  QF_ASSERT(!parts.empty());
  const Tensor& first = parts[0];
  for (const Tensor& p : parts)
    if (p.shape() != first.shape() || p.dtype() != first.dtype())
      fail(ErrorKind::Shape, "{}: scan output changes from {} {} to {} {} between iterations",
           ctx.op().describe(), dtype_name(first.dtype()), shape_to_string(first.shape()),
           dtype_name(p.dtype()), shape_to_string(p.shape()));
  Shape shape = first.shape();
  const int64_t n = static_cast<int64_t>(parts.size());
  shape.insert(shape.begin() + axis, n);
  Tensor out(first.dtype(), shape);
  const int64_t outer = dims_product(first.shape(), 0, axis);
  const int64_t inner = dims_product(first.shape(), axis, first.rank());
  for (int64_t k = 0; k < n; ++k) {
    const Tensor& p = parts[static_cast<size_t>(k)];
    if (p.dtype() == DataType::String) {
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i)
          out.strings()[(o * n + k) * inner + i] = p.strings()[o * inner + i];
      continue;
    }
    const size_t bytes = static_cast<size_t>(inner) * dtype_size(p.dtype());
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(static_cast<char*>(out.raw()) + (o * n + k) * bytes,
                  static_cast<const char*>(p.raw()) + o * bytes, bytes);
  }
  return out;
}

// An empty stack (no iteration ran): the body output's declared element shape when it is
// static, else [0].
Tensor empty_stack(const Graph& body, size_t output, int axis) {
  const Variable* var = body.outputs()[output];
  const DataType dtype = var->dtype == DataType::Undefined ? DataType::Float : var->dtype;
  std::optional<Shape> shape = var->static_shape();
  if (!shape || axis > static_cast<int>(shape->size())) return Tensor(dtype, {0});
  shape->insert(shape->begin() + axis, 0);
  return Tensor(dtype, *shape);
}

// ---- If ----

void if_op(KernelContext& ctx) {
  const bool cond = truth(ctx, ctx.input(0), "cond");
  const Graph& branch = body_attr(ctx, cond ? "then_branch" : "else_branch");
  std::vector<Tensor> outs = run_body(ctx, branch, {}, ctx.num_outputs());
  for (size_t i = 0; i < outs.size(); ++i) ctx.set_output(i, std::move(outs[i]));
}

// ---- Loop: body(iter, cond, v...) -> (cond, v..., scan...) ----

void loop_op(KernelContext& ctx) {
  const Graph& body = body_attr(ctx, "body");
  const Tensor* max_trips = ctx.optional_input(0);
  const Tensor* cond_in = ctx.optional_input(1);
  const int64_t limit = max_trips ? read_int_scalar(*max_trips, ctx.op(), "M") : -1;
  bool cond = cond_in ? truth(ctx, *cond_in, "cond") : true;
  const size_t carried = ctx.num_inputs() < 2 ? 0 : ctx.num_inputs() - 2;
  if (body.outputs().size() < 1 + carried)
    fail(ErrorKind::InvalidModel, "{}: body has {} outputs for {} loop-carried values",
         ctx.op().describe(), body.outputs().size(), carried);
  const size_t scans = body.outputs().size() - 1 - carried;
  if (ctx.num_outputs() > carried + scans)
    fail(ErrorKind::InvalidModel, "{}: {} outputs, but the body yields {}", ctx.op().describe(),
         ctx.num_outputs(), carried + scans);
  std::vector<Tensor> values;
  for (size_t i = 0; i < carried; ++i) values.push_back(ctx.input(2 + i));
  std::vector<std::vector<Tensor>> scanned(scans);
  for (int64_t iter = 0; (limit < 0 || iter < limit) && cond; ++iter) {
    std::vector<Tensor> in{Tensor::scalar<int64_t>(iter), Tensor::scalar<bool>(cond)};
    in.insert(in.end(), values.begin(), values.end());
    std::vector<Tensor> outs = run_body(ctx, body, in, body.outputs().size());
    cond = truth(ctx, outs[0], "the body's condition output");
    for (size_t i = 0; i < carried; ++i) values[i] = std::move(outs[1 + i]);
    for (size_t k = 0; k < scans; ++k) scanned[k].push_back(std::move(outs[1 + carried + k]));
  }
  for (size_t i = 0; i < carried && i < ctx.num_outputs(); ++i) ctx.set_output(i, values[i]);
  for (size_t k = 0; k < scans && carried + k < ctx.num_outputs(); ++k)
    ctx.set_output(carried + k, scanned[k].empty() ? empty_stack(body, 1 + carried + k, 0)
                                                   : stack(ctx, scanned[k], 0));
}

// ---- Scan, opset 9+: states then scan inputs, per-input axes and directions ----

std::vector<int64_t> attr_list(const KernelContext& ctx, const char* name, size_t count) {
  std::vector<int64_t> v = ctx.attr_ints(name);
  if (v.empty()) v.assign(count, 0);
  if (v.size() != count)
    fail(ErrorKind::InvalidModel, "{}: '{}' has {} entries, expected {}", ctx.op().describe(), name,
         v.size(), count);
  return v;
}

void scan9_op(KernelContext& ctx) {
  const Graph& body = body_attr(ctx, "body");
  const size_t m = static_cast<size_t>(ctx.attr_int("num_scan_inputs", 0));
  if (m == 0 || m > ctx.num_inputs())
    fail(ErrorKind::InvalidModel, "{}: num_scan_inputs {} with {} inputs", ctx.op().describe(), m,
         ctx.num_inputs());
  const size_t n = ctx.num_inputs() - m;
  if (body.outputs().size() < n)
    fail(ErrorKind::InvalidModel, "{}: body has fewer outputs than states", ctx.op().describe());
  const size_t k_out = body.outputs().size() - n;
  const std::vector<int64_t> in_axes = attr_list(ctx, "scan_input_axes", m);
  const std::vector<int64_t> in_dirs = attr_list(ctx, "scan_input_directions", m);
  const std::vector<int64_t> out_axes = attr_list(ctx, "scan_output_axes", k_out);
  const std::vector<int64_t> out_dirs = attr_list(ctx, "scan_output_directions", k_out);
  std::vector<int> axes(m);
  int64_t length = -1;
  for (size_t j = 0; j < m; ++j) {
    const Tensor& t = ctx.input(n + j);
    axes[j] = normalize_axis(in_axes[j], t.rank(), ctx.op());
    if (length >= 0 && t.dim(axes[j]) != length)
      fail(ErrorKind::Shape, "{}: scan inputs have different lengths ({} and {})",
           ctx.op().describe(), length, t.dim(axes[j]));
    length = t.dim(axes[j]);
  }
  std::vector<Tensor> states;
  for (size_t i = 0; i < n; ++i) states.push_back(ctx.input(i));
  std::vector<std::vector<Tensor>> scanned(k_out, std::vector<Tensor>(static_cast<size_t>(length)));
  for (int64_t t = 0; t < length; ++t) {
    std::vector<Tensor> in = states;
    for (size_t j = 0; j < m; ++j)
      in.push_back(take_slice(ctx.input(n + j), axes[j], in_dirs[j] ? length - 1 - t : t));
    std::vector<Tensor> outs = run_body(ctx, body, in, n + k_out);
    for (size_t i = 0; i < n; ++i) states[i] = std::move(outs[i]);
    for (size_t k = 0; k < k_out; ++k)
      scanned[k][static_cast<size_t>(out_dirs[k] ? length - 1 - t : t)] = std::move(outs[n + k]);
  }
  for (size_t i = 0; i < n && i < ctx.num_outputs(); ++i) ctx.set_output(i, states[i]);
  for (size_t k = 0; k < k_out && n + k < ctx.num_outputs(); ++k) {
    if (length == 0) {
      ctx.set_output(n + k, empty_stack(body, n + k, 0));
      continue;
    }
    const int axis = normalize_axis(out_axes[k], scanned[k][0].rank() + 1, ctx.op());
    ctx.set_output(n + k, stack(ctx, scanned[k], axis));
  }
}

// ---- Scan, opset 8: a leading batch axis, optional sequence_lens, scan axis 1 ----

// One batch entry: returns final states and the per-step scan outputs (zero past `len`).
void scan8_batch(const KernelContext& ctx, const Graph& body, std::vector<Tensor> states,
                 const std::vector<Tensor>& scans, const std::vector<int64_t>& dirs, int64_t len,
                 int64_t length, std::vector<Tensor>& final_states, std::vector<Tensor>& scan_out) {
  const size_t n = states.size(), k_out = body.outputs().size() - n;
  std::vector<std::vector<Tensor>> steps(k_out);
  for (int64_t t = 0; t < len; ++t) {
    std::vector<Tensor> in = states;
    for (size_t j = 0; j < scans.size(); ++j)
      in.push_back(take_slice(scans[j], 0, dirs[j] ? len - 1 - t : t));
    std::vector<Tensor> outs = run_body(ctx, body, in, n + k_out);
    for (size_t i = 0; i < n; ++i) states[i] = std::move(outs[i]);
    for (size_t k = 0; k < k_out; ++k) steps[k].push_back(std::move(outs[n + k]));
  }
  final_states = std::move(states);
  scan_out.clear();
  for (size_t k = 0; k < k_out; ++k) {
    if (steps[k].empty()) {
      scan_out.push_back(Tensor());
      continue;
    }
    // Pad the steps past this entry's length with zeros of the same shape.
    const Tensor zero(steps[k][0].dtype(), steps[k][0].shape());
    while (static_cast<int64_t>(steps[k].size()) < length) steps[k].push_back(zero);
    scan_out.push_back(stack(ctx, steps[k], 0));
  }
}

void scan8_op(KernelContext& ctx) {
  const Graph& body = body_attr(ctx, "body");
  const size_t m = static_cast<size_t>(ctx.attr_int("num_scan_inputs", 0));
  if (m == 0 || m + 1 > ctx.num_inputs())
    fail(ErrorKind::InvalidModel, "{}: num_scan_inputs {} with {} inputs", ctx.op().describe(), m,
         ctx.num_inputs());
  const size_t n = ctx.num_inputs() - 1 - m;
  if (body.outputs().size() < n)
    fail(ErrorKind::InvalidModel, "{}: body has fewer outputs than states", ctx.op().describe());
  const size_t k_out = body.outputs().size() - n;
  const std::vector<int64_t> dirs = attr_list(ctx, "directions", m);
  const Tensor& first_scan = ctx.input(1 + n);
  if (first_scan.rank() < 2)
    fail(ErrorKind::Shape, "{}: scan input must be [batch, sequence, ...]", ctx.op().describe());
  const int64_t batch = first_scan.dim(0), length = first_scan.dim(1);
  std::vector<int64_t> lens(static_cast<size_t>(batch), length);
  if (const Tensor* sl = ctx.optional_input(0))
    lens = read_int_list(*sl, ctx.op(), "sequence_lens");
  if (static_cast<int64_t>(lens.size()) != batch)
    fail(ErrorKind::Shape, "{}: sequence_lens has {} entries for batch {}", ctx.op().describe(),
         lens.size(), batch);
  std::vector<std::vector<Tensor>> states_b(n), scans_b(k_out);
  for (int64_t b = 0; b < batch; ++b) {
    if (lens[b] < 0 || lens[b] > length)
      fail(ErrorKind::InvalidModel, "{}: sequence length {} outside [0, {}]", ctx.op().describe(),
           lens[b], length);
    std::vector<Tensor> states, scans, final_states, scan_out;
    for (size_t i = 0; i < n; ++i) states.push_back(take_slice(ctx.input(1 + i), 0, b));
    for (size_t j = 0; j < m; ++j) {
      const Tensor& t = ctx.input(1 + n + j);
      if (t.rank() < 2 || t.dim(0) != batch || t.dim(1) != length)
        fail(ErrorKind::Shape, "{}: scan input {} has shape {}, expected [{}, {}, ...]",
             ctx.op().describe(), j, shape_to_string(t.shape()), batch, length);
      scans.push_back(take_slice(t, 0, b));
    }
    scan8_batch(ctx, body, states, scans, dirs, lens[b], length, final_states, scan_out);
    for (size_t i = 0; i < n; ++i) states_b[i].push_back(final_states[i]);
    for (size_t k = 0; k < k_out; ++k) scans_b[k].push_back(scan_out[k]);
  }
  for (size_t i = 0; i < n && i < ctx.num_outputs(); ++i)
    ctx.set_output(i, batch ? stack(ctx, states_b[i], 0) : Tensor(DataType::Float, {0}));
  for (size_t k = 0; k < k_out && n + k < ctx.num_outputs(); ++k) {
    std::vector<Tensor>& parts = scans_b[k];
    const Tensor* shaped = nullptr;  // an entry that ran, for the shape of empty ones
    for (const Tensor& p : parts)
      if (p.defined()) shaped = &p;
    if (!shaped) {
      ctx.set_output(n + k, empty_stack(body, n + k, 0));
      continue;
    }
    const Tensor zero(shaped->dtype(), shaped->shape());
    for (Tensor& p : parts)
      if (!p.defined()) p = zero;
    ctx.set_output(n + k, stack(ctx, parts, 0));
  }
}

}  // namespace

void register_control_flow_kernels(KernelRegistry& registry) {
  registry.add("", "If", 1, kLatestOpset, if_op);
  registry.add("", "Loop", 1, kLatestOpset, loop_op);
  registry.add("", "Scan", 8, 8, scan8_op);
  registry.add("", "Scan", 9, kLatestOpset, scan9_op);
}

}  // namespace qforge::kernels
