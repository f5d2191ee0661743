#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Fashion-MNIST helpers for the demo and the accuracy benchmark (Debian's dataset-fashion-mnist).

  fmnist.py data OUT_DIR [--calib N]     calibration samples OUT_DIR/calib/NNNN.npy (first N training
                                          images) and the test set OUT_DIR/test_x.npy, test_y.npy
  fmnist.py train OUT.onnx [--epochs E]   trains a small CNN with python3-torch, exports ONNX opset 13
  fmnist.py accuracy LOGITS.npy LABELS.npy   prints top-1 accuracy in percent

Pixels are normalised as (x/255 - 0.2860) / 0.3530, the layout the reference models use.
"""
import argparse
import gzip
import os
import sys

import numpy as np

DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def normalised(images):
    return ((images.astype(np.float32) / 255.0 - MEAN) / STD)[:, None, :, :]


def cmd_data(args):
    calib = os.path.join(args.out, "calib")
    os.makedirs(calib, exist_ok=True)
    train = normalised(read_idx("train-images-idx3-ubyte.gz")[: args.calib])
    for i, image in enumerate(train):
        np.save(os.path.join(calib, f"{i:05d}.npy"), image[None])
    np.save(os.path.join(args.out, "test_x.npy"), normalised(read_idx("t10k-images-idx3-ubyte.gz")))
    np.save(os.path.join(args.out, "test_y.npy"), read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))


def cmd_train(args):
    import torch
    from torch import nn

    torch.manual_seed(0)
    x = torch.from_numpy(normalised(read_idx("train-images-idx3-ubyte.gz")))
    y = torch.from_numpy(read_idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        # A classifier over the whole 7x7 map: global pooling here held top-1 near 80%.
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    torch.set_num_threads(os.cpu_count() or 1)
    for epoch in range(args.epochs):
        order = torch.randperm(len(x))
        model.train()
        for start in range(0, len(x), 128):
            idx = order[start:start + 128]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}/{args.epochs}: last batch loss {loss.item():.3f}", file=sys.stderr)
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), args.out, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)


def cmd_accuracy(args):
    logits = np.load(args.logits)
    labels = np.load(args.labels)
    print(f"{100.0 * float(np.mean(logits.argmax(axis=1) == labels)):.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("data"); p.add_argument("out"); p.add_argument("--calib", type=int, default=512)
    p = sub.add_parser("train"); p.add_argument("out"); p.add_argument("--epochs", type=int, default=2)
    p = sub.add_parser("accuracy"); p.add_argument("logits"); p.add_argument("labels")
    args = parser.parse_args()
    {"data": cmd_data, "train": cmd_train, "accuracy": cmd_accuracy}[args.cmd](args)


if __name__ == "__main__":
    main()
