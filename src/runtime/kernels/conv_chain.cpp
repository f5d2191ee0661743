// SPDX-License-Identifier: Apache-2.0
// Kernel family: conv (this file: ChannelsLastConvChain, see conv_chain.h).
#include "conv_chain.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <mutex>

#include <dnnl.hpp>

#include "conv_channels_last_desc.h"
#include "dnnl_util.h"

namespace qforge::kernels {

std::string conv_chain_attr(size_t stage, std::string_view name) {
  return "stage" + std::to_string(stage) + "." + std::string(name);
}

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

// One conv of the chain as the kernel sees it.
struct Stage {
  Operation op;         // a ChannelsLastConv: the stage's attributes, the node's name
  Shape weights_shape;  // ONNX [M, C/group, kH, kW]
  bool bias = false;
  bool residual = false;  // the last stage adds y's old contents
  ConvDims dims;          // one sample, the whole plane
};

// Rows [begin, end) of a level: level 0 is x, level i > 0 the output of stage i - 1.
struct Rows {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};

// The rows of its input that a stage reads to compute its output rows `out`.
Rows rows_read(const ConvDims& d, Rows out) {
  const WindowGeometry& g = d.g;
  const int64_t first = out.begin * g.stride[1] - g.pad_begin[1];
  const int64_t end = (out.end - 1) * g.stride[1] - g.pad_begin[1] + g.extent(1);
  return {std::max<int64_t>(0, first), std::min(g.in[1], end)};
}

// The conv that computes output rows `out` of `d` from exactly the rows it reads: padded above
// only where the band starts in the top padding, below only where it ends in the bottom one.
ConvDims band_dims(const ConvDims& d, Rows out) {
  const Rows in = rows_read(d, out);
  ConvDims band = d;
  band.g.in[1] = in.size();
  band.g.out[1] = out.size();
  band.g.pad_begin[1] = std::max<int64_t>(0, d.g.pad_begin[1] - out.begin * d.g.stride[1]);
  band.g.pad_end[1] =
      (out.size() - 1) * d.g.stride[1] + d.g.extent(1) - in.size() - band.g.pad_begin[1];
  return band;
}

// One step of a thread's part: first, when `level` > 0, rows [keep_from, keep_from + keep_rows)
// of that level's buffer move to its top (the rows the band shares with the one before); then,
// when `conv` >= 0, that band conv reads its input from row `src_row` (of x or the stage's
// input buffer) and writes from row `dst_row` (of its output buffer or y).
struct Step {
  size_t level = 0;
  int64_t keep_from = 0, keep_rows = 0;
  int conv = -1;
  int64_t src_row = 0, dst_row = 0;
};

struct BandConv {
  size_t stage = 0;
  ConvDims dims;
  dnnl::convolution_forward::primitive_desc pd;
};

// How a chain runs: its band convs, each thread part's steps and the rows each level's buffer
// holds at most.
struct Plan {
  std::vector<BandConv> convs;
  std::vector<std::vector<Step>> parts;
  std::vector<int64_t> buffer_rows;  // per level; 0 and the last are x and y (no buffer)
  // False when some band's rows lie wholly in a stage's padding (pads as tall as its kernel):
  // such a band reads no row, which oneDNN cannot run.
  bool banded = true;

  int band_conv(const std::vector<Stage>& stages, size_t stage, Rows out) {
    banded = banded && rows_read(stages[stage].dims, out).size() > 0;
    const ConvDims dims = band_dims(stages[stage].dims, out);
    for (size_t i = 0; i < convs.size(); ++i)
      if (convs[i].stage == stage && convs[i].dims == dims) return static_cast<int>(i);
    convs.push_back({stage, dims, {}});
    return static_cast<int>(convs.size() - 1);
  }

