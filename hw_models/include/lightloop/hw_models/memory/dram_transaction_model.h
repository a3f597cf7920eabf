// SPDX-License-Identifier: Apache-2.0
// The fast, transaction-level DRAM model (`fidelity: transaction`): a whole
// transfer is served analytically, per channel. Its bursts are grouped by
// (bank, row) without visiting each burst; the first group's row state
// (hit, miss or conflict) sets when data starts, a bank that must change
// rows first finishes the previous transfer's bursts (then PRE, ACT and the
// column latency), the channel's data bus streams every burst at tCCD_S
// (tCCD_L when the transfer stays in one bank group), no faster than tFAW
// and tRRD allow the activations it needs, and a refresh that falls inside
// costs its stall. The command-level engine
// (DramEngine) is the reference: a test holds latency and bandwidth within
// 5% of it on streaming and random traffic.
//
//   DramTransactionModel model(params);
//   uint64_t done = model.Serve(/*write=*/false, address, 65536, /*cycle=*/arrival);
#pragma once

#include <cstdint>
#include <vector>

#include "lightloop/hw_models/memory/dram_engine.h"
#include "lightloop/hw_models/memory/dram_params.h"

namespace lightloop::hw_models {

class DramTransactionModel {
 public:
  explicit DramTransactionModel(const DramParams& params);

  // Serves a transfer arriving at `cycle`; returns the cycle its last data
  // is done. Arrivals need not be ordered.
  uint64_t Serve(bool write, uint64_t address, uint64_t bytes, uint64_t cycle);
  const DramStats& stats() const { return stats_; }

 private:
  struct Channel {
    uint64_t bus_free = 0;
    uint64_t next_refresh = 0;
    bool last_write = false;
    // Per transfer being built: bursts, activations, first access overhead.
    uint64_t bursts = 0, acts = 0, first_overhead = 0;
    bool touched = false;
    uint64_t groups_mask = 0;
    // The transfer's (bank, row) groups in the order their first bursts come.
    struct Group {
      int64_t first_burst;
      size_t bank;  // index into banks_
      bool new_row;
    };
    std::vector<Group> groups;
  };
  struct Bank {
    int64_t open_row = -1;
    uint64_t last_data_end = 0;  // of the bank's last burst
    bool last_write = false;
  };
  void Segment(int channel, int bank_index, int bankgroup, int64_t row, uint64_t bursts, int64_t first_burst);
  // Earliest data start for a new row in `bank`: its last burst, then
  // PRE (after tRTP or tWR), ACT, and the column command's latency.
  uint64_t NewRowReady(const Bank& bank, bool write) const;

  DramParams p_;
  DramAddressMap map_;
  std::vector<Channel> channels_;
  std::vector<Bank> banks_;   // per channel x bank
  std::vector<int> touched_;  // channels of the transfer being served, in first-touch order
  int low_bits_ = 0;          // bits of the fields below the column
  int column_bits_ = 0;
  DramStats stats_;
};

}  // namespace lightloop::hw_models
