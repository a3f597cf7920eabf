// SPDX-License-Identifier: Apache-2.0
// First-fit allocator of byte ranges in the memnode's pool, with coalescing
// of freed neighbours. Not thread-safe: RegionTable holds the lock.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

namespace lightloop::runtime {

class PoolAllocator {
 public:
  PoolAllocator(uint64_t capacity, uint64_t alignment);

  // Offset of a free range of at least `size` bytes (rounded up to the
  // alignment), or nothing when no free range is large enough.
  std::optional<uint64_t> Allocate(uint64_t size);
  // Returns a range given by Allocate (same size).
  void Release(uint64_t offset, uint64_t size);

  uint64_t capacity() const { return capacity_; }
  uint64_t used() const { return used_; }
  uint64_t LargestFree() const;
  uint64_t RoundUp(uint64_t size) const { return (size + alignment_ - 1) / alignment_ * alignment_; }

 private:
  uint64_t capacity_;
  uint64_t alignment_;
  uint64_t used_ = 0;
  std::map<uint64_t, uint64_t> free_;  // offset -> length
};

}  // namespace lightloop::runtime
