// SPDX-License-Identifier: Apache-2.0
// ConfigReader::Compose: a file, the fragments it includes, and overrides,
// merged into one mapping that remembers where each key was written.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lightloop/hw_models/config/config_reader.h"

namespace lightloop::hw_models {
namespace {

namespace fs = std::filesystem;
using Origins = std::map<std::string, Location>;

std::string Join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

Location At(const std::string& file, const YAML::Node& node) {
  return {file, node.Mark().is_null() ? 0 : node.Mark().line + 1,
          node.Mark().is_null() ? 0 : node.Mark().column + 1};
}

// Every key under `node` (a mapping), by dotted path, at its place in `file`.
void RecordOrigins(const std::string& file, const YAML::Node& node, const std::string& prefix, Origins& out) {
  for (const auto& kv : node) {
    const std::string path = Join(prefix, kv.first.Scalar());
    out[path] = At(file, kv.first);
    if (kv.second.IsMap()) RecordOrigins(file, kv.second, path, out);
  }
}

// Drops `path` and everything under it.
void Forget(Origins& origins, const std::string& path) {
  for (auto it = origins.lower_bound(path); it != origins.end() && it->first.rfind(path, 0) == 0;) {
    const bool under = it->first.size() == path.size() || it->first[path.size()] == '.';
    it = under ? origins.erase(it) : std::next(it);
  }
}

// `src` over `dst`: mappings key by key, anything else replaces. Nodes are
// shared, not copied (the trees are thrown away afterwards), which keeps
// their marks.
void Merge(YAML::Node dst, Origins& dst_origins, const YAML::Node& src, const Origins& src_origins,
           const std::string& prefix) {
  for (const auto& kv : src) {
    const std::string& key = kv.first.Scalar();
    const std::string path = Join(prefix, key);
    YAML::Node existing = dst[key];
    if (existing.IsDefined() && existing.IsMap() && kv.second.IsMap()) {
      dst_origins[path] = src_origins.at(path);
      Merge(existing, dst_origins, kv.second, src_origins, path);
      continue;
    }
    dst[key] = kv.second;
    Forget(dst_origins, path);
    for (auto it = src_origins.lower_bound(path); it != src_origins.end() && it->first.rfind(path, 0) == 0;
         ++it) {
      if (it->first.size() == path.size() || it->first[path.size()] == '.') dst_origins[it->first] = it->second;
    }
  }
}

class Composer {
 public:
  explicit Composer(const ComposeOptions& options) : options_(options) {}

  // The composed tree of `file`, and where each of its keys came from.
  YAML::Node Load(const std::string& file, const std::string& prefix, Origins& origins) {
    if (std::find(chain_.begin(), chain_.end(), file) != chain_.end()) {
      std::string cycle;
      for (const std::string& f : chain_) cycle += f + " -> ";
      throw ConfigError({chain_.back()}, options_.include_key, "include cycle: " + cycle + file);
    }
    std::ifstream in(file);
    if (!in) throw ConfigError({file}, "", "cannot open the file");
    std::stringstream text;
    text << in.rdbuf();
    YAML::Node root;
    try {
      root = YAML::Load(text.str());
    } catch (const YAML::ParserException& e) {
      throw ConfigError({file, e.mark.line + 1, e.mark.column + 1}, "", "malformed YAML: " + e.msg);
    }
    if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    if (!root.IsMap()) throw ConfigError({file, 1, 1}, "", "the document must be a mapping of keys to values");
    chain_.push_back(file);
    YAML::Node result = ComposeMap(file, root, prefix, origins);
    chain_.pop_back();
    return result;
  }

