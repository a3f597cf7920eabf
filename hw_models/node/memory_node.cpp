// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/node/memory_node.h"

#include <algorithm>
#include <filesystem>

namespace lightloop::hw_models {
namespace {

const NumberParam kRails{"rails", "", 1, 1, 64, "links side by side; each transfer is striped across them",
                         true};
const NumberParam kControllers{
    "controllers", "", 1, 1, 64, "memory controllers; addresses are interleaved across them", true};
const NumberParam kInterleave{
    "interleave_bytes", "B", 4096, 64, 1 << 30, "bytes on one controller before the next one's", true};

// A preset named from `from`: beside it, one folder up (nodes/ -> links/),
// then among hw_models' presets (a node written inside a scenario).
std::string ResolveReference(const std::string& from, const std::string& ref) {
  std::filesystem::path dir = std::filesystem::path(from).parent_path();
  for (const std::filesystem::path& candidate :
       {dir / ref, dir.parent_path() / ref, std::filesystem::path(LIGHTLOOP_HW_PRESETS) / ref}) {
    if (std::filesystem::exists(candidate)) return candidate.string();
  }
  return (dir / ref).string();  // ConfigReader::Load names it in its error
}

// `key` of `top`, inline or as a reference to a preset file whose
// top-level mapping has the same key.
template <typename Fn>
auto ReadPart(ConfigReader& top, const std::string& path, const std::string& key, Fn read) {
  if (std::optional<std::string> ref = top.Scalar(key)) {
    ConfigReader preset = ConfigReader::Load(ResolveReference(path, *ref));
    ConfigReader section = preset.Section(key);
    auto value = read(section);
    preset.Finish();
    top.SetEffective(key, preset.Effective()[key]);  // the node resolved has the preset inline
    return value;
  }
  ConfigReader section = top.Section(key);
  return read(section);
}

}  // namespace

TransferShare StripedShare(const NodeConfig& node, uint64_t bytes) {
  const uint64_t rails = static_cast<uint64_t>(std::max<int64_t>(node.rails, 1));
  const uint64_t k = static_cast<uint64_t>(std::max<int64_t>(node.controllers, 1));
  TransferShare share;
  share.per_rail = std::max<uint64_t>((bytes + rails - 1) / rails, 1);
  share.per_controller = share.per_rail;
  if (k > 1) {
    uint64_t units = (share.per_rail + node.interleave_bytes - 1) / node.interleave_bytes;
    share.per_controller = std::min(share.per_rail, (units + k - 1) / k * node.interleave_bytes);
  }
  return share;
}

NodeConfig ReadNode(const std::string& path) {
  ConfigReader top = ConfigReader::Load(path);
  return ReadNode(top, path);
}

NodeConfig ReadNode(ConfigReader& top, const std::string& path) {
  NodeConfig node;
  node.file = path;
  node.link = ReadPart(top, path, "link", [](ConfigReader& s) {
    return std::shared_ptr<const LinkSpec>(LinkRegistry().Parse(s));
  });
  node.rails = top.Integer(kRails);
  node.memory = ReadPart(top, path, "memory",
                         [](ConfigReader& s) { return std::shared_ptr<const MemorySpec>(ParseMemory(s)); });
  node.controllers = top.Integer(kControllers);
  node.interleave_bytes = static_cast<uint64_t>(top.Integer(kInterleave));
  if (top.Has("switch")) {
    node.fabric_switch = ReadPart(top, path, "switch", [](ConfigReader& s) {
      return std::shared_ptr<const SwitchSpec>(SwitchRegistry().Parse(s));
    });
    if (node.fabric_switch->ports() < std::max(node.rails, node.controllers)) {
      top.Fail("switch", "has " + std::to_string(node.fabric_switch->ports()) + " ports; the node needs " +
                             std::to_string(std::max(node.rails, node.controllers)) +
                             " (one per rail and one per controller)");
    }
  }
  top.Finish();
  return node;
}

}  // namespace lightloop::hw_models
