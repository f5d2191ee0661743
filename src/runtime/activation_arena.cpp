// SPDX-License-Identifier: Apache-2.0
// ActivationArena: recording a run's allocations, planning offsets (greedy by size, the live
// ranges of two buffers may share bytes only when their lifetimes do not overlap), and serving
// planned allocations from the shared block. See activation_arena.h for why.
#include "activation_arena.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace qforge {

namespace {

constexpr size_t kAlign = 64;
// Below this, glibc's bins serve well; above, a recording run maps pages itself so that freed
// buffers go back to the system at once and do not inflate the peak of the recorded run.
constexpr size_t kMapThreshold = 256 * 1024;

// Under AddressSanitizer the block's bytes that no tensor owns are poisoned, and every system
// allocation goes through operator new, so that a kernel writing past its output is still
// caught (not silently corrupting a neighbour in the block).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
void poison(const std::byte* p, size_t bytes) {
  ASAN_POISON_MEMORY_REGION(p, bytes);
}
void unpoison(const std::byte* p, size_t bytes) {
  ASAN_UNPOISON_MEMORY_REGION(p, bytes);
}
#else
constexpr bool kSanitized = false;
void poison(const std::byte*, size_t) {}
void unpoison(const std::byte*, size_t) {}
#endif

size_t round_up(size_t bytes) {
  return bytes == 0 ? kAlign : (bytes + kAlign - 1) / kAlign * kAlign;
}

// `mapped`: pages of its own, returned to the system when freed (recording runs); otherwise
// the C++ allocator, which keeps freed memory for the next run (outputs handed to the caller).
std::byte* system_allocate(size_t bytes, bool mapped) {
  if (mapped) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return static_cast<std::byte*>(p);
  }
  return static_cast<std::byte*>(::operator new (bytes, std::align_val_t{kAlign}));
}

void system_free(std::byte* p, size_t bytes, bool mapped) {
  if (mapped)
    munmap(p, bytes);
  else
    ::operator delete (p, std::align_val_t{kAlign});
}

struct Record {
  int64_t key;
  size_t bytes;
  int64_t allocated_at, released_at = -1;  // -1: outlived the run (returned, or kept by a hook)
};

// Greedy by size: each buffer, largest first, takes the lowest offset that no already placed
// buffer with an overlapping lifetime occupies.
ActivationArena::Layout plan_layout(const std::vector<Record>& records) {
  std::unordered_map<int64_t, int> uses;
  for (const Record& r : records) ++uses[r.key];
  ActivationArena::Layout layout;
  std::vector<const Record*> order;
  for (const Record& r : records) {
    if (r.released_at >= 0 && uses[r.key] == 1)
      order.push_back(&r);
    else  // known, served by the system allocator
      layout.placements[r.key] = {0, r.bytes, false};
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const Record* a, const Record* b) { return a->bytes > b->bytes; });
  std::vector<std::pair<const Record*, size_t>> placed;
  std::vector<std::pair<size_t, size_t>> taken;  // [offset, end) of lifetime-overlapping buffers
  for (const Record* r : order) {
    taken.clear();
    for (const auto& [other, offset] : placed)
      if (r->allocated_at < other->released_at && other->allocated_at < r->released_at)
        taken.emplace_back(offset, offset + other->bytes);
    std::sort(taken.begin(), taken.end());
    size_t offset = 0;
    for (const auto& [begin, end] : taken) {
      if (offset + r->bytes <= begin) break;
      offset = std::max(offset, end);
    }
    placed.emplace_back(r, offset);
    layout.placements[r->key] = {offset, r->bytes, true};
    layout.bytes = std::max(layout.bytes, offset + r->bytes);
  }
  layout.valid = true;
  return layout;
}

}  // namespace

// State shared with the deleters of the buffers handed out, which may run after the arena is
// gone or on another thread.
struct ActivationArena::Shared {
  std::mutex mutex;
  std::shared_ptr<std::byte> block;
  size_t block_bytes = 0;
  std::map<size_t, size_t> held;  // block ranges in use: offset -> end
  std::vector<Record> records;    // of the run being recorded
  int64_t clock = 0, generation = 0;
  bool recording = false;
  int64_t arena_allocations = 0, system_allocations = 0;

  bool range_free(size_t offset, size_t end) const {
    auto next = held.lower_bound(end);
    return next == held.begin() || std::prev(next)->second <= offset;
  }
};

ActivationArena::ActivationArena() : shared_(std::make_shared<Shared>()) {}
ActivationArena::~ActivationArena() = default;

void ActivationArena::begin_run(Layout& layout) {
  layout_ = &layout;
  missed_ = false;
  recording_ = !layout.valid;
  std::lock_guard lock(shared_->mutex);
  shared_->recording = recording_;
  ++shared_->generation;
  shared_->records.clear();
  shared_->clock = 0;
}

