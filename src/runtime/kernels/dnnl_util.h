// SPDX-License-Identifier: Apache-2.0
// What the kernels that call oneDNN share (conv_dnnl.cpp, conv_channels_last.cpp):
// the CPU engine and running on the executor's thread count.
#pragma once

#include <dnnl.hpp>

namespace qforge::kernels {

dnnl::engine& dnnl_engine();

// oneDNN threads through the same OpenMP pool as parallel_for and takes its thread count from
// omp_set_num_threads: set for the scope of one call, restored after.
class DnnlThreads {
 public:
  explicit DnnlThreads(int threads);
  ~DnnlThreads();
  DnnlThreads(const DnnlThreads&) = delete;
  DnnlThreads& operator=(const DnnlThreads&) = delete;

 private:
  int saved_;
};

}  // namespace qforge::kernels
