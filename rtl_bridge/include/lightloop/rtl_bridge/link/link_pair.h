// SPDX-License-Identifier: Apache-2.0
// The link layer end to end in Verilated RTL: transmitter (ll_tx), forward
// lane, receiver (ll_rx) and reverse lane (ll_lane for both), each its own
// Verilated model with its own VerilatedContext, wired and clocked from C++ in
// batches (no SystemC). Payloads queued with Send() enter the transmitter when
// it is ready; received() lists what the receiver delivered, in order.
//   LinkPair link({.fwd_latency = 8, .rev_latency = 8, .credits = 4});
//   link.Send(0x1234);
//   link.RunUntilDelivered(10'000);   // link.received() == {0x1234}
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace lightloop::rtl_bridge {

struct LinkConfig {
  uint32_t fwd_latency = 4;        // cycles, 1..64
  uint32_t rev_latency = 4;        // cycles, 1..64
  uint32_t credits = 32;           // receiver buffer entries advertised, 1..32
  uint32_t timeout_cycles = 512;   // replay timer; 0 disables it
  uint32_t seed = 1;               // lane LFSR seed (the reverse lane uses seed + 1)
  uint32_t fwd_err_threshold = 0;  // per-flit error probability * 65536, forward lane
  uint32_t rev_err_threshold = 0;  // same for control flits on the reverse lane
};

// Throws std::invalid_argument naming the first field outside the RTL's range.
void ValidateLinkConfig(const LinkConfig& config);

// Sets the link's configuration ports, which the Verilated ll_link,
// ll_link_board and ll_board share, from `config` (the forward lane's error
// threshold is the link's).
template <typename Model>
void ApplyLinkConfig(Model& m, const LinkConfig& config) {
  m.fwd_latency = config.fwd_latency;
  m.rev_latency = config.rev_latency;
  m.seed = config.seed;
  m.err_threshold = config.fwd_err_threshold;
  m.credits = config.credits;
  m.timeout_cycles = config.timeout_cycles;
}

// A data flit as it left the transmitter.
struct Flit {
  uint8_t seq;
  uint64_t payload;
  uint32_t crc;
};

struct LinkCounters {
  uint64_t tx_flits;         // new flits sent (ll_tx)
  uint64_t nak_replays;      // replays started by a NAK (ll_tx)
  uint64_t timeout_replays;  // replays started by the timer (ll_tx)
  uint64_t ctl_crc_errors;   // control flits the transmitter dropped (ll_tx)
  uint64_t stall_cycles;     // cycles with data but no credit (ll_tx)
  uint64_t rx_flits;         // flits accepted in order (ll_rx)
  uint64_t crc_errors;       // data flits dropped for CRC (ll_rx)
  uint64_t seq_errors;       // data flits dropped as out of order (ll_rx)
  uint64_t dup_flits;        // replayed duplicates dropped (ll_rx)
  uint64_t naks_sent;        // NAKs started (ll_rx)
  uint64_t overflows;        // in-order flits refused for a full buffer (ll_rx)
  uint64_t fwd_errors_injected;
  uint64_t rev_errors_injected;
};

class LinkPair {
 public:
  // Throws std::invalid_argument naming the field when `config` is out of the
  // RTL's range.
  explicit LinkPair(const LinkConfig& config);
  ~LinkPair();
  LinkPair(const LinkPair&) = delete;
  LinkPair& operator=(const LinkPair&) = delete;

  void Send(uint64_t payload);
  // Clocks every model `cycles` times.
  void Run(uint64_t cycles);
  // Runs until everything sent has been delivered or max_cycles pass; returns
  // the cycles it ran.
  uint64_t RunUntilDelivered(uint64_t max_cycles);

  // Flips bit `bit` (0..103) of the next data flit that enters the forward lane.
  void FlipBitOfNextFlit(unsigned bit);
  // Called once per cycle; false holds the receiver's output (backpressure).
  void set_sink_ready(std::function<bool()> ready);
  // Sees every data flit the transmitter puts on the forward lane.
  void set_flit_tap(std::function<void(const Flit&)> tap);

  const std::vector<uint64_t>& received() const;
  size_t pending() const;  // queued, not yet taken by the transmitter
  uint64_t cycles() const;
  LinkCounters counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lightloop::rtl_bridge
