// SPDX-License-Identifier: Apache-2.0
// Kernel family: rnn. Registered in register_rnn_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_rnn.cpp.
#include "kernel_families.h"

namespace qforge::kernels {

void register_rnn_kernels(KernelRegistry& registry) { (void)registry; }

}  // namespace qforge::kernels
