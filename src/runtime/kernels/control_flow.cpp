// SPDX-License-Identifier: Apache-2.0
// Kernel family: control_flow. Registered in register_control_flow_kernels (listed in
// src/runtime/kernel_registry.cpp); tested in tests/runtime/test_control_flow.cpp.
#include "kernel_families.h"

namespace qforge::kernels {

void register_control_flow_kernels(KernelRegistry& registry) { (void)registry; }

}  // namespace qforge::kernels
