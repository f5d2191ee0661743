// SPDX-License-Identifier: Apache-2.0
// Kernel family: normalization. Registered in register_normalization_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_normalization.cpp.
#include "kernel_families.h"

namespace qforge::kernels {

void register_normalization_kernels(KernelRegistry& registry) { (void)registry; }

}  // namespace qforge::kernels
