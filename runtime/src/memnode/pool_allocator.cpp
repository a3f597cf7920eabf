// SPDX-License-Identifier: Apache-2.0
#include "memnode/pool_allocator.h"

#include <algorithm>

namespace lightloop::runtime {

PoolAllocator::PoolAllocator(uint64_t capacity, uint64_t alignment)
    : capacity_(capacity / alignment * alignment), alignment_(alignment) {
  if (capacity_ > 0) free_.emplace(0, capacity_);
}

std::optional<uint64_t> PoolAllocator::Allocate(uint64_t size) {
  if (size == 0 || size > capacity_) return std::nullopt;
  uint64_t need = RoundUp(size);
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < need) continue;
    uint64_t offset = it->first;
    uint64_t rest = it->second - need;
    free_.erase(it);
    if (rest > 0) free_.emplace(offset + need, rest);
    used_ += need;
    return offset;
  }
  return std::nullopt;
}

void PoolAllocator::Release(uint64_t offset, uint64_t size) {
  uint64_t len = RoundUp(size);
  used_ -= len;
  auto next = free_.lower_bound(offset);
  if (next != free_.end() && offset + len == next->first) {
    len += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      prev->second += len;
      return;
    }
  }
  free_.emplace(offset, len);
}

uint64_t PoolAllocator::LargestFree() const {
  uint64_t best = 0;
  for (const auto& [offset, len] : free_) best = std::max(best, len);
  return best;
}

}  // namespace lightloop::runtime
