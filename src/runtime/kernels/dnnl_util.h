// SPDX-License-Identifier: Apache-2.0
// What the kernels that call oneDNN share (conv_dnnl.cpp, conv_channels_last.cpp):
// the CPU engine and running on the executor's thread count.
#pragma once

#include <initializer_list>

#include <dnnl.hpp>

namespace qforge::kernels {

dnnl::engine& dnnl_engine();

// The calling thread's stream on that engine, made once (a stream per call costs allocations).
dnnl::stream& dnnl_stream();

// One argument of a primitive: its DNNL_ARG_* slot and memory (null: left out).
struct DnnlArg {
  int slot;
  const dnnl::memory* memory;
};

// Runs `primitive` on the calling thread's stream (oneDNN's C++ execute takes its arguments in
// a hash map, made and freed on every call), then waits for it.
void dnnl_execute(const dnnl::primitive& primitive, std::initializer_list<DnnlArg> args);

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
