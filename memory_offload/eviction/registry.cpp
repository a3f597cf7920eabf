// SPDX-License-Identifier: Apache-2.0
#include "registry.h"

#include "eviction/i_eviction_policy.h"

namespace lightloop::memory_offload {

bool RegisterEvictionPolicy(const std::string& name, EvictionPolicyFactory factory) {
  return NamedRegistry<EvictionPolicy>::Get().Add(name, std::move(factory));
}

std::vector<std::string> EvictionPolicies() {
  return NamedRegistry<EvictionPolicy>::Get().Names();
}

runtime::StatusOr<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy(const std::string& name) {
  return NamedRegistry<EvictionPolicy>::Get().Make(name, "eviction policy");
}

}  // namespace lightloop::memory_offload
