// SPDX-License-Identifier: Apache-2.0
// OpenBoard: a spec string to a driver on the right backend.
#include <filesystem>
#include <vector>

#include "lightloop/hw_models/config/config_reader.h"
#include "lightloop/hw_models/memory/memory_registry.h"
#include "lightloop/rtl_bridge/board_backends.h"

namespace lightloop::rtl_bridge {
namespace {

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

constexpr char kForms[] =
    "expected virtual[,memory=<file>], pcie:<BAR file>[,dma=...] or uio:/dev/uioN[,dma=...]";

}  // namespace

std::string BoardSpecProblem(const std::string& spec) {
  const bool is_virtual = spec == "virtual" || spec.rfind("virtual,", 0) == 0;
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  if (!is_virtual && ((kind != "pcie" && kind != "uio") || colon == std::string::npos)) return kForms;
  std::vector<std::string> parts = Split(is_virtual ? spec : spec.substr(colon + 1), ',');
  const std::string key = is_virtual ? "memory" : "dma";
  std::error_code ec;
  if (!is_virtual && (parts[0].empty() || !std::filesystem::exists(parts[0], ec))) {
    return "no such file " + (parts[0].empty() ? std::string("(empty path)") : parts[0]);
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string name = parts[i].substr(0, parts[i].find('='));
    if (name != key || parts[i].size() == name.size())
      return "unknown key `" + parts[i] + "` (allowed: " + key + "=...)";
    const std::string value = parts[i].substr(name.size() + 1);
    if (is_virtual && !std::filesystem::exists(value, ec)) return "no such memory file " + value;
  }
  return "";
}

void UseMemoryModel(const std::string& path, VirtualBoardConfig& config) {
  try {
    hw_models::ConfigReader top = hw_models::ConfigReader::Load(path);
    hw_models::ConfigReader section = top.Section("memory");
    std::unique_ptr<hw_models::MemorySpec> spec = hw_models::ParseMemory(section);
    top.Finish();
    config.memory_timer = spec->Timer();
    if (!config.memory_timer) {
      throw BoardError("board memory model " + path + ": this memory model has no timing outside SystemC");
    }
    config.mem_bytes = spec->size();
  } catch (const hw_models::ConfigError& e) {
    throw BoardError(std::string("board memory model: ") + e.what());
  }
}

std::unique_ptr<BoardDriver> OpenBoard(const std::string& spec, const DriverOptions& options) {
  if (spec == "virtual" || spec.rfind("virtual,", 0) == 0) {
    VirtualBoardConfig config;
    std::vector<std::string> parts = Split(spec, ',');
    for (size_t i = 1; i < parts.size(); ++i) {
      if (parts[i].rfind("memory=", 0) != 0) {
        throw BoardError("board spec `" + spec + "`: unknown key `" + parts[i].substr(0, parts[i].find('=')) +
                         "` (allowed: memory)");
      }
      UseMemoryModel(parts[i].substr(7), config);
    }
    return std::make_unique<BoardDriver>(std::make_unique<VirtualBackend>(config), options);
  }
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  if ((kind != "pcie" && kind != "uio") || colon == std::string::npos) {
    throw BoardError("board spec `" + spec + "`: " + kForms);
  }
  std::vector<std::string> parts = Split(spec.substr(colon + 1), ',');
  std::unique_ptr<IDmaAllocator> dma;
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].rfind("dma=", 0) != 0) {
      throw BoardError("board spec `" + spec + "`: unknown key `" + parts[i].substr(0, parts[i].find('=')) +
                       "` (allowed: dma)");
    }
    dma = OpenDmaAllocator(parts[i].substr(4));
  }
  if (parts[0].empty()) throw BoardError("board spec `" + spec + "`: no path");
  return std::make_unique<BoardDriver>(OpenMmioBackend(parts[0], kind == "uio", std::move(dma)), options);
}

}  // namespace lightloop::rtl_bridge
