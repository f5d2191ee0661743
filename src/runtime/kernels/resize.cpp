// SPDX-License-Identifier: Apache-2.0
// Kernel family: resize. Registered in register_resize_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_resize.cpp.
#include "kernel_families.h"

namespace qforge::kernels {

void register_resize_kernels(KernelRegistry& registry) { (void)registry; }

}  // namespace qforge::kernels
