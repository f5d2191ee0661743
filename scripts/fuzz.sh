#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fuzzes the ONNX importer/exporter (tests/fuzz/fuzz_onnx_import.cpp) with libFuzzer for a
# bounded time: builds it with clang, ASan and UBSan in build-fuzz, seeds a corpus with the
# small models of the ONNX backend test data, and stops at the first crash, leak or UB.
# Usage: scripts/fuzz.sh [SECONDS=60] [extra libFuzzer flags...]
#   FUZZ_CORPUS=DIR  keep the corpus in DIR (default: a temporary folder, removed at exit)
#   FUZZ_JOBS=N      parallel fuzzing processes (default 1)
# A crashing input is saved as build-fuzz/artifacts/crash-*; replay it with
#   build-fuzz/fuzz_onnx_import build-fuzz/artifacts/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
build=build-fuzz
testdata=/usr/share/libonnx-testdata/data

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ is missing (scripts/setup.sh installs it)" >&2; exit 1; }
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DQFORGE_FUZZ=ON -DQFORGE_BUILD_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" -j2 fuzz_onnx_import

corpus=${FUZZ_CORPUS:-}
if [ -z "$corpus" ]; then
  corpus=$(mktemp -d)
  trap 'rm -rf "$corpus"' EXIT
fi
mkdir -p "$corpus" "$build/artifacts"
if [ -z "$(ls -A "$corpus")" ] && [ -d "$testdata/node" ]; then
  # A few hundred small node models (every op family, subgraphs, typed and raw tensors) and the
  # simple/ models (sequences, strings, typed initializers, IR v3).
  { find "$testdata/node" -name model.onnx -size -4k | sort | sed -n "1,400p"
    find "$testdata/simple" -name model.onnx -size -16k | sort; } | while read -r model; do
    cp "$model" "$corpus/$(basename "$(dirname "$model")").onnx"
  done
  # Hand-made seeds for sparse, external, typed and rare forms (Debian's python3-onnx).
  /usr/bin/python3 tests/fuzz/make_seeds.py "$corpus" 2>/dev/null ||
    echo "fuzz.sh: no python3-onnx, hand-made seeds skipped"
fi
echo "fuzz.sh: $(ls "$corpus" | wc -l) corpus files, ${seconds}s"

# halt_on_error makes UBSan findings crashes that libFuzzer reports and saves.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0
jobs=${FUZZ_JOBS:-1}
"$build/fuzz_onnx_import" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -artifact_prefix="$build/artifacts/" -print_final_stats=1 \
  $([ "$jobs" -gt 1 ] && echo "-jobs=$jobs -workers=$jobs") "$@" "$corpus"
