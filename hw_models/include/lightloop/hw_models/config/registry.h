// SPDX-License-Identifier: Apache-2.0
// Models registered by name: the `impl:` of a section picks a parser, which
// validates the rest of the section (errors name file, line and key) and
// returns a spec that builds the module at elaboration. One registry per
// kind of model (memory_registry.h, link_registry.h).
//
//   Registry<MemorySpec>& r = MemoryRegistry();
//   r.Add("my_memory", [](ConfigReader& s) { return std::make_unique<MySpec>(s); });
//   std::unique_ptr<MemorySpec> spec = r.Parse(section);  // reads `impl`, then the rest
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lightloop/hw_models/config/config_reader.h"

namespace lightloop::hw_models {

template <typename Spec>
class Registry {
 public:
  using Parser = std::function<std::unique_ptr<Spec>(ConfigReader& section)>;

  // Adds (or replaces) the parser for `impl`; true, for static registrars.
  bool Add(const std::string& impl, Parser parser) {
    std::lock_guard lock(mu_);
    parsers_[impl] = std::move(parser);
    return true;
  }

  std::vector<std::string> Names() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> names;
    for (const auto& entry : parsers_) names.push_back(entry.first);
    return names;
  }

  // Reads `impl` (one of Names()) and the rest of the section, then
  // Finish()es it. Throws ConfigError.
  std::unique_ptr<Spec> Parse(ConfigReader& section) const {
    std::vector<std::string> names = Names();
    if (!section.Has("impl")) {
      std::string all;
      for (const std::string& n : names) all += (all.empty() ? "" : ", ") + n;
      section.Fail("impl", "missing: name the model, one of: " + all);
    }
    std::string impl = section.Choice({"impl", names, "", "model, by registered name"});
    Parser parser;
    {
      std::lock_guard lock(mu_);
      parser = parsers_.at(impl);
    }
    std::unique_ptr<Spec> spec = parser(section);
    section.Finish();
    return spec;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, Parser> parsers_;
};

}  // namespace lightloop::hw_models
