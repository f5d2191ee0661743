// SPDX-License-Identifier: Apache-2.0
// Kernel family: rnn (RNN, GRU, LSTM: forward/reverse/bidirectional, layout 0/1,
// sequence_lens, initial states, peepholes, activations with alpha/beta, clip, input_forget,
// linear_before_reset). Registered in register_rnn_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_rnn.cpp.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

namespace {

// ---- activations ----

enum class ActKind {
  Relu,
  Tanh,
  Sigmoid,
  Affine,
  LeakyRelu,
  ThresholdedRelu,
  ScaledTanh,
  HardSigmoid,
  Elu,
  Softsign,
  Softplus
};

struct Activation {
  ActKind kind = ActKind::Tanh;
  float alpha = 0.0f, beta = 0.0f;

  template <typename T>
  T operator()(T x) const {
    switch (kind) {
      case ActKind::Relu:
        return x > T(0) ? x : T(0);
      case ActKind::Tanh:
        return std::tanh(x);
      case ActKind::Sigmoid:
        return T(1) / (T(1) + std::exp(-x));
      case ActKind::Affine:
        return T(alpha) * x + T(beta);
      case ActKind::LeakyRelu:
        return x >= T(0) ? x : T(alpha) * x;
      case ActKind::ThresholdedRelu:
        return x > T(alpha) ? x : T(0);
      case ActKind::ScaledTanh:
        return T(alpha) * std::tanh(T(beta) * x);
      case ActKind::HardSigmoid:
        return std::clamp(T(alpha) * x + T(beta), T(0), T(1));
      case ActKind::Elu:
        return x >= T(0) ? x : T(alpha) * (std::exp(x) - T(1));
      case ActKind::Softsign:
        return x / (T(1) + std::abs(x));
      case ActKind::Softplus:
        return x > T(20) ? x : std::log1p(std::exp(x));
    }
    return x;
  }
};

struct ActSpec {
  const char* name;
  ActKind kind;
  int params;  // how many of alpha, beta it takes from the attribute lists
  float alpha, beta;
};
constexpr ActSpec kActivations[] = {
    {"relu", ActKind::Relu, 0, 0, 0},
    {"tanh", ActKind::Tanh, 0, 0, 0},
    {"sigmoid", ActKind::Sigmoid, 0, 0, 0},
    {"affine", ActKind::Affine, 2, 1.0f, 0.0f},
    {"leakyrelu", ActKind::LeakyRelu, 1, 0.01f, 0},
    {"thresholdedrelu", ActKind::ThresholdedRelu, 1, 1.0f, 0},
    {"scaledtanh", ActKind::ScaledTanh, 2, 1.0f, 1.0f},
    {"hardsigmoid", ActKind::HardSigmoid, 2, 0.2f, 0.5f},
    {"elu", ActKind::Elu, 1, 1.0f, 0},
    {"softsign", ActKind::Softsign, 0, 0, 0},
    {"softplus", ActKind::Softplus, 0, 0, 0},
};

// `activations` names (case-insensitive) for all directions. activation_alpha/beta are
// consumed in order by the functions that take parameters, as ONNX Runtime reads them; a
// list for one direction is reused for the other.
std::vector<Activation> parse_activations(const KernelContext& ctx, int per_direction, int dirs,
                                          const std::vector<std::string>& defaults) {
  const Attribute* attr = ctx.op().find_attr("activations");
  std::vector<std::string> names = attr ? attr->strings : std::vector<std::string>{};
  if (names.empty())
    for (int d = 0; d < dirs; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  else if (static_cast<int>(names.size()) == per_direction && dirs == 2) {
    const std::vector<std::string> one = names;
    names.insert(names.end(), one.begin(), one.end());
  }
  if (static_cast<int>(names.size()) != per_direction * dirs)
    fail(ErrorKind::InvalidModel, "{}: expected {} activations, got {}", ctx.op().describe(),
         per_direction * dirs, names.size());
  const std::vector<float> alphas = ctx.attr_floats("activation_alpha");
  const std::vector<float> betas = ctx.attr_floats("activation_beta");
  size_t next_alpha = 0, next_beta = 0;
  std::vector<Activation> out;
  for (std::string name : names) {
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const ActSpec* spec = nullptr;
    for (const ActSpec& s : kActivations)
      if (name == s.name) spec = &s;
    if (!spec)
      fail(ErrorKind::UnsupportedOp, "{}: unknown activation '{}'", ctx.op().describe(), name);
    Activation act{spec->kind, spec->alpha, spec->beta};
    if (spec->params >= 1 && next_alpha < alphas.size()) act.alpha = alphas[next_alpha++];
    if (spec->params >= 2 && next_beta < betas.size()) act.beta = betas[next_beta++];
    out.push_back(act);
  }
  return out;
}

// ---- inputs, shared by the three ops ----

// Everything in the ONNX default layout (layout 0), converted to the compute type T.
template <typename T>
struct RnnProblem {
  int64_t seq = 0, batch = 0, input = 0, hidden = 0, dirs = 1, gates = 1;
  std::vector<T> x;       // [seq, batch, input]
  std::vector<T> wt, rt;  // transposed: [dirs, input, gates*hidden], [dirs, hidden, gates*hidden]
  std::vector<T> wb, rb;  // [dirs, gates*hidden] (zeros when B is absent)
  std::vector<T> h0, c0;  // [dirs, batch, hidden]
  std::vector<T> p;       // [dirs, 3*hidden] (LSTM peepholes; zeros when absent)
  std::vector<int64_t> lens;
  std::vector<bool> reverse;  // per direction
  T clip = T(0);              // <= 0: no clipping
  int layout = 0;
  int threads = 1;
  T clamp(T v) const { return clip > T(0) ? std::clamp(v, -clip, clip) : v; }
};

template <typename T>
std::vector<T> values_as(const Tensor& t) {
  const Tensor c = t.dtype() == dtype_of<T>() ? t : t.cast(dtype_of<T>());
  return std::vector<T>(c.data<T>(), c.data<T>() + c.numel());
}

void expect_shape(const KernelContext& ctx, const Tensor& t, const Shape& shape, const char* what) {
  if (t.shape() != shape)
    fail(ErrorKind::Shape, "{}: {} has shape {}, expected {}", ctx.op().describe(), what,
         shape_to_string(t.shape()), shape_to_string(shape));
}

// [a, b, rest] <-> [b, a, rest] (layout 1 <-> layout 0).
template <typename T>
std::vector<T> swap01(const std::vector<T>& in, int64_t a, int64_t b, int64_t rest) {
  std::vector<T> out(in.size());
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j)
      std::copy_n(in.begin() + (i * b + j) * rest, rest, out.begin() + (j * a + i) * rest);
  return out;
}

// [dirs, rows, cols] -> [dirs, cols, rows]
template <typename T>
std::vector<T> transpose_last2(const std::vector<T>& in, int64_t dirs, int64_t rows, int64_t cols) {
  std::vector<T> out(in.size());
  for (int64_t d = 0; d < dirs; ++d)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        out[(d * cols + c) * rows + r] = in[(d * rows + r) * cols + c];
  return out;
}

template <typename T>
RnnProblem<T> read_problem(const KernelContext& ctx, int64_t gates) {
  RnnProblem<T> pb;
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor& r = ctx.input(2);
  const std::string direction = ctx.attr_string("direction", "forward");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
    fail(ErrorKind::InvalidModel, "{}: unknown direction '{}'", ctx.op().describe(), direction);
  pb.dirs = direction == "bidirectional" ? 2 : 1;
  pb.reverse = {direction == "reverse"};
  if (pb.dirs == 2) pb.reverse = {false, true};
  pb.layout = static_cast<int>(ctx.attr_int("layout", 0));
  pb.gates = gates;
  if (x.rank() != 3 || w.rank() != 3)
    fail(ErrorKind::Shape, "{}: X and W must be 3-D, got {} and {}", ctx.op().describe(),
         shape_to_string(x.shape()), shape_to_string(w.shape()));
  pb.seq = pb.layout == 0 ? x.dim(0) : x.dim(1);
  pb.batch = pb.layout == 0 ? x.dim(1) : x.dim(0);
  pb.input = x.dim(2);
  pb.hidden = ctx.attr_int("hidden_size", w.dim(1) / gates);
  const int64_t gh = gates * pb.hidden;
  expect_shape(ctx, w, {pb.dirs, gh, pb.input}, "W");
  expect_shape(ctx, r, {pb.dirs, gh, pb.hidden}, "R");
  pb.x = values_as<T>(x);
  if (pb.layout != 0) pb.x = swap01(pb.x, pb.batch, pb.seq, pb.input);
  pb.wt = transpose_last2(values_as<T>(w), pb.dirs, gh, pb.input);
  pb.rt = transpose_last2(values_as<T>(r), pb.dirs, gh, pb.hidden);
  pb.wb.assign(static_cast<size_t>(pb.dirs * gh), T(0));
  pb.rb = pb.wb;
  if (const Tensor* b = ctx.optional_input(3)) {
    expect_shape(ctx, *b, {pb.dirs, 2 * gh}, "B");
    const std::vector<T> bv = values_as<T>(*b);
    for (int64_t d = 0; d < pb.dirs; ++d) {
      std::copy_n(bv.begin() + d * 2 * gh, gh, pb.wb.begin() + d * gh);
      std::copy_n(bv.begin() + d * 2 * gh + gh, gh, pb.rb.begin() + d * gh);
    }
  }
  pb.lens.assign(static_cast<size_t>(pb.batch), pb.seq);
  if (const Tensor* lens = ctx.optional_input(4)) {
    pb.lens = read_int_list(*lens, ctx.op(), "sequence_lens");
    if (static_cast<int64_t>(pb.lens.size()) != pb.batch)
      fail(ErrorKind::Shape, "{}: sequence_lens has {} values for batch {}", ctx.op().describe(),
           pb.lens.size(), pb.batch);
    for (int64_t len : pb.lens)
      if (len < 0 || len > pb.seq)
        fail(ErrorKind::InvalidModel, "{}: sequence length {} outside [0, {}]", ctx.op().describe(),
             len, pb.seq);
  }
  const Shape state_shape =
      pb.layout == 0 ? Shape{pb.dirs, pb.batch, pb.hidden} : Shape{pb.batch, pb.dirs, pb.hidden};
  auto read_state = [&](size_t index, const char* what) {
    const Tensor* t = ctx.optional_input(index);
    if (!t) return std::vector<T>(static_cast<size_t>(pb.dirs * pb.batch * pb.hidden), T(0));
    expect_shape(ctx, *t, state_shape, what);
    std::vector<T> v = values_as<T>(*t);
    return pb.layout == 0 ? v : swap01(v, pb.batch, pb.dirs, pb.hidden);
  };
  pb.h0 = read_state(5, "initial_h");
  if (gates == 4) {
    pb.c0 = read_state(6, "initial_c");
    pb.p.assign(static_cast<size_t>(pb.dirs * 3 * pb.hidden), T(0));
    if (const Tensor* p = ctx.optional_input(7)) {
      expect_shape(ctx, *p, {pb.dirs, 3 * pb.hidden}, "P");
      pb.p = values_as<T>(*p);
    }
  }
  pb.clip = static_cast<T>(ctx.attr_float("clip", 0.0f));
  pb.threads = ctx.num_threads();
  return pb;
}

// ---- the recurrence ----

// c[m, n] += a[m, k] . bt[k, n], bt rows `ldb` apart. The inner loop is an axpy over n, which
// vectorizes without reassociating sums; W and R are transposed once per call for it.
template <typename T>
void gemm_acc(const T* a, int64_t m, int64_t k, const T* bt, int64_t ldb, int64_t n, T* c) {
  for (int64_t i = 0; i < m; ++i) {
    T* cr = c + i * n;
    for (int64_t q = 0; q < k; ++q) {
      const T aq = a[i * k + q];
      const T* br = bt + q * ldb;
      for (int64_t j = 0; j < n; ++j) cr[j] += aq * br[j];
    }
  }
}

template <typename T>
struct RnnOutputs {
  std::vector<T> y;   // [seq, dirs, batch, hidden]
  std::vector<T> yh;  // [dirs, batch, hidden]
  std::vector<T> yc;  // LSTM only
};

// Runs one direction. `cell(d, xw_row, h, c, scratch)` advances one batch entry by one step in
// place; xw_row holds X_t . W^T plus the biases the cell folded in (`fold`, [gates*hidden]).
template <typename T, typename Cell>
void run_direction(const RnnProblem<T>& pb, int64_t d, const std::vector<T>& fold, Cell&& cell,
                   RnnOutputs<T>& out) {
  const int64_t gh = pb.gates * pb.hidden, H = pb.hidden, B = pb.batch;
  std::vector<T> xw(static_cast<size_t>(pb.seq * B * gh));
  for (int64_t row = 0; row < pb.seq * B; ++row)
    std::copy(fold.begin(), fold.end(), xw.begin() + row * gh);
  const T* wt = pb.wt.data() + d * pb.input * gh;
  parallel_for(pb.threads, pb.seq * B, 4, [&](int64_t begin, int64_t end) {
    gemm_acc(pb.x.data() + begin * pb.input, end - begin, pb.input, wt, gh, gh,
             xw.data() + begin * gh);
  });
  std::vector<T> h(pb.h0.begin() + d * B * H, pb.h0.begin() + (d + 1) * B * H);
  std::vector<T> c =
      pb.c0.empty() ? std::vector<T>{}
                    : std::vector<T>(pb.c0.begin() + d * B * H, pb.c0.begin() + (d + 1) * B * H);
  parallel_for(pb.threads, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<T> scratch(static_cast<size_t>(2 * gh + H));
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t len = pb.lens[b];
      for (int64_t s = 0; s < len; ++s) {
        const int64_t t = pb.reverse[d] ? len - 1 - s : s;
        cell(d, xw.data() + (t * B + b) * gh, h.data() + b * H,
             c.empty() ? nullptr : c.data() + b * H, scratch.data());
        std::copy_n(h.begin() + b * H, H, out.y.begin() + ((t * pb.dirs + d) * B + b) * H);
      }
    }
  });
  std::copy(h.begin(), h.end(), out.yh.begin() + d * B * H);
  if (!c.empty()) std::copy(c.begin(), c.end(), out.yc.begin() + d * B * H);
}

