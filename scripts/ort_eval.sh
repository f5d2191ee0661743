#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ort_eval.sh MODEL.onnx X.npy LABELS.npy [all|disabled]: top-1 accuracy (%) of MODEL in ONNX
# Runtime on stacked inputs X (one run over the whole batch). Input name is read from the model.
set -euo pipefail
model=$1 x=$2 labels=$3 opt=${4:-all}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$(cd "$(dirname "$0")/.." && pwd)
input=$("$root/${QFORGE_BUILD:-build}/qforge" inspect --json "$model" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['inputs'][0]['name'])")
printf '[{"model": "%s", "inputs": {"%s": "%s"}, "output_dir": "%s/out", "optimization": "%s"}]' \
  "$model" "$input" "$x" "$tmp" "$opt" > "$tmp/jobs.json"
node "$root/scripts/ort_run.js" "$tmp/jobs.json" "$tmp/results.json"
/usr/bin/python3 -c "import json,sys; r=json.load(open('$tmp/results.json'))[0]; sys.exit(0 if r['ok'] else print(r['error'], file=sys.stderr) or 1)"
/usr/bin/python3 "$root/scripts/fmnist.py" accuracy "$tmp/out/0.npy" "$labels"
