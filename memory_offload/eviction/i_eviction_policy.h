// SPDX-License-Identifier: Apache-2.0
// Which resident KV blocks leave the local tier first. Policies are chosen
// by name (`eviction: lru`) and registered with
// LIGHTLOOP_REGISTER_EVICTION_POLICY from an implementation file in
// eviction/impl/, which the build links as an OBJECT library so the
// registration is never dropped.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lightloop/runtime/status.h"

namespace lightloop::memory_offload {

using BlockId = uint64_t;

class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;
  // The block became resident or was used (appended, fetched, shared).
  virtual void Touched(BlockId block) = 0;
  // The block left the local tier (evicted or freed).
  virtual void Removed(BlockId block) = 0;
  // Up to `n` victims, best first, among the blocks for which `evictable`
  // holds. `sharers` says how many sequences use a block.
  virtual std::vector<BlockId> Victims(size_t n, const std::function<bool(BlockId)>& evictable,
                                       const std::function<int(BlockId)>& sharers) = 0;
};

using EvictionPolicyFactory = std::function<std::unique_ptr<EvictionPolicy>()>;

bool RegisterEvictionPolicy(const std::string& name, EvictionPolicyFactory factory);
std::vector<std::string> EvictionPolicies();
runtime::StatusOr<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy(const std::string& name);

#define LIGHTLOOP_EVICTION_CAT2(a, b) a##b
#define LIGHTLOOP_EVICTION_CAT(a, b) LIGHTLOOP_EVICTION_CAT2(a, b)
#define LIGHTLOOP_REGISTER_EVICTION_POLICY(name, type)                                                  \
  [[maybe_unused]] static const bool LIGHTLOOP_EVICTION_CAT(lightloop_eviction_registered_, __LINE__) = \
      ::lightloop::memory_offload::RegisterEvictionPolicy(name, [] { return std::make_unique<type>(); })

}  // namespace lightloop::memory_offload
