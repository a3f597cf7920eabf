// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/memory/dram_transaction_model.h"

#include <algorithm>
#include <bit>

namespace lightloop::hw_models {
namespace {

// Indices i <= x with i mod m == v (m a power of two); x may be -1.
int64_t CountUpTo(int64_t x, int64_t m, int64_t v) {
  return x < v ? 0 : (x - v) / m + 1;
}

}  // namespace

DramTransactionModel::DramTransactionModel(const DramParams& params)
    : p_(params), map_(params), channels_(params.channels) {
  banks_.resize(static_cast<size_t>(p_.channels * p_.ranks * p_.banks_per_rank()));
  auto column = std::find(p_.mapping.begin(), p_.mapping.end(), DramField::kColumn);
  for (auto it = column + 1; it != p_.mapping.end(); ++it) low_bits_ += DramFieldBits(p_, *it);
  column_bits_ = DramFieldBits(p_, DramField::kColumn);
  for (Channel& ch : channels_) ch.next_refresh = p_.t.tREFI > 0 ? static_cast<uint64_t>(p_.t.tREFI) : 0;
}

uint64_t DramTransactionModel::NewRowReady(const Bank& bank, bool write) const {
  const DramTiming& t = p_.t;
  if (bank.last_data_end == 0) return 0;
  uint64_t pre = bank.last_write ? bank.last_data_end + static_cast<uint64_t>(t.tWR)
                                 : bank.last_data_end + static_cast<uint64_t>(t.tRTP) -
                                       std::min(bank.last_data_end, static_cast<uint64_t>(t.tBL + t.tCL));
  return pre + static_cast<uint64_t>(t.tRP + t.tRCD + (write ? t.tCWL : t.tCL));
}

void DramTransactionModel::Segment(int channel, int bank_index, int bankgroup, int64_t row, uint64_t bursts,
                                   int64_t first_burst) {
  Channel& ch = channels_[channel];
  size_t index = static_cast<size_t>(channel * p_.ranks * p_.banks_per_rank() + bank_index);
  Bank& bank = banks_[index];
  uint64_t overhead = 0;
  bool new_row = bank.open_row != row;
  if (!new_row) {
    stats_.row_hits += bursts;
  } else {
    overhead = static_cast<uint64_t>(bank.open_row < 0 ? p_.t.tRCD : p_.t.tRP + p_.t.tRCD);
    (bank.open_row < 0 ? stats_.row_misses : stats_.row_conflicts) += 1;
    stats_.row_hits += bursts - 1;
    ++ch.acts;
  }
  if (!ch.touched) {
    ch.first_overhead = overhead;
    touched_.push_back(channel);
  }
  ch.touched = true;
  ch.bursts += bursts;
  ch.groups_mask |= 1ull << (bankgroup & 63);
  ch.groups.push_back({first_burst, index, new_row && bank.open_row >= 0});
  bank.open_row = p_.page_policy == PagePolicy::kOpen ? row : -1;
}

uint64_t DramTransactionModel::Serve(bool write, uint64_t address, uint64_t bytes, uint64_t cycle) {
  const DramTiming& t = p_.t;
  const uint64_t bb = p_.burst_bytes();
  const int64_t first = static_cast<int64_t>(address / bb);
  const int64_t last = static_cast<int64_t>(bytes == 0 ? address / bb : (address + bytes - 1) / bb);
  const int64_t low = int64_t{1} << low_bits_;
  const int64_t block = int64_t{1} << (low_bits_ + column_bits_);
  auto segment_of = [&](int64_t burst, int64_t n, int64_t first_burst) {
    DramCoord c = map_.Decode(static_cast<uint64_t>(burst) * bb);
    int bank = DramBankIndex(p_, c);
    Segment(c.channel, bank, c.bankgroup, c.row, static_cast<uint64_t>(n), first_burst);
  };
  // A transfer shorter than one round of the fields below the column: each
  // burst is its own (bank, row) group.
  for (int64_t a = first; a <= last && last - first + 1 < low; ++a) segment_of(a, 1, a);
  for (int64_t a = first; a <= last && last - first + 1 >= low;) {
    int64_t b = std::min(last, (a / block + 1) * block - 1);
    int64_t base = a / low * low;
    for (int64_t v = 0; v < low; ++v) {
      int64_t n = CountUpTo(b, low, v) - CountUpTo(a - 1, low, v);
      if (n > 0) segment_of(base + v, n, a + ((v - a) % low + low) % low);
    }
    a = b + 1;
  }
  const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
  const uint64_t stall = u(t.tRP + t.tRFC + t.tRCD);
  const uint64_t act_spacing = u(std::max<int64_t>(t.tRRD_S, (t.tFAW + 3) / 4));
  uint64_t done = cycle;
  for (int channel : touched_) {
    const auto i = static_cast<size_t>(channel);
    Channel& ch = channels_[i];
    uint64_t per_burst = u(std::popcount(ch.groups_mask) > 1 ? t.tCCD_S : t.tCCD_L);
    // Bursts follow each other every per_burst cycles; the last one takes tBL.
    uint64_t span = std::max((ch.bursts - 1) * per_burst + u(t.tBL), ch.acts * act_spacing);
    uint64_t bus_free = ch.bus_free;
    if (bus_free > 0 && ch.last_write != write) {
      // Data bus turnaround: a write after reads waits tRTW from the last RD;
      // a read after writes waits tWTR after the write data, then tCL.
      bus_free += write ? u(std::max<int64_t>(0, t.tRTW() + t.tCWL - t.tCL - t.tBL)) : u(t.tWTR_S + t.tCL);
    }
    uint64_t start = std::max(cycle + ch.first_overhead + u(write ? t.tCWL : t.tCL), bus_free);
    std::sort(ch.groups.begin(), ch.groups.end(),
              [](const auto& x, const auto& y) { return x.first_burst < y.first_burst; });
    for (size_t g = 0; g < ch.groups.size(); ++g) {
      if (!ch.groups[g].new_row) continue;
      uint64_t ready = NewRowReady(banks_[ch.groups[g].bank], write), ahead = g * per_burst;
      start = std::max(start, ready > ahead ? ready - ahead : 0);
    }
    uint64_t end = start + span;
    while (ch.next_refresh > 0 && ch.next_refresh <= end) {
      uint64_t due = ch.next_refresh;
      if (due + stall > start) {
        if (due < start) {
          start = due + stall;
          end = start + span;
        } else {
          end += stall;
        }
      }
      for (int64_t b = 0; b < p_.ranks * p_.banks_per_rank(); ++b) {
        banks_[static_cast<size_t>(static_cast<int64_t>(i) * p_.ranks * p_.banks_per_rank() + b)].open_row =
            -1;
      }
      ch.next_refresh += u(t.tREFI);
      stats_.refreshes += static_cast<uint64_t>(p_.ranks);
    }
    ch.bus_free = end;
    for (size_t g = 0; g < ch.groups.size(); ++g) {
      Bank& bank = banks_[ch.groups[g].bank];
      bank.last_data_end = end - (ch.groups.size() - 1 - g) * per_burst;
      bank.last_write = write;
    }
    ch.groups.clear();
    ch.last_write = write;
    (write ? stats_.writes : stats_.reads) += ch.bursts;
    stats_.acts += ch.acts;
    done = std::max(done, end);
    ch.bursts = ch.acts = ch.first_overhead = ch.groups_mask = 0;
    ch.touched = false;
  }
  touched_.clear();
  return done;
}

}  // namespace lightloop::hw_models
