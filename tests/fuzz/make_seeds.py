#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Writes seed models for the ONNX import fuzzer (tests/fuzz/fuzz_onnx_import.cpp) into DIR:
# the forms byte-level mutation of the backend test models rarely reaches (sparse initializers
# and attributes, external data into the fuzzer's weights.bin, typed data of every dtype, every
# attribute and value type, functions, training info, annotations). Run by scripts/fuzz.sh.
# Usage: /usr/bin/python3 tests/fuzz/make_seeds.py DIR   (needs Debian's python3-onnx)
import onnx, sys, os
from onnx import helper as h, TensorProto as T
out = sys.argv[1]
def save(name, graph, **kw):
    m = h.make_model(graph, opset_imports=[h.make_opsetid("", 13)], **kw)
    with open(os.path.join(out, name + ".onnx"), "wb") as f: f.write(m.SerializeToString())
x = h.make_tensor_value_info("x", T.FLOAT, [2, 3])
y = h.make_tensor_value_info("y", T.FLOAT, [2, 3])
# sparse initializer, linear and coordinate indices
vals = h.make_tensor("s", T.FLOAT, [2], [1.5, -2.0])
sp = h.make_sparse_tensor(vals, h.make_tensor("si", T.INT64, [2], [1, 5]), [2, 3])
save("seed_sparse_linear", h.make_graph([h.make_node("Add", ["x", "s"], ["y"])], "g", [x], [y], sparse_initializer=[sp]))
sp2 = h.make_sparse_tensor(vals, h.make_tensor("si", T.INT64, [2, 2], [0, 1, 1, 2]), [2, 3])
save("seed_sparse_coords", h.make_graph([h.make_node("Add", ["x", "s"], ["y"])], "g", [x], [y], sparse_initializer=[sp2]))
# Constant with sparse_value
save("seed_constant_sparse", h.make_graph([h.make_node("Constant", [], ["c"], sparse_value=sp), h.make_node("Add", ["x", "c"], ["y"])], "g", [x], [y]))
# external data: offset/length into weights.bin
w = onnx.TensorProto(); w.name = "w"; w.data_type = T.FLOAT; w.dims.extend([2, 3]); w.data_location = T.EXTERNAL
for k, v in (("location", "weights.bin"), ("offset", "64"), ("length", "24")):
    e = w.external_data.add(); e.key = k; e.value = v
save("seed_external", h.make_graph([h.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], initializer=[w]))
# typed data of every dtype
inits, nodes = [], []
for i, (dt, vals) in enumerate([(T.FLOAT, [1.0, 2.0]), (T.DOUBLE, [1.0, 2.0]), (T.INT8, [-1, 2]), (T.UINT8, [1, 2]),
        (T.INT16, [-1, 2]), (T.UINT16, [1, 2]), (T.INT32, [1, 2]), (T.INT64, [1, 2]), (T.UINT32, [1, 2]),
        (T.UINT64, [1, 2]), (T.BOOL, [True, False]), (T.FLOAT16, [1.0, 2.0]), (T.BFLOAT16, [1.0, 2.0]),
        (T.COMPLEX64, [1+2j, 3+4j]), (T.COMPLEX128, [1+2j, 3+4j]), (T.STRING, [b"a", b"bc"])]):
    inits.append(h.make_tensor(f"t{i}", dt, [2], vals))
    nodes.append(h.make_node("Identity", [f"t{i}"], [f"o{i}"]))
outs = [h.make_value_info(f"o{i}", onnx.TypeProto()) for i in range(len(inits))]
save("seed_typed", h.make_graph(nodes, "g", [], outs, initializer=inits))
# every attribute form on a custom op, value_info kinds, metadata, functions, annotations
seq = h.make_sequence_type_proto(h.make_tensor_type_proto(T.FLOAT, [None, 2]))
opt = h.make_optional_type_proto(h.make_tensor_type_proto(T.INT64, ["N"]))
mp = onnx.TypeProto(); mp.map_type.key_type = T.INT64; mp.map_type.value_type.CopyFrom(h.make_tensor_type_proto(T.FLOAT, []))
node = h.make_node("Everything", ["x"], ["z", ""], domain="com.example", f=1.5, i=3, s="str", t=h.make_tensor("tt", T.INT8, [2], [1, 2]),
                   floats=[1.0], ints=[1, 2], strings=["a"], tensors=[h.make_tensor("t2", T.FLOAT, [1], [1.0])],
                   sparse_tensors=[sp], tp=seq, tps=[opt, mp],
                   g=h.make_graph([h.make_node("Identity", ["x"], ["gy"])], "body", [], [h.make_tensor_value_info("gy", T.FLOAT, None)]))
fn = h.make_function("com.example", "Fn", ["a"], ["b"], [h.make_node("Neg", ["a"], ["b"])], [h.make_opsetid("", 13)])
g = h.make_graph([node, h.make_node("Identity", ["z"], ["y"])], "g", [x], [y],
                 value_info=[h.make_value_info("z", seq), h.make_value_info("q", opt), h.make_value_info("m", mp)])
ann = g.quantization_annotation.add(); ann.tensor_name = "z"
kv = ann.quant_parameter_tensor_names.add(); kv.key = "SCALE_TENSOR"; kv.value = "x"
m = h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid("com.example", 1)], functions=[fn], doc_string="doc")
h.set_model_props(m, {"k": "v"})
m.training_info.add().algorithm.name = "train"
with open(os.path.join(out, "seed_everything.onnx"), "wb") as f: f.write(m.SerializeToString())