// Writes Y, Y_h (and Y_c) in the op's layout and dtype, for the outputs the graph uses.
template <typename T>
void write_outputs(KernelContext& ctx, const RnnProblem<T>& pb, RnnOutputs<T>& out,
                   DataType dtype) {
  const int64_t S = pb.seq, D = pb.dirs, B = pb.batch, H = pb.hidden;
  auto emit = [&](size_t index, std::vector<T>& v, Shape shape) {
    if (index >= ctx.num_outputs() || !ctx.output_wanted(index)) return;
    Tensor t = Tensor::from_vector<T>(std::move(shape), v);
    ctx.set_output(index, t.dtype() == dtype ? t : t.cast(dtype));
  };
  if (pb.layout == 0) {
    emit(0, out.y, {S, D, B, H});
    emit(1, out.yh, {D, B, H});
    if (pb.gates == 4) emit(2, out.yc, {D, B, H});
    return;
  }
  std::vector<T> y = swap01(out.y, S * D, B, H);  // [B, S*D, H] == [B, S, D, H]
  emit(0, y, {B, S, D, H});
  std::vector<T> yh = swap01(out.yh, D, B, H);
  emit(1, yh, {B, D, H});
  if (pb.gates == 4) {
    std::vector<T> yc = swap01(out.yc, D, B, H);
    emit(2, yc, {B, D, H});
  }
}

