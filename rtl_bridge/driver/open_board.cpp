// SPDX-License-Identifier: Apache-2.0
// OpenBoard: a spec string to a driver on the right backend.
#include <vector>

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

}  // namespace

std::unique_ptr<BoardDriver> OpenBoard(const std::string& spec, const DriverOptions& options) {
  if (spec == "virtual")
    return std::make_unique<BoardDriver>(std::make_unique<VirtualBackend>(VirtualBoardConfig{}), options);
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  if ((kind != "pcie" && kind != "uio") || colon == std::string::npos) {
    throw BoardError("board spec `" + spec +
                     "`: expected virtual, pcie:<BAR file>[,dma=...] or uio:/dev/uioN[,dma=...]");
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
