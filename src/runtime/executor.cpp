// SPDX-License-Identifier: Apache-2.0
// Executor: compiles a graph into a schedule of kernel calls with value slots and lifetimes,
// then runs it. Plans (which steps are needed for which outputs) are cached per request.
// Tested in tests/runtime/test_executor.cpp and by the ONNX conformance suite.
#include "qforge/executor.h"

#include "activation_arena.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace qforge {

namespace {

struct Step {
  const Operation* op = nullptr;
  KernelFn kernel = nullptr;
  std::vector<int> inputs;           // slot per input port (-1: omitted)
  std::vector<int> outputs;          // slot per output port (-1: omitted)
  std::vector<int> implicit_inputs;  // slots read by subgraphs (outer references)
  int fusable_activation = -1;       // schedule index of a Relu/Clip that may run inside this Conv
  std::unique_ptr<KernelState> state;  // the kernel's, kept between runs
};

// Bytes of the activation buffers alive during a run (views and in-place outputs share their
// input's buffer and count once), and the largest total seen: what the schedule's buffer
// release achieves, reported by Executor::peak_activation_bytes.
class LiveBuffers {
 public:
  void hold(const Tensor& t) {
    if (!t.defined()) return;
    auto& [count, bytes] = buffers_[t.raw()];
    if (count++ == 0) {
      bytes = static_cast<int64_t>(t.nbytes());
      live_ += bytes;
      peak_ = std::max(peak_, live_);
    }
  }
  void drop(const Tensor& t) {
    if (!t.defined()) return;
    auto it = buffers_.find(t.raw());
    if (it == buffers_.end() || --it->second.first > 0) return;
    live_ -= it->second.second;
    buffers_.erase(it);
  }
  int64_t peak() const { return peak_; }

 private:
  std::unordered_map<const void*, std::pair<int, int64_t>> buffers_;
  int64_t live_ = 0, peak_ = 0;
};

struct HookEntry {
  int id;
  const Operation* op;  // nullptr: every op
  OperationHook hook;
};

struct Plan {
  std::vector<int> steps;          // indices into schedule, in order
  std::vector<int> release_after;  // per planned step: slots whose last reader it is (flattened)
  std::vector<size_t> release_begin;
  std::vector<int> fuse_into;  // per planned step: planned position of its fusable activation
  ActivationArena::Layout arena_layout;  // where the outputs go, planned from an earlier run
};

// Conv + Relu/Clip fusion: the Conv's only output feeds only the activation, is no graph output
// and no If/Loop/Scan body reads it by name, so no one but the activation can see it (hooks and
// delegates are checked per run).
bool is_clamp_activation(const Operation& op) {
  return (op.domain.empty() || op.domain == "ai.onnx") && (op.type == "Relu" || op.type == "Clip");
}
int fusable_activation(const Operation& conv, const Graph& graph,
                       const std::unordered_map<const Operation*, int>& step_of,
                       const std::unordered_set<std::string>& read_by_subgraphs) {
  if (!(conv.domain.empty() || conv.domain == "ai.onnx") || conv.type != "Conv" ||
      conv.num_outputs() != 1)
    return -1;
  const Variable* out = conv.output(0);
  if (!out || out->consumers().size() != 1 || graph.is_graph_output(out) ||
      read_by_subgraphs.count(out->name))
    return -1;
  const Operation* act = out->consumers()[0];
  if (!is_clamp_activation(*act) || act->input(0) != out || act->num_outputs() != 1) return -1;
  auto it = step_of.find(act);
  return it == step_of.end() ? -1 : it->second;
}

int default_threads() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

// Kahn's algorithm over a const graph, counting subgraph outer references as dependencies.
std::vector<const Operation*> schedule_order(const Graph& graph) {
  std::unordered_map<const Operation*, std::vector<const Operation*>> downstream;
  std::unordered_map<const Operation*, size_t> pending;
  for (const auto& op : graph.operations()) {
    std::unordered_set<const Operation*> producers;
    for (const Variable* in : op->inputs())
      if (in && in->producer() && in->producer() != op.get()) producers.insert(in->producer());
    for (const Graph* sub : op->subgraphs())
      for (const std::string& ref : sub->outer_references())
        if (const Variable* v = graph.find_variable(ref);
            v && v->producer() && v->producer() != op.get())
          producers.insert(v->producer());
    pending[op.get()] = producers.size();
    for (const Operation* p : producers) downstream[p].push_back(op.get());
  }
  std::vector<const Operation*> order;
  std::vector<const Operation*> ready;
  for (const auto& op : graph.operations())
    if (pending[op.get()] == 0) ready.push_back(op.get());
  // Constants first: a Clip's bounds must be known when its Conv runs for the two to fuse, and
  // exporters often place the Constant nodes between them.
  std::stable_partition(ready.begin(), ready.end(),
                        [](const Operation* op) { return op->type == "Constant"; });
  std::reverse(ready.begin(), ready.end());
  while (!ready.empty()) {
    const Operation* op = ready.back();
    ready.pop_back();
    order.push_back(op);
    std::vector<const Operation*> next;
    for (const Operation* d : downstream[op])
      if (--pending[d] == 0) next.push_back(d);
    ready.insert(ready.end(), next.rbegin(), next.rend());
  }
  if (order.size() != graph.operations().size())
    fail(ErrorKind::InvalidModel, "graph '{}' has a cycle", graph.name);
  return order;
}

std::string describe_expected(const Variable& var) {
  return fmt::format("{} {}", dtype_name(var.dtype),
                     var.shape ? dims_to_string(*var.shape) : "[?]");
}

}  // namespace

