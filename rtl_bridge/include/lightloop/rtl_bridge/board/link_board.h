// SPDX-License-Identifier: Apache-2.0
// The link side of the board (ll_link_board: register file, transmitter,
// lanes, receiver) as one Verilated model, driven the way a host drives a
// board: MMIO reads and writes of the registers in
// lightloop/rtl_bridge/board_regs.h, payloads in at the near end, payloads out
// at the far end. Every register access takes one board cycle, during which
// the link keeps running.
//   LinkBoard board({.fwd_latency = 8, .rev_latency = 8});
//   board.Write(board_regs::kControlOffset, board_regs::control::kLinkEnableMask);
//   board.Send(42);
//   board.RunUntilDelivered(1000);
//   uint32_t n = board.Read(board_regs::kRxFlitsOffset);  // 1
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lightloop/rtl_bridge/link/link_pair.h"

namespace lightloop::rtl_bridge {

// Counters the register map does not show, for tests.
struct LinkBoardDebug {
  uint64_t naks_sent;
  uint64_t dup_flits;
  uint64_t overflows;
  uint64_t fwd_errors_injected;
  uint64_t ctl_crc_errors;
};

class LinkBoard {
 public:
  // Uses LinkConfig's lane, credit and timer knobs; fwd_err_threshold applies
  // while CONTROL.ERR_INJECT is set; rev_err_threshold must be 0 (the board's
  // reverse lane is error-free). Throws std::invalid_argument naming the field.
  explicit LinkBoard(const LinkConfig& config);
  ~LinkBoard();
  LinkBoard(const LinkBoard&) = delete;
  LinkBoard& operator=(const LinkBoard&) = delete;

  uint32_t Read(uint32_t offset);
  void Write(uint32_t offset, uint32_t value);

  void Send(uint64_t payload);
  void Run(uint64_t cycles);
  uint64_t RunUntilDelivered(uint64_t max_cycles);
  // Flips bit `bit` (0..103) of the next data flit on the forward lane.
  void FlipBitOfNextFlit(unsigned bit);
  // Writes the waveforms of every later cycle (all signals) to a VCD file,
  // closed when the board is destroyed. Slows the board down; for debugging.
  void StartTrace(const std::string& vcd_path);

  const std::vector<uint64_t>& received() const;
  bool irq() const;
  uint64_t cycles() const;
  LinkBoardDebug debug() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lightloop::rtl_bridge
