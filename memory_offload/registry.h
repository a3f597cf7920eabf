// SPDX-License-Identifier: Apache-2.0
// Implementations registered by name (eviction policies, codecs): a
// factory per name, filled by static registrars in OBJECT libraries.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lightloop/runtime/status.h"

namespace lightloop::memory_offload {

template <typename Interface>
class NamedRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Interface>()>;

  static NamedRegistry& Get() {
    static NamedRegistry* r = new NamedRegistry;
    return *r;
  }
  bool Add(const std::string& name, Factory factory) {
    std::lock_guard lock(mu_);
    factories_[name] = std::move(factory);
    return true;
  }
  std::vector<std::string> Names() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> names;
    for (const auto& entry : factories_) names.push_back(entry.first);
    return names;
  }
  // `what` names the kind in the error, e.g. "eviction policy".
  runtime::StatusOr<std::unique_ptr<Interface>> Make(const std::string& name, const std::string& what) const {
    std::lock_guard lock(mu_);
    auto it = factories_.find(name);
    if (it != factories_.end()) return it->second();
    std::string all;
    for (const auto& entry : factories_) all += (all.empty() ? "" : ", ") + entry.first;
    return runtime::InvalidArgument(what + " '" + name + "' is not one of: " + all);
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, Factory> factories_;
};

}  // namespace lightloop::memory_offload