struct Executor::Impl {
  const Graph& graph;
  int threads;
  std::vector<Step> schedule;
  std::unordered_map<std::string, int> slot_of;  // variable name -> slot
  std::vector<const Variable*> slot_vars;
  std::vector<int> input_slots;   // graph inputs that are not parameters (or overridable)
  std::vector<int> output_slots;  // graph outputs
  std::unordered_map<int, int> producer_step;  // slot -> step index
  std::map<std::string, Plan> plans;
  std::vector<HookEntry> before_hooks, after_hooks;
  int next_hook_id = 1;
  std::map<std::pair<const Operation*, size_t>, QuantizeDelegate> input_delegates, output_delegates;
  std::unordered_map<const Graph*, std::unique_ptr<Executor>> sub_executors;
  // Values visible to subgraphs during a run: the enclosing scope chain.
  const std::map<std::string, Tensor>* enclosing_scope = nullptr;
  int64_t peak_activation_bytes = 0;  // of the last run
  ActivationArena arena;

  bool keep_prepared_weights;
  bool profiling;
  std::vector<std::pair<double, int64_t>> timings;  // per schedule step: ms, calls

  Impl(const Graph& g, int t, const ExecutorOptions& options)
      : graph(g),
        threads(t),
        keep_prepared_weights(options.keep_prepared_weights),
        profiling(options.profile) {}

  int slot(const Variable* var) {
    auto [it, inserted] = slot_of.emplace(var->name, static_cast<int>(slot_vars.size()));
    if (inserted) slot_vars.push_back(var);
    return it->second;
  }

  void compile() {
    for (const Variable* in : graph.inputs()) input_slots.push_back(slot(in));
    for (const Variable* out : graph.outputs()) output_slots.push_back(slot(out));
    std::vector<std::string> unsupported;
    for (const Operation* op : schedule_order(graph)) {
      Step step;
      step.op = op;
      step.kernel = kernel_registry().find(op->domain, op->type, op->opset);
      if (!step.kernel)
        unsupported.push_back(fmt::format("{} (opset {})", op->describe(), op->opset));
      for (const Variable* in : op->inputs()) step.inputs.push_back(in ? slot(in) : -1);
      for (const Variable* out : op->outputs()) step.outputs.push_back(out ? slot(out) : -1);
      for (const Graph* sub : op->subgraphs())
        for (const std::string& ref : sub->outer_references())
          if (const Variable* v = graph.find_variable(ref)) step.implicit_inputs.push_back(slot(v));
      for (int s : step.outputs)
        if (s >= 0) producer_step[s] = static_cast<int>(schedule.size());
      schedule.push_back(std::move(step));
    }
    std::unordered_map<const Operation*, int> step_of;
    for (size_t i = 0; i < schedule.size(); ++i) step_of[schedule[i].op] = static_cast<int>(i);
    std::unordered_set<std::string> read_by_subgraphs;
    for (const auto& op : graph.operations())
      for (const Graph* sub : op->subgraphs())
        for (const std::string& ref : sub->outer_references()) read_by_subgraphs.insert(ref);
    for (Step& step : schedule)
      step.fusable_activation = fusable_activation(*step.op, graph, step_of, read_by_subgraphs);
    if (!unsupported.empty())
      fail(ErrorKind::UnsupportedOp, "no kernel for {} op(s): {}", unsupported.size(),
           fmt::join(unsupported, "; "));
  }

