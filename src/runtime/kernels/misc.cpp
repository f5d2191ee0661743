// SPDX-License-Identifier: Apache-2.0
// Kernel family: misc. Registered in register_misc_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_misc.cpp.
#include "kernel_families.h"

namespace qforge::kernels {

void register_misc_kernels(KernelRegistry& registry) { (void)registry; }

}  // namespace qforge::kernels
