// SPDX-License-Identifier: Apache-2.0
// The kernel interface. A kernel is a function registered by (domain, op type, opset range) in
// its family's register function (src/runtime/kernels/<family>.cpp); the family list is in
// src/runtime/kernel_registry.cpp. Kernels read inputs (nullptr: omitted optional input),
// allocate outputs through the context and report bad input with fail(...).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "qforge/graph.h"
#include "qforge/tensor.h"

namespace qforge {

class KernelContext;
class ActivationArena;  // the executor's (src/runtime/activation_arena.h)
using KernelFn = void (*)(KernelContext& ctx);

// What a kernel keeps for one op between runs of an executor: prepared library primitives,
// weights in the layout a library wants. A kernel derives its own type and must check that the
// state still fits its inputs (shapes; the weight tensor's buffer, which the state holds on to
// so that the buffer cannot be replaced by another at the same address) before using it.
class KernelState {
 public:
  virtual ~KernelState() = default;
};

// Runs a subgraph (If/Loop/Scan bodies) with the given graph inputs; outer-scope names are
// resolved through `outer` first, then the enclosing scopes of the caller.
using SubgraphRunner =
    std::function<std::vector<Tensor>(const Graph& body, const std::vector<Tensor>& inputs,
                                      const std::map<std::string, Tensor>& outer)>;

class KernelContext {
 public:
  KernelContext(const Operation& op, std::vector<const Tensor*> inputs, size_t num_outputs,
                int num_threads)
      : op_(op), inputs_(std::move(inputs)), outputs_(num_outputs), num_threads_(num_threads) {}

  const Operation& op() const { return op_; }
  size_t num_inputs() const { return inputs_.size(); }
  size_t num_outputs() const { return outputs_.size(); }
  bool has_input(size_t index) const { return index < inputs_.size() && inputs_[index] != nullptr; }
  // Fails with a clear message naming the node when the input is missing.
  const Tensor& input(size_t index) const;
  const Tensor* optional_input(size_t index) const {
    return has_input(index) ? inputs_[index] : nullptr;
  }
  // Whether the graph consumes output `index` (optional outputs may be skipped when not).
  bool output_wanted(size_t index) const {
    return index < outputs_.size() && op_.output(index) != nullptr;
  }

  // Allocates output `index` and returns it: zero-filled, or, for kernels that write every
  // element, OutputInit::Uninitialized (saves a memory sweep per op).
  enum class OutputInit { Zeros, Uninitialized };
  Tensor& allocate_output(size_t index, DataType dtype, const Shape& shape,
                          OutputInit init = OutputInit::Zeros);
  // Output `output` for an element-wise kernel (element i of the output depends only on element
  // i of input `input`): the input's own buffer when the executor has said nothing reads it
  // afterwards and dtype and shape match, else a fresh uninitialized allocation.
  Tensor& allocate_output_in_place(size_t output, size_t input, DataType dtype, const Shape& shape);
  // Set by the executor: input ports whose value dies with this op and has no other owner.
  void set_donatable_inputs(uint64_t mask) { donatable_inputs_ = mask; }

  // Sets output `index` to an existing tensor (e.g. a view that shares an input's buffer).
  void set_output(size_t index, Tensor tensor);
  std::vector<Tensor>& outputs() { return outputs_; }

  int num_threads() const { return num_threads_; }

  // A Relu or Clip that the executor fused into this op (Conv, when no hook or delegate could
  // observe the op's own output): the output is to be clamped as std::min(std::max(v, lo), hi),
  // which keeps NaN. A kernel that applies it takes it; when none does, the executor runs the
  // activation as its own op.
  struct Clamp {
    float lo, hi;
  };
  void set_fused_clamp(std::optional<Clamp> clamp) { fused_clamp_ = clamp; }
  std::optional<Clamp> take_fused_clamp() {
    fused_clamp_taken_ = fused_clamp_.has_value();
    return fused_clamp_;
  }
  bool fused_clamp_taken() const { return fused_clamp_taken_; }