  // The steps that compute rows `part` of y, `band` rows at a time.
  void add_part(const std::vector<Stage>& stages, Rows part, int64_t band) {
    const size_t n = stages.size();
    std::vector<Rows> held(n);  // per level 1..n-1: the rows its buffer holds
    std::vector<Step>& steps = parts.emplace_back();
    for (int64_t o = part.begin; o < part.end; o += band) {
      std::vector<Rows> want(n + 1);
      want[n] = {o, std::min(part.end, o + band)};
      for (size_t j = n - 1; j >= 1; --j) want[j] = rows_read(stages[j].dims, want[j + 1]);
      for (size_t j = 1; j < n; ++j) {
        const Rows w = want[j], h = held[j];
        Step step;
        int64_t fresh = w.begin;  // the first row not held already
        if (h.size() > 0 && w.begin >= h.begin && w.begin < h.end) {
          fresh = std::min(h.end, w.end);
          if (w.begin > h.begin) {
            step.level = j;
            step.keep_from = w.begin - h.begin;
            step.keep_rows = fresh - w.begin;
          }
        }
        held[j] = w;
        buffer_rows[j] = std::max(buffer_rows[j], w.size());
        if (fresh < w.end) {
          const Rows out{fresh, w.end};
          step.conv = band_conv(stages, j - 1, out);
          step.src_row = rows_read(stages[j - 1].dims, out).begin - held[j - 1].begin;
          step.dst_row = fresh - w.begin;
        }
        if (step.level > 0 || step.conv >= 0) steps.push_back(step);
      }
      Step last;
      last.conv = band_conv(stages, n - 1, want[n]);
      last.src_row = rows_read(stages[n - 1].dims, want[n]).begin - held[n - 1].begin;
      last.dst_row = want[n].begin;
      steps.push_back(last);
    }
  }
};

// Bytes of a row of level `level`.
int64_t row_bytes(const std::vector<Stage>& stages, size_t level) {
  if (level < stages.size()) return stages[level].dims.g.in[2] * stages[level].dims.channels * 4;
  const ConvDims& d = stages.back().dims;
  return d.g.out[2] * d.out_channels * 4;
}

int64_t buffer_bytes(const std::vector<Stage>& stages, const Plan& plan) {
  int64_t bytes = 0;
  for (size_t j = 1; j < stages.size(); ++j) bytes += plan.buffer_rows[j] * row_bytes(stages, j);
  return bytes;
}

// The plan for `threads` threads, each with its part of y's rows, the bands as tall as fit
// `band_bytes`; the band convs' descriptions made on one thread. When bands would read no row
// (see Plan::banded), the convs run one after the other on whole planes, on one thread.
Plan make_plan(const std::vector<Stage>& stages, int threads, int64_t band_bytes) {
  const int64_t height = stages.back().dims.g.out[1];
  int64_t parts = std::clamp<int64_t>(threads, 1, std::max<int64_t>(height, 1));
  int64_t per_part = (height + parts - 1) / parts;
  const auto plan_for = [&](int64_t band) {
    Plan plan;
    plan.buffer_rows.assign(stages.size() + 1, 0);
    for (int64_t p = 0; p < parts; ++p) {
      const Rows part{p * per_part, std::min(height, (p + 1) * per_part)};
      if (part.size() > 0) plan.add_part(stages, part, band);
    }
    return plan;
  };
  // The fewest bands that fit, of even height (fewer shapes of band conv, each with its code).
  int64_t bands = 1;
  const auto band_height = [&] { return (per_part + bands - 1) / bands; };
  Plan plan = plan_for(band_height());
  while (band_height() > 1 && buffer_bytes(stages, plan) > band_bytes) {
    const int64_t height_now = band_height();
    while (band_height() == height_now) ++bands;
    plan = plan_for(band_height());
  }
  if (!plan.banded) {
    parts = 1;
    per_part = height;
    plan = plan_for(height);
    plan.banded = false;
  }
  const DnnlThreads scope(1);
  for (BandConv& conv : plan.convs) {
    const Stage& s = stages[conv.stage];
    const bool residual = s.residual && conv.stage + 1 == stages.size();
    conv.pd = channels_last_conv_desc(s.op, conv.dims, {s.bias, residual, true}, Tag::any);
  }
  return plan;
}

// The stages of a chain op (kernel) or of the ChannelsLastConvs it is made of (pass), with
// their dims for an input of shape `x_nhwc`.
void resolve_dims(std::vector<Stage>& stages, const Shape& x_nhwc) {
  Shape level{1, x_nhwc[3], x_nhwc[1], x_nhwc[2]};  // NCHW order, one sample
  for (Stage& s : stages) {
    const KernelContext ctx(s.op, {}, 0, 1);
    s.dims = conv_dims(ctx, level, s.weights_shape);
    level = {1, s.dims.out_channels, s.dims.g.out[1], s.dims.g.out[2]};
  }
}

memory::desc weight_input_desc(const Stage& s) {
  return weight_input_desc(s.op, s.dims, s.op.attr_int("weights_format", 0));
}

// ---- the kernel ----

// The stages named by the chain op's attributes; their weights and biases are its inputs.
std::vector<Stage> chain_stages(const KernelContext& ctx) {
  const Operation& op = ctx.op();
  const int64_t count = op.attr_int("stages", 0);
  if (count < 2 || ctx.num_inputs() < static_cast<size_t>(1 + 2 * count) ||
      ctx.num_inputs() > static_cast<size_t>(2 + 2 * count))
    fail(ErrorKind::InvalidModel,
         "{}: needs stages >= 2 and x, a weight and bias per stage and "
         "an optional residual as inputs, got stages={} and {} inputs",
         op.describe(), count, ctx.num_inputs());
  std::vector<Stage> stages(static_cast<size_t>(count));
  for (size_t i = 0; i < stages.size(); ++i) {
    Stage& s = stages[i];
    const std::string prefix = conv_chain_attr(i, "");
    for (const Attribute& a : op.attributes)
      if (a.name.starts_with(prefix)) {
        Attribute stripped = a;
        stripped.name = a.name.substr(prefix.size());
        s.op.attributes.push_back(std::move(stripped));
      }
    s.op.type = "ChannelsLastConv";
    s.op.domain = kChannelsLastDomain;
    s.op.name = s.op.attr_string("node", op.name + "/" + std::to_string(i));
    const Tensor& w = ctx.input(1 + 2 * i);
    if (w.dtype() != DataType::Float)
      fail(ErrorKind::InvalidModel, "{}: takes float weights only", s.op.describe());
    s.weights_shape = s.op.has_attr("weights_shape") ? s.op.attr_ints("weights_shape") : w.shape();
    const Tensor* b = ctx.optional_input(2 + 2 * i);
    s.bias = b != nullptr;
    if (b && b->dtype() != DataType::Float)
      fail(ErrorKind::InvalidModel, "{}: takes a float bias only", s.op.describe());
  }
  stages.back().residual = ctx.optional_input(1 + 2 * count) != nullptr;
  return stages;
}

// A memory object of layout `desc` that points nowhere yet.
memory unbound_memory(const memory::desc& desc) {
  return memory(desc, dnnl_engine(), DNNL_MEMORY_NONE);
}

// The op's plan for one input shape and thread count, its primitives, and where each thread's
// buffers and oneDNN's working memory lie in the scratch.
struct ConvChainState final : KernelState {
  Shape x_shape;
  int threads = 0;
  std::vector<Stage> stages;
  Plan plan;
  std::vector<dnnl::convolution_forward> primitives;  // per band conv
  // Band convs that read their weights in another layout than the input's: reordered per run.
  std::vector<int> variant;            // per band conv: -1, or an index into variants
  std::vector<memory::desc> variants;  // their layouts
  std::vector<size_t> variant_stage;   // and stages
  std::vector<size_t> variant_offset;  // in the scratch
  std::vector<size_t> level_offset;    // per level, in a part's share of the scratch
  size_t scratchpad_offset = 0, part_bytes = 0, scratch_bytes = 0, parts_offset = 0;
  // oneDNN's arguments, made once and pointed at each run's buffers (made per call, they cost
  // allocations): per stage its weight and bias inputs, per variant its reordered weights, per
  // step of each part its source, destination and working memory.
  std::vector<memory> weights_in, biases_in, variant_weights;
  struct StepMemory {
    memory src, dst, work;
  };
  std::vector<std::vector<StepMemory>> step_memory;
};

size_t aligned(size_t bytes) {
  return (bytes + 63) / 64 * 64;
}

std::unique_ptr<ConvChainState> make_state(const KernelContext& ctx, const Shape& x_shape,
                                           int threads) {
  auto state = std::make_unique<ConvChainState>();
  state->x_shape = x_shape;
  state->threads = threads;
  state->stages = chain_stages(ctx);
  resolve_dims(state->stages, x_shape);
  const std::vector<Stage>& stages = state->stages;
  for (const Stage& s : stages) {
    state->weights_in.push_back(unbound_memory(weight_input_desc(s)));
    state->biases_in.push_back(
        s.bias ? unbound_memory(memory::desc({s.dims.out_channels}, memory::data_type::f32, Tag::x))
               : memory());
  }
  try {
    state->plan = make_plan(stages, threads, ctx.attr_int("band_bytes", 0));
    const DnnlThreads scope(1);
    for (const BandConv& conv : state->plan.convs) state->primitives.emplace_back(conv.pd);
  } catch (const dnnl::error& e) {
    fail(ErrorKind::UnsupportedOp, "{}: oneDNN has no convolution for a band of input {}: {}",
         ctx.op().describe(), shape_to_string(x_shape), e.what());
  }
  size_t offset = 0;
  for (const BandConv& conv : state->plan.convs) {
    const memory::desc want = conv.pd.weights_desc();
    if (want == state->weights_in[conv.stage].get_desc()) {
      state->variant.push_back(-1);
      continue;
    }
    int found = -1;
    for (size_t v = 0; v < state->variants.size(); ++v)
      if (state->variants[v] == want && state->variant_stage[v] == conv.stage)
        found = static_cast<int>(v);
    if (found < 0) {
      found = static_cast<int>(state->variants.size());
      state->variants.push_back(want);
      state->variant_stage.push_back(conv.stage);
      state->variant_offset.push_back(offset);
      offset += aligned(want.get_size());
    }
    state->variant.push_back(found);
  }
  state->parts_offset = offset;
  size_t part = 0;
  state->level_offset.assign(stages.size() + 1, 0);
  for (size_t j = 1; j < stages.size(); ++j) {
    state->level_offset[j] = part;
    part += aligned(static_cast<size_t>(state->plan.buffer_rows[j] * row_bytes(stages, j)));
  }
  size_t scratchpad = 0;
  for (const BandConv& conv : state->plan.convs)
    scratchpad = std::max(scratchpad, conv.pd.scratchpad_desc().get_size());
  state->scratchpad_offset = part;
  state->part_bytes = aligned(part + scratchpad);
  state->scratch_bytes = offset + state->part_bytes * state->plan.parts.size();
  for (const memory::desc& desc : state->variants)
    state->variant_weights.push_back(unbound_memory(desc));
  for (const std::vector<Step>& steps : state->plan.parts) {
    auto& memories = state->step_memory.emplace_back();
    for (const Step& step : steps) {
      if (step.conv < 0) {
        memories.emplace_back();
        continue;
      }
      const auto& pd = state->plan.convs[static_cast<size_t>(step.conv)].pd;
      memories.push_back({unbound_memory(pd.src_desc()), unbound_memory(pd.dst_desc()),
                          unbound_memory(pd.scratchpad_desc())});
    }
  }
  return state;
}

// Runs part `p` of one sample: x and y point at the sample, `scratch` at the whole scratch.
void run_part(const ConvChainState& state, size_t p, const float* x, float* y, char* scratch) {
  const std::vector<Stage>& stages = state.stages;
  char* base = scratch + state.parts_offset + p * state.part_bytes;
  const auto level_data = [&](size_t level) -> char* {
    if (level == 0) return reinterpret_cast<char*>(const_cast<float*>(x));
    if (level == stages.size()) return reinterpret_cast<char*>(y);
    return base + state.level_offset[level];
  };
  const std::vector<Step>& steps = state.plan.parts[p];
  for (size_t k = 0; k < steps.size(); ++k) {
    const Step& step = steps[k];
    if (step.level > 0) {
      const int64_t bytes = row_bytes(stages, step.level);
      char* buffer = level_data(step.level);
      std::memmove(buffer, buffer + step.keep_from * bytes,
                   static_cast<size_t>(step.keep_rows * bytes));
    }
    if (step.conv < 0) continue;
    const size_t conv = static_cast<size_t>(step.conv);
    const size_t s = state.plan.convs[conv].stage;
    const ConvChainState::StepMemory& m = state.step_memory[p][k];
    m.src.set_data_handle(level_data(s) + step.src_row * row_bytes(stages, s));
    m.dst.set_data_handle(level_data(s + 1) + step.dst_row * row_bytes(stages, s + 1));
    m.work.set_data_handle(base + state.scratchpad_offset);
    const int v = state.variant[conv];
    dnnl_execute(state.primitives[conv],
                 {{DNNL_ARG_SRC, &m.src},
                  {DNNL_ARG_WEIGHTS,
                   v < 0 ? &state.weights_in[s] : &state.variant_weights[static_cast<size_t>(v)]},
                  {DNNL_ARG_BIAS, stages[s].bias ? &state.biases_in[s] : nullptr},
                  {DNNL_ARG_DST, &m.dst},
                  {DNNL_ARG_SCRATCHPAD, &m.work}});
  }
}

void conv_chain(KernelContext& ctx) {
  const Operation& op = ctx.op();
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DataType::Float || x.rank() != 4)
    fail(ErrorKind::Shape, "{}: input needs a float [N, H, W, C], got {} {}", op.describe(),
         dtype_name(x.dtype()), shape_to_string(x.shape()));
  const int threads = std::max(ctx.num_threads(), 1);
  std::unique_ptr<KernelState> local;
  std::unique_ptr<KernelState>* slot = ctx.kernel_state() ? ctx.kernel_state() : &local;
  auto* state = dynamic_cast<ConvChainState*>(slot->get());
  const Shape sample{1, x.dim(1), x.dim(2), x.dim(3)};
  if (!state || state->x_shape != sample || state->threads != threads) {
    slot->reset();
    auto fresh = make_state(ctx, sample, threads);
    state = fresh.get();
    *slot = std::move(fresh);
  }
  const std::vector<Stage>& stages = state->stages;
  const ConvDims& last = stages.back().dims;
  const int64_t batch = x.dim(0);
  const Shape y_shape{batch, last.g.out[1], last.g.out[2], last.out_channels};
  const Tensor* residual = ctx.optional_input(1 + 2 * stages.size());
  if (residual && (residual->dtype() != DataType::Float || residual->shape() != y_shape))
    fail(ErrorKind::Shape, "{}: the added input needs float {}, got {} {}", op.describe(),
         shape_to_string(y_shape), dtype_name(residual->dtype()),
         shape_to_string(residual->shape()));
  for (size_t i = 0; i < stages.size(); ++i) {
    const Tensor& w = ctx.input(1 + 2 * i);
    if (w.nbytes() != state->weights_in[i].get_desc().get_size())
      fail(ErrorKind::InvalidModel,
           "{}: its weights ({} bytes) do not fit shape {} in their layout",
           stages[i].op.describe(), w.nbytes(), shape_to_string(stages[i].weights_shape));
    const Tensor* b = ctx.optional_input(2 + 2 * i);
    if (b && b->numel() != stages[i].dims.out_channels)
      fail(ErrorKind::Shape, "{}: bias needs {} values, got {}", stages[i].op.describe(),
           stages[i].dims.out_channels, shape_to_string(b->shape()));
  }
  Tensor& y = residual
                  ? ctx.allocate_output_in_place(0, 1 + 2 * stages.size(), DataType::Float, y_shape)
                  : ctx.allocate_output(0, DataType::Float, y_shape,
                                        KernelContext::OutputInit::Uninitialized);
  if (residual && y.raw() != residual->raw())
    std::copy_n(residual->data<float>(), residual->numel(), y.data<float>());
  if (batch == 0) return;

