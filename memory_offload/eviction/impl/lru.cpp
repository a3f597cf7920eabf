// SPDX-License-Identifier: Apache-2.0
// `lru`: the least recently used evictable block goes first.
#include <list>
#include <unordered_map>

#include "eviction/i_eviction_policy.h"

namespace lightloop::memory_offload {
namespace {

class Lru : public EvictionPolicy {
 public:
  void Touched(BlockId block) override {
    Removed(block);
    order_.push_back(block);
    where_[block] = std::prev(order_.end());
  }
  void Removed(BlockId block) override {
    auto it = where_.find(block);
    if (it == where_.end()) return;
    order_.erase(it->second);
    where_.erase(it);
  }
  std::vector<BlockId> Victims(size_t n, const std::function<bool(BlockId)>& evictable,
                               const std::function<int(BlockId)>&) override {
    std::vector<BlockId> out;
    for (auto it = order_.begin(); it != order_.end() && out.size() < n; ++it) {
      if (evictable(*it)) out.push_back(*it);
    }
    return out;
  }

 private:
  std::list<BlockId> order_;  // least recent first
  std::unordered_map<BlockId, std::list<BlockId>::iterator> where_;
};

}  // namespace

LIGHTLOOP_REGISTER_EVICTION_POLICY("lru", Lru);

}  // namespace lightloop::memory_offload
