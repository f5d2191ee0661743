// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the ONNX importer and exporter: arbitrary bytes must give a Graph or a
// qforge::Error, never a crash, leak, hang or UB; whatever imports must export and re-import
// to the same bytes. Built with -DQFORGE_FUZZ=ON (clang, CMakeLists.txt); run scripts/fuzz.sh.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "qforge/onnx_io.h"

namespace {

// External data resolves in a private folder holding one file, "weights.bin" (4 KiB), so that
// location, offset and length checks are all reachable and no other file is.
std::string g_data_dir = "/nonexistent-qforge-fuzz";

void remove_data_dir() {
  std::error_code ec;
  std::filesystem::remove_all(g_data_dir, ec);
}

void check(std::string_view bytes, bool verify_schemas) {
  qforge::OnnxLoadOptions options;
  options.verify_schemas = verify_schemas;
  options.max_sparse_dense_bytes = int64_t{64} << 20;  // far below libFuzzer's RSS limit
  std::unique_ptr<qforge::Graph> graph;
  try {
    graph = qforge::load_onnx_graph_from_bytes(bytes, "fuzz.onnx", g_data_dir, options);
  } catch (const qforge::Error&) {
    return;  // rejected cleanly
  }
  // Accepted input: export, re-import and export again must succeed and agree byte for byte
  // (an Error escaping from here is a finding too); so must a deep copy.
  const std::string exported = qforge::serialize_onnx_graph(*graph);
  const auto again =
      qforge::load_onnx_graph_from_bytes(exported, "fuzz-export.onnx", g_data_dir, options);
  if (qforge::serialize_onnx_graph(*again) != exported) std::abort();
  if (qforge::serialize_onnx_graph(*graph->deep_copy()) != exported) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char pattern[] = "/tmp/qforge-fuzz-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) return 0;  // external data then always fails: still fine
  g_data_dir = pattern;
  std::ofstream out(g_data_dir + "/weights.bin", std::ios::binary);
  for (int i = 0; i < 4096; ++i) out.put(static_cast<char>(i * 31));
  std::atexit(remove_data_dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // With schema checks (the default) and without, which lets odd nodes reach the importer.
  check(bytes, true);
  check(bytes, false);
  return 0;
}
