// SPDX-License-Identifier: Apache-2.0
// Kernel family: gather_scatter. Registered in register_gather_scatter_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_gather_scatter.cpp.
#include "kernel_families.h"

namespace qforge::kernels {

void register_gather_scatter_kernels(KernelRegistry& registry) { (void)registry; }

}  // namespace qforge::kernels