  // Steps needed to compute `wanted` given `provided` slots, with last-use release lists.
  Plan& plan_for(const std::vector<int>& provided, const std::vector<int>& wanted) {
    const std::string key = fmt::format("{}|{}", fmt::join(provided, ","), fmt::join(wanted, ","));
    if (auto it = plans.find(key); it != plans.end()) return it->second;
    std::unordered_set<int> have(provided.begin(), provided.end());
    std::vector<char> needed(schedule.size(), 0);
    std::vector<int> stack(wanted.begin(), wanted.end());
    std::unordered_set<int> visited;
    while (!stack.empty()) {
      const int s = stack.back();
      stack.pop_back();
      if (!visited.insert(s).second || have.count(s)) continue;
      auto producer = producer_step.find(s);
      if (producer == producer_step.end()) continue;  // parameter, input or outer value
      if (needed[static_cast<size_t>(producer->second)]) continue;
      needed[static_cast<size_t>(producer->second)] = 1;
      const Step& step = schedule[static_cast<size_t>(producer->second)];
      for (int in : step.inputs)
        if (in >= 0) stack.push_back(in);
      for (int in : step.implicit_inputs) stack.push_back(in);
    }
    Plan plan;
    for (size_t i = 0; i < schedule.size(); ++i)
      if (needed[i]) plan.steps.push_back(static_cast<int>(i));
    // Last reader of each slot among planned steps; wanted slots are never released.
    std::unordered_map<int, size_t> last_use;
    for (size_t k = 0; k < plan.steps.size(); ++k) {
      const Step& step = schedule[static_cast<size_t>(plan.steps[k])];
      for (int in : step.inputs)
        if (in >= 0) last_use[in] = k;
      for (int in : step.implicit_inputs) last_use[in] = k;
      for (int out : step.outputs)
        if (out >= 0 && !last_use.count(out)) last_use[out] = k;  // unused outputs die at once
    }
    const std::unordered_set<int> keep(wanted.begin(), wanted.end());
    std::vector<std::vector<int>> releases(plan.steps.size());
    for (const auto& [s, k] : last_use)
      if (!keep.count(s) && !slot_vars[static_cast<size_t>(s)]->is_parameter())
        releases[k].push_back(s);
    for (auto& list : releases) {
      std::sort(list.begin(), list.end());
      plan.release_begin.push_back(plan.release_after.size());
      plan.release_after.insert(plan.release_after.end(), list.begin(), list.end());
    }
    plan.release_begin.push_back(plan.release_after.size());
    std::vector<int> position(schedule.size(), -1);
    for (size_t k = 0; k < plan.steps.size(); ++k)
      position[static_cast<size_t>(plan.steps[k])] = static_cast<int>(k);
    for (int index : plan.steps) {
      const Step& step = schedule[static_cast<size_t>(index)];
      const bool fusable = step.fusable_activation >= 0 && !keep.count(step.outputs[0]);
      plan.fuse_into.push_back(fusable ? position[static_cast<size_t>(step.fusable_activation)]
                                       : -1);
    }
    return plans.emplace(key, std::move(plan)).first->second;
  }

  void call_hooks(const std::vector<HookEntry>& hooks, const Operation& op,
                  const std::vector<const Tensor*>& tensors) {
    for (const HookEntry& h : hooks)
      if (!h.op || h.op == &op) h.hook(op, tensors);
  }

