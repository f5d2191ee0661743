// SPDX-License-Identifier: Apache-2.0
// oneDNN helpers shared by the kernel families (dnnl_util.h).
#include "dnnl_util.h"

#include <omp.h>

#include <algorithm>
#include <array>

#include "qforge/error.h"

namespace qforge::kernels {

dnnl::engine& dnnl_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& dnnl_stream() {
  thread_local dnnl::stream stream(dnnl_engine());
  return stream;
}

void dnnl_execute(const dnnl::primitive& primitive, std::initializer_list<DnnlArg> args) {
  std::array<dnnl_exec_arg_t, 8> packed{};
  int count = 0;
  for (const DnnlArg& a : args) {
    if (!a.memory) continue;
    QF_ASSERT(count < static_cast<int>(packed.size()));
    packed[count++] = {a.slot, a.memory->get()};
  }
  dnnl::stream& stream = dnnl_stream();
  dnnl::error::wrap_c_api(
      dnnl_primitive_execute(primitive.get(), stream.get(), count, packed.data()),
      "could not execute a primitive");
  stream.wait();
}

DnnlThreads::DnnlThreads(int threads) : saved_(omp_get_max_threads()) {
  omp_set_num_threads(std::max(threads, 1));
}

DnnlThreads::~DnnlThreads() {
  omp_set_num_threads(saved_);
}

}  // namespace qforge::kernels
