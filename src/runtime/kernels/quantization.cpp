// SPDX-License-Identifier: Apache-2.0
// Kernel family: quantization. Registered in register_quantization_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_quantization.cpp.
#include "kernel_families.h"

namespace qforge::kernels {

void register_quantization_kernels(KernelRegistry& registry) { (void)registry; }

}  // namespace qforge::kernels