  std::vector<Tensor> run_body(const Graph& body, const std::vector<Tensor>& inputs,
                               const std::map<std::string, Tensor>& outer,
                               const std::vector<Tensor>& values) {
    auto& sub = sub_executors[&body];
    if (!sub)
      sub = std::make_unique<Executor>(body,
                                       ExecutorOptions{threads, keep_prepared_weights, profiling});
    // Scope for the body: explicit outer values, then this graph's live values, then ours.
    std::map<std::string, Tensor> scope;
    for (const std::string& ref : body.outer_references()) {
      if (auto it = outer.find(ref); it != outer.end()) {
        scope[ref] = it->second;
      } else if (auto s = slot_of.find(ref);
                 s != slot_of.end() && values[static_cast<size_t>(s->second)].defined()) {
        scope[ref] = values[static_cast<size_t>(s->second)];
      } else if (enclosing_scope) {
        if (auto e = enclosing_scope->find(ref); e != enclosing_scope->end())
          scope[ref] = e->second;
      }
    }
    if (body.inputs().size() != inputs.size())
      fail(ErrorKind::InvalidModel, "subgraph '{}' takes {} inputs, got {}", body.name,
           body.inputs().size(), inputs.size());
    std::map<std::string, Tensor> feeds = scope;
    for (size_t i = 0; i < inputs.size(); ++i) feeds[body.inputs()[i]->name] = inputs[i];
    sub->impl_->enclosing_scope = &scope;
    std::vector<std::string> names;
    for (const Variable* out : body.outputs()) names.push_back(out->name);
    auto result = sub->run_partial(feeds, names);
    sub->impl_->enclosing_scope = nullptr;
    std::vector<Tensor> outputs;
    for (const std::string& n : names) outputs.push_back(result.at(n));
    return outputs;
  }

  // Inputs of step k that the kernel may overwrite: their value dies with this step (last
  // reader, not a graph output), reaches the kernel undelegated, feeds no other port of the
  // step, and no one else (caller, hook, parameter) holds its buffer.
  uint64_t donatable_inputs(const Plan& plan, size_t k, const Step& step,
                            const std::vector<const Tensor*>& inputs,
                            const std::vector<Tensor>& values) const {
    uint64_t mask = 0;
    const auto released_begin =
        plan.release_after.begin() + static_cast<long>(plan.release_begin[k]);
    const auto released_end =
        plan.release_after.begin() + static_cast<long>(plan.release_begin[k + 1]);
    for (size_t i = 0; i < step.inputs.size() && i < 64; ++i) {
      const int s = step.inputs[i];
      if (s < 0 || inputs[i] != &values[static_cast<size_t>(s)] || !inputs[i]->sole_owner())
        continue;
      if (std::count(step.inputs.begin(), step.inputs.end(), s) != 1) continue;
      if (std::count(step.implicit_inputs.begin(), step.implicit_inputs.end(), s) != 0) continue;
      if (std::find(released_begin, released_end, s) == released_end) continue;
      mask |= uint64_t{1} << i;
    }
    return mask;
  }

