#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Simulation fidelity on trained models: quantize the Fashion-MNIST reference models
# (../shared/models, or MODELS_DIR) on every platform, export QDQ, run in ONNX Runtime with
# graph optimizations off and on, and print how far ORT's outputs are from qforge's simulation
# (in steps of each output's quantization). The test suite runs the same harness on random-weight
# models only; this script adds the trained ones, which the tests must not depend on.
# Usage: bench/fidelity_trained.sh [BUILD]
set -euo pipefail
BUILD=${1:-build}
MODELS_DIR=$(realpath "${MODELS_DIR:-../shared/models}")
QFORGE_FIDELITY_MODELS_DIR=$MODELS_DIR "$BUILD/tests/qforge_tests" \
  --gtest_filter='RealModels/EndToEnd.*fmnist*' 2>&1 | grep -E "output '|layer by layer|FAILED|PASSED"
