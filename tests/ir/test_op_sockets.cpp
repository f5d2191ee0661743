// SPDX-License-Identifier: Apache-2.0
// Op sockets: explicit rows, schema-derived roles, and full coverage of the standard domain.
#include <gtest/gtest.h>
#include <onnx/defs/schema.h>

#include "qforge/op_sockets.h"

namespace qforge {
namespace {

TEST(OpSockets, ExplicitRows) {
  const OpSocket conv = op_socket("", "Conv", 13, 3, 1);
  EXPECT_EQ(conv.inputs, (std::vector<PortRole>{PortRole::Data, PortRole::Parameter, PortRole::Parameter}));
  EXPECT_EQ(conv.flows, (std::vector<std::pair<size_t, size_t>>{{0, 0}}));
  const OpSocket reshape = op_socket("", "Reshape", 13, 2, 1);
  EXPECT_EQ(reshape.inputs[1], PortRole::SOI);
  const OpSocket resize = op_socket("", "Resize", 13, 4, 1);
  EXPECT_EQ(resize.inputs, (std::vector<PortRole>{PortRole::Data, PortRole::SOI, PortRole::SOI, PortRole::SOI}));
  const OpSocket concat = op_socket("", "Concat", 13, 5, 1);
  EXPECT_EQ(concat.inputs.size(), 5u);
  EXPECT_EQ(concat.flows.size(), 5u);
  EXPECT_EQ(op_socket("", "Shape", 15, 1, 1).outputs[0], PortRole::SOI);
}

TEST(OpSockets, SchemaDerivedRoles) {
  // Not in the explicit table: roles come from the ONNX schema.
  const OpSocket depth = op_socket("", "DepthToSpace", 13, 1, 1);
  EXPECT_EQ(depth.inputs[0], PortRole::Data);
  const OpSocket relu = op_socket("", "Relu", 14, 1, 1);
  EXPECT_EQ(relu.flows.size(), 1u);
  const OpSocket eye = op_socket("", "NonZero", 13, 1, 1);
  EXPECT_EQ(eye.outputs[0], PortRole::SOI);
  // Unknown custom op: data in, data out.
  const OpSocket custom = op_socket("my.domain", "Fancy", 1, 2, 1);
  EXPECT_EQ(custom.inputs, (std::vector<PortRole>{PortRole::Data, PortRole::Data}));
}

TEST(OpSockets, EveryStandardOpHasASocket) {
  size_t ops = 0;
  for (const onnx::OpSchema& schema : onnx::OpSchemaRegistry::get_all_schemas()) {
    if (!schema.domain().empty()) continue;
    const size_t ins = schema.inputs().size(), outs = std::max<size_t>(schema.outputs().size(), 1);
    const OpSocket socket = op_socket("", schema.Name(), schema.SinceVersion(), ins, outs);
    EXPECT_EQ(socket.inputs.size(), ins) << schema.Name();
    EXPECT_EQ(socket.outputs.size(), outs) << schema.Name();
    ++ops;
  }
  EXPECT_GT(ops, 150u);
}

}  // namespace
}  // namespace qforge
