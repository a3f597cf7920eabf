// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/node/memory_node.h"

#include <filesystem>

namespace lightloop::hw_models {
namespace {

const ChoiceParam kLinkImpl{"impl", {"photonic_wdm"}, "photonic_wdm", "link model"};
const ChoiceParam kMemoryImpl{
    "impl", {"fixed_latency"}, "fixed_latency", "memory model (the DRAM controller is not built yet)"};
const NumberParam kLatency{"latency_ns", "ns", 90, 0, 1e9, "access latency of the memory"};
const NumberParam kSizeMiB{"size_mib", "MiB", 256, 1, 1 << 20, "memory size (storage is real)", true};

// A preset named from `from`: beside it, then one folder up (nodes/ -> links/).
std::string ResolveReference(const std::string& from, const std::string& ref) {
  std::filesystem::path dir = std::filesystem::path(from).parent_path();
  for (const std::filesystem::path& candidate : {dir / ref, dir.parent_path() / ref}) {
    if (std::filesystem::exists(candidate)) return candidate.string();
  }
  return (dir / ref).string();  // ConfigReader::Load names it in its error
}

PhotonicLinkParams ReadLinkSection(ConfigReader& section) {
  section.Choice(kLinkImpl);
  PhotonicLinkParams p = ReadPhotonicLink(section);
  section.Finish();
  return p;
}

}  // namespace

NodeConfig ReadNode(const std::string& path) {
  NodeConfig node;
  node.file = path;
  ConfigReader top = ConfigReader::Load(path);
  if (std::optional<std::string> ref = top.Scalar("link")) {
    ConfigReader preset = ConfigReader::Load(ResolveReference(path, *ref));
    ConfigReader link = preset.Section("link");
    node.link = ReadLinkSection(link);
    preset.Finish();
  } else {
    ConfigReader link = top.Section("link");
    node.link = ReadLinkSection(link);
  }
  ConfigReader memory = top.Section("memory");
  memory.Choice(kMemoryImpl);
  node.memory.latency_ns = memory.Number(kLatency);
  node.memory.size = static_cast<uint64_t>(memory.Integer(kSizeMiB)) << 20;
  memory.Finish();
  top.Finish();
  return node;
}

}  // namespace lightloop::hw_models
