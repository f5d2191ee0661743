// SPDX-License-Identifier: Apache-2.0
// ActivationArena (src/runtime/activation_arena.h): planning from a recorded run, reuse of
// bytes by buffers whose lifetimes do not overlap, fallback when a planned range is still held
// or the shapes change; and the executor's use of it (outputs and hook-held tensors survive
// later runs).
#include <gtest/gtest.h>

#include "qforge/executor.h"
#include "runtime/activation_arena.h"

namespace qforge {
namespace {

Tensor filled(ActivationArena& arena, int64_t key, int64_t count, float value) {
  Tensor t = arena.allocate(key, DataType::Float, {count}, false);
  for (int64_t i = 0; i < count; ++i) t.data<float>()[i] = value;
  return t;
}

// a and b live together; c is allocated after a is gone, so it may take a's bytes.
void run_sequence(ActivationArena& arena, ActivationArena::Layout& layout, int64_t count) {
  arena.begin_run(layout);
  {
    Tensor a = filled(arena, 1, count, 1);
    Tensor b = filled(arena, 2, count, 2);
    a = Tensor();
    Tensor c = filled(arena, 3, count, 3);
    EXPECT_EQ(b.data<float>()[count - 1], 2);
    EXPECT_EQ(c.data<float>()[0], 3);
  }
  arena.end_run();
}

TEST(ActivationArena, PlansFromTheRecordedRunAndReusesDeadBytes) {
  ActivationArena arena;
  ActivationArena::Layout layout;
  run_sequence(arena, layout, 1000);  // recorded: served by the system allocator
  EXPECT_EQ(arena.arena_allocations(), 0);
  EXPECT_EQ(arena.system_allocations(), 3);
  ASSERT_TRUE(layout.valid);
  // 4000 bytes round up to 4032; three buffers fit in two slots.
  EXPECT_EQ(layout.bytes, 2u * 4032u);
  EXPECT_EQ(arena.block_bytes(), 2u * 4032u);
  EXPECT_EQ(layout.placements.at(1).offset, layout.placements.at(3).offset);
  EXPECT_NE(layout.placements.at(1).offset, layout.placements.at(2).offset);

  run_sequence(arena, layout, 1000);
  EXPECT_EQ(arena.arena_allocations(), 3);
  EXPECT_EQ(arena.system_allocations(), 3);
  EXPECT_TRUE(layout.valid);
}

TEST(ActivationArena, NewShapesAreRecordedAgain) {
  ActivationArena arena;
  ActivationArena::Layout layout;
  run_sequence(arena, layout, 1000);
  run_sequence(arena, layout, 2000);  // larger than planned: system allocator, layout dropped
  EXPECT_FALSE(layout.valid);
  EXPECT_EQ(arena.arena_allocations(), 0);
  run_sequence(arena, layout, 2000);  // recorded anew
  EXPECT_TRUE(layout.valid);
  EXPECT_EQ(layout.bytes, 2u * 8000u);
  run_sequence(arena, layout, 2000);
  EXPECT_EQ(arena.arena_allocations(), 3);
}

TEST(ActivationArena, AHeldBufferIsNeverHandedOutAgain) {
  ActivationArena arena;
  ActivationArena::Layout layout;
  run_sequence(arena, layout, 100);
  arena.begin_run(layout);
  Tensor kept = filled(arena, 1, 100, 7);  // e.g. kept by a hook beyond the run
  arena.end_run();
  EXPECT_EQ(arena.arena_allocations(), 1);
  arena.begin_run(layout);
  {
    Tensor a = filled(arena, 1, 100, 1);  // a's range is still held: system allocator
    Tensor b = filled(arena, 2, 100, 2);
    EXPECT_NE(a.raw(), kept.raw());
  }
  arena.end_run();
  EXPECT_EQ(arena.arena_allocations(), 2);
  for (int64_t i = 0; i < 100; ++i) ASSERT_EQ(kept.data<float>()[i], 7);
  EXPECT_TRUE(layout.valid);  // a conflict is no reason to plan again
}

TEST(ActivationArena, BuffersOutliveTheArena) {
  Tensor kept;
  {
    ActivationArena arena;
    ActivationArena::Layout layout;
    run_sequence(arena, layout, 10);
    arena.begin_run(layout);
    kept = filled(arena, 2, 10, 5);
    arena.end_run();
  }
  EXPECT_EQ(kept.data<float>()[9], 5);
}

TEST(ActivationArena, ZeroedRequestsAreZeroAndStringsUseTheHeap) {
  ActivationArena arena;
  ActivationArena::Layout layout;
  run_sequence(arena, layout, 16);
  arena.begin_run(layout);
  {
    Tensor dirty = filled(arena, 1, 16, 9);
    dirty = Tensor();
    Tensor zero = arena.allocate(3, DataType::Float, {16}, true);  // a's old bytes
    for (int64_t i = 0; i < 16; ++i) EXPECT_EQ(zero.data<float>()[i], 0);
    Tensor text = arena.allocate(4, DataType::String, {2}, true);
    EXPECT_EQ(text.strings().size(), 2u);
  }
  arena.end_run();
}

// x -> Relu -> a -> Transpose -> t -> Relu -> y: a is the one planned buffer (x belongs to the
// caller, t turns into the output in place).
struct TransposeModel {
  Graph g;
  Operation* transpose;
  TransposeModel() {
    g.model.opset_imports = {{"", 13}};
    Variable* x = g.create_variable("x");
    x->dtype = DataType::Float;
    x->shape = std::vector<Dim>{{-1, "N"}, {3, ""}};
    Variable* a = g.create_variable("a");
    Variable* t = g.create_variable("t");
    Variable* y = g.create_variable("y");
    g.create_operation("Relu", "relu1", {x}, {a});
    transpose = g.create_operation("Transpose", "transpose", {a}, {t});
    g.create_operation("Relu", "relu2", {t}, {y});
    g.add_graph_input(x);
    g.add_graph_output(y);
  }
};

TEST(ActivationArena, ExecutorOutputsAndHookHeldTensorsSurviveLaterRuns) {
  TransposeModel m;
  Executor ex(m.g, ExecutorOptions{1});
  const auto input = [](float v) { return Tensor::from_vector<float>({2, 3}, {v, v, v, v, v, v}); };
  const Tensor first = ex.run({{"x", input(1)}})[0];
  EXPECT_GT(ex.arena_bytes(), 0);
  const Tensor second = ex.run({{"x", input(2)}})[0];
  Tensor held;
  const int hook = ex.add_before_hook(
      m.transpose, [&](const Operation&, const std::vector<const Tensor*>& in) { held = *in[0]; });
  ex.run({{"x", input(3)}});
  ex.remove_hook(hook);
  const Tensor fourth = ex.run({{"x", input(4)}})[0];
  EXPECT_EQ(first.to_float_vector(), std::vector<float>(6, 1));
  EXPECT_EQ(second.to_float_vector(), std::vector<float>(6, 2));
  EXPECT_EQ(held.to_float_vector(), std::vector<float>(6, 3));
  EXPECT_EQ(fourth.to_float_vector(), std::vector<float>(6, 4));
  // Another batch size is planned anew and still right.
  const auto out = ex.run({{"x", Tensor::from_vector<float>({1, 3}, {-1, 5, 6})}})[0];
  EXPECT_EQ(out.to_float_vector(), (std::vector<float>{0, 5, 6}));
}

}  // namespace
}  // namespace qforge
