// SPDX-License-Identifier: Apache-2.0
// Reads a YAML mapping against parameters declared once, in code, with their
// name, unit, default, range and doc string. Every bad input is a
// ConfigError naming the file, line, column and key; misspelled keys are
// errors too, with a "did you mean" suggestion.
//
//   const NumberParam kRate{"gbps_per_wavelength", "Gb/s", 32, 1, 1000, "line rate per wavelength"};
//   const ChoiceParam kFec{"fec", {"none", "rs528", "rs544"}, "none", "forward error correction"};
//   ConfigReader link = ConfigReader::Load("presets/links/optical_io.yaml").Section("link");
//   double gbps = link.Number(kRate);
//   std::string fec = link.Choice(kFec);
//   link.Finish();  // throws on any key that no parameter read
//
// The declarations a reader saw are kept (declared()) so that `lightloop
// info` and docs/config-reference.md can be generated from the same source.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lightloop::hw_models {

// 1-based line and column; 0 when unknown.
struct Location {
  std::string file;
  int line = 0;
  int column = 0;
  std::string ToString() const;  // "file:line:column"
};

class ConfigError : public std::runtime_error {
 public:
  ConfigError(Location where, std::string key, const std::string& message);
  const Location& where() const { return where_; }
  const std::string& key() const { return key_; }

 private:
  Location where_;
  std::string key_;
};

struct NumberParam {
  std::string name;
  std::string unit;
  double default_value = 0;
  double min = 0;
  double max = 0;
  std::string doc;
  bool integer = false;
};

struct ChoiceParam {
  std::string name;
  std::vector<std::string> choices;
  std::string default_value;
  std::string doc;
};

struct FlagParam {
  std::string name;
  bool default_value = false;
  std::string doc;
};

// Free text that the caller parses itself (e.g. an address mapping);
// `format` says what it must look like, for listings.
struct TextParam {
  std::string name;
  std::string default_value;
  std::string format;
  std::string doc;
};

// One declared parameter, as text, for generated listings.
struct ParamInfo {
  std::string key;  // dotted path, e.g. "link.fec"
  std::string type;
  std::string unit;
  std::string default_text;
  std::string range;
  std::string doc;
};

// A value set from outside the file (a sweep point): a dotted key, its
// value, and where that value was written, for error messages.
struct ConfigOverride {
  std::string key;  // e.g. "kv.local_blocks"
  YAML::Node value;
  Location where;
};

struct ComposeOptions {
  std::string include_key = "include";
  // Folders searched for an included path not found beside the file that includes it.
  std::vector<std::string> search;
  std::vector<ConfigOverride> overrides;  // applied last, in order
};

class ConfigReader {
 public:
  // Throws ConfigError for a missing file or malformed YAML, or when the
  // document is not a mapping.
  static ConfigReader Load(const std::string& path);
  static ConfigReader Parse(const std::string& text, const std::string& name);
  // Loads `path` composed: the files named by its `include` key (a path or a
  // list; relative to the including file, then to each search folder; they
  // may include others) are merged in order, then the file's own keys over
  // them (mappings merge key by key, anything else replaces), then the
  // overrides. Errors keep naming the file, line and column each key came
  // from. Throws ConfigError for a missing or malformed file or an include cycle.
  static ConfigReader Compose(const std::string& path, const ComposeOptions& options);

  double Number(const NumberParam& p);
  int64_t Integer(const NumberParam& p);
  std::string Choice(const ChoiceParam& p);
  bool Flag(const FlagParam& p);
  // The value as text, or the default when absent; the caller checks it and
  // reports a bad value with Fail(p.name, ...).
  std::string Text(const TextParam& p);
  // A file path: Text made absolute against the folder of the file that
  // wrote the key (a fragment's paths are relative to the fragment), and
  // recorded so in Effective(). Empty stays empty.
  std::string Path(const TextParam& p);
  bool Has(const std::string& key) const;
  // The value of `key` as text when it is a scalar (e.g. a reference to a
  // preset file), marking the key as read; nothing for a mapping or absence.
  std::optional<std::string> Scalar(const std::string& key);
  // A nested mapping; `required` false gives an empty section when absent.
  ConfigReader Section(const std::string& key, bool required = true);
  // The items of a list of mappings under `key`, marking the key as read; none
  // when it is absent. Each item is a reader whose errors name it `key[i]`
  // (e.g. "switch.schedule[1].input" at the item's line); its parameters are
  // declared once for all items, as "switch.schedule[].input". Throws when
  // `key` is not a list or an item is not a mapping.
  std::vector<ConfigReader> Sequence(const std::string& key);
  // The node under `key` as it is, marking the key as read (for sections a
  // caller interprets itself, such as a sweep's lists).
  YAML::Node Raw(const std::string& key);
  // Throws for the first key that no parameter or section read.
  void Finish() const;

  // Every parameter read so far, by section, with the value it had (the
  // default when absent): the configuration resolved, as a mapping.
  const YAML::Node& Effective() const { return shared_->effective; }
  // Replaces the resolved value of `key` (e.g. a path made absolute).
  void SetEffective(const std::string& key, const std::string& value);
  void SetEffective(const std::string& key, const YAML::Node& value);
  // Where `item`, a node somewhere under `key`, was written.
  Location LocationOfNode(const std::string& key, const YAML::Node& item) const;

  Location LocationOf(const std::string& key) const;
  // Throws a ConfigError for `key` of this mapping (file, line, column, dotted key).
  [[noreturn]] void Fail(const std::string& key, const std::string& message) const;
  const std::string& path() const { return path_; }
  const std::vector<ParamInfo>& declared() const { return shared_->declared; }

 private:
  struct Shared {
    std::string file;
    std::vector<ParamInfo> declared;
    // Composed files: where each dotted key was written (all keys, when any).
    std::map<std::string, Location> origins;
    YAML::Node effective{YAML::NodeType::Map};
  };
  static ConfigReader FromNode(YAML::Node root, std::shared_ptr<Shared> shared);
  void Record(const std::string& key, const YAML::Node& value);
  ConfigReader(YAML::Node node, std::shared_ptr<Shared> shared, std::string path, std::string declared_path);
  void Declare(const std::string& name, ParamInfo info);
  YAML::Node Lookup(const std::string& key) const;
  std::string Dotted(const std::string& key) const;
  std::string DeclaredDotted(const std::string& key) const;

  YAML::Node node_;
  std::shared_ptr<Shared> shared_;
  std::string path_;                // dotted path of this mapping ("" at the top)
  std::string declared_path_;       // the same with list indices left out, for declared()
  std::vector<std::string> known_;  // keys read through this reader
};

// Closest candidate to `word` within a small edit distance, or "".
std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace lightloop::hw_models
