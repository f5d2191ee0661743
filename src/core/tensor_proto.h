// SPDX-License-Identifier: Apache-2.0
// Tensor <-> onnx::TensorProto. Internal: the public API never exposes protobuf types.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>

#include "qforge/tensor.h"

namespace qforge {

// `base_dir` resolves external data; `what` names the tensor in errors.
Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& base_dir,
                         const std::string& what);
// Writes dims, data_type and raw_data (string tensors use string_data).
void tensor_to_proto(const Tensor& tensor, onnx::TensorProto* proto);
// Dense tensor from a SparseTensorProto; fails when it would take over `max_dense_bytes`.
constexpr int64_t kMaxSparseDenseBytes = int64_t{4} << 30;
Tensor tensor_from_sparse_proto(const onnx::SparseTensorProto& proto, const std::string& base_dir,
                                const std::string& what,
                                int64_t max_dense_bytes = kMaxSparseDenseBytes);

}  // namespace qforge