  Tensor scratch = ctx.allocate_scratch(state->scratch_bytes);
  auto* scratch_data = static_cast<char*>(scratch.raw());
  for (size_t i = 0; i < stages.size(); ++i) {
    state->weights_in[i].set_data_handle(const_cast<void*>(ctx.input(1 + 2 * i).raw()));
    if (const Tensor* b = ctx.optional_input(2 + 2 * i))
      state->biases_in[i].set_data_handle(const_cast<void*>(b->raw()));
  }
  {
    const DnnlThreads scope(threads);
    for (size_t v = 0; v < state->variants.size(); ++v) {
      const memory& to = state->variant_weights[v];
      to.set_data_handle(scratch_data + state->variant_offset[v]);
      const memory& from = state->weights_in[state->variant_stage[v]];
      dnnl_execute(dnnl::reorder(from, to), {{DNNL_ARG_FROM, &from}, {DNNL_ARG_TO, &to}});
    }
  }
  const int64_t x_sample = x.numel() / batch, y_sample = y.numel() / batch;
  const int64_t parts = static_cast<int64_t>(state->plan.parts.size());
  std::exception_ptr error;
  std::mutex error_mutex;
  for (int64_t n = 0; n < batch; ++n) {
    const float* xn = x.data<float>() + n * x_sample;
    float* yn = y.data<float>() + n * y_sample;
    const DnnlThreads scope(1);
    parallel_for(threads, parts, 1, [&](int64_t begin, int64_t end) {
      try {
        for (int64_t p = begin; p < end; ++p)
          run_part(*state, static_cast<size_t>(p), xn, yn, scratch_data);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    });
    if (error) std::rethrow_exception(error);
  }
}

}  // namespace