  // The op's state slot, owned by the executor's schedule; nullptr outside an executor. Inputs
  // such as weights may be new tensors every run (delegates): a state must check that it still
  // fits them. Weights reordered for a library may be kept in it only when may_keep_weights()
  // (it costs memory; never while delegates are set).
  std::unique_ptr<KernelState>* kernel_state() const { return kernel_state_; }
  bool may_keep_weights() const { return keep_weights_; }
  void set_kernel_state(std::unique_ptr<KernelState>* slot, bool keep_weights) {
    kernel_state_ = slot;
    keep_weights_ = keep_weights;
  }

  // Working memory for the kernel, freed when the returned tensor goes: from the executor's
  // arena, where it may share bytes with activations that are dead by then.
  Tensor allocate_scratch(size_t bytes);

  // Outputs come from the executor's arena (key: this op's schedule position); from the heap
  // when none is set.
  void set_arena(ActivationArena* arena, int64_t step) {
    arena_ = arena;
    arena_step_ = step;
  }

  void set_subgraph_runner(SubgraphRunner runner) { subgraph_runner_ = std::move(runner); }
  std::vector<Tensor> run_subgraph(const Graph& body, const std::vector<Tensor>& inputs,
                                   const std::map<std::string, Tensor>& outer = {}) const;

  // Attribute shortcuts (errors name the node).
  int64_t attr_int(std::string_view name, int64_t fallback) const {
    return op_.attr_int(name, fallback);
  }
  float attr_float(std::string_view name, float fallback) const {
    return op_.attr_float(name, fallback);
  }
  std::string attr_string(std::string_view name, const std::string& fallback) const {
    return op_.attr_string(name, fallback);
  }
  std::vector<int64_t> attr_ints(std::string_view name,
                                 const std::vector<int64_t>& fallback = {}) const {
    return op_.attr_ints(name, fallback);
  }
  std::vector<float> attr_floats(std::string_view name,
                                 const std::vector<float>& fallback = {}) const {
    return op_.attr_floats(name, fallback);
  }

 private:
  const Operation& op_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor> outputs_;
  int num_threads_ = 1;
  uint64_t donatable_inputs_ = 0;
  std::optional<Clamp> fused_clamp_;
  bool fused_clamp_taken_ = false;
  std::unique_ptr<KernelState>* kernel_state_ = nullptr;
  bool keep_weights_ = false;
  SubgraphRunner subgraph_runner_;
  ActivationArena* arena_ = nullptr;
  int64_t arena_step_ = 0;
  int64_t scratch_count_ = 0;
};

struct KernelEntry {
  const char* domain;  // "" for the standard ONNX domain
  const char* op_type;
  int since_version;  // first opset this kernel implements
  int until_version;  // last opset (inclusive); use kLatestOpset when open-ended
  KernelFn fn;
};
constexpr int kLatestOpset = 1000;

class KernelRegistry {
 public:
  void add(const KernelEntry& entry);
  void add(const char* domain, const char* op_type, int since, int until, KernelFn fn) {
    add(KernelEntry{domain, op_type, since, until, fn});
  }
  // nullptr when no kernel covers (domain, type, opset). "ai.onnx" and "" are the same domain.
  KernelFn find(const std::string& domain, const std::string& op_type, int64_t opset) const;
  const std::vector<KernelEntry>& entries() const { return entries_; }

 private:
  std::vector<KernelEntry> entries_;
};

// The registry with every kernel family registered, built once and then read-only.
const KernelRegistry& kernel_registry();

// Ops of `graph` (and its subgraphs) without a kernel: "Type (domain, opset N): node names".
std::vector<std::string> unsupported_operations(const Graph& graph);

// Splits [0, count) into chunks run on up to `threads` threads (OpenMP); grain: minimum chunk.
void parallel_for(int threads, int64_t count, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& body);

}  // namespace qforge
