#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Exports torchvision's resnet18 and mobilenet_v2 (weights=None, seeded, so every machine gets
# the same model; BatchNorm statistics measured on random inputs) to ONNX opset 13 with a
# dynamic batch axis, for the real-model tests and the speed benchmark. Run by scripts/setup.sh with Debian's python3-torch; no download involved.
# Usage: /usr/bin/python3 scripts/export_torchvision.py OUT_DIR
import os
import sys

import torch
import torchvision

out_dir = sys.argv[1]
os.makedirs(out_dir, exist_ok=True)
for arch in ("resnet18", "mobilenet_v2"):
    path = os.path.join(out_dir, arch + ".onnx")
    if os.path.exists(path):
        continue
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None)
    # Freshly initialised BatchNorm statistics (mean 0, var 1) let activations shrink layer by
    # layer (mobilenet_v2's outputs ended near 1e-9); statistics measured on random inputs keep
    # every layer's values in a normal range, so tests compare meaningful numbers.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the passes below
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(8, 3, 224, 224))
    model.eval()
    tmp = path + ".tmp"
    torch.onnx.export(model, torch.zeros(1, 3, 224, 224), tmp, opset_version=13,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
    os.replace(tmp, path)
    print(f"export_torchvision: wrote {path}")