void ActivationArena::end_run() {
  if (!layout_) return;
  std::vector<Record> records;
  {
    std::lock_guard lock(shared_->mutex);
    shared_->recording = false;
    records.swap(shared_->records);
  }
  if (recording_) {
    *layout_ = plan_layout(records);
    std::lock_guard lock(shared_->mutex);
    if (layout_->bytes > shared_->block_bytes) {
      // The old block lives on in the deleters of any buffer still held from it.
      const size_t bytes = layout_->bytes;
      shared_->block = std::shared_ptr<std::byte>(
          static_cast<std::byte*>(::operator new (bytes, std::align_val_t{kAlign})),
          [](std::byte* p) { ::operator delete (p, std::align_val_t{kAlign}); });
      shared_->block_bytes = bytes;
      shared_->held.clear();
      poison(shared_->block.get(), bytes);
    }
#if defined(__GLIBC__)
    // The first run with these shapes built the kernels' primitives and states; the heap pages
    // their temporaries freed stay resident until handed back (BlazeFace: 3.6 -> 2.7 MiB of
    // private memory). Once per plan, so its cost (a walk of the heap) does not recur.
    malloc_trim(0);
#endif
  } else if (missed_) {
    layout_->valid = false;
  }
  layout_ = nullptr;
}

Tensor ActivationArena::allocate(int64_t key, DataType dtype, const Shape& shape, bool zeroed) {
  const auto fallback = [&] {
    return zeroed ? Tensor(dtype, shape) : Tensor::uninitialized(dtype, shape);
  };
  if (!layout_ || dtype == DataType::String || dtype == DataType::Undefined) return fallback();
  // Tensor's constructor reports negative and oversized shapes.
  for (int64_t d : shape)
    if (d < 0) return fallback();
  const int64_t count = shape_numel(shape);
  if (count > (int64_t{1} << 40) / static_cast<int64_t>(std::max<size_t>(dtype_size(dtype), 1)))
    return fallback();
  const size_t exact = static_cast<size_t>(count) * dtype_size(dtype), bytes = round_up(exact);
  std::shared_ptr<std::byte> buffer;
  {
    std::lock_guard lock(shared_->mutex);
    if (!recording_) {
      auto it = layout_->placements.find(key);
      if (it == layout_->placements.end() || bytes > it->second.bytes ||
          (!it->second.placed && bytes != it->second.bytes)) {
        missed_ = true;
      } else if (const size_t offset = it->second.offset;
                 it->second.placed && shared_->block && offset + bytes <= shared_->block_bytes &&
                 shared_->range_free(offset, offset + bytes)) {
        shared_->held.emplace(offset, offset + bytes);
        ++shared_->arena_allocations;
        std::shared_ptr<std::byte> block = shared_->block;
        std::weak_ptr<Shared> owner = shared_;
        unpoison(block.get() + offset, exact);
        buffer = std::shared_ptr<std::byte>(block.get() + offset,
                                            [owner, block, offset, exact](std::byte* p) {
                                              poison(p, exact);
                                              if (auto s = owner.lock()) {
                                                std::lock_guard relock(s->mutex);
                                                if (s->block == block) s->held.erase(offset);
                                              }
                                            });
      }
    }
    if (!buffer) {
      ++shared_->system_allocations;
      const int64_t index = recording_ ? static_cast<int64_t>(shared_->records.size()) : -1;
      if (recording_) shared_->records.push_back({key, bytes, shared_->clock++});
      std::weak_ptr<Shared> owner = shared_;
      const int64_t generation = shared_->generation;
      // Mapped only while recording, so that the recorded run's peak is its live set; later
      // runs' escapes (outputs, tensors kept by hooks) reuse the allocator's memory instead of
      // page-faulting fresh pages every run.
      const bool mapped = recording_ && bytes >= kMapThreshold && !kSanitized;
      buffer = std::shared_ptr<std::byte>(
          system_allocate(bytes, mapped), [owner, bytes, index, generation, mapped](std::byte* p) {
            system_free(p, bytes, mapped);
            if (index < 0) return;
            if (auto s = owner.lock()) {
              std::lock_guard relock(s->mutex);
              if (s->recording && s->generation == generation)
                s->records[static_cast<size_t>(index)].released_at = s->clock++;
            }
          });
    }
  }
  if (zeroed) std::memset(buffer.get(), 0, exact);
  return Tensor::adopt(dtype, shape, std::move(buffer));
}

size_t ActivationArena::block_bytes() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->block_bytes;
}
int64_t ActivationArena::arena_allocations() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->arena_allocations;
}
int64_t ActivationArena::system_allocations() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->system_allocations;
}

}  // namespace qforge
