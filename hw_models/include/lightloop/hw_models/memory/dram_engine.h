// SPDX-License-Identifier: Apache-2.0
// The command-level DRAM controller, without SystemC: transfers are split
// into bursts, queued per channel in a read and a write queue, and served by
// an FR-FCFS scheduler (ready row hits first, then the oldest request's
// ACT or PRE) that issues every ACT, RD, WR, PRE and REF at a cycle where
// all timing constraints hold. Writes drain between a high and a low
// watermark; each rank is refreshed every tREFI (banks precharged first).
// The timing checker is public so that tests can probe both sides of each
// constraint.
//
//   DramEngine engine(params);
//   engine.Submit(/*id=*/1, /*write=*/false, 0x1000, 4096, /*cycle=*/0);
//   engine.RunUntil(engine.NextEvent());   // ... until Completed() has id 1
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lightloop/hw_models/memory/dram_params.h"

namespace lightloop::hw_models {

enum class DramCommand { kAct, kPre, kRead, kWrite, kRefresh };
const char* DramCommandName(DramCommand c);

struct DramCommandRecord {
  uint64_t cycle;
  DramCommand command;
  DramCoord where;
};

struct DramStats {
  uint64_t acts = 0, pres = 0, reads = 0, writes = 0, refreshes = 0;
  uint64_t row_hits = 0, row_misses = 0, row_conflicts = 0;  // per burst, at its first command
  double RowHitRate() const {
    uint64_t n = row_hits + row_misses + row_conflicts;
    return n ? static_cast<double>(row_hits) / static_cast<double>(n) : 0;
  }
  // Energy of the commands (background power is the caller's: it needs time).
  double CommandJoules(const DramParams& p) const;
};

class DramEngine {
 public:
  static constexpr uint64_t kNever = ~0ull;

  explicit DramEngine(const DramParams& params);

  // A transfer of `bytes` from `address`, visible to the scheduler from
  // `cycle` (at least the first cycle not yet simulated).
  void Submit(uint64_t id, bool write, uint64_t address, uint64_t bytes, uint64_t cycle);
  // Simulates every cycle up to and including `cycle`.
  void RunUntil(uint64_t cycle);
  // The first cycle, not before now(), at which something may happen; with
  // no transfer in the controller, kNever (refreshes then wait for traffic:
  // they are caught up when RunUntil passes their time).
  uint64_t NextEvent() const;
  bool busy() const { return !transfers_.empty(); }
  uint64_t now() const { return now_; }  // first cycle not simulated yet
  // Transfers whose last burst has been issued, with the cycle its data is
  // done (possibly later than now()); taking them clears the list.
  std::vector<std::pair<uint64_t, uint64_t>> TakeCompleted();

  // Timing checker: may `command` issue at `cycle` for the bank at `c`
  // (or, for kRefresh, for c's rank)? Command bus, bank, bank group, rank
  // and tFAW constraints, and the bank's state (a RD needs its row open).
  bool CanIssue(DramCommand command, const DramCoord& c, uint64_t cycle) const;
  // Earliest cycle the timing constraints allow (not the bank's state).
  uint64_t Earliest(DramCommand command, const DramCoord& c) const;
  // Issues a command as the scheduler would (for tests that build a state).
  void Issue(DramCommand command, const DramCoord& c, uint64_t cycle);

  const DramStats& stats() const { return stats_; }
  void set_trace(std::vector<DramCommandRecord>* trace) { trace_ = trace; }
  const DramParams& params() const { return p_; }

 private:
  enum { kActSlot, kPreSlot, kReadSlot, kWriteSlot, kSlots };
  struct Bank {
    int64_t open_row = -1;
    std::array<uint64_t, kSlots> next{};
  };
  struct Burst {
    uint64_t transfer;
    bool write;
    DramCoord where;
    uint64_t arrival;
    bool started = false;
  };
  struct Channel {
    std::vector<Bank> banks;                 // rank-major, then bank group, then bank
    std::vector<std::deque<uint64_t>> acts;  // per rank: the last four ACT cycles
    std::vector<uint64_t> refresh_due;       // per rank
    std::deque<Burst> pending;               // arrived in order, not yet queued
    std::vector<Burst> reads, writes;        // oldest first
    bool draining = false;
    uint64_t command_bus_free = 0;
  };
  struct Transfer {
    uint64_t remaining = 0;
    uint64_t done = 0;
  };

  int BankIndex(const DramCoord& c) const;
  Bank& BankAt(const DramCoord& c) { return channels_[c.channel].banks[BankIndex(c)]; }
  const Bank& BankAt(const DramCoord& c) const { return channels_[c.channel].banks[BankIndex(c)]; }
  // One cycle of one channel: at most one command.
  void Step(int channel, uint64_t cycle);
  bool StepRefresh(Channel& ch, int channel, uint64_t cycle);
  bool TryColumn(std::vector<Burst>& queue, uint64_t cycle);
  bool TryRowCommand(std::vector<Burst>& queue, const Channel& ch, uint64_t cycle);
  bool RowWanted(const Channel& ch, const DramCoord& c, int64_t row) const;
  bool RefreshPending(const Channel& ch, int rank, uint64_t cycle) const;
  uint64_t ChannelNextEvent(const Channel& ch, int channel) const;

  DramParams p_;
  DramAddressMap map_;
  std::vector<Channel> channels_;
  std::unordered_map<uint64_t, Transfer> transfers_;
  std::vector<std::pair<uint64_t, uint64_t>> completed_;
  uint64_t now_ = 0;
  DramStats stats_;
  std::vector<DramCommandRecord>* trace_ = nullptr;
};

}  // namespace lightloop::hw_models
