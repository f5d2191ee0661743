// SPDX-License-Identifier: Apache-2.0
// Kernel family: conv. Registered in register_conv_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_conv.cpp.
#include "kernel_families.h"

namespace qforge::kernels {

void register_conv_kernels(KernelRegistry& registry) { (void)registry; }

}  // namespace qforge::kernels
