#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes single-op ONNX models of layers from the benchmark models, to time one kernel alone:
  bench/one_op_models.py DIR
then e.g. `build/qforge bench DIR/add_96x112.onnx --threads 1`. Random weights, batch 1."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save(path, node, inputs, weights=()):
    graph = helper.make_graph(
        [node], os.path.basename(path),
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, n) for n, w in weights])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def conv(path, cin, cout, hw, k, stride=1, group=1):
    rng = np.random.RandomState(0)
    w = rng.rand(cout, cin // group, k, k).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[k, k], strides=[stride] * 2,
                            pads=[k // 2] * 4, group=group)
    save(path, node, [("x", [1, cin, hw, hw])], [("w", w)])


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    save(os.path.join(out, "add_96x112.onnx"), helper.make_node("Add", ["a", "b"], ["c"]),
         [("a", [1, 96, 112, 112]), ("b", [1, 96, 112, 112])])
    conv(os.path.join(out, "dw_32x112.onnx"), 32, 32, 112, 3, group=32)         # mobilenet_v2
    conv(os.path.join(out, "dw_960x7.onnx"), 960, 960, 7, 3, group=960)
    conv(os.path.join(out, "pw_16to96x112.onnx"), 16, 96, 112, 1)
    conv(os.path.join(out, "conv_64x56.onnx"), 64, 64, 56, 3)                   # resnet18
    conv(os.path.join(out, "conv_256x14.onnx"), 256, 256, 14, 3)
    conv(os.path.join(out, "conv_512x7.onnx"), 512, 512, 7, 3)
    conv(os.path.join(out, "conv_128to256s2x28.onnx"), 128, 256, 28, 3, stride=2)
    conv(os.path.join(out, "conv_96to24x160.onnx"), 96, 24, 160, 3)             # PaddleOCR det


if __name__ == "__main__":
    main()
