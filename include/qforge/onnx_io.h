// SPDX-License-Identifier: Apache-2.0
// ONNX import and export. Import keeps everything needed for a lossless round trip (opsets,
// metadata, doc strings, value_info, subgraphs, functions, custom domains as opaque ops).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "qforge/graph.h"

namespace qforge {

struct OnnxLoadOptions {
  // Check each standard-domain node against its ONNX schema (attribute types, input counts).
  bool verify_schemas = true;
  // A sparse initializer is densified; one that would take more bytes than this is an error
  // (a few bytes of a malformed file can declare a huge dense shape).
  int64_t max_sparse_dense_bytes = int64_t{4} << 30;
};

// PPQ's name. Errors name the file and, where one is at fault, the node.
std::unique_ptr<Graph> load_onnx_graph(const std::string& path,
                                       const OnnxLoadOptions& options = {});
// Builds libonnx's registry of operator schemas, which the first load checks nodes against:
// about 3 MiB once per process, whatever the model. Memory benchmarks call it before measuring.
void prepare_onnx_schemas();
// `display_name` is used in messages; `base_dir` resolves external data files.
std::unique_ptr<Graph> load_onnx_graph_from_bytes(std::string_view bytes,
                                                  const std::string& display_name,
                                                  const std::string& base_dir,
                                                  const OnnxLoadOptions& options = {});

struct OnnxSaveOptions {
  enum class ExternalData { Auto, Always, Never };
  // Auto: external data only when the model would not fit in a 2 GB protobuf.
  ExternalData external_data = ExternalData::Auto;
  // Tensors at least this large go to the external file when external data is used.
  size_t external_threshold_bytes = 1024;
};

// Writes atomically; with external data, the tensors go to "<model file name>.data" beside it.
void save_onnx_graph(const Graph& graph, const std::string& path,
                     const OnnxSaveOptions& options = {});
// The serialized ModelProto (no external data; fails for models over 2 GB).
std::string serialize_onnx_graph(const Graph& graph);

}  // namespace qforge
