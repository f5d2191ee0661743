// SPDX-License-Identifier: Apache-2.0
// RNN, GRU and LSTM kernels (src/runtime/kernels/rnn.cpp) against a naive step-by-step
// reference written from the ONNX equations: directions, sequence_lens, initial states,
// peepholes, clip, input_forget, linear_before_reset, activations with alpha/beta, layout 1,
// double; and, when onnxruntime-node is installed, against ONNX Runtime.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>

#include "qforge/onnx_io.h"
#include "qforge/tensor_io.h"
#include "support/kernel_test_util.h"
#include "support/test_support.h"

namespace qforge {
namespace {

enum class Kind { Rnn, Gru, Lstm };
int gates_of(Kind k) {
  return k == Kind::Rnn ? 1 : k == Kind::Gru ? 3 : 4;
}
const char* op_name(Kind k) {
  return k == Kind::Rnn ? "RNN" : k == Kind::Gru ? "GRU" : "LSTM";
}

struct Config {
  Kind kind = Kind::Lstm;
  int64_t seq = 4, batch = 3, input = 5, hidden = 4;
  std::string direction = "forward";
  bool bias = true, peephole = false, initial = false;
  std::vector<int32_t> lens;  // empty: full length
  float clip = 0.0f;
  bool input_forget = false, linear_before_reset = false;
  std::vector<std::string> activations;
  std::vector<float> alphas, betas;
  int64_t layout = 0;
  uint32_t seed = 1;
};

int64_t dirs_of(const Config& c) {
  return c.direction == "bidirectional" ? 2 : 1;
}

struct Inputs {
  Tensor x, w, r, b, lens, h0, c0, p;  // x/h0/c0 in layout 0
};

Inputs make_inputs(const Config& c) {
  const int64_t D = dirs_of(c), G = gates_of(c.kind);
  Inputs in;
  in.x = testing::random_tensor(DataType::Float, {c.seq, c.batch, c.input}, c.seed, -1, 1);
  in.w =
      testing::random_tensor(DataType::Float, {D, G * c.hidden, c.input}, c.seed + 1, -0.7f, 0.7f);
  in.r =
      testing::random_tensor(DataType::Float, {D, G * c.hidden, c.hidden}, c.seed + 2, -0.7f, 0.7f);
  in.b = testing::random_tensor(DataType::Float, {D, 2 * G * c.hidden}, c.seed + 3, -0.5f, 0.5f);
  in.h0 = testing::random_tensor(DataType::Float, {D, c.batch, c.hidden}, c.seed + 4, -0.5f, 0.5f);
  in.c0 = testing::random_tensor(DataType::Float, {D, c.batch, c.hidden}, c.seed + 5, -0.5f, 0.5f);
  in.p = testing::random_tensor(DataType::Float, {D, 3 * c.hidden}, c.seed + 6, -0.5f, 0.5f);
  if (!c.lens.empty()) in.lens = Tensor::from_vector<int32_t>({c.batch}, c.lens);
  return in;
}

// ---- the naive reference ----

std::function<double(double)> ref_activation(const std::string& name, double alpha, double beta) {
  if (name == "Sigmoid") return [](double x) { return 1 / (1 + std::exp(-x)); };
  if (name == "Tanh") return [](double x) { return std::tanh(x); };
  if (name == "Relu") return [](double x) { return std::max(x, 0.0); };
  if (name == "LeakyRelu") return [alpha](double x) { return x >= 0 ? x : alpha * x; };
  if (name == "HardSigmoid")
    return [alpha, beta](double x) { return std::min(1.0, std::max(0.0, alpha * x + beta)); };
  if (name == "ScaledTanh") return [alpha, beta](double x) { return alpha * std::tanh(beta * x); };
  if (name == "Affine") return [alpha, beta](double x) { return alpha * x + beta; };
  if (name == "Elu") return [alpha](double x) { return x >= 0 ? x : alpha * (std::exp(x) - 1); };
  if (name == "Softsign") return [](double x) { return x / (1 + std::abs(x)); };
  if (name == "Softplus") return [](double x) { return std::log(1 + std::exp(x)); };
  ADD_FAILURE() << "no reference for " << name;
  return [](double x) { return x; };
}

struct RefOut {
  std::vector<double> y, yh, yc;  // layout 0
};

RefOut reference(const Config& c, const Inputs& in) {
  const int64_t D = dirs_of(c), G = gates_of(c.kind), H = c.hidden, B = c.batch, S = c.seq;
  const int per_dir = c.kind == Kind::Rnn ? 1 : c.kind == Kind::Gru ? 2 : 3;
  std::vector<std::string> names = c.activations;
  if (names.empty())
    names = c.kind == Kind::Rnn   ? std::vector<std::string>{"Tanh"}
            : c.kind == Kind::Gru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                  : std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"};
  if (static_cast<int64_t>(names.size()) == per_dir && D == 2) {
    const std::vector<std::string> one = names;
    names.insert(names.end(), one.begin(), one.end());
  }
  // Parameters are handed out in order to the functions that take them.
  std::vector<std::function<double(double)>> act;
  size_t ai = 0, bi = 0;
  for (const std::string& n : names) {
    const bool one = n == "LeakyRelu" || n == "Elu",
               two = n == "HardSigmoid" || n == "ScaledTanh" || n == "Affine";
    double alpha = n == "LeakyRelu" ? 0.01 : n == "HardSigmoid" ? 0.2 : 1.0;
    double beta = n == "HardSigmoid" ? 0.5 : n == "Affine" ? 0.0 : 1.0;
    if ((one || two) && ai < c.alphas.size()) alpha = c.alphas[ai++];
    if (two && bi < c.betas.size()) beta = c.betas[bi++];
    act.push_back(ref_activation(n, alpha, beta));
  }
  auto X = [&](int64_t t, int64_t b, int64_t k) {
    return double(in.x.data<float>()[(t * B + b) * c.input + k]);
  };
  auto W = [&](int64_t d, int64_t row, int64_t k) {
    return double(in.w.data<float>()[(d * G * H + row) * c.input + k]);
  };
  auto R = [&](int64_t d, int64_t row, int64_t k) {
    return double(in.r.data<float>()[(d * G * H + row) * H + k]);
  };
  auto Wb = [&](int64_t d, int64_t row) {
    return c.bias ? double(in.b.data<float>()[d * 2 * G * H + row]) : 0.0;
  };
  auto Rb = [&](int64_t d, int64_t row) {
    return c.bias ? double(in.b.data<float>()[d * 2 * G * H + G * H + row]) : 0.0;
  };
  auto P = [&](int64_t d, int64_t row) {
    return c.peephole ? double(in.p.data<float>()[d * 3 * H + row]) : 0.0;
  };
  auto clip = [&](double v) {
    return c.clip > 0 ? std::min<double>(c.clip, std::max<double>(-c.clip, v)) : v;
  };
  RefOut out;
  out.y.assign(S * D * B * H, 0.0);
  out.yh.assign(D * B * H, 0.0);
  out.yc.assign(D * B * H, 0.0);
  for (int64_t d = 0; d < D; ++d) {
    const bool reverse = c.direction == "reverse" || d == 1;
    const auto& f = act[d * per_dir];
    for (int64_t b = 0; b < B; ++b) {
      std::vector<double> h(H), cell(H);
      for (int64_t j = 0; j < H; ++j) {
        h[j] = c.initial ? in.h0.data<float>()[(d * B + b) * H + j] : 0.0;
        cell[j] = c.initial ? in.c0.data<float>()[(d * B + b) * H + j] : 0.0;
      }
      const int64_t len = c.lens.empty() ? S : c.lens[b];
      for (int64_t s = 0; s < len; ++s) {
        const int64_t t = reverse ? len - 1 - s : s;
        // pre[gate][j] = X.W^T + Wb (and H.R^T + Rb where the equations allow it)
        auto xw = [&](int64_t gate, int64_t j) {
          double v = Wb(d, gate * H + j);
          for (int64_t k = 0; k < c.input; ++k) v += X(t, b, k) * W(d, gate * H + j, k);
          return v;
        };
        auto hr = [&](int64_t gate, int64_t j, const std::vector<double>& hv) {
          double v = 0;
          for (int64_t k = 0; k < H; ++k) v += hv[k] * R(d, gate * H + j, k);
          return v;
        };
        std::vector<double> nh(H), nc(H);
        if (c.kind == Kind::Rnn) {
          for (int64_t j = 0; j < H; ++j) nh[j] = f(clip(xw(0, j) + hr(0, j, h) + Rb(d, j)));
        } else if (c.kind == Kind::Gru) {
          const auto& g = act[d * per_dir + 1];
          std::vector<double> z(H), r(H), rh(H);
          for (int64_t j = 0; j < H; ++j) {
            z[j] = f(clip(xw(0, j) + hr(0, j, h) + Rb(d, j)));
            r[j] = f(clip(xw(1, j) + hr(1, j, h) + Rb(d, H + j)));
            rh[j] = r[j] * h[j];
          }
          for (int64_t j = 0; j < H; ++j) {
            const double pre = c.linear_before_reset
                                   ? xw(2, j) + r[j] * (hr(2, j, h) + Rb(d, 2 * H + j))
                                   : xw(2, j) + hr(2, j, rh) + Rb(d, 2 * H + j);
            nh[j] = (1 - z[j]) * g(clip(pre)) + z[j] * h[j];
          }
        } else {
          const auto& g = act[d * per_dir + 1];
          const auto& hf = act[d * per_dir + 2];
          for (int64_t j = 0; j < H; ++j) {
            auto pre = [&](int64_t gate) {
              return xw(gate, j) + hr(gate, j, h) + Rb(d, gate * H + j);
            };
            const double i = f(clip(pre(0) + P(d, j) * cell[j]));
            const double fg = c.input_forget ? 1 - i : f(clip(pre(2) + P(d, 2 * H + j) * cell[j]));
            nc[j] = fg * cell[j] + i * g(clip(pre(3)));
            const double o = f(clip(pre(1) + P(d, H + j) * nc[j]));
            nh[j] = o * hf(nc[j]);
          }
          cell = nc;
        }
        h = nh;
        for (int64_t j = 0; j < H; ++j) out.y[((t * D + d) * B + b) * H + j] = h[j];
      }
      for (int64_t j = 0; j < H; ++j) {
        out.yh[(d * B + b) * H + j] = h[j];
        out.yc[(d * B + b) * H + j] = cell[j];
      }
    }
  }
  return out;
}

// ---- running the kernel ----

std::vector<Attribute> attributes(const Config& c) {
  std::vector<Attribute> a{Attribute::make_int("hidden_size", c.hidden),
                           Attribute::make_string("direction", c.direction)};
  if (c.clip > 0) a.push_back(Attribute::make_float("clip", c.clip));
  if (c.input_forget) a.push_back(Attribute::make_int("input_forget", 1));
  if (c.linear_before_reset) a.push_back(Attribute::make_int("linear_before_reset", 1));
  if (!c.activations.empty()) {
    Attribute acts;
    acts.name = "activations";
    acts.type = AttributeType::Strings;
    acts.strings = c.activations;
    a.push_back(acts);
  }
  if (!c.alphas.empty()) a.push_back(Attribute::make_floats("activation_alpha", c.alphas));
  if (!c.betas.empty()) a.push_back(Attribute::make_floats("activation_beta", c.betas));
  if (c.layout) a.push_back(Attribute::make_int("layout", c.layout));
  return a;
}

// [a, b, rest] -> [b, a, rest]
Tensor swap01(const Tensor& t) {
  Shape s = t.shape();
  std::swap(s[0], s[1]);
  Tensor out(t.dtype(), s);
  const int64_t rest = t.numel() / (t.dim(0) * t.dim(1));
  const size_t es = dtype_size(t.dtype());
  for (int64_t i = 0; i < t.dim(0); ++i)
    for (int64_t j = 0; j < t.dim(1); ++j)
      std::memcpy(static_cast<char*>(out.raw()) + (j * t.dim(0) + i) * rest * es,
                  static_cast<const char*>(t.raw()) + (i * t.dim(1) + j) * rest * es, rest * es);
  return out;
}

std::vector<std::optional<Tensor>> op_inputs(const Config& c, const Inputs& in, DataType dtype) {
  auto cv = [&](const Tensor& t) { return std::optional<Tensor>(t.cast(dtype)); };
  std::vector<std::optional<Tensor>> v{cv(c.layout ? swap01(in.x) : in.x), cv(in.w), cv(in.r)};
  v.push_back(c.bias ? cv(in.b) : std::nullopt);
  v.push_back(c.lens.empty() ? std::nullopt : std::optional<Tensor>(in.lens));
  v.push_back(c.initial ? cv(c.layout ? swap01(in.h0) : in.h0) : std::nullopt);
  if (c.kind == Kind::Lstm) {
    v.push_back(c.initial ? cv(c.layout ? swap01(in.c0) : in.c0) : std::nullopt);
    v.push_back(c.peephole ? cv(in.p) : std::nullopt);
  }
  return v;
}

std::vector<Tensor> run_kernel(const Config& c, const Inputs& in, DataType dtype = DataType::Float,
                               int threads = 1) {
  testing::SingleOp spec;
  spec.threads = threads;
  spec.type = op_name(c.kind);
  spec.inputs = op_inputs(c, in, dtype);
  spec.attributes = attributes(c);
  spec.num_outputs = c.kind == Kind::Lstm ? 3 : 2;
  spec.opset = 14;
  return testing::run_single_op(spec);
}

void expect_close(const Tensor& actual, const std::vector<double>& expected, double tol,
                  const char* what) {
  ASSERT_EQ(actual.numel(), static_cast<int64_t>(expected.size())) << what;
  for (size_t i = 0; i < expected.size(); ++i)
    ASSERT_NEAR(actual.value_as_double(static_cast<int64_t>(i)), expected[i], tol)
        << what << " element " << i;
}

void check(const Config& c, DataType dtype = DataType::Float, double tol = 2e-5) {
  const Inputs in = make_inputs(c);
  const RefOut ref = reference(c, in);
  std::vector<Tensor> out = run_kernel(c, in, dtype);
  // Threads split the batch; results must not depend on them.
  const std::vector<Tensor> threaded = run_kernel(c, in, dtype, 3);
  for (size_t k = 0; k < out.size(); ++k) EXPECT_TRUE(out[k].equals(threaded[k])) << "output " << k;
  const int64_t D = dirs_of(c);
  ASSERT_EQ(out[0].dtype(), dtype);
  if (c.layout) {
    ASSERT_EQ(out[0].shape(), (Shape{c.batch, c.seq, D, c.hidden}));
    ASSERT_EQ(out[1].shape(), (Shape{c.batch, D, c.hidden}));
    out[0] = swap01(out[0].reshaped({c.batch, c.seq * D, c.hidden}))
                 .reshaped({c.seq, D, c.batch, c.hidden});
    for (size_t k = 1; k < out.size(); ++k) out[k] = swap01(out[k]);
  }
  ASSERT_EQ(out[0].shape(), (Shape{c.seq, D, c.batch, c.hidden}));
  ASSERT_EQ(out[1].shape(), (Shape{D, c.batch, c.hidden}));
  expect_close(out[0], ref.y, tol, "Y");
  expect_close(out[1], ref.yh, tol, "Y_h");
  if (c.kind == Kind::Lstm) expect_close(out[2], ref.yc, tol, "Y_c");
}

TEST(Lstm, ForwardReverseBidirectional) {
  for (const char* dir : {"forward", "reverse", "bidirectional"}) {
    Config c;
    c.direction = dir;
    SCOPED_TRACE(dir);
    check(c);
    c.initial = true;
    c.peephole = true;
    c.lens = {4, 1, 3};
    c.seed = 7;
    check(c);
  }
}

TEST(Lstm, ClipInputForgetAndActivations) {
  Config c;
  c.direction = "bidirectional";
  c.clip = 0.4f;
  c.input_forget = true;
  c.initial = true;
  c.peephole = true;
  check(c);
  c.clip = 0;
  c.input_forget = false;
  c.activations = {"HardSigmoid", "LeakyRelu", "ScaledTanh", "Sigmoid", "Elu", "Softsign"};
  c.alphas = {0.3f, 0.05f, 1.5f, 0.7f};
  c.betas = {0.4f, 0.8f};
  check(c);
}

TEST(Lstm, Layout1AndNoBias) {
  Config c;
  c.layout = 1;
  c.direction = "bidirectional";
  c.initial = true;
  c.bias = false;
  c.lens = {2, 4, 0};
  check(c);
}

TEST(Lstm, DoubleAndFloat16) {
  Config c;
  c.direction = "reverse";
  c.initial = true;
  check(c, DataType::Double, 1e-9);
  check(c, DataType::Float16, 5e-2);
}

TEST(Gru, LinearBeforeResetBothWays) {
  for (bool lbr : {false, true}) {
    Config c;
    c.kind = Kind::Gru;
    c.linear_before_reset = lbr;
    c.direction = "bidirectional";
    c.initial = true;
    c.lens = {3, 4, 1};
    SCOPED_TRACE(lbr);
    check(c);
    c.layout = 1;
    c.clip = 0.3f;
    c.activations = {"Sigmoid", "Relu"};
    check(c);
  }
}

TEST(Rnn, ActivationsAndDirections) {
  Config c;
  c.kind = Kind::Rnn;
  c.direction = "reverse";
  c.initial = true;
  check(c);
  c.direction = "bidirectional";
  c.activations = {"Relu", "Affine"};
  c.alphas = {0.5f};
  c.betas = {0.1f};
  c.lens = {1, 2, 4};
  check(c);
}

TEST(Rnn, BadShapesAreErrors) {
  Config c;
  c.kind = Kind::Gru;
  Inputs in = make_inputs(c);
  in.w = Tensor(DataType::Float, {1, 7, c.input});
  EXPECT_THROW(run_kernel(c, in), Error);
  in = make_inputs(c);
  c.lens = {1, 9, 2};  // longer than the sequence
  in.lens = Tensor::from_vector<int32_t>({3}, c.lens);
  EXPECT_THROW(run_kernel(c, in), Error);
  c.lens.clear();
  c.activations = {"Sigmoid", "NoSuchThing"};
  EXPECT_THROW(run_kernel(c, make_inputs(c)), Error);
}

// The same configurations in ONNX Runtime.
TEST(Recurrent, AgreesWithOnnxRuntime) {
  if (!testing::ort_available()) GTEST_SKIP() << "onnxruntime-node is not installed";
  std::vector<Config> configs(6);
  configs[0].direction = "bidirectional";
  configs[0].initial = configs[0].peephole = true;
  configs[0].lens = {4, 2, 3};
  configs[1].kind = Kind::Gru;
  configs[1].direction = "reverse";
  configs[1].linear_before_reset = true;
  configs[1].initial = true;
  configs[2].kind = Kind::Gru;
  configs[2].direction = "bidirectional";
  configs[2].lens = {1, 4, 3};
  configs[3].kind = Kind::Rnn;
  configs[3].direction = "bidirectional";
  configs[3].clip = 0.5f;
  configs[4].clip = 0.4f;
  configs[4].input_forget = true;
  configs[4].direction = "bidirectional";  // (ONNX Runtime has no layout 1)
  configs[4].peephole = true;
  configs[5].kind = Kind::Gru;
  configs[5].activations = {"HardSigmoid", "ScaledTanh"};
  configs[5].alphas = {0.3f, 1.5f};
  configs[5].betas = {0.4f, 0.8f};
  testing::TempDir dir;
  std::vector<testing::OrtJob> jobs;
  std::vector<std::vector<Tensor>> ours;
  const char* const names[] = {"X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"};
  for (size_t k = 0; k < configs.size(); ++k) {
    const Config& c = configs[k];
    const Inputs in = make_inputs(c);
    const auto values = op_inputs(c, in, DataType::Float);
    Graph g;
    g.model.opset_imports = {{"", 14}};
    std::vector<Variable*> ins, outs;
    for (size_t i = 0; i < values.size(); ++i) {
      if (!values[i]) {
        ins.push_back(nullptr);
        continue;
      }
      Variable* v = g.create_variable(names[i], i == 0 ? Tensor() : *values[i]);
      if (i == 0) {
        v->dtype = DataType::Float;
        v->shape = std::vector<Dim>{};
        for (int64_t d : values[0]->shape()) v->shape->push_back(Dim{d, ""});
        g.add_graph_input(v);
      }
      ins.push_back(v);
    }
    for (int i = 0; i < (c.kind == Kind::Lstm ? 3 : 2); ++i) {
      outs.push_back(g.create_variable(fmt::format("out{}", i)));
      outs.back()->dtype = DataType::Float;
      g.add_graph_output(outs.back());
    }
    g.create_operation(op_name(c.kind), "rnn", ins, outs, attributes(c));
    const std::string model = dir.file(fmt::format("m{}.onnx", k));
    save_onnx_graph(g, model);
    write_npy(dir.file(fmt::format("x{}.npy", k)), *values[0]);
    jobs.push_back(
        {model, {{"X", dir.file(fmt::format("x{}.npy", k))}}, dir.file(fmt::format("o{}", k))});
    std::filesystem::create_directories(jobs.back().output_dir);
    ours.push_back(run_kernel(c, in));
  }
  const auto results = testing::run_ort(jobs);
  for (size_t k = 0; k < configs.size(); ++k) {
    ASSERT_TRUE(results[k].ok) << results[k].error;
    ASSERT_EQ(results[k].outputs.size(), ours[k].size());
    for (size_t i = 0; i < ours[k].size(); ++i)
      EXPECT_EQ(testing::compare_tensors(ours[k][i], results[k].outputs[i], 1e-4, 1e-5), "")
          << "config " << k << " output " << i;
  }
}

}  // namespace
}  // namespace qforge
