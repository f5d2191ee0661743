// SPDX-License-Identifier: Apache-2.0
// Kernel family: elementwise. Registered in register_elementwise_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_elementwise.cpp.
#include "kernel_families.h"

namespace qforge::kernels {

void register_elementwise_kernels(KernelRegistry& registry) { (void)registry; }

}  // namespace qforge::kernels
