// SPDX-License-Identifier: Apache-2.0
// oneDNN helpers shared by the kernel families (dnnl_util.h).
#include "dnnl_util.h"

#include <omp.h>

#include <algorithm>

namespace qforge::kernels {

dnnl::engine& dnnl_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

DnnlThreads::DnnlThreads(int threads) : saved_(omp_get_max_threads()) {
  omp_set_num_threads(std::max(threads, 1));
}

DnnlThreads::~DnnlThreads() {
  omp_set_num_threads(saved_);
}

}  // namespace qforge::kernels
