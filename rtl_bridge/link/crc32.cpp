// SPDX-License-Identifier: Apache-2.0
#include "lightloop/rtl_bridge/link/crc32.h"

#include <array>

namespace lightloop::rtl_bridge {
namespace {

constexpr uint32_t kPolyReflected = 0xEDB88320u;

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ ((c & 1u) ? kPolyReflected : 0u);
    table[i] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = MakeTable();

}  // namespace

uint32_t Crc32(std::span<const uint8_t> bytes) {
  uint32_t c = 0xFFFFFFFFu;
  for (uint8_t b : bytes) c = kTable[(c ^ b) & 0xFFu] ^ (c >> 8);
  return ~c;
}

uint32_t FlitCrc(uint8_t seq, uint64_t payload) {
  std::array<uint8_t, 9> bytes{};
  bytes[0] = seq;
  for (int i = 0; i < 8; ++i) bytes[1 + i] = static_cast<uint8_t>(payload >> (8 * i));
  return Crc32(bytes);
}

}  // namespace lightloop::rtl_bridge
