// SPDX-License-Identifier: Apache-2.0
// Kernel family: reduce. Registered in register_reduce_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_reduce.cpp.
#include "kernel_families.h"

namespace qforge::kernels {

void register_reduce_kernels(KernelRegistry& registry) { (void)registry; }

}  // namespace qforge::kernels
