// SPDX-License-Identifier: Apache-2.0
// Graph editing API: links stay consistent through create/remove/insert/bypass/sort/copy.
#include <gtest/gtest.h>

#include "qforge/graph.h"

namespace qforge {
namespace {

// x -> Relu(a) -> Sigmoid(b) -> y
struct Chain {
  Graph g;
  Variable *x, *mid, *y;
  Operation *relu, *sigmoid;
  Chain() {
    g.model.opset_imports = {{"", 13}};
    x = g.create_variable("x");
    mid = g.create_variable("mid");
    y = g.create_variable("y");
    relu = g.create_operation("Relu", "a", {x}, {mid});
    sigmoid = g.create_operation("Sigmoid", "b", {mid}, {y});
    g.add_graph_input(x);
    g.add_graph_output(y);
  }
};

TEST(Graph, CreateLinksBothSides) {
  Chain c;
  EXPECT_EQ(c.mid->producer(), c.relu);
  ASSERT_EQ(c.mid->consumers().size(), 1u);
  EXPECT_EQ(c.mid->consumers()[0], c.sigmoid);
  EXPECT_EQ(c.relu->opset, 13);
  EXPECT_EQ(c.g.downstream_ops(c.relu), std::vector<Operation*>{c.sigmoid});
  EXPECT_EQ(c.g.upstream_ops(c.sigmoid), std::vector<Operation*>{c.relu});
}

TEST(Graph, UniqueNames) {
  Chain c;
  Variable* v = c.g.create_variable("x");
  EXPECT_EQ(v->name, "x_1");
  EXPECT_EQ(c.g.unique_operation_name("a"), "a_1");
}

TEST(Graph, InsertBeforeAndAfter) {
  Chain c;
  Operation* id = c.g.create_operation("Identity", "id", {}, {});
  Variable* link = c.g.insert_op_before(id, c.sigmoid, 0);
  EXPECT_EQ(c.sigmoid->input(0), link);
  EXPECT_EQ(id->input(0), c.mid);
  EXPECT_EQ(link->producer(), id);

  Operation* after = c.g.create_operation("Neg", "neg", {}, {});
  c.g.insert_op_after(after, c.sigmoid, 0);
  // The graph output keeps its public name and is now produced by the inserted op.
  ASSERT_EQ(c.g.outputs().size(), 1u);
  EXPECT_EQ(c.g.outputs()[0]->name, "y");
  EXPECT_EQ(c.g.outputs()[0]->producer(), after);
  c.g.topological_sort();
  EXPECT_EQ(c.g.operations().back().get(), after);
}

TEST(Graph, BypassKeepsGraphOutputName) {
  Chain c;
  ASSERT_TRUE(c.g.bypass_operation(c.sigmoid));
  ASSERT_EQ(c.g.outputs().size(), 1u);
  EXPECT_EQ(c.g.outputs()[0]->name, "y");
  EXPECT_EQ(c.g.outputs()[0]->producer(), c.relu);
  EXPECT_EQ(c.g.operations().size(), 1u);
}

TEST(Graph, BypassRefusesToMergeTwoPublicNames) {
  Graph g;
  Variable* x = g.create_variable("x");
  Variable* y = g.create_variable("y");
  Operation* id = g.create_operation("Identity", "id", {x}, {y});
  g.add_graph_input(x);
  g.add_graph_output(y);
  EXPECT_FALSE(g.bypass_operation(id));
  EXPECT_EQ(g.operations().size(), 1u);
}

TEST(Graph, RemoveOperationUnlinks) {
  Chain c;
  c.g.remove_operation(c.sigmoid);
  EXPECT_TRUE(c.mid->consumers().empty());
  EXPECT_EQ(c.y->producer(), nullptr);
}

TEST(Graph, TopologicalSortOrdersAndDetectsCycles) {
  Graph g;
  Variable* a = g.create_variable("a");
  Variable* b = g.create_variable("b");
  Variable* c = g.create_variable("c");
  g.add_graph_input(a);
  Operation* second = g.create_operation("Relu", "second", {b}, {c});
  Operation* first = g.create_operation("Relu", "first", {a}, {b});
  g.topological_sort();
  EXPECT_EQ(g.operations()[0].get(), first);
  EXPECT_EQ(g.operations()[1].get(), second);

  Graph cyclic;
  Variable* p = cyclic.create_variable("p");
  Variable* q = cyclic.create_variable("q");
  cyclic.create_operation("Relu", "r1", {p}, {q});
  cyclic.create_operation("Relu", "r2", {q}, {p});
  EXPECT_THROW(cyclic.topological_sort(), Error);
}

TEST(Graph, DeepCopyIsIndependent) {
  Chain c;
  Variable* w = c.g.create_variable("w", Tensor::from_vector<float>({2}, {1.0f, 2.0f}));
  c.g.add_input(c.relu, w);
  auto copy = c.g.deep_copy();
  ASSERT_EQ(copy->operations().size(), 2u);
  Variable* w2 = copy->find_variable("w");
  ASSERT_NE(w2, nullptr);
  w2->value.data<float>()[0] = 5.0f;
  EXPECT_EQ(w->value.data<float>()[0], 1.0f);
  EXPECT_EQ(copy->find_variable("mid")->producer()->name, "a");
  EXPECT_NE(copy->find_variable("mid")->producer(), c.relu);
}

// An attribute's rare parts are shared between copies until one changes them.
TEST(Attribute, CopiesShareRarePartsUntilChanged) {
  Attribute a = Attribute::make_int("axis", 1);
  EXPECT_FALSE(a.has_extra());
  EXPECT_TRUE(a.extra().tensors.empty());
  a.mutable_extra().doc_string = "original";
  a.mutable_extra().tensors.push_back(Tensor::from_vector<float>({1}, {1.0f}));
  Attribute b = a;
  b.mutable_extra().doc_string = "changed";
  b.mutable_extra().tensors.push_back(Tensor::from_vector<float>({1}, {2.0f}));
  EXPECT_EQ(a.extra().doc_string, "original");
  EXPECT_EQ(a.extra().tensors.size(), 1u);
  EXPECT_EQ(b.extra().doc_string, "changed");
  EXPECT_EQ(b.extra().tensors.size(), 2u);
  Attribute c;
  c = b;
  EXPECT_EQ(c.extra().doc_string, "changed");
}

// Deep copies clone the tensors in an attribute's tensor list; the original keeps its own.
TEST(Graph, DeepCopyClonesAttributeTensorLists) {
  Chain c;
  Attribute list;
  list.name = "values";
  list.type = AttributeType::Tensors;
  list.mutable_extra().tensors.push_back(Tensor::from_vector<float>({1}, {1.0f}));
  c.relu->attributes.push_back(list);
  auto copy = c.g.deep_copy();
  const Operation* relu = copy->find_operation(c.relu->name);
  ASSERT_NE(relu, nullptr);
  Tensor copied = relu->find_attr("values")->extra().tensors.at(0);  // shares the buffer
  copied.data<float>()[0] = 7.0f;
  EXPECT_EQ(c.relu->find_attr("values")->extra().tensors.at(0).data<float>()[0], 1.0f);
}

TEST(Graph, ReplaceAllUsesRewiresConsumersAndOutputs) {
  Chain c;
  Variable* other = c.g.create_variable("other");
  c.g.replace_all_uses(c.y, other);
  EXPECT_EQ(c.g.outputs()[0], other);
  c.g.replace_all_uses(c.mid, c.x);
  EXPECT_EQ(c.sigmoid->input(0), c.x);
  EXPECT_TRUE(c.mid->consumers().empty());
}

TEST(Operation, TypedAttributeGettersReportMismatch) {
  Chain c;
  c.relu->set_attr(Attribute::make_string("mode", "x"));
  EXPECT_EQ(c.relu->attr_string("mode", ""), "x");
  EXPECT_EQ(c.relu->attr_int("missing", 7), 7);
  try {
    c.relu->attr_int("mode", 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("node 'a' (Relu)"), std::string::npos);
  }
}

}  // namespace
}  // namespace qforge
