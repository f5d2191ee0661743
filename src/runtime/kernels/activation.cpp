// SPDX-License-Identifier: Apache-2.0
// Kernel family: activation. Registered in register_activation_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_activation.cpp.
#include "kernel_families.h"

namespace qforge::kernels {

void register_activation_kernels(KernelRegistry& registry) { (void)registry; }

}  // namespace qforge::kernels
