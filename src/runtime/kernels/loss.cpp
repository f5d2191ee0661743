// SPDX-License-Identifier: Apache-2.0
// Kernel family: loss. Registered in register_loss_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_loss.cpp.
#include "kernel_families.h"

namespace qforge::kernels {

void register_loss_kernels(KernelRegistry& registry) { (void)registry; }

}  // namespace qforge::kernels
