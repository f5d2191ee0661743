// SPDX-License-Identifier: Apache-2.0
// Kernel family: gemm. Registered in register_gemm_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_gemm.cpp.
#include "kernel_families.h"

namespace qforge::kernels {

void register_gemm_kernels(KernelRegistry& registry) { (void)registry; }

}  // namespace qforge::kernels
