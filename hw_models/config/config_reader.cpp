// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/config/config_reader.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace lightloop::hw_models {
namespace {

std::string FormatNumber(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

// For listings: whole numbers of integer parameters in full (1073741824, not
// 1.07374e+09) while they fit a double exactly.
std::string FormatDeclared(double v, bool integer) {
  if (integer && std::fabs(v) < 9.0e15) return std::to_string(static_cast<int64_t>(v));
  return FormatNumber(v);
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

std::string Location::ToString() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  return out;
}

ConfigError::ConfigError(Location where, std::string key, const std::string& message)
    : std::runtime_error(where.ToString() + ": " + (key.empty() ? "" : "key '" + key + "': ") + message),
      where_(std::move(where)),
      key_(std::move(key)) {}

std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (const std::string& c : candidates) {
    size_t d = EditDistance(word, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

ConfigReader::ConfigReader(YAML::Node node, std::shared_ptr<Shared> shared, std::string path,
                           std::string declared_path)
    : node_(std::move(node)),
      shared_(std::move(shared)),
      path_(std::move(path)),
      declared_path_(std::move(declared_path)) {}

ConfigReader ConfigReader::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError({path}, "", "cannot open the file");
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

ConfigReader ConfigReader::Parse(const std::string& text, const std::string& name) {
  auto shared = std::make_shared<Shared>();
  shared->file = name;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError({name, e.mark.line + 1, e.mark.column + 1}, "", "malformed YAML: " + e.msg);
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) throw ConfigError({name, 1, 1}, "", "the document must be a mapping of keys to values");
  return ConfigReader(root, shared, "", "");
}

std::string ConfigReader::Dotted(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

std::string ConfigReader::DeclaredDotted(const std::string& key) const {
  return declared_path_.empty() ? key : declared_path_ + "." + key;
}

Location ConfigReader::LocationOf(const std::string& key) const {
  if (auto it = shared_->origins.find(Dotted(key)); it != shared_->origins.end()) return it->second;
  if (!path_.empty()) {  // an absent key of a composed section: where the section was written
    if (auto it = shared_->origins.find(path_); it != shared_->origins.end() && !Has(key)) return it->second;
  }
  for (const auto& kv : node_) {
    if (kv.first.Scalar() == key)
      return {shared_->file, kv.first.Mark().line + 1, kv.first.Mark().column + 1};
  }
  YAML::Mark m = node_.Mark();
  return {shared_->file, m.is_null() ? 0 : m.line + 1, m.is_null() ? 0 : m.column + 1};
}

void ConfigReader::Fail(const std::string& key, const std::string& message) const {
  throw ConfigError(LocationOf(key), Dotted(key), message);
}

void ConfigReader::Declare(const std::string& name, ParamInfo info) {
  known_.push_back(name);
  info.key = DeclaredDotted(name);
  auto& all = shared_->declared;
  auto same = [&](const ParamInfo& p) { return p.key == info.key; };
  if (std::none_of(all.begin(), all.end(), same)) all.push_back(std::move(info));
}

YAML::Node ConfigReader::Lookup(const std::string& key) const {
  const YAML::Node& map = node_;  // the const operator[] never adds the key
  return map[key];
}

bool ConfigReader::Has(const std::string& key) const {
  return Lookup(key).IsDefined();
}

std::optional<std::string> ConfigReader::Scalar(const std::string& key) {
  YAML::Node v = Lookup(key);
  if (!v.IsDefined() || !v.IsScalar()) return std::nullopt;
  known_.push_back(key);
  return v.Scalar();
}

double ConfigReader::Number(const NumberParam& p) {
  Declare(p.name, {"", p.integer ? "integer" : "number", p.unit, FormatDeclared(p.default_value, p.integer),
                   FormatDeclared(p.min, p.integer) + " .. " + FormatDeclared(p.max, p.integer), p.doc});
  YAML::Node v = Lookup(p.name);
  if (!v.IsDefined() || v.IsNull()) {
    Record(p.name, YAML::Node(FormatDeclared(p.default_value, p.integer)));
    return p.default_value;
  }
  double value = 0;
  if (!v.IsScalar() || !YAML::convert<double>::decode(v, value) || !std::isfinite(value)) {
    Fail(p.name, "expected a number" + (p.unit.empty() ? "" : " in " + p.unit) + ", got '" +
                     (v.IsScalar() ? v.Scalar() : std::string("a ") + (v.IsMap() ? "mapping" : "list")) +
                     "'");
  }
  if (p.integer && value != std::floor(value)) Fail(p.name, "expected a whole number, got " + v.Scalar());
  if (value < p.min || value > p.max) {
    Fail(p.name, FormatNumber(value) + " is out of range [" + FormatNumber(p.min) + ", " +
                     FormatNumber(p.max) + "]" + (p.unit.empty() ? "" : " " + p.unit));
  }
  Record(p.name, YAML::Node(v.Scalar()));
  return value;
}

int64_t ConfigReader::Integer(const NumberParam& p) {
  NumberParam whole = p;
  whole.integer = true;
  return static_cast<int64_t>(Number(whole));
}

std::string ConfigReader::Choice(const ChoiceParam& p) {
  Declare(p.name, {"", "choice", "", p.default_value, Join(p.choices), p.doc});
  YAML::Node v = Lookup(p.name);
  if (!v.IsDefined() || v.IsNull()) {
    Record(p.name, YAML::Node(p.default_value));
    return p.default_value;
  }
  if (!v.IsScalar()) Fail(p.name, "expected one of: " + Join(p.choices));
  const std::string& text = v.Scalar();
  if (std::find(p.choices.begin(), p.choices.end(), text) != p.choices.end()) {
    Record(p.name, YAML::Node(text));
    return text;
  }
  std::string hint = ClosestMatch(text, p.choices);
  Fail(p.name, "'" + text + "' is not one of: " + Join(p.choices) +
                   (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
}

bool ConfigReader::Flag(const FlagParam& p) {
  Declare(p.name, {"", "boolean", "", p.default_value ? "true" : "false", "true, false", p.doc});
  YAML::Node v = Lookup(p.name);
  bool value = p.default_value;
  if (v.IsDefined() && !v.IsNull()) {
    if (!v.IsScalar() || !YAML::convert<bool>::decode(v, value)) Fail(p.name, "expected true or false");
  }
  Record(p.name, YAML::Node(value));
  return value;
}

std::string ConfigReader::Text(const TextParam& p) {
  Declare(p.name, {"", "text", "", p.default_value, p.format, p.doc});
  YAML::Node v = Lookup(p.name);
  if (!v.IsDefined() || v.IsNull()) {
    Record(p.name, YAML::Node(p.default_value));
    return p.default_value;
  }
  if (!v.IsScalar()) Fail(p.name, "expected text: " + p.format);
  Record(p.name, YAML::Node(v.Scalar()));
  return v.Scalar();
}

std::string ConfigReader::Path(const TextParam& p) {
  std::string text = Text(p);
  if (text.empty() || std::filesystem::path(text).is_absolute()) return text;
  const std::filesystem::path base = std::filesystem::absolute(LocationOf(p.name).file).parent_path();
  text = (base / text).lexically_normal().string();
  Record(p.name, YAML::Node(text));
  return text;
}

ConfigReader ConfigReader::Section(const std::string& key, bool required) {
  known_.push_back(key);
  YAML::Node v = Lookup(key);
  if (!v.IsDefined() || v.IsNull()) {
    if (required) Fail(key, "this section is required");
    return ConfigReader(YAML::Node(YAML::NodeType::Map), shared_, Dotted(key), DeclaredDotted(key));
  }
  if (!v.IsMap()) Fail(key, "expected a mapping of keys to values");
  return ConfigReader(v, shared_, Dotted(key), DeclaredDotted(key));
}

std::vector<ConfigReader> ConfigReader::Sequence(const std::string& key) {
  known_.push_back(key);
  YAML::Node v = Lookup(key);
  std::vector<ConfigReader> items;
  if (!v.IsDefined() || v.IsNull()) return items;
  if (!v.IsSequence()) Fail(key, "expected a list");
  for (const YAML::Node& item : v) {
    std::string at = Dotted(key) + "[" + std::to_string(items.size()) + "]";
    if (!item.IsMap()) {
      throw ConfigError({shared_->file, item.Mark().line + 1, item.Mark().column + 1}, at,
                        "expected a mapping of keys to values");
    }
    items.push_back(ConfigReader(item, shared_, at, DeclaredDotted(key) + "[]"));
  }
  return items;
}

void ConfigReader::Finish() const {
  for (const auto& kv : node_) {
    const std::string& key = kv.first.Scalar();
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
    std::string hint = ClosestMatch(key, known_);
    throw ConfigError(LocationOf(key), Dotted(key),
                      "unknown key" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }
}

YAML::Node ConfigReader::Raw(const std::string& key) {
  known_.push_back(key);
  return Lookup(key);
}

ConfigReader ConfigReader::FromNode(YAML::Node root, std::shared_ptr<Shared> shared) {
  return ConfigReader(std::move(root), std::move(shared), "", "");
}

// Sets the value at this reader's path + `key` in the effective tree; list
// items ("schedule[1]") become sequence entries.
void ConfigReader::Record(const std::string& key, const YAML::Node& value) {
  std::vector<std::string> parts;
  std::stringstream dotted(Dotted(key));
  for (std::string part; std::getline(dotted, part, '.');) parts.push_back(part);
  std::vector<YAML::Node> chain{shared_->effective};  // yaml-cpp nodes are handles: keep each level's
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    std::string name = parts[i];
    size_t index = std::string::npos;
    if (size_t open = name.find('['); open != std::string::npos) {
      index = std::stoul(name.substr(open + 1));
      name = name.substr(0, open);
    }
    YAML::Node next = chain.back()[name];  // never `next = ...`: that would alias the nodes
    if (index == std::string::npos) {
      chain.push_back(next);
    } else {
      while (next.size() <= index) next.push_back(YAML::Node(YAML::NodeType::Map));
      chain.push_back(next[index]);
    }
  }
  chain.back()[parts.back()] = value;
}

void ConfigReader::SetEffective(const std::string& key, const std::string& value) {
  Record(key, YAML::Node(value));
}

void ConfigReader::SetEffective(const std::string& key, const YAML::Node& value) {
  Record(key, value);
}

Location ConfigReader::LocationOfNode(const std::string& key, const YAML::Node& item) const {
  Location at = LocationOf(key);
  if (!item.Mark().is_null()) {
    at.line = item.Mark().line + 1;
    at.column = item.Mark().column + 1;
  }
  return at;
}

}  // namespace lightloop::hw_models
