// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the ONNX importer and exporter: arbitrary bytes must give a Graph or a
// qforge::Error, never a crash, leak, hang or UB; whatever imports must export and re-import
// to the same bytes. Built with -DQFORGE_FUZZ=ON (clang, CMakeLists.txt); run scripts/fuzz.sh.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "qforge/onnx_io.h"

namespace {

qforge::OnnxLoadOptions fuzz_options() {
  qforge::OnnxLoadOptions options;
  options.max_sparse_dense_bytes = int64_t{64} << 20;  // stay far below libFuzzer's RSS limit
  return options;
}

// External data must not reach the files of whatever folder the fuzzer runs in.
constexpr const char* kNoFolder = "/nonexistent-qforge-fuzz";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::unique_ptr<qforge::Graph> graph;
  try {
    graph = qforge::load_onnx_graph_from_bytes(bytes, "fuzz.onnx", kNoFolder, fuzz_options());
  } catch (const qforge::Error&) {
    return 0;  // rejected cleanly
  }
  // Accepted input: export, re-import and export again must succeed and agree byte for byte
  // (an Error escaping here is a finding too).
  const std::string exported = qforge::serialize_onnx_graph(*graph);
  const auto again =
      qforge::load_onnx_graph_from_bytes(exported, "fuzz-export.onnx", kNoFolder, fuzz_options());
  if (qforge::serialize_onnx_graph(*again) != exported) std::abort();
  const auto copy = graph->deep_copy();
  if (qforge::serialize_onnx_graph(*copy) != exported) std::abort();
  return 0;
}