template <typename T>
RnnOutputs<T> make_outputs(const RnnProblem<T>& pb) {
  RnnOutputs<T> out;
  out.y.assign(static_cast<size_t>(pb.seq * pb.dirs * pb.batch * pb.hidden), T(0));
  out.yh.assign(static_cast<size_t>(pb.dirs * pb.batch * pb.hidden), T(0));
  if (pb.gates == 4) out.yc = out.yh;
  return out;
}

// h . R^T for gates [g0, g1) of direction d, added to `acc` (gate-major, hidden wide).
template <typename T>
void add_recurrence(const RnnProblem<T>& pb, int64_t d, int64_t g0, int64_t g1, const T* h,
                    T* acc) {
  const int64_t H = pb.hidden;
  const int64_t gh = pb.gates * H;
  gemm_acc(h, 1, H, pb.rt.data() + d * H * gh + g0 * H, gh, (g1 - g0) * H, acc);
}

// ---- RNN: H = f(X.Wi^T + H.Ri^T + Wbi + Rbi) ----
template <typename T>
void rnn_compute(KernelContext& ctx, DataType dtype) {
  RnnProblem<T> pb = read_problem<T>(ctx, 1);
  const std::vector<Activation> acts =
      parse_activations(ctx, 1, static_cast<int>(pb.dirs), {"Tanh"});
  RnnOutputs<T> out = make_outputs(pb);
  const int64_t H = pb.hidden;
  for (int64_t d = 0; d < pb.dirs; ++d) {
    std::vector<T> fold(static_cast<size_t>(H));
    for (int64_t j = 0; j < H; ++j) fold[j] = pb.wb[d * H + j] + pb.rb[d * H + j];
    const Activation f = acts[d];
    run_direction(
        pb, d, fold,
        [&](int64_t dd, const T* xw, T* h, T*, T* g) {
          std::copy_n(xw, H, g);
          add_recurrence(pb, dd, 0, 1, h, g);
          for (int64_t j = 0; j < H; ++j) h[j] = f(pb.clamp(g[j]));
        },
        out);
  }
  write_outputs(ctx, pb, out, dtype);
}

