// SPDX-License-Identifier: Apache-2.0
#include <map>
#include <mutex>

#include "eviction/i_eviction_policy.h"

namespace lightloop::memory_offload {
namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, EvictionPolicyFactory> factories;
};

Registry& TheRegistry() {
  static Registry* r = new Registry;
  return *r;
}

}  // namespace

bool RegisterEvictionPolicy(const std::string& name, EvictionPolicyFactory factory) {
  Registry& r = TheRegistry();
  std::lock_guard lock(r.mu);
  r.factories[name] = std::move(factory);
  return true;
}

std::vector<std::string> EvictionPolicies() {
  Registry& r = TheRegistry();
  std::lock_guard lock(r.mu);
  std::vector<std::string> names;
  for (const auto& entry : r.factories) names.push_back(entry.first);
  return names;
}

runtime::StatusOr<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy(const std::string& name) {
  Registry& r = TheRegistry();
  std::lock_guard lock(r.mu);
  auto it = r.factories.find(name);
  if (it == r.factories.end()) {
    std::string all;
    for (const auto& entry : r.factories) all += (all.empty() ? "" : ", ") + entry.first;
    return runtime::InvalidArgument("eviction policy '" + name + "' is not one of: " + all);
  }
  return it->second();
}

}  // namespace lightloop::memory_offload
