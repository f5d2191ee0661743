// SPDX-License-Identifier: Apache-2.0
// Kernel family: tensor. Registered in register_tensor_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_tensor.cpp.
#include "kernel_families.h"

namespace qforge::kernels {

void register_tensor_kernels(KernelRegistry& registry) { (void)registry; }

}  // namespace qforge::kernels
