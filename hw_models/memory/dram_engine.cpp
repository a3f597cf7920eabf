// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/memory/dram_engine.h"

#include <algorithm>
#include <cassert>

namespace lightloop::hw_models {

const char* DramCommandName(DramCommand c) {
  switch (c) {
    case DramCommand::kAct: return "ACT";
    case DramCommand::kPre: return "PRE";
    case DramCommand::kRead: return "RD";
    case DramCommand::kWrite: return "WR";
    case DramCommand::kRefresh: return "REF";
  }
  return "?";
}

double DramStats::CommandJoules(const DramParams& p) const {
  return (static_cast<double>(acts) * p.act_pj + static_cast<double>(reads) * p.read_pj +
          static_cast<double>(writes) * p.write_pj + static_cast<double>(refreshes) * p.refresh_pj) *
         1e-12;
}

DramEngine::DramEngine(const DramParams& params) : p_(params), map_(params), channels_(params.channels) {
  for (Channel& ch : channels_) {
    ch.banks.resize(static_cast<size_t>(p_.ranks * p_.banks_per_rank()));
    ch.acts.resize(static_cast<size_t>(p_.ranks));
    for (int64_t r = 0; r < p_.ranks; ++r) {
      // Ranks refresh in turn, spread over the interval.
      ch.refresh_due.push_back(static_cast<uint64_t>(p_.t.tREFI + r * p_.t.tREFI / p_.ranks));
    }
  }
}

int DramEngine::BankIndex(const DramCoord& c) const {
  return DramBankIndex(p_, c);
}

uint64_t DramEngine::Earliest(DramCommand command, const DramCoord& c) const {
  const Channel& ch = channels_[c.channel];
  const Bank& bank = BankAt(c);
  uint64_t t = ch.command_bus_free;
  switch (command) {
    case DramCommand::kAct: {
      t = std::max(t, bank.next[kActSlot]);
      const auto& window = ch.acts[c.rank];
      if (window.size() == 4) t = std::max(t, window.front() + static_cast<uint64_t>(p_.t.tFAW));
      break;
    }
    case DramCommand::kPre: t = std::max(t, bank.next[kPreSlot]); break;
    case DramCommand::kRead: t = std::max(t, bank.next[kReadSlot]); break;
    case DramCommand::kWrite: t = std::max(t, bank.next[kWriteSlot]); break;
    case DramCommand::kRefresh: {
      size_t first = static_cast<size_t>(c.rank * p_.banks_per_rank());
      for (size_t i = first; i < first + static_cast<size_t>(p_.banks_per_rank()); ++i) {
        t = std::max(t, ch.banks[i].next[kActSlot]);
      }
      break;
    }
  }
  return t;
}

bool DramEngine::CanIssue(DramCommand command, const DramCoord& c, uint64_t cycle) const {
  if (cycle < Earliest(command, c)) return false;
  const Bank& bank = BankAt(c);
  switch (command) {
    case DramCommand::kAct: return bank.open_row < 0;
    case DramCommand::kPre: return bank.open_row >= 0;
    case DramCommand::kRead:
    case DramCommand::kWrite: return bank.open_row == c.row;
    case DramCommand::kRefresh: {
      const Channel& ch = channels_[c.channel];
      size_t first = static_cast<size_t>(c.rank * p_.banks_per_rank());
      for (size_t i = first; i < first + static_cast<size_t>(p_.banks_per_rank()); ++i) {
        if (ch.banks[i].open_row >= 0) return false;
      }
      return true;
    }
  }
  return false;
}

void DramEngine::Issue(DramCommand command, const DramCoord& c, uint64_t cycle) {
  const DramTiming& t = p_.t;
  Channel& ch = channels_[c.channel];
  Bank& bank = BankAt(c);
  auto raise = [](uint64_t& slot, uint64_t v) { slot = std::max(slot, v); };
  auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
  // Applies `f(bank, same_group, same_rank)` to every bank of the channel.
  auto each_bank = [&](auto&& f) {
    for (int r = 0; r < p_.ranks; ++r) {
      for (int g = 0; g < p_.bankgroups; ++g) {
        for (int b = 0; b < p_.banks_per_group; ++b) {
          DramCoord other{c.channel, r, g, b, 0, 0};
          f(ch.banks[BankIndex(other)], r == c.rank && g == c.bankgroup, r == c.rank);
        }
      }
    }
  };
  switch (command) {
    case DramCommand::kAct:
      raise(bank.next[kActSlot], cycle + u(t.tRC()));
      raise(bank.next[kReadSlot], cycle + u(t.tRCD));
      raise(bank.next[kWriteSlot], cycle + u(t.tRCD));
      raise(bank.next[kPreSlot], cycle + u(t.tRAS));
      each_bank([&](Bank& b, bool same_group, bool same_rank) {
        if (&b == &bank || !same_rank) return;
        raise(b.next[kActSlot], cycle + u(same_group ? t.tRRD_L : t.tRRD_S));
      });
      bank.open_row = c.row;
      ch.acts[c.rank].push_back(cycle);
      if (ch.acts[c.rank].size() > 4) ch.acts[c.rank].pop_front();
      ++stats_.acts;
      break;
    case DramCommand::kPre:
      raise(bank.next[kActSlot], cycle + u(t.tRP));
      bank.open_row = -1;
      ++stats_.pres;
      break;
    case DramCommand::kRead:
      each_bank([&](Bank& b, bool same_group, bool same_rank) {
        if (same_rank) {
          raise(b.next[kReadSlot], cycle + u(same_group ? t.tCCD_L : t.tCCD_S));
          raise(b.next[kWriteSlot], cycle + u(t.tRTW()));
        } else {
          raise(b.next[kReadSlot], cycle + u(t.tBL + t.tRTRS));
          raise(b.next[kWriteSlot], cycle + u(t.tRTW() + t.tRTRS));
        }
      });
      raise(bank.next[kPreSlot], cycle + u(t.tRTP));
      ++stats_.reads;
      break;
    case DramCommand::kWrite: {
      uint64_t data_end = cycle + u(t.tCWL + t.tBL);
      each_bank([&](Bank& b, bool same_group, bool same_rank) {
        if (same_rank) {
          raise(b.next[kWriteSlot], cycle + u(same_group ? t.tCCD_L : t.tCCD_S));
          raise(b.next[kReadSlot], data_end + u(same_group ? t.tWTR_L : t.tWTR_S));
        } else {
          raise(b.next[kWriteSlot], cycle + u(t.tBL + t.tRTRS));
          // The other rank's read data may follow this write's data on the bus.
          uint64_t after = data_end + u(t.tRTRS);
          raise(b.next[kReadSlot], after > u(t.tCL) ? after - u(t.tCL) : 0);
        }
      });
      raise(bank.next[kPreSlot], data_end + u(t.tWR));
      ++stats_.writes;
      break;
    }
    case DramCommand::kRefresh:
      each_bank([&](Bank& b, bool, bool same_rank) {
        if (same_rank) raise(b.next[kActSlot], cycle + u(t.tRFC));
      });
      ch.refresh_due[c.rank] += u(t.tREFI);
      ++stats_.refreshes;
      break;
  }
  ch.command_bus_free = cycle + 1;
  if (trace_) trace_->push_back({cycle, command, c});
}

void DramEngine::Submit(uint64_t id, bool write, uint64_t address, uint64_t bytes, uint64_t cycle) {
  cycle = std::max(cycle, now_);
  const uint64_t bb = p_.burst_bytes();
  uint64_t first = address / bb, last = bytes == 0 ? first : (address + bytes - 1) / bb;
  assert(transfers_.count(id) == 0);
  Transfer& tr = transfers_[id];
  tr.remaining = last - first + 1;
  tr.done = cycle;
  for (uint64_t b = first; b <= last; ++b) {
    DramCoord c = map_.Decode(b * bb);
    channels_[c.channel].pending.push_back({id, write, c, cycle});
  }
}

std::vector<std::pair<uint64_t, uint64_t>> DramEngine::TakeCompleted() {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  out.swap(completed_);
  return out;
}

bool DramEngine::RefreshPending(const Channel& ch, int rank, uint64_t cycle) const {
  return p_.t.tREFI > 0 && cycle >= ch.refresh_due[rank];
}

bool DramEngine::RowWanted(const Channel& ch, const DramCoord& c, int64_t row) const {
  const std::vector<Burst>& queue = ch.draining ? ch.writes : ch.reads;
  return std::any_of(queue.begin(), queue.end(), [&](const Burst& b) {
    return b.where.rank == c.rank && b.where.bankgroup == c.bankgroup && b.where.bank == c.bank &&
           b.where.row == row;
  });
}

bool DramEngine::StepRefresh(Channel& ch, int channel, uint64_t cycle) {
  for (int r = 0; r < p_.ranks; ++r) {
    if (!RefreshPending(ch, r, cycle)) continue;
    DramCoord rank{channel, r, 0, 0, 0, 0};
    if (CanIssue(DramCommand::kRefresh, rank, cycle)) {
      Issue(DramCommand::kRefresh, rank, cycle);
      return true;
    }
    for (int g = 0; g < p_.bankgroups; ++g) {
      for (int b = 0; b < p_.banks_per_group; ++b) {
        DramCoord c{channel, r, g, b, 0, 0};
        if (CanIssue(DramCommand::kPre, c, cycle)) {
          Issue(DramCommand::kPre, c, cycle);
          return true;
        }
      }
    }
  }
  return false;
}

bool DramEngine::TryColumn(std::vector<Burst>& queue, uint64_t cycle) {
  for (size_t i = 0; i < queue.size(); ++i) {
    Burst& b = queue[i];
    Channel& ch = channels_[b.where.channel];
    if (RefreshPending(ch, b.where.rank, cycle)) continue;
    DramCommand cmd = b.write ? DramCommand::kWrite : DramCommand::kRead;
    if (!CanIssue(cmd, b.where, cycle)) continue;
    if (!b.started) ++stats_.row_hits;
    Issue(cmd, b.where, cycle);
    uint64_t done = cycle + static_cast<uint64_t>((b.write ? p_.t.tCWL : p_.t.tCL) + p_.t.tBL);
    Burst served = b;
    queue.erase(queue.begin() + static_cast<long>(i));
    if (p_.page_policy == PagePolicy::kClosed && !RowWanted(ch, served.where, served.where.row)) {
      // Auto-precharge: the bank closes as soon as tRAS, tRTP or tWR allow.
      Bank& bank = BankAt(served.where);
      bank.next[kActSlot] =
          std::max(bank.next[kActSlot], bank.next[kPreSlot] + static_cast<uint64_t>(p_.t.tRP));
      bank.open_row = -1;
      ++stats_.pres;
    }
    auto it = transfers_.find(served.transfer);
    it->second.done = std::max(it->second.done, done);
    if (--it->second.remaining == 0) {
      completed_.emplace_back(it->first, it->second.done);
      transfers_.erase(it);
    }
    return true;
  }
  return false;
}

bool DramEngine::TryRowCommand(std::vector<Burst>& queue, const Channel& ch, uint64_t cycle) {
  for (Burst& b : queue) {
    if (RefreshPending(ch, b.where.rank, cycle)) continue;
    const Bank& bank = BankAt(b.where);
    if (bank.open_row == b.where.row) continue;  // waits for its column command
    if (bank.open_row < 0) {
      if (!CanIssue(DramCommand::kAct, b.where, cycle)) continue;
      if (!b.started) ++stats_.row_misses;
      b.started = true;
      Issue(DramCommand::kAct, b.where, cycle);
      return true;
    }
    if (RowWanted(ch, b.where, bank.open_row)) continue;  // hits first
    if (!CanIssue(DramCommand::kPre, b.where, cycle)) continue;
    if (!b.started) ++stats_.row_conflicts;
    b.started = true;
    Issue(DramCommand::kPre, b.where, cycle);
    return true;
  }
  return false;
}

void DramEngine::Step(int channel, uint64_t cycle) {
  Channel& ch = channels_[channel];
  while (!ch.pending.empty() && ch.pending.front().arrival <= cycle) {
    Burst& b = ch.pending.front();
    std::vector<Burst>& queue = b.write ? ch.writes : ch.reads;
    if (static_cast<int64_t>(queue.size()) >= (b.write ? p_.write_queue : p_.read_queue)) break;
    queue.push_back(b);
    ch.pending.pop_front();
  }
  if (cycle < ch.command_bus_free) return;
  if (StepRefresh(ch, channel, cycle)) return;
  auto writes = static_cast<int64_t>(ch.writes.size());
  if (!ch.draining && (writes >= p_.write_high || (ch.reads.empty() && writes > 0))) ch.draining = true;
  if (ch.draining && (writes == 0 || (writes <= p_.write_low && !ch.reads.empty()))) ch.draining = false;
  std::vector<Burst>& active = ch.draining ? ch.writes : ch.reads;
  if (TryColumn(active, cycle)) return;
  TryRowCommand(active, ch, cycle);
}

uint64_t DramEngine::ChannelNextEvent(const Channel& ch, int channel) const {
  uint64_t t = kNever;
  if (!ch.pending.empty()) {
    const Burst& b = ch.pending.front();
    const std::vector<Burst>& queue = b.write ? ch.writes : ch.reads;
    if (static_cast<int64_t>(queue.size()) < (b.write ? p_.write_queue : p_.read_queue)) {
      t = std::min(t, b.arrival);
    }
  }
  for (int r = 0; r < p_.ranks; ++r) {
    if (p_.t.tREFI <= 0) break;
    if (!RefreshPending(ch, r, now_)) {
      t = std::min(t, ch.refresh_due[r]);
      continue;
    }
    DramCoord rank{channel, r, 0, 0, 0, 0};
    t = std::min(t, Earliest(DramCommand::kRefresh, rank));
    for (int g = 0; g < p_.bankgroups; ++g) {
      for (int b = 0; b < p_.banks_per_group; ++b) {
        DramCoord c{channel, r, g, b, 0, 0};
        if (BankAt(c).open_row >= 0) t = std::min(t, Earliest(DramCommand::kPre, c));
      }
    }
  }
  for (const std::vector<Burst>* queue : {&ch.reads, &ch.writes}) {
    for (const Burst& b : *queue) {
      const Bank& bank = BankAt(b.where);
      DramCommand next = bank.open_row == b.where.row ? (b.write ? DramCommand::kWrite : DramCommand::kRead)
                         : bank.open_row < 0          ? DramCommand::kAct
                                                      : DramCommand::kPre;
      t = std::min(t, Earliest(next, b.where));
    }
  }
  return t;
}

uint64_t DramEngine::NextEvent() const {
  if (!busy()) return kNever;
  uint64_t t = kNever;
  for (size_t c = 0; c < channels_.size(); ++c)
    t = std::min(t, ChannelNextEvent(channels_[c], static_cast<int>(c)));
  return t == kNever ? kNever : std::max(t, now_);
}

void DramEngine::RunUntil(uint64_t cycle) {
  while (now_ <= cycle) {
    uint64_t next = kNever;
    for (size_t c = 0; c < channels_.size(); ++c) {
      next = std::min(next, ChannelNextEvent(channels_[c], static_cast<int>(c)));
    }
    next = std::max(next, now_);
    if (next > cycle) {
      now_ = cycle + 1;
      return;
    }
    for (size_t c = 0; c < channels_.size(); ++c) Step(static_cast<int>(c), next);
    now_ = next + 1;
  }
}

}  // namespace lightloop::hw_models
