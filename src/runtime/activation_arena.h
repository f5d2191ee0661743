// SPDX-License-Identifier: Apache-2.0
// ActivationArena: serves the executor's op outputs from one reused block, at offsets planned
// from when each output was allocated and released in an earlier run of the same plan.
// Owned by Executor::Impl (src/runtime/executor.cpp); tested in tests/runtime/test_arena.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "qforge/tensor.h"

namespace qforge {

// Why: glibc keeps freed multi-MiB activations on its heap once they raise its mmap threshold,
// so a run's peak memory grew to about 2-3x the live set, and sizes above the threshold were
// page-faulted afresh on every run. The arena touches its pages once and holds exactly the
// planned live set. A buffer stays owned until its last Tensor goes (outputs returned to the
// caller, or kept by a hook), and a planned range still held is never handed out again: that
// allocation then falls back to the system allocator, so a plan can only cost speed, never
// correctness.
class ActivationArena {
 public:
  // Where each output of a plan goes. `key` identifies an output (schedule step and port).
  struct Placement {
    size_t offset = 0, bytes = 0;
    bool placed = false;  // false: outlived its run when recorded; the system allocator serves it
  };
  struct Layout {
    std::unordered_map<int64_t, Placement> placements;
    size_t bytes = 0;
    bool valid = false;
  };

  ActivationArena();
  ~ActivationArena();
  ActivationArena(const ActivationArena&) = delete;
  ActivationArena& operator=(const ActivationArena&) = delete;

  // Brackets one run that follows `layout`: an invalid layout is recorded during the run and
  // planned at end_run; a run that asks for an output the layout does not place (new shapes)
  // invalidates it, so the next run records again.
  void begin_run(Layout& layout);
  void end_run();
  Tensor allocate(int64_t key, DataType dtype, const Shape& shape, bool zeroed);

  // Bytes of the block the layouts share (the largest planned so far).
  size_t block_bytes() const;
  // Allocations served from the block / by the system allocator since construction.
  int64_t arena_allocations() const;
  int64_t system_allocations() const;

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
  Layout* layout_ = nullptr;
  bool recording_ = false, missed_ = false;
};

}  // namespace qforge
