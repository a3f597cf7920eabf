// SPDX-License-Identifier: Apache-2.0
// Software CRC-32 (IEEE 802.3, the zlib/Ethernet one) and the link layer's flit
// CRC, the reference the RTL is checked against.
//   uint32_t c = Crc32(bytes);              // Crc32("123456789") == 0xCBF43926
//   uint32_t f = FlitCrc(seq, payload);     // what ll_tx puts in flit[103:72]
#pragma once

#include <cstdint>
#include <span>

namespace lightloop::rtl_bridge {

uint32_t Crc32(std::span<const uint8_t> bytes);

// CRC-32 of the 9 bytes a data flit protects: the sequence number, then the
// payload least significant byte first.
uint32_t FlitCrc(uint8_t seq, uint64_t payload);

}  // namespace lightloop::rtl_bridge
