// SPDX-License-Identifier: Apache-2.0
// The kernel registry: the one list of kernel families, lookup by (domain, type, opset), and
// the KernelContext helpers. Tested by tests/runtime/test_*.cpp and the ONNX conformance suite.
#include <omp.h>

#include <algorithm>
#include <set>

#include "kernels/kernel_families.h"
#include "qforge/kernel.h"

#include "activation_arena.h"

namespace qforge {

namespace {
using RegisterFamily = void (*)(KernelRegistry&);
constexpr RegisterFamily kFamilies[] = {
    kernels::register_elementwise_kernels,
    kernels::register_activation_kernels,
    kernels::register_reduce_kernels,
    kernels::register_tensor_kernels,
    kernels::register_gather_scatter_kernels,
    kernels::register_resize_kernels,
    kernels::register_conv_kernels,
    kernels::register_gemm_kernels,
    kernels::register_pooling_kernels,
    kernels::register_normalization_kernels,
    kernels::register_rnn_kernels,
    kernels::register_control_flow_kernels,
    kernels::register_quantization_kernels,
    kernels::register_misc_kernels,
    kernels::register_loss_kernels,
};

std::string normalize_domain(const std::string& domain) {
  return domain == "ai.onnx" ? "" : domain;
}
}  // namespace

const Tensor& KernelContext::input(size_t index) const {
  if (!has_input(index))
    fail(ErrorKind::InvalidModel, "{}: required input {} is missing", op_.describe(), index);
  return *inputs_[index];
}

Tensor& KernelContext::allocate_output(size_t index, DataType dtype, const Shape& shape,
                                       OutputInit init) {
  QF_ASSERT(index < outputs_.size());
  const bool zeroed = init == OutputInit::Zeros;
  if (arena_)
    outputs_[index] =
        arena_->allocate(arena_step_ << 16 | static_cast<int64_t>(index), dtype, shape, zeroed);
  else
    outputs_[index] = zeroed ? Tensor(dtype, shape) : Tensor::uninitialized(dtype, shape);
  return outputs_[index];
}

Tensor KernelContext::allocate_scratch(size_t bytes) {
  const Shape shape{static_cast<int64_t>(bytes)};
  // Keys above the outputs' (an op has far fewer than 2^15 outputs).
  if (arena_)
    return arena_->allocate(arena_step_ << 16 | (0x8000 + scratch_count_++), DataType::UInt8, shape,
                            false);
  return Tensor::uninitialized(DataType::UInt8, shape);
}

Tensor& KernelContext::allocate_output_in_place(size_t output, size_t input, DataType dtype,
                                                const Shape& shape) {
  QF_ASSERT(output < outputs_.size());
  const Tensor* in = has_input(input) && input < 64 ? inputs_[input] : nullptr;
  if (in && (donatable_inputs_ >> input & 1) && in->dtype() == dtype && in->shape() == shape &&
      in->sole_owner()) {
    outputs_[output] = *in;
    return outputs_[output];
  }
  return allocate_output(output, dtype, shape, OutputInit::Uninitialized);
}

void KernelContext::set_output(size_t index, Tensor tensor) {
  QF_ASSERT(index < outputs_.size());
  outputs_[index] = std::move(tensor);
}

std::vector<Tensor> KernelContext::run_subgraph(const Graph& body,
                                                const std::vector<Tensor>& inputs,
                                                const std::map<std::string, Tensor>& outer) const {
  if (!subgraph_runner_) fail(ErrorKind::Internal, "{}: no subgraph runner set", op_.describe());
  return subgraph_runner_(body, inputs, outer);
}

void KernelRegistry::add(const KernelEntry& entry) {
  entries_.push_back(entry);
}

KernelFn KernelRegistry::find(const std::string& domain, const std::string& op_type,
                              int64_t opset) const {
  const std::string wanted = normalize_domain(domain);
  for (const KernelEntry& e : entries_)
    if (op_type == e.op_type && wanted == normalize_domain(e.domain) && opset >= e.since_version &&
        opset <= e.until_version)
      return e.fn;
  return nullptr;
}

const KernelRegistry& kernel_registry() {
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    for (RegisterFamily family : kFamilies) family(r);
    return r;
  }();
  return registry;
}

std::vector<std::string> unsupported_operations(const Graph& graph) {
  std::map<std::string, std::vector<std::string>> missing;
  std::function<void(const Graph&)> visit = [&](const Graph& g) {
    for (const auto& op : g.operations()) {
      if (!kernel_registry().find(op->domain, op->type, op->opset)) {
        const std::string key = fmt::format("{} ({}, opset {})", op->type,
                                            op->domain.empty() ? "ai.onnx" : op->domain, op->opset);
        missing[key].push_back(op->name.empty() ? "<unnamed>" : op->name);
      }
      for (Graph* sub : op->subgraphs()) visit(*sub);
    }
  };
  visit(graph);
  std::vector<std::string> out;
  for (const auto& [key, nodes] : missing) {
    std::vector<std::string> shown(nodes.begin(),
                                   nodes.begin() + std::min<size_t>(nodes.size(), 5));
    out.push_back(
        fmt::format("{}: {}{}", key, fmt::join(shown, ", "), nodes.size() > 5 ? ", ..." : ""));
  }
  return out;
}

void parallel_for(int threads, int64_t count, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& body) {
  if (count <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = std::min<int64_t>(std::max(threads, 1), (count + grain - 1) / grain);
  if (chunks <= 1) {
    body(0, count);
    return;
  }
  const int64_t step = (count + chunks - 1) / chunks;
#pragma omp parallel for num_threads(static_cast <int>(chunks)) schedule(static, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * step;
    const int64_t end = std::min(count, begin + step);
    if (begin < end) body(begin, end);
  }
}

}  // namespace qforge