// ---- GRU (gates z, r, h) ----
template <typename T>
void gru_compute(KernelContext& ctx, DataType dtype) {
  RnnProblem<T> pb = read_problem<T>(ctx, 3);
  const std::vector<Activation> acts =
      parse_activations(ctx, 2, static_cast<int>(pb.dirs), {"Sigmoid", "Tanh"});
  const bool linear_before_reset = ctx.attr_int("linear_before_reset", 0) != 0;
  RnnOutputs<T> out = make_outputs(pb);
  const int64_t H = pb.hidden;
  for (int64_t d = 0; d < pb.dirs; ++d) {
    const T* wb = pb.wb.data() + d * 3 * H;
    const T* rb = pb.rb.data() + d * 3 * H;
    // Rbh stays outside the fold when it is applied before the reset gate.
    std::vector<T> fold(static_cast<size_t>(3 * H));
    for (int64_t j = 0; j < 3 * H; ++j)
      fold[j] = wb[j] + (j >= 2 * H && linear_before_reset ? T(0) : rb[j]);
    const Activation f = acts[d * 2], g_act = acts[d * 2 + 1];
    run_direction(
        pb, d, fold,
        [&](int64_t dd, const T* xw, T* h, T*, T* g) {
          T* rh = g + 3 * H;  // H.Rh^T (+ Rbh) or (r * H).Rh^T
          std::copy_n(xw, 3 * H, g);
          add_recurrence(pb, dd, 0, 2, h, g);
          for (int64_t j = 0; j < 2 * H; ++j) g[j] = f(pb.clamp(g[j]));  // z, r
          std::fill_n(rh, H, T(0));
          if (linear_before_reset) {
            add_recurrence(pb, dd, 2, 3, h, rh);
            for (int64_t j = 0; j < H; ++j) g[2 * H + j] += g[H + j] * (rh[j] + rb[2 * H + j]);
          } else {
            T* gated = rh + H;  // scratch holds 2*gates*H + H: room for r * H
            for (int64_t j = 0; j < H; ++j) gated[j] = g[H + j] * h[j];
            add_recurrence(pb, dd, 2, 3, gated, rh);
            for (int64_t j = 0; j < H; ++j) g[2 * H + j] += rh[j];
          }
          for (int64_t j = 0; j < H; ++j) {
            const T candidate = g_act(pb.clamp(g[2 * H + j]));
            h[j] = (T(1) - g[j]) * candidate + g[j] * h[j];
          }
        },
        out);
  }
  write_outputs(ctx, pb, out, dtype);
}

