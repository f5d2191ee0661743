// SPDX-License-Identifier: Apache-2.0
// Kernel family: loss (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss) and the
// ai.onnx.preview.training optimizers (Adagrad, Adam, Momentum). Registered in
// register_loss_kernels (listed in src/runtime/kernel_registry.cpp); tested in
// tests/runtime/test_loss.cpp and by the ONNX backend node cases.
#include <array>
#include <cmath>
#include <limits>

#include "kernel_families.h"

namespace qforge::kernels {

namespace {

// ---------------------------------------------------------------------------------------------
// Losses. Both view the scores as [N, C, inner] and the labels as [N, inner].

enum class Reduction { None, Sum, Mean };

struct LossSpec {
  Reduction reduction = Reduction::Mean;
  bool has_ignore = false;  // ignore_index has no default: without it no label is ignored
  int64_t ignore_index = 0;
  int64_t n = 0, c = 0, inner = 1;
  Shape target_shape;
  std::vector<int64_t> labels;
};

Reduction parse_reduction(const KernelContext& ctx) {
  const std::string r = ctx.attr_string("reduction", "mean");
  if (r == "none") return Reduction::None;
  if (r == "sum") return Reduction::Sum;
  if (r == "mean") return Reduction::Mean;
  fail(ErrorKind::InvalidModel, "{}: reduction '{}' is not one of none, sum, mean",
       ctx.op().describe(), r);
}

// Checks scores [N, C, d1..dk], labels [N, d1..dk] (int32/int64) and weight [C].
LossSpec parse_loss(const KernelContext& ctx, const Tensor& x, const Tensor& target,
                    const Tensor* weight) {
  const Operation& op = ctx.op();
  LossSpec spec;
  spec.reduction = parse_reduction(ctx);
  spec.has_ignore = op.has_attr("ignore_index");
  spec.ignore_index = ctx.attr_int("ignore_index", 0);
  if (x.rank() < 2)
    fail(ErrorKind::Shape, "{}: input must be [N, C, ...], got {}", op.describe(),
         shape_to_string(x.shape()));
  Shape expected{x.dim(0)};
  expected.insert(expected.end(), x.shape().begin() + 2, x.shape().end());
  if (target.shape() != expected)
    fail(ErrorKind::Shape, "{}: target shape {} does not match input {} (expected {})",
         op.describe(), shape_to_string(target.shape()), shape_to_string(x.shape()),
         shape_to_string(expected));
  if (target.dtype() != DataType::Int32 && target.dtype() != DataType::Int64)
    fail(ErrorKind::InvalidModel, "{}: target dtype {} is not int32 or int64", op.describe(),
         dtype_name(target.dtype()));
  if (weight && (weight->shape() != Shape{x.dim(1)} || weight->dtype() != x.dtype()))
    fail(ErrorKind::Shape, "{}: weight must be {} [{}], got {} {}", op.describe(),
         dtype_name(x.dtype()), x.dim(1), dtype_name(weight->dtype()),
         shape_to_string(weight->shape()));
  spec.n = x.dim(0);
  spec.c = x.dim(1);
  for (int d = 2; d < x.rank(); ++d) spec.inner *= x.dim(d);
  spec.target_shape = target.shape();
  spec.labels = target.to_int64_vector();
  return spec;
}

// Float and double compute as themselves; 16-bit floats compute in float.
DataType compute_type(const Operation& op, DataType type) {
  switch (type) {
    case DataType::Float:
    case DataType::Float16:
    case DataType::BFloat16:
      return DataType::Float;
    case DataType::Double:
      return DataType::Double;
    default:
      break;
  }
  fail(ErrorKind::UnsupportedOp, "{}: dtype {} is not supported (float types only)", op.describe(),
       dtype_name(type));
}

Tensor as_type(const Tensor& t, DataType type) {
  return t.dtype() == type ? t : t.cast(type);
}

// loss = -logp[n, label, i] * weight[label] per sample (0 for ignored labels), then reduced. Mean
// divides by the summed weights of the samples that count (their number without weights).
template <typename T>
Tensor nll_from_log_prob(const Operation& op, const LossSpec& spec, const T* logp,
                         const T* weight) {
  const int64_t samples = spec.n * spec.inner;
  std::vector<double> loss(static_cast<size_t>(samples), 0.0);
  double loss_sum = 0.0, weight_sum = 0.0;
  for (int64_t s = 0; s < samples; ++s) {
    const int64_t label = spec.labels[static_cast<size_t>(s)];
    if (spec.has_ignore && label == spec.ignore_index) continue;
    if (label < 0 || label >= spec.c)
      fail(ErrorKind::Argument, "{}: label {} at position {} is outside [0, {})", op.describe(),
           label, s, spec.c);
    const int64_t b = s / spec.inner, i = s % spec.inner;
    const double w = weight ? static_cast<double>(weight[label]) : 1.0;
    loss[static_cast<size_t>(s)] =
        -static_cast<double>(logp[(b * spec.c + label) * spec.inner + i]) * w;
    loss_sum += loss[static_cast<size_t>(s)];
    weight_sum += w;
  }
  if (spec.reduction == Reduction::None) {
    Tensor out(dtype_of<T>(), spec.target_shape);
    T* dst = out.data<T>();
    for (int64_t s = 0; s < samples; ++s) dst[s] = static_cast<T>(loss[static_cast<size_t>(s)]);
    return out;
  }
  // Mean over nothing (every label ignored) is 0/0 = NaN, as in the spec's reference.
  const double value = spec.reduction == Reduction::Sum ? loss_sum : loss_sum / weight_sum;
  return Tensor::scalar<T>(static_cast<T>(value));
}

// log_softmax over axis 1 of [N, C, inner], one batch item per task.
template <typename T>
Tensor log_softmax_axis1(const Tensor& scores, const LossSpec& spec, int threads) {
  Tensor out(dtype_of<T>(), scores.shape());
  const T* src = scores.data<T>();
  T* dst = out.data<T>();
  const int64_t c = spec.c, inner = spec.inner;
  parallel_for(threads, spec.n, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> max(static_cast<size_t>(inner)), sum(static_cast<size_t>(inner));
    for (int64_t b = begin; b < end; ++b) {
      const T* x = src + b * c * inner;
      T* y = dst + b * c * inner;
      std::fill(max.begin(), max.end(), -std::numeric_limits<double>::infinity());
      std::fill(sum.begin(), sum.end(), 0.0);
      for (int64_t k = 0; k < c; ++k)
        for (int64_t i = 0; i < inner; ++i)
          max[i] = std::max(max[i], static_cast<double>(x[k * inner + i]));
      for (int64_t k = 0; k < c; ++k)
        for (int64_t i = 0; i < inner; ++i)
          sum[i] += std::exp(static_cast<double>(x[k * inner + i]) - max[i]);
      for (int64_t i = 0; i < inner; ++i) sum[i] = max[i] + std::log(sum[i]);
      for (int64_t k = 0; k < c; ++k)
        for (int64_t i = 0; i < inner; ++i)
          y[k * inner + i] = static_cast<T>(static_cast<double>(x[k * inner + i]) - sum[i]);
    }
  });
  return out;
}

template <typename T>
Tensor nll_typed(const Operation& op, const LossSpec& spec, const Tensor& logp,
                 const Tensor& weight) {
  return nll_from_log_prob<T>(op, spec, logp.data<T>(),
                              weight.defined() ? weight.data<T>() : nullptr);
}

Tensor nll_dispatch(const Operation& op, const LossSpec& spec, const Tensor& logp,
                    const Tensor& weight) {
  return logp.dtype() == DataType::Double ? nll_typed<double>(op, spec, logp, weight)
                                          : nll_typed<float>(op, spec, logp, weight);
}

void negative_log_likelihood_loss(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor* weight = ctx.optional_input(2);
  const LossSpec spec = parse_loss(ctx, x, ctx.input(1), weight);
  const DataType type = compute_type(ctx.op(), x.dtype());
  const Tensor w = weight ? as_type(*weight, type) : Tensor();
  ctx.set_output(0, as_type(nll_dispatch(ctx.op(), spec, as_type(x, type), w), x.dtype()));
}

void softmax_cross_entropy_loss(KernelContext& ctx) {
  const Tensor& scores = ctx.input(0);
  const Tensor* weight = ctx.optional_input(2);
  const LossSpec spec = parse_loss(ctx, scores, ctx.input(1), weight);
  const DataType type = compute_type(ctx.op(), scores.dtype());
  const Tensor x = as_type(scores, type);
  const Tensor logp = type == DataType::Double
                          ? log_softmax_axis1<double>(x, spec, ctx.num_threads())
                          : log_softmax_axis1<float>(x, spec, ctx.num_threads());
  const Tensor w = weight ? as_type(*weight, type) : Tensor();
  ctx.set_output(0, as_type(nll_dispatch(ctx.op(), spec, logp, w), scores.dtype()));
  if (ctx.output_wanted(1)) ctx.set_output(1, as_type(logp, scores.dtype()));
}

// ---------------------------------------------------------------------------------------------
// Optimizers. Inputs: R (scalar learning rate), T (scalar int64 update count), then In groups of
// n tensors (X_1..X_n, G_1..G_n, ...); outputs: In - 1 groups (X_new_1..X_new_n, state...).

struct OptimizerStep {
  double r = 0.0;
  int64_t t = 0;
  int64_t n = 0;  // tensors optimized
};

OptimizerStep parse_step(const KernelContext& ctx, int groups) {
  const Operation& op = ctx.op();
  const int64_t rest = static_cast<int64_t>(ctx.num_inputs()) - 2;
  if (rest < groups || rest % groups != 0)
    fail(ErrorKind::InvalidModel,
         "{}: expected R, T and {} equally long input groups, got {} inputs", op.describe(), groups,
         ctx.num_inputs());
  OptimizerStep step;
  step.n = rest / groups;
  if (static_cast<int64_t>(ctx.num_outputs()) > step.n * (groups - 1))
    fail(ErrorKind::InvalidModel, "{}: {} outputs for {} optimized tensors (at most {})",
         op.describe(), ctx.num_outputs(), step.n, step.n * (groups - 1));
  const Tensor& r = ctx.input(0);
  const Tensor& t = ctx.input(1);
  if (r.numel() != 1 || !dtype_is_floating(r.dtype()))
    fail(ErrorKind::InvalidModel, "{}: R must be a float scalar, got {} {}", op.describe(),
         dtype_name(r.dtype()), shape_to_string(r.shape()));
  if (t.numel() != 1 || t.dtype() != DataType::Int64)
    fail(ErrorKind::InvalidModel, "{}: T must be an int64 scalar, got {} {}", op.describe(),
         dtype_name(t.dtype()), shape_to_string(t.shape()));
  step.r = r.value_as_double(0);
  step.t = t.to_int64_vector()[0];
  return step;
}

template <typename T, size_t In, typename Update>
void update_elements(std::array<const Tensor*, In> ins, std::array<Tensor*, In - 1> outs,
                     Update& update) {
  std::array<const T*, In> src;
  for (size_t k = 0; k < In; ++k) src[k] = ins[k]->template data<T>();
  std::array<T*, In - 1> dst;  // nullptr: output not produced
  for (size_t k = 0; k + 1 < In; ++k) dst[k] = outs[k] ? outs[k]->template data<T>() : nullptr;
  std::array<double, In> a;
  std::array<double, In - 1> b;
  for (int64_t e = 0; e < ins[0]->numel(); ++e) {
    for (size_t k = 0; k < In; ++k) a[k] = static_cast<double>(src[k][e]);
    update(a, b);
    for (size_t k = 0; k + 1 < In; ++k)
      if (dst[k]) dst[k][e] = static_cast<T>(b[k]);
  }
}

// Calls update(in, out) per element of each optimized tensor, in double; in = {X, G, states...},
// out = {X_new, states_new...}. All tensors of one index share shape and dtype (float/double).
template <size_t In, typename Update>
void apply_optimizer(KernelContext& ctx, const OptimizerStep& step, Update update) {
  for (int64_t i = 0; i < step.n; ++i) {
    std::array<const Tensor*, In> ins;
    for (size_t k = 0; k < In; ++k) {
      ins[k] = &ctx.input(static_cast<size_t>(2 + static_cast<int64_t>(k) * step.n + i));
      if (ins[k]->shape() != ins[0]->shape() || ins[k]->dtype() != ins[0]->dtype())
        fail(ErrorKind::Shape, "{}: input {} is {} {} but X_{} is {} {}", ctx.op().describe(),
             2 + static_cast<int64_t>(k) * step.n + i, dtype_name(ins[k]->dtype()),
             shape_to_string(ins[k]->shape()), i + 1, dtype_name(ins[0]->dtype()),
             shape_to_string(ins[0]->shape()));
    }
    const DataType type = ins[0]->dtype();
    if (type != DataType::Float && type != DataType::Double)
      fail(ErrorKind::UnsupportedOp, "{}: dtype {} is not supported (float, double)",
           ctx.op().describe(), dtype_name(type));
    std::array<Tensor*, In - 1> outs{};
    for (size_t k = 0; k + 1 < In; ++k) {
      const size_t index = static_cast<size_t>(static_cast<int64_t>(k) * step.n + i);
      if (index < ctx.num_outputs()) outs[k] = &ctx.allocate_output(index, type, ins[0]->shape());
    }
    if (type == DataType::Double)
      update_elements<double, In>(ins, outs, update);
    else
      update_elements<float, In>(ins, outs, update);
  }
}

void adagrad(KernelContext& ctx) {
  const OptimizerStep step = parse_step(ctx, 3);
  const double decay = ctx.attr_float("decay_factor", 0.0f);
  const double epsilon = ctx.attr_float("epsilon", 1e-6f);
  const double norm = ctx.attr_float("norm_coefficient", 0.0f);
  const double r = step.r / (1.0 + static_cast<double>(step.t) * decay);
  apply_optimizer<3>(ctx, step, [&](const std::array<double, 3>& in, std::array<double, 2>& out) {
    const double g = norm * in[0] + in[1];
    out[1] = in[2] + g * g;
    out[0] = in[0] - r * g / (std::sqrt(out[1]) + epsilon);
  });
}

void adam(KernelContext& ctx) {
  const OptimizerStep step = parse_step(ctx, 4);
  const double alpha = ctx.attr_float("alpha", 0.9f);
  const double beta = ctx.attr_float("beta", 0.999f);
  const double epsilon = ctx.attr_float("epsilon", 1e-6f);
  const double norm = ctx.attr_float("norm_coefficient", 0.0f);
  const double norm_post = ctx.attr_float("norm_coefficient_post", 0.0f);
  // Bias correction of both moment estimates folded into the learning rate (none before step 1).
  const double t = static_cast<double>(step.t);
  const double r = step.t > 0
                       ? step.r * std::sqrt(1.0 - std::pow(beta, t)) / (1.0 - std::pow(alpha, t))
                       : step.r;
  apply_optimizer<4>(ctx, step, [&](const std::array<double, 4>& in, std::array<double, 3>& out) {
    const double g = norm * in[0] + in[1];
    out[1] = alpha * in[2] + (1.0 - alpha) * g;
    out[2] = beta * in[3] + (1.0 - beta) * g * g;
    const double x_new = in[0] - r * out[1] / (std::sqrt(out[2]) + epsilon);
    out[0] = (1.0 - norm_post) * x_new;
  });
}

// alpha, beta, mode and norm_coefficient are required by the spec.
double required_float(const KernelContext& ctx, std::string_view name) {
  if (!ctx.op().has_attr(name))
    fail(ErrorKind::InvalidModel, "{}: required attribute '{}' is missing", ctx.op().describe(),
         name);
  return ctx.attr_float(name, 0.0f);
}

void momentum(KernelContext& ctx) {
  const OptimizerStep step = parse_step(ctx, 3);
  const double alpha = required_float(ctx, "alpha");
  const double beta = required_float(ctx, "beta");
  const double norm = required_float(ctx, "norm_coefficient");
  const std::string mode = ctx.attr_string("mode", "");
  if (mode != "standard" && mode != "nesterov")
    fail(ErrorKind::InvalidModel, "{}: mode '{}' is not 'standard' or 'nesterov'",
         ctx.op().describe(), mode);
  const bool nesterov = mode == "nesterov";
  // The first update (T == 0) takes the whole gradient.
  const double beta_adjusted = step.t > 0 ? beta : 1.0;
  const double r = step.r;
  apply_optimizer<3>(ctx, step, [&](const std::array<double, 3>& in, std::array<double, 2>& out) {
    const double g = norm * in[0] + in[1];
    out[1] = alpha * in[2] + beta_adjusted * g;
    out[0] = in[0] - r * (nesterov ? g + alpha * out[1] : out[1]);
  });
}

constexpr const char* kTrainingDomain = "ai.onnx.preview.training";

}  // namespace

void register_loss_kernels(KernelRegistry& registry) {
  registry.add("", "NegativeLogLikelihoodLoss", 12, kLatestOpset, negative_log_likelihood_loss);
  registry.add("", "SoftmaxCrossEntropyLoss", 12, kLatestOpset, softmax_cross_entropy_loss);
  registry.add(kTrainingDomain, "Adagrad", 1, kLatestOpset, adagrad);
  registry.add(kTrainingDomain, "Adam", 1, kLatestOpset, adam);
  registry.add(kTrainingDomain, "Momentum", 1, kLatestOpset, momentum);
}

}  // namespace qforge::kernels
