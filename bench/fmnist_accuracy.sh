#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Quantized accuracy benchmark on the trained Fashion-MNIST reference models (../shared/models,
# or MODELS_DIR): for each model, TRT_INT8 with default settings, calibration on the first N
# training images; FP32 and INT8 top-1 on all 10,000 test images in ONNX Runtime (default
# optimizations, i.e. its int8 kernels); calibration wall time and peak RSS of `qforge quantize`
# for 64 and 512 samples. Prints a markdown table.
set -euo pipefail
BUILD=${1:-build}
MODELS_DIR=${MODELS_DIR:-../shared/models}
export QFORGE_BUILD=$BUILD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 scripts/fmnist.py data "$work/data" --calib 512
echo "| model | FP32 top-1 | INT8 top-1 (TRT_INT8, 512 samples) | quantize time 64 / 512 samples | peak RSS 64 / 512 samples |"
echo "| --- | --- | --- | --- | --- |"
for model in "$MODELS_DIR"/fmnist_*.onnx; do
  name=$(basename "$model" .onnx)
  declare -A secs rss
  for n in 64 512; do
    /usr/bin/time -f "%e %M" -o "$work/time_$n" "$BUILD/qforge" quantize "$model" --calib "$work/data/calib" \
      --platform trt_int8 -o "$work/${name}_$n.onnx" --steps "$n" > /dev/null
    read -r secs[$n] rss[$n] < "$work/time_$n"
  done
  fp32=$(scripts/ort_eval.sh "$model" "$work/data/test_x.npy" "$work/data/test_y.npy")
  int8=$(scripts/ort_eval.sh "$work/${name}_512.onnx" "$work/data/test_x.npy" "$work/data/test_y.npy")
  echo "| $name | $fp32% | $int8% | ${secs[64]} s / ${secs[512]} s | $((rss[64] / 1024)) MiB / $((rss[512] / 1024)) MiB |"
done