std::optional<std::vector<PackedConvWeights>> pack_conv_chain_weights(
    const std::vector<const Operation*>& stage_ops, const std::vector<const Tensor*>& weights,
    const Shape& x_nhwc, int threads, int64_t band_bytes) {
  std::vector<Stage> stages(stage_ops.size());
  for (size_t i = 0; i < stages.size(); ++i) {
    Stage& s = stages[i];
    s.op.name = stage_ops[i]->name;
    s.op.type = stage_ops[i]->type;
    s.op.domain = stage_ops[i]->domain;
    s.op.attributes = stage_ops[i]->attributes;
    s.weights_shape =
        s.op.has_attr("weights_shape") ? s.op.attr_ints("weights_shape") : weights[i]->shape();
    s.bias = stage_ops[i]->num_inputs() > 2 && stage_ops[i]->input(2);
    s.residual = stage_ops[i]->num_inputs() > 3 && stage_ops[i]->input(3);
  }
  std::vector<PackedConvWeights> packed;
  try {
    resolve_dims(stages, x_nhwc);
    const Plan plan = make_plan(stages, threads, band_bytes);
    if (!plan.banded) return std::nullopt;  // nothing to gain
    for (size_t i = 0; i < stages.size(); ++i) {
      std::optional<memory::desc> want;
      for (const BandConv& conv : plan.convs) {
        if (conv.stage != i) continue;
        if (want && *want != conv.pd.weights_desc()) return std::nullopt;
        want = conv.pd.weights_desc();
      }
      const std::optional<int64_t> tag = format_tag_of(*want);
      if (!tag) return std::nullopt;
      const memory::desc given = weight_input_desc(stages[i]);
      packed.push_back(
          {*want == given ? *weights[i] : reorder_weights(*weights[i], given, *want), *tag});
    }
  } catch (const dnnl::error&) {
    return std::nullopt;
  } catch (const Error&) {
    return std::nullopt;
  }
  return packed;
}

void register_conv_chain_kernels(KernelRegistry& registry) {
  registry.add(kChannelsLastDomain, kConvChainType, 1, kLatestOpset, conv_chain);
}

}  // namespace qforge::kernels
