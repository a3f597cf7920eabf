// SPDX-License-Identifier: Apache-2.0
// `prefix_aware`: keeps blocks that many sequences share (a common system
// prompt, a forked beam). Blocks no sequence uses go first, then the least
// shared; among equals, the least recently used.
#include <algorithm>
#include <unordered_map>

#include "eviction/i_eviction_policy.h"

namespace lightloop::memory_offload {
namespace {

class PrefixAware : public EvictionPolicy {
 public:
  void Touched(BlockId block) override { last_use_[block] = ++clock_; }
  void Removed(BlockId block) override { last_use_.erase(block); }
  std::vector<BlockId> Victims(size_t n, const std::function<bool(BlockId)>& evictable,
                               const std::function<int(BlockId)>& sharers) override {
    struct Candidate {
      int sharers;
      uint64_t last_use;
      BlockId block;
    };
    std::vector<Candidate> all;
    for (const auto& [block, used] : last_use_) {
      if (evictable(block)) all.push_back({sharers(block), used, block});
    }
    size_t k = std::min(n, all.size());
    auto before = [](const Candidate& a, const Candidate& b) {
      return a.sharers != b.sharers ? a.sharers < b.sharers : a.last_use < b.last_use;
    };
    std::partial_sort(all.begin(), all.begin() + static_cast<long>(k), all.end(), before);
    std::vector<BlockId> out;
    for (size_t i = 0; i < k; ++i) out.push_back(all[i].block);
    return out;
  }

 private:
  uint64_t clock_ = 0;
  std::unordered_map<BlockId, uint64_t> last_use_;
};

}  // namespace

LIGHTLOOP_REGISTER_EVICTION_POLICY("prefix_aware", PrefixAware);

}  // namespace lightloop::memory_offload
