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

// A board spec taken apart: kind ("virtual", "pcie", "uio"), the device path
// (pcie, uio) and the value of its one optional key (memory=, dma=).
struct Spec {
  std::string kind;
  std::string path;
  std::string option;
};

// The grammar of a spec, with nothing opened; the problem, or "" and `*out`.
std::string Parse(const std::string& spec, Spec* out) {
  const bool is_virtual = spec == "virtual" || spec.rfind("virtual,", 0) == 0;
  const size_t colon = spec.find(':');
  out->kind = is_virtual ? "virtual" : spec.substr(0, colon);
  if (!is_virtual && ((out->kind != "pcie" && out->kind != "uio") || colon == std::string::npos))
    return kForms;
  std::vector<std::string> parts = Split(is_virtual ? spec : spec.substr(colon + 1), ',');
  if (!is_virtual) {
    out->path = parts[0];
    if (out->path.empty()) return "no path";
  }
  const std::string key = is_virtual ? "memory" : "dma";
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string name = parts[i].substr(0, parts[i].find('='));
    if (name != key || parts[i].size() == name.size()) {
      return "unknown key `" + name + "` (allowed: " + key + "=...)";
    }
    out->option = parts[i].substr(name.size() + 1);
  }
  return "";
}

}  // namespace

std::string BoardSpecProblem(const std::string& spec) {
  Spec s;
  if (std::string problem = Parse(spec, &s); !problem.empty()) return problem;
  std::error_code ec;
  if (!s.path.empty() && !std::filesystem::exists(s.path, ec)) return "no such file " + s.path;
  if (s.kind == "virtual" && !s.option.empty() && !std::filesystem::exists(s.option, ec)) {
    return "no such memory file " + s.option;
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
  Spec s;
  if (std::string problem = Parse(spec, &s); !problem.empty()) {
    throw BoardError("board spec `" + spec + "`: " + problem);
  }
  if (s.kind == "virtual") {
    VirtualBoardConfig config;
    if (!s.option.empty()) UseMemoryModel(s.option, config);
    return std::make_unique<BoardDriver>(std::make_unique<VirtualBackend>(config), options);
  }
  std::unique_ptr<IDmaAllocator> dma;
  if (!s.option.empty()) dma = OpenDmaAllocator(s.option);
  return std::make_unique<BoardDriver>(OpenMmioBackend(s.path, s.kind == "uio", std::move(dma)), options);
}

}  // namespace lightloop::rtl_bridge
