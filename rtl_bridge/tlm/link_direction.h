// SPDX-License-Identifier: Apache-2.0
// One direction of the `impl: rtl` link: a Verilated ll_link (transmitter,
// data lane, receiver, control lane) clocked from C++ for one transfer at a
// time. Kept apart from the SystemC code: Verilator's headers and SystemC's
// do not mix in one translation unit of a C++-mode model.
//   LinkDirection d(params, /*seed=*/1);
//   LinkDirection::Crossing c = d.Carry(words, delivered);  // c.delivered cycles
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "lightloop/rtl_bridge/tlm/rtl_link.h"

class Vll_link;
class VerilatedContext;

namespace lightloop::rtl_bridge {

class LinkDirection {
 public:
  LinkDirection(const RtlLinkParams& p, uint32_t seed);
  ~LinkDirection();
  LinkDirection(LinkDirection&&) noexcept;
  LinkDirection(const LinkDirection&) = delete;
  LinkDirection& operator=(const LinkDirection&) = delete;

  struct Crossing {
    uint64_t accepted = 0;   // cycles until the transmitter took the last flit
    uint64_t delivered = 0;  // cycles until the receiver delivered it
    bool ok = true;          // false: the link stopped delivering
  };
  // Sends `words` as flit payloads and collects what the receiver delivers,
  // in order, into `out`; then lets ACKs and credits come home, so the next
  // transfer starts on a quiet link.
  Crossing Carry(const std::vector<uint64_t>& words, std::vector<uint64_t>& out);

  uint64_t replays() const;     // go-back-N replays started (NAK or timer)
  uint64_t crc_errors() const;  // flits the receiver dropped for their CRC

 private:
  void Tick();
  std::unique_ptr<VerilatedContext> ctx_;
  std::unique_ptr<Vll_link> m_;
  uint64_t drain_cycles_ = 0;
  uint64_t stuck_cycles_ = 0;
};

}  // namespace lightloop::rtl_bridge