 private:
  // `map` (written in `file`, at `prefix`) with the fragments its include
  // key names merged under its own keys; nested mappings likewise, so a
  // section can include a preset (a node's `include: links/...`).
  YAML::Node ComposeMap(const std::string& file, const YAML::Node& map, const std::string& prefix,
                        Origins& origins) {
    YAML::Node result(YAML::NodeType::Map);
    const YAML::Node includes = map[options_.include_key];
    if (includes.IsDefined() && !includes.IsNull()) {
      const std::string at = Join(prefix, options_.include_key);
      if (!includes.IsScalar() && !includes.IsSequence()) {
        throw ConfigError(At(file, includes), at, "expected a path or a list of paths");
      }
      std::vector<YAML::Node> items;
      if (includes.IsScalar()) {
        items.push_back(includes);
      } else {
        for (const YAML::Node& item : includes) items.push_back(item);
      }
      for (const YAML::Node& item : items) {
        if (!item.IsScalar()) throw ConfigError(At(file, item), at, "expected a path");
        Origins sub_origins;
        YAML::Node sub = Load(Find(file, item, at), prefix, sub_origins);
        Merge(result, origins, sub, sub_origins, prefix);
      }
    }
    YAML::Node own(YAML::NodeType::Map);
    Origins own_origins;
    for (const auto& kv : map) {
      const std::string& key = kv.first.Scalar();
      if (key == options_.include_key) continue;
      const std::string path = Join(prefix, key);
      if (kv.second.IsMap()) {
        own[key] = ComposeMap(file, kv.second, path, own_origins);
      } else {
        own[key] = kv.second;
      }
      own_origins[path] = At(file, kv.first);
    }
    Merge(result, origins, own, own_origins, prefix);
    return result;
  }

  std::string Find(const std::string& from, const YAML::Node& item, const std::string& key) const {
    const std::string& ref = item.Scalar();
    std::vector<fs::path> tried{fs::path(from).parent_path() / ref};
    for (const std::string& dir : options_.search) tried.push_back(fs::path(dir) / ref);
    if (fs::path(ref).is_absolute()) tried = {fs::path(ref)};
    std::string looked;
    for (const fs::path& candidate : tried) {
      if (fs::is_regular_file(candidate)) return candidate.lexically_normal().string();
      looked += (looked.empty() ? "" : ", ") + candidate.lexically_normal().string();
    }
    throw ConfigError(At(from, item), key, "no fragment '" + ref + "' (looked for " + looked + ")");
  }

  const ComposeOptions& options_;
  std::vector<std::string> chain_;
};

}  // namespace

ConfigReader ConfigReader::Compose(const std::string& path, const ComposeOptions& options) {
  auto shared = std::make_shared<Shared>();
  shared->file = path;
  Composer composer(options);
  YAML::Node root = composer.Load(path, "", shared->origins);
  for (const ConfigOverride& o : options.overrides) {
    std::vector<std::string> parts;
    std::stringstream dotted(o.key);
    for (std::string part; std::getline(dotted, part, '.');) parts.push_back(part);
    if (parts.empty()) throw ConfigError(o.where, o.key, "an empty key");
    std::vector<YAML::Node> chain{root};  // handles, never reassigned (that would alias nodes)
    std::string path;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      path = Join(path, parts[i]);
      const YAML::Node existing = chain.back()[parts[i]];
      if (existing.IsDefined() && !existing.IsNull() && !existing.IsMap()) {
        throw ConfigError(o.where, o.key, "'" + path + "' is not a section");
      }
      if (!existing.IsDefined() || existing.IsNull()) {
        chain.back()[parts[i]] = YAML::Node(YAML::NodeType::Map);
        shared->origins[path] = o.where;
      }
      YAML::Node next = chain.back()[parts[i]];
      chain.push_back(next);
    }
    chain.back()[parts.back()] = o.value;
    Forget(shared->origins, o.key);
    shared->origins[o.key] = o.where;
    if (o.value.IsMap()) {
      Origins inner;
      RecordOrigins(o.where.file, o.value, o.key, inner);
      for (auto& [k, where] : inner) shared->origins[k] = o.where;
    }
  }
  return FromNode(root, shared);
}

}  // namespace lightloop::hw_models
