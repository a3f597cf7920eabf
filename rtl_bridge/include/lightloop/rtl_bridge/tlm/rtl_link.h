// SPDX-License-Identifier: Apache-2.0
// The link layer's RTL as a hw_models link (`impl: rtl`): a loosely-timed
// TLM-2.0 module whose two directions are each a Verilated ll_link (ll_tx,
// the data lane, ll_rx and the control lane), clocked from C++ for as many
// cycles as a transfer takes. Every byte of a transfer crosses the RTL as
// 8-byte flit payloads (write data on the request direction, read data on
// the response direction; a one-flit read request or write acknowledgement
// the other way), so CRC errors, go-back-N replays and credit stalls cost
// what the RTL makes them cost, and what reaches the far end is what the
// receiver delivered.
//
// Timing, per direction: a transfer starts at max(ready, the end of the
// previous transfer's serialization); it occupies the direction for the
// cycles its transmitter took to accept every flit and arrives when the
// receiver delivered the last one. Between transfers the link drains
// (acknowledgements and credits back), so each starts on a quiet link: the
// photonic model's "busy while serializing" rule, with the RTL's cycles.
//
// On a clean link this is the closed form of the photonic link with the same
// shape (EquivalentPhotonic): one 13-byte flit (seq, 8 payload bytes,
// CRC-32) per cycle at clock_mhz, the lane latency as time of flight and the
// RTL's register stages (kPipelineCycles) as SerDes latency. A test holds
// the two equal.
//
//   link:
//     impl: rtl
//     clock_mhz: 1000
//     lane_latency_cycles: 8
//     ber: 1e-6
//
//   RegisterRtlLink();  // once, before a node with `impl: rtl` is read
#pragma once

#include <cstdint>

#include "lightloop/hw_models/config/config_reader.h"
#include "lightloop/hw_models/link/photonic_link.h"

namespace lightloop::rtl_bridge {

struct RtlLinkParams {
  double clock_mhz = 1000;              // link clock; one flit per cycle per direction
  uint32_t lane_latency_cycles = 8;     // data lane, each direction, 1..64
  uint32_t control_latency_cycles = 8;  // ACK/NAK/credit lane, each direction, 1..64
  uint32_t credits = 32;                // receiver buffer in flits, 1..32
  uint32_t timeout_cycles = 512;        // replay timer, 0 (off)..65535
  double ber = 0;                       // bit error rate on the data lanes
  uint32_t seed = 1;                    // of the lanes' error draws

  // Per-flit error threshold the lane takes: P(flit in error) x 65536.
  uint32_t ErrThreshold() const;
};

// Register stages a flit passes besides the lane (transmitter output and
// receiver output), each direction.
inline constexpr uint32_t kPipelineCycles = 2;
// Payload bytes per flit and flit bytes on the wire (seq + payload + CRC-32).
inline constexpr uint32_t kFlitPayloadBytes = 8;
inline constexpr uint32_t kFlitWireBytes = 13;

// Throws hw_models::ConfigError naming the file, line and key.
RtlLinkParams ReadRtlLink(hw_models::ConfigReader& section);

// The photonic link with the same closed form as the RTL on a clean link.
hw_models::PhotonicLinkParams EquivalentPhotonic(const RtlLinkParams& p);

// Adds `rtl` to hw_models::LinkRegistry(); idempotent.
void RegisterRtlLink();

}  // namespace lightloop::rtl_bridge
