// SPDX-License-Identifier: Apache-2.0
// Kernel family: pooling. Registered in register_pooling_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_pooling.cpp.
#include "kernel_families.h"

namespace qforge::kernels {

void register_pooling_kernels(KernelRegistry& registry) { (void)registry; }

}  // namespace qforge::kernels