  void execute(Plan& plan, std::vector<Tensor>& values) {
    arena.begin_run(plan.arena_layout);
    struct EndRun {
      ActivationArena& arena;
      ~EndRun() { arena.end_run(); }
    } end_run{arena};
    LiveBuffers live;
    for (size_t s = 0; s < values.size(); ++s)
      if (!slot_vars[s]->is_parameter()) live.hold(values[s]);
    const bool hooks = !before_hooks.empty() || !after_hooks.empty();
    const bool delegates = !input_delegates.empty() || !output_delegates.empty();
    std::vector<char> fused_away(plan.steps.size(), 0);
    for (size_t k = 0; k < plan.steps.size(); ++k) {
      if (fused_away[k]) {
        release(plan, k, values, live);
        continue;
      }
      Step& step = schedule[static_cast<size_t>(plan.steps[k])];
      const Operation& op = *step.op;
      std::vector<const Tensor*> inputs(step.inputs.size(), nullptr);
      std::vector<Tensor> delegated;
      if (delegates) delegated.resize(step.inputs.size());
      for (size_t i = 0; i < step.inputs.size(); ++i) {
        const int s = step.inputs[i];
        if (s < 0) continue;
        const Tensor& value = values[static_cast<size_t>(s)];
        if (!value.defined()) {
          const Variable* var = slot_vars[static_cast<size_t>(s)];
          if (enclosing_scope) {
            if (auto e = enclosing_scope->find(var->name); e != enclosing_scope->end()) {
              values[static_cast<size_t>(s)] = e->second;
              inputs[i] = &values[static_cast<size_t>(s)];
              continue;
            }
          }
          fail(ErrorKind::InvalidModel, "{}: input {} '{}' has no value (not computed, not fed)",
               op.describe(), i, var->name);
        }
        inputs[i] = &value;
        if (delegates) {
          auto d = input_delegates.find({&op, i});
          if (d != input_delegates.end()) {
            delegated[i] = d->second(value);
            inputs[i] = &delegated[i];
          }
        }
      }
      if (hooks) call_hooks(before_hooks, op, inputs);
      KernelContext ctx(op, inputs, step.outputs.size(), threads);
      ctx.set_arena(&arena, plan.steps[k]);
      ctx.set_donatable_inputs(donatable_inputs(plan, k, step, inputs, values));
      const int fuse = hooks || delegates ? -1 : plan.fuse_into[k];
      if (fuse >= 0) ctx.set_fused_clamp(fused_clamp(plan, fuse, values));
      // Kernel state checks that it still fits the inputs (shapes, the weight buffer it holds),
      // so it stays valid under delegates; kept weights only without them (new every run).
      ctx.set_kernel_state(&step.state, keep_prepared_weights && !delegates);
      ctx.set_subgraph_runner([this, &values](const Graph& body, const std::vector<Tensor>& in,
                                              const std::map<std::string, Tensor>& outer) {
        return run_body(body, in, outer, values);
      });
      const auto start =
          profiling ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
      try {
        step.kernel(ctx);
        if (profiling) {
          auto& [ms, calls] = timings[static_cast<size_t>(plan.steps[k])];
          ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count();
          ++calls;
        }
      } catch (Error& e) {
        const std::string who = fmt::format("node '{}'", op.name);
        if (std::string(e.what()).find(who) == std::string::npos) e.with_context(op.describe());
        throw;
      }
      std::vector<Tensor>& outs = ctx.outputs();
      for (size_t o = 0; o < step.outputs.size(); ++o) {
        const int s = step.outputs[o];
        if (s < 0) continue;
        if (!outs[o].defined())
          fail(ErrorKind::Internal, "{}: kernel produced no value for output {}", op.describe(), o);
        if (delegates) {
          auto d = output_delegates.find({&op, o});
          if (d != output_delegates.end()) outs[o] = d->second(outs[o]);
        }
        values[static_cast<size_t>(s)] = std::move(outs[o]);
        live.hold(values[static_cast<size_t>(s)]);
      }
      if (hooks) {
        std::vector<const Tensor*> produced;
        for (int s : step.outputs)
          produced.push_back(s >= 0 ? &values[static_cast<size_t>(s)] : nullptr);
        call_hooks(after_hooks, op, produced);
      }
      if (ctx.fused_clamp_taken()) {
        // The kernel applied the activation: its output is the activation's, which is skipped.
        const Step& act = schedule[static_cast<size_t>(plan.steps[static_cast<size_t>(fuse)])];
        Tensor& result = values[static_cast<size_t>(act.outputs[0])];
        result = values[static_cast<size_t>(step.outputs[0])];
        live.hold(result);
        fused_away[static_cast<size_t>(fuse)] = 1;
      }
      release(plan, k, values, live);
    }
    peak_activation_bytes = live.peak();
  }

  void release(const Plan& plan, size_t k, std::vector<Tensor>& values, LiveBuffers& live) {
    for (size_t r = plan.release_begin[k]; r < plan.release_begin[k + 1]; ++r) {
      Tensor& dying = values[static_cast<size_t>(plan.release_after[r])];
      live.drop(dying);
      dying = Tensor();
    }
  }

  // The clamp of the Relu/Clip at planned position `fuse`, when its bounds are known now (Clip
  // since opset 11 reads them from inputs, which must then be computed float scalars).
  std::optional<KernelContext::Clamp> fused_clamp(const Plan& plan, int fuse,
                                                  const std::vector<Tensor>& values) const {
    const Step& act = schedule[static_cast<size_t>(plan.steps[static_cast<size_t>(fuse)])];
    const Operation& op = *act.op;
    if (op.type == "Relu")
      return KernelContext::Clamp{0.0f, std::numeric_limits<float>::infinity()};
    // The Clip kernel's defaults, so that an absent bound behaves the same fused or not.
    KernelContext::Clamp clamp{std::numeric_limits<float>::lowest(),
                               std::numeric_limits<float>::max()};
    if (op.opset < 11) {
      clamp.lo = op.attr_float("min", clamp.lo);
      clamp.hi = op.attr_float("max", clamp.hi);
      return clamp;
    }
    for (size_t i = 1; i < 3; ++i) {
      const int s = i < act.inputs.size() ? act.inputs[i] : -1;
      if (s < 0) continue;
      const Tensor& bound = values[static_cast<size_t>(s)];
      if (!bound.defined() || bound.dtype() != DataType::Float || bound.numel() != 1)
        return std::nullopt;
      (i == 1 ? clamp.lo : clamp.hi) = bound.data<float>()[0];
    }
    return clamp;
  }

