// SPDX-License-Identifier: Apache-2.0
// PPQ's executor: compiles a graph once into a schedule (topological order, tensor lifetimes)
// and runs it many times. Hooks see every op's inputs and outputs; per-port quantize delegates
// transform tensors entering or leaving an op (fake quantization plugs in there).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "qforge/graph.h"
#include "qforge/kernel.h"

namespace qforge {

struct ExecutorOptions {
  int threads = 0;  // 0: all cores
  // Convs keep their weights in the layout the conv library wants between runs instead of
  // reordering them on every call: faster (resnet18, 1 thread: about 35 -> 29 ms) but holds a
  // second copy of those weights (resnet18: +42 MiB). Never while delegates are set.
  bool keep_prepared_weights = false;
  // Time every kernel call (Executor::profile); off by default, it costs a clock read per op.
  bool profile = false;
};

// Time spent in one op's kernel over all runs since the executor was made (a Relu/Clip fused
// into its Conv counts with the Conv).
struct OperationTiming {
  std::string name, type;
  double total_ms = 0;
  int64_t calls = 0;
};

// Called before (inputs) or after (outputs) an op runs; tensors may be nullptr for omitted ports.
using OperationHook =
    std::function<void(const Operation& op, const std::vector<const Tensor*>& tensors)>;
// Replaces the tensor flowing through one port (e.g. fake quantization).
using QuantizeDelegate = std::function<Tensor(const Tensor& value)>;

class Executor {
 public:
  explicit Executor(const Graph& graph, ExecutorOptions options = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Runs the graph. `outputs` names the variables to return (default: the graph outputs). A
  // missing or mis-shaped input is an error naming the input and the expected shape.
  std::vector<Tensor> run(const std::map<std::string, Tensor>& inputs,
                          const std::vector<std::string>& outputs = {});
  // Same, returning every requested value by name.
  std::map<std::string, Tensor> run_named(const std::map<std::string, Tensor>& inputs,
                                          const std::vector<std::string>& outputs = {});
  // Runs only the ops needed to compute `outputs` from the given values (any variables, not
  // only graph inputs): PPQ's partial execution.
  std::map<std::string, Tensor> run_partial(const std::map<std::string, Tensor>& values,
                                            const std::vector<std::string>& outputs);

  // Hooks: op == nullptr registers for every op. Returns an id for remove_hook.
  int add_before_hook(const Operation* op, OperationHook hook);
  int add_after_hook(const Operation* op, OperationHook hook);
  void remove_hook(int id);
  void clear_hooks();

  // Delegates on input/output port `index` of `op`; nullptr delegate removes it.
  void set_input_delegate(const Operation* op, size_t index, QuantizeDelegate delegate);
  void set_output_delegate(const Operation* op, size_t index, QuantizeDelegate delegate);
  void clear_delegates();

  const Graph& graph() const { return graph_; }
  int threads() const { return threads_; }
  // The largest total size of activations (fed inputs and op outputs, not parameters; a view
  // or in-place output counts once with its input) alive at one time during the last run.
  int64_t peak_activation_bytes() const;
  // Op outputs and kernel scratch come from one block, reused run after run at offsets planned
  // from the first run with the same shapes (src/runtime/activation_arena.h): its size, 0
  // before any run was planned.
  int64_t arena_bytes() const;
  // Per op, in schedule order (ops that never ran omitted); empty unless options.profile.
  std::vector<OperationTiming> profile() const;

 private:
  struct Impl;
  const Graph& graph_;
  int threads_;
  std::unique_ptr<Impl> impl_;
};

// PPQ's tracing_operation_meta: runs the graph once on `inputs` and records each variable's
// dtype and static shape on the graph (and inside subgraphs where they ran).
void trace_operation_meta(Graph& graph, const std::map<std::string, Tensor>& inputs,
                          ExecutorOptions options = {});

// Evaluates one op on concrete inputs (constant folding, tests).
std::vector<Tensor> run_operation(const Operation& op, const std::vector<const Tensor*>& inputs,
                                  int threads = 1);

}  // namespace qforge
