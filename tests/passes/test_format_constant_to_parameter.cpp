// SPDX-License-Identifier: Apache-2.0
// constant_to_parameter (src/passes/format/constant_to_parameter.cpp): every Constant attribute
// kind, ConstantOfShape, graph outputs and subgraphs; ONNX Runtime agrees before and after.
#include <onnx/onnx_pb.h>

#include "format_test_util.h"
#include "passes/format/format_passes.h"

namespace qforge::testing {
namespace {

Variable* constant(Graph& g, const std::string& name, Attribute value) {
  Variable* out = g.create_variable(name);
  g.create_operation("Constant", name + "_node", {}, {out}, {std::move(value)});
  return out;
}

Attribute sparse_attr() {
  onnx::SparseTensorProto sparse;
  sparse.add_dims(2);
  sparse.add_dims(3);
  auto* values = sparse.mutable_values();
  values->set_data_type(onnx::TensorProto::FLOAT);
  values->add_dims(2);
  values->add_float_data(1.5f);
  values->add_float_data(-2.0f);
  auto* indices = sparse.mutable_indices();
  indices->set_data_type(onnx::TensorProto::INT64);
  indices->add_dims(2);
  indices->add_int64_data(1);
  indices->add_int64_data(5);
  Attribute a;
  a.name = "sparse_value";
  a.type = AttributeType::SparseTensor;
  a.mutable_extra().opaque.push_back(sparse.SerializeAsString());
  return a;
}

TEST(FormatConstantToParameter, EveryConstantKindBecomesAParameter) {
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {2, 3});
  Variable* c_tensor = constant(*g, "c_tensor", Attribute::make_tensor("value", floats({3}, 1)));
  Variable* c_float = constant(*g, "c_float", Attribute::make_float("value_float", 0.5f));
  Variable* c_floats = constant(*g, "c_floats", Attribute::make_floats("value_floats", {1, 2, 3}));
  Variable* c_ints = constant(*g, "c_ints", Attribute::make_ints("value_ints", {3, 2}));
  Variable* c_sparse = constant(*g, "c_sparse", sparse_attr());
  Variable* c_int = constant(*g, "c_int", Attribute::make_int("value_int", 42));
  Variable* shape = param(*g, "fill_shape", ints({2, 3}));
  Variable* filled = g->create_variable("filled");
  g->create_operation("ConstantOfShape", "fill", {shape}, {filled},
                      {Attribute::make_tensor("value", Tensor::from_vector<float>({1}, {0.25f}))});
  Variable* y = add_op(*g, "Add", {x, c_tensor});
  y = add_op(*g, "Mul", {y, c_float});
  y = add_op(*g, "Sub", {y, c_floats});
  y = add_op(*g, "Add", {y, c_sparse});
  y = add_op(*g, "Add", {y, filled});
  graph_output(*g, add_op(*g, "Reshape", {y, c_ints}));
  graph_output(*g, c_int, DataType::Int64);  // a Constant that is a graph output keeps its name

  auto after = run_and_compare(*g, constant_to_parameter);
  EXPECT_EQ(count_ops(*after, "Constant"), 0);
  EXPECT_EQ(count_ops(*after, "ConstantOfShape"), 0);
  const Variable* out = after->outputs()[1];
  EXPECT_EQ(out->name, "c_int");
  ASSERT_TRUE(out->is_parameter());
  EXPECT_EQ(out->value.to_int64_vector(), std::vector<int64_t>{42});
  const Variable* sparse = after->find_variable("c_sparse");
  ASSERT_TRUE(sparse && sparse->is_parameter());
  EXPECT_EQ(sparse->value.to_float_vector(), (std::vector<float>{0, 1.5f, 0, 0, 0, -2.0f}));
  const Variable* fill = after->find_variable("filled");
  ASSERT_TRUE(fill && fill->is_parameter());
  EXPECT_EQ(fill->value.shape(), (Shape{2, 3}));
  EXPECT_EQ(fill->value.value_as_double(5), 0.25);
}

TEST(FormatConstantToParameter, StringConstants) {
  auto g = make_graph(13);
  Variable* one = constant(*g, "s", Attribute::make_string("value_string", "hello"));
  Attribute list;
  list.name = "value_strings";
  list.type = AttributeType::Strings;
  list.strings = {"a", "b"};
  Variable* many = constant(*g, "ss", list);
  graph_output(*g, one, DataType::String);
  graph_output(*g, many, DataType::String);
  constant_to_parameter(*g);
  EXPECT_TRUE(g->operations().empty());
  EXPECT_EQ(one->value.strings(), std::vector<std::string>{"hello"});
  EXPECT_EQ(many->value.strings(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(many->value.shape(), Shape{2});
}

TEST(FormatConstantToParameter, NothingMatches) {
  auto g = make_graph(13);
  Variable* x = graph_input(*g, "x", {-1, 3});
  Variable* shape = add_op(*g, "Shape", {x});
  Variable* zeros = add_op(*g, "ConstantOfShape", {shape});  // shape known only at run time
  graph_output(*g, add_op(*g, "Add", {x, zeros}));
  auto after = run_and_compare(*g, constant_to_parameter);
  EXPECT_EQ(after->operations().size(), 3u);
  EXPECT_EQ(count_ops(*after, "ConstantOfShape"), 1);
}

TEST(FormatConstantToParameter, ConstantsInsideSubgraphs) {
  auto g = make_graph(13);
  Variable* cond = graph_input(*g, "cond", {}, DataType::Bool);
  Variable* x = graph_input(*g, "x", {4});
  (void)x;
  auto then_branch = make_subgraph(*g, "then");
  {
    Variable* outer_x = then_branch->create_variable("x");  // read from the enclosing graph
    Variable* c = constant(*then_branch, "then_c", Attribute::make_tensor("value", floats({4}, 3)));
    graph_output(*then_branch, add_op(*then_branch, "Add", {outer_x, c}, {}, "then_add"));
  }
  auto else_branch = make_subgraph(*g, "else");
  graph_output(*else_branch,
               constant(*else_branch, "else_c", Attribute::make_tensor("value", floats({4}, 4))));
  Variable* y = g->create_variable("y");
  Operation* if_op = g->create_operation("If", "if", {cond}, {y},
                                         {Attribute::make_graph("then_branch", then_branch),
                                          Attribute::make_graph("else_branch", else_branch)});
  then_branch->owner = if_op;
  else_branch->owner = if_op;
  graph_output(*g, y);

  auto after = run_and_compare(*g, constant_to_parameter);
  const std::vector<Graph*> subs = after->operations()[0]->subgraphs();
  ASSERT_EQ(subs.size(), 2u);
  for (const Graph* sub : subs) EXPECT_EQ(count_ops(*sub, "Constant"), 0) << sub->name;
  // The else branch's output is the former Constant's output, under its name.
  EXPECT_EQ(subs[1]->outputs()[0]->name, "else_c");
  EXPECT_TRUE(subs[1]->outputs()[0]->is_parameter());
}

}  // namespace
}  // namespace qforge::testing