  void check_input(const Variable& var, const Tensor& value) {
    if (var.dtype != DataType::Undefined && var.dtype != value.dtype())
      fail(ErrorKind::Argument, "input '{}' has dtype {}, the model expects {}", var.name,
           dtype_name(value.dtype()), describe_expected(var));
    if (!var.shape) return;
    bool ok = var.shape->size() == value.shape().size();
    for (size_t i = 0; ok && i < var.shape->size(); ++i)
      if ((*var.shape)[i].is_static() && (*var.shape)[i].value != value.shape()[i]) ok = false;
    if (!ok)
      fail(ErrorKind::Argument, "input '{}' has shape {}, the model expects {}", var.name,
           shape_to_string(value.shape()), describe_expected(var));
  }

  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& feeds,
                                    const std::vector<std::string>& outputs,
                                    bool require_graph_inputs) {
    std::vector<Tensor> values(slot_vars.size());
    for (size_t s = 0; s < slot_vars.size(); ++s)
      if (slot_vars[s]->is_parameter()) values[s] = slot_vars[s]->value;
    std::vector<int> provided;
    for (const auto& [name, tensor] : feeds) {
      auto it = slot_of.find(name);
      if (it == slot_of.end()) {
        if (require_graph_inputs)
          fail(ErrorKind::Argument, "the model has no input named '{}'", name);
        continue;  // outer-scope values not read by this graph
      }
      const Variable* var = slot_vars[static_cast<size_t>(it->second)];
      if (require_graph_inputs) {
        if (!graph.is_graph_input(var))
          fail(ErrorKind::Argument, "'{}' is not an input of the model", name);
        check_input(*var, tensor);
      }
      values[static_cast<size_t>(it->second)] = tensor;
      provided.push_back(it->second);
    }
    if (require_graph_inputs)
      for (const Variable* in : graph.inputs())
        if (!in->is_parameter() && !feeds.count(in->name))
          fail(ErrorKind::Argument, "missing input '{}' (expected {})", in->name,
               describe_expected(*in));
    std::vector<int> wanted;
    for (const std::string& name : outputs) {
      auto it = slot_of.find(name);
      if (it == slot_of.end()) fail(ErrorKind::Argument, "the model has no value named '{}'", name);
      wanted.push_back(it->second);
    }
    std::sort(provided.begin(), provided.end());
    execute(plan_for(provided, wanted), values);
    std::map<std::string, Tensor> result;
    for (size_t i = 0; i < outputs.size(); ++i) {
      Tensor& value = values[static_cast<size_t>(wanted[i])];
      if (!value.defined() && enclosing_scope)
        if (auto e = enclosing_scope->find(outputs[i]); e != enclosing_scope->end())
          value = e->second;
      if (!value.defined())
        fail(ErrorKind::Argument, "value '{}' cannot be computed from the given inputs",
             outputs[i]);
      result[outputs[i]] = value;
    }
    return result;
  }
};

Executor::Executor(const Graph& graph, ExecutorOptions options)
    : graph_(graph),
      threads_(options.threads > 0 ? options.threads : default_threads()),
      impl_(std::make_unique<Impl>(graph, threads_, options)) {
  impl_->compile();
  impl_->timings.assign(impl_->schedule.size(), {0.0, 0});
}

Executor::~Executor() = default;

int64_t Executor::peak_activation_bytes() const {
  return impl_->peak_activation_bytes;
}

std::vector<OperationTiming> Executor::profile() const {
  std::vector<OperationTiming> out;
  for (size_t i = 0; i < impl_->schedule.size(); ++i)
    if (const auto& [ms, calls] = impl_->timings[i]; calls > 0)
      out.push_back({impl_->schedule[i].op->name, impl_->schedule[i].op->type, ms, calls});
  return out;
}

int64_t Executor::arena_bytes() const {
  return static_cast<int64_t>(impl_->arena.block_bytes());
}

std::vector<Tensor> Executor::run(const std::map<std::string, Tensor>& inputs,
                                  const std::vector<std::string>& outputs) {
  std::vector<std::string> names = outputs;
  if (names.empty())
    for (const Variable* out : graph_.outputs()) names.push_back(out->name);
  auto named = impl_->run(inputs, names, true);
  std::vector<Tensor> result;
  for (const std::string& n : names) result.push_back(named.at(n));
  return result;
}

