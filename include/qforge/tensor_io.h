// SPDX-License-Identifier: Apache-2.0
// Reading and writing tensors: NumPy .npy/.npz and ONNX TensorProto .pb files.
#pragma once

#include <string>
#include <string_view>

#include "qforge/tensor.h"

namespace qforge {

Tensor read_npy(const std::string& path);
Tensor parse_npy(std::string_view bytes, const std::string& display_name);
void write_npy(const std::string& path, const Tensor& tensor);
std::string serialize_npy(const Tensor& tensor);

// A serialized onnx.TensorProto (as in the ONNX backend test data); `name` receives its name.
Tensor read_tensor_pb(const std::string& path, std::string* name = nullptr);
void write_tensor_pb(const std::string& path, const Tensor& tensor, const std::string& name = "");

}  // namespace qforge