// ---- LSTM (gates i, o, f, c; peepholes i, o, f) ----
template <typename T>
void lstm_compute(KernelContext& ctx, DataType dtype) {
  RnnProblem<T> pb = read_problem<T>(ctx, 4);
  const std::vector<Activation> acts =
      parse_activations(ctx, 3, static_cast<int>(pb.dirs), {"Sigmoid", "Tanh", "Tanh"});
  const bool input_forget = ctx.attr_int("input_forget", 0) != 0;
  RnnOutputs<T> out = make_outputs(pb);
  const int64_t H = pb.hidden;
  for (int64_t d = 0; d < pb.dirs; ++d) {
    std::vector<T> fold(static_cast<size_t>(4 * H));
    for (int64_t j = 0; j < 4 * H; ++j) fold[j] = pb.wb[d * 4 * H + j] + pb.rb[d * 4 * H + j];
    const T* pi = pb.p.data() + d * 3 * H;
    const T* po = pi + H;
    const T* pf = pi + 2 * H;
    const Activation f = acts[d * 3], g_act = acts[d * 3 + 1], h_act = acts[d * 3 + 2];
    run_direction(
        pb, d, fold,
        [&](int64_t dd, const T* xw, T* h, T* c, T* g) {
          std::copy_n(xw, 4 * H, g);
          add_recurrence(pb, dd, 0, 4, h, g);
          for (int64_t j = 0; j < H; ++j) {
            const T i = f(pb.clamp(g[j] + pi[j] * c[j]));
            const T forget = input_forget ? T(1) - i : f(pb.clamp(g[2 * H + j] + pf[j] * c[j]));
            const T cand = g_act(pb.clamp(g[3 * H + j]));
            c[j] = forget * c[j] + i * cand;
            const T o = f(pb.clamp(g[H + j] + po[j] * c[j]));
            h[j] = o * h_act(c[j]);
          }
        },
        out);
  }
  write_outputs(ctx, pb, out, dtype);
}

// float and double compute natively; 16-bit floats compute in float.
template <void (*F32)(KernelContext&, DataType), void (*F64)(KernelContext&, DataType)>
void dispatch(KernelContext& ctx) {
  const DataType dtype = ctx.input(0).dtype();
  visit_float_dtype(dtype, ctx.op(), [&](auto tag) {
    if constexpr (std::is_same_v<decltype(tag), double>)
      F64(ctx, dtype);
    else
      F32(ctx, dtype);
  });
}

void rnn(KernelContext& ctx) {
  dispatch<rnn_compute<float>, rnn_compute<double>>(ctx);
}
void gru(KernelContext& ctx) {
  dispatch<gru_compute<float>, gru_compute<double>>(ctx);
}
void lstm(KernelContext& ctx) {
  dispatch<lstm_compute<float>, lstm_compute<double>>(ctx);
}

}  // namespace

void register_rnn_kernels(KernelRegistry& registry) {
  registry.add("", "RNN", 1, kLatestOpset, rnn);
  registry.add("", "GRU", 1, kLatestOpset, gru);
  registry.add("", "LSTM", 1, kLatestOpset, lstm);
}

}  // namespace qforge::kernels