std::map<std::string, Tensor> Executor::run_named(const std::map<std::string, Tensor>& inputs,
                                                  const std::vector<std::string>& outputs) {
  std::vector<std::string> names = outputs;
  if (names.empty())
    for (const Variable* out : graph_.outputs()) names.push_back(out->name);
  return impl_->run(inputs, names, true);
}

std::map<std::string, Tensor> Executor::run_partial(const std::map<std::string, Tensor>& values,
                                                    const std::vector<std::string>& outputs) {
  return impl_->run(values, outputs, false);
}

int Executor::add_before_hook(const Operation* op, OperationHook hook) {
  impl_->before_hooks.push_back({impl_->next_hook_id, op, std::move(hook)});
  return impl_->next_hook_id++;
}

int Executor::add_after_hook(const Operation* op, OperationHook hook) {
  impl_->after_hooks.push_back({impl_->next_hook_id, op, std::move(hook)});
  return impl_->next_hook_id++;
}

void Executor::remove_hook(int id) {
  auto drop = [id](std::vector<HookEntry>& hooks) {
    hooks.erase(
        std::remove_if(hooks.begin(), hooks.end(), [id](const HookEntry& h) { return h.id == id; }),
        hooks.end());
  };
  drop(impl_->before_hooks);
  drop(impl_->after_hooks);
}

void Executor::clear_hooks() {
  impl_->before_hooks.clear();
  impl_->after_hooks.clear();
}

void Executor::set_input_delegate(const Operation* op, size_t index, QuantizeDelegate delegate) {
  if (delegate)
    impl_->input_delegates[{op, index}] = std::move(delegate);
  else
    impl_->input_delegates.erase({op, index});
}

void Executor::set_output_delegate(const Operation* op, size_t index, QuantizeDelegate delegate) {
  if (delegate)
    impl_->output_delegates[{op, index}] = std::move(delegate);
  else
    impl_->output_delegates.erase({op, index});
}

void Executor::clear_delegates() {
  impl_->input_delegates.clear();
  impl_->output_delegates.clear();
}

void trace_operation_meta(Graph& graph, const std::map<std::string, Tensor>& inputs,
                          ExecutorOptions options) {
  Executor executor(graph, options);
  executor.add_after_hook(
      nullptr, [&graph](const Operation& op, const std::vector<const Tensor*>& outputs) {
        for (size_t i = 0; i < outputs.size(); ++i) {
          Variable* var = op.output(i);
          if (!var || !outputs[i]) continue;
          var->dtype = outputs[i]->dtype();
          std::vector<Dim> dims;
          for (int64_t d : outputs[i]->shape()) dims.push_back(Dim{d, ""});
          // A graph output keeps the dims its model declares dynamic (e.g. the batch): the traced
          // sizes are those of one sample input, not a property of the model.
          if (graph.is_graph_output(var) && var->shape && var->shape->size() == dims.size())
            for (size_t d = 0; d < dims.size(); ++d)
              if (!(*var->shape)[d].is_static()) dims[d] = (*var->shape)[d];
          var->shape = std::move(dims);
        }
      });
  std::vector<std::string> everything;
  for (const auto& op : graph.operations())
    for (const Variable* out : op->outputs())
      if (out) everything.push_back(out->name);
  executor.run_named(inputs, everything);
}

std::vector<Tensor> run_operation(const Operation& op, const std::vector<const Tensor*>& inputs,
                                  int threads) {
  KernelFn kernel = kernel_registry().find(op.domain, op.type, op.opset);
  if (!kernel)
    fail(ErrorKind::UnsupportedOp, "{}: no kernel for opset {}", op.describe(), op.opset);
  KernelContext ctx(op, inputs, op.num_outputs(), threads);
  ctx.set_subgraph_runner([threads](const Graph& body, const std::vector<Tensor>& in,
                                    const std::map<std::string, Tensor>& outer) {
    Executor sub(body, ExecutorOptions{threads});
    std::map<std::string, Tensor> feeds = outer;
    for (size_t i = 0; i < in.size() && i < body.inputs().size(); ++i)
      feeds[body.inputs()[i]->name] = in[i];
    std::vector<std::string> names;
    for (const Variable* out : body.outputs()) names.push_back(out->name);
    auto result = sub.run_partial(feeds, names);
    std::vector<Tensor> outs;
    for (const auto& n : names) outs.push_back(result.at(n));
    return outs;
  });
  kernel(ctx);
  return std::move(ctx.outputs());
}

}  // namespace qforge
