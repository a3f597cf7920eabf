// SPDX-License-Identifier: Apache-2.0
// KvBlockManager's way in: fetches posted layer by layer (layer 0 first),
// checked and placed run by run as they land, waited for per layer
// (WaitLayer) or per block (FinishFetch), and late reads drained.
#include <algorithm>

#include "src/kv_block_manager_state.h"

namespace lightloop::memory_offload {

StatusOr<uint64_t> KvBlockManager::StartFetch(SequenceId seq, bool in_place) {
  ReapDraining();
  auto it = s_->sequences.find(seq);
  if (it == s_->sequences.end()) return runtime::NotFound("kv cache: no sequence " + std::to_string(seq));
  auto f = std::make_unique<PendingFetch>();
  f->table = it->second;
  for (BlockId id : f->table) {
    if (s_->blocks.at(id).arriving != 0) {
      return runtime::FailedPrecondition("kv cache: block " + std::to_string(id) +
                                         " is arriving for another fetch; finish that one first");
    }
  }
  for (BlockId id : f->table) s_->blocks.at(id).pinned = true;
  std::vector<BlockId> missing;
  for (BlockId id : f->table) {
    Block& b = s_->blocks.at(id);
    if (b.local_slot >= 0) {
      s_->policy->Touched(id);
      if (b.leaving) {  // wanted again: it stays when its eviction write lands
        b.leaving = false;
        --leaving_;
      }
    } else if (std::find(missing.begin(), missing.end(), id) == missing.end()) {
      missing.push_back(id);
    }
  }
  for (BlockId id : missing) {
    StatusOr<uint64_t> slot = TakeLocalSlot();
    if (!slot.ok()) {
      for (BlockId t : f->table) s_->blocks.at(t).pinned = false;
      return slot.status();
    }
    s_->blocks.at(id).local_slot = static_cast<int64_t>(*slot);
  }
  const uint64_t id = next_fetch_++;
  for (BlockId b_id : missing) {
    Block& b = s_->blocks.at(b_id);
    if (b.in_remote) {
      b.arriving = id;
      f->readable.push_back(b_id);
    } else {
      b.written = false;  // the contents are gone: recompute
      f->lost.push_back(b_id);
    }
  }
  // Consecutive remote slots travel together.
  std::sort(f->readable.begin(), f->readable.end(), [&](BlockId a, BlockId b) {
    return s_->blocks.at(a).remote_slot < s_->blocks.at(b).remote_slot;
  });
  for (size_t i = 0; i < f->readable.size(); ++i) f->index[f->readable[i]] = i;
  f->state.assign(f->readable.size() * chunks_, PendingFetch::kFlying);
  const uint64_t sb = slot_bytes_;
  const uint64_t batch = std::max<uint64_t>(1, o_.coalesce_bytes / sb);
  // Runs of consecutive remote slots, each chunk (layer) in turn, layer 0
  // first: under layer_major its reads are ahead of the rest on the wire.
  // Runs side by side in local memory and stored as they are are read in
  // place, the rest through staging.
  uint64_t staged = 0;
  for (uint64_t c = 0; c < chunks_; ++c) {
    for (size_t i = 0; i < f->readable.size();) {
      size_t n = 1;
      while (i + n < f->readable.size() && n < batch &&
             s_->blocks.at(f->readable[i + n]).remote_slot ==
                 s_->blocks.at(f->readable[i]).remote_slot + static_cast<int64_t>(n)) {
        ++n;
      }
      PendingFetch::Run run;
      run.first = i;
      run.count = n;
      run.chunk = c;
      run.direct = in_place ? const_cast<unsigned char*>(ContiguousLocal(f->readable, i, n)) : nullptr;
      if (!run.direct) {
        run.staging_offset = staged;
        staged += n * sb;
      }
      f->runs.push_back(run);
      i += n;
    }
  }
  // The last fetch's buffer, if no late read holds it: its pages are in.
  f->staging = std::move(s_->spare_read_staging);
  if (f->staging.size() < staged) f->staging.resize(staged);
  for (auto& run : f->runs) {
    unsigned char* dst = run.direct ? run.direct : f->staging.data() + run.staging_offset;
    StatusOr<Ticket> t =
        remote_->Read(TierSlot(s_->blocks.at(f->readable[run.first]).remote_slot, run.chunk), run.count, dst);
    if (t.ok()) {
      run.ticket = *t;
      if (run.direct) ++s_->stats.zero_copy_transfers;
    } else {
      run.status = t.status();
      run.done = true;
    }
    ++s_->stats.fetch_transfers;
  }
  fetches_[id] = std::move(f);
  return id;
}

void KvBlockManager::LandRun(PendingFetch& f, size_t r) {
  PendingFetch::Run& run = f.runs[r];
  run.landed = true;
  const uint64_t sb = slot_bytes_;
  for (size_t k = 0; k < run.count; ++k) {
    const size_t i = run.first + k;
    const Block& b = s_->blocks.at(f.readable[i]);
    const unsigned char* src =
        run.direct ? run.direct + k * sb : f.staging.data() + run.staging_offset + k * sb;
    const bool good =
        run.status.ok() &&
        (!o_.checksums || BlockChecksum(src, sb) == s_->remote_sums[TierSlot(b.remote_slot, run.chunk)]);
    if (run.status.ok() && !good) ++s_->stats.checksum_failures;
    if (good && !run.direct) {
      unsigned char* dst = SlotData(b.local_slot) + run.chunk * chunk_bytes_;
      codec_->Decode(src, chunk_bytes_ / 2, reinterpret_cast<uint16_t*>(dst));
    }
    f.state[i * chunks_ + run.chunk] = good ? PendingFetch::kGood : PendingFetch::kBad;
  }
}

bool KvBlockManager::PollRuns(PendingFetch& f, int64_t chunk, bool wait) {
  if (!wait) {
    // One step of progress, then which runs are done (a test per run would
    // step once each; on the sim target a second step is a wait).
    (void)remote_->Progress();
    return LandDone(f, chunk);
  }
  // Waiting, each run is checked while the later ones are still on the
  // wire. A failed transfer's Wait says so.
  for (size_t r = 0; r < f.runs.size(); ++r) {
    PendingFetch::Run& run = f.runs[r];
    if (chunk >= 0 && run.chunk != static_cast<uint64_t>(chunk)) continue;
    if (!run.done) {
      run.status = remote_->Wait(run.ticket);
      run.done = true;
    }
    if (!run.landed) LandRun(f, r);
  }
  return true;
}

bool KvBlockManager::LandDone(PendingFetch& f, int64_t chunk) {
  bool all = true;
  for (size_t r = 0; r < f.runs.size(); ++r) {
    PendingFetch::Run& run = f.runs[r];
    if (chunk >= 0 && run.chunk != static_cast<uint64_t>(chunk)) continue;
    if (!run.done) {
      StatusOr<bool> ready = remote_->Done(run.ticket);
      if (!ready.ok()) {
        run.status = ready.status();
      } else if (*ready) {
        run.status = remote_->Wait(run.ticket);
      } else {
        all = false;
        continue;
      }
      run.done = true;
    }
    if (!run.landed) LandRun(f, r);
  }
  return all;
}

StatusOr<FetchOutcome> KvBlockManager::WaitLayer(uint64_t fetch, int64_t layer, Prefetch policy,
                                                 uint64_t budget_ns) {
  auto it = fetches_.find(fetch);
  if (it == fetches_.end()) return runtime::NotFound("kv cache: no fetch " + std::to_string(fetch));
  if (layer < 0 || layer >= o_.shape.layers) {
    return runtime::InvalidArgument("kv cache: layer " + std::to_string(layer) + " is not in [0, " +
                                    std::to_string(o_.shape.layers) + ")");
  }
  PendingFetch& f = *it->second;
  // Under block_major the one chunk is the whole block.
  const uint64_t chunk = chunks_ > 1 ? static_cast<uint64_t>(layer) : 0;
  const uint64_t start = now_ns_();
  if (policy == Prefetch::kWaitComplete) {
    PollRuns(f, static_cast<int64_t>(chunk), true);
  } else if (policy == Prefetch::kTimeout) {
    while (!PollRuns(f, static_cast<int64_t>(chunk), false) && now_ns_() - start < budget_ns) {
    }
  } else {
    PollRuns(f, static_cast<int64_t>(chunk), false);
  }
  FetchOutcome out;
  out.lost = f.lost;
  for (size_t i = 0; i < f.readable.size(); ++i) {
    const uint8_t st = f.state[i * chunks_ + chunk];
    if (st == PendingFetch::kBad) out.lost.push_back(f.readable[i]);
    if (st == PendingFetch::kFlying) out.not_arrived.push_back(f.readable[i]);
  }
  out.waited_ns = now_ns_() - start;
  s_->stats.stall_ns += out.waited_ns;
  return out;
}

StatusOr<FetchOutcome> KvBlockManager::FinishFetch(uint64_t fetch, Prefetch policy, uint64_t budget_ns) {
  auto it = fetches_.find(fetch);
  if (it == fetches_.end()) return runtime::NotFound("kv cache: no fetch " + std::to_string(fetch));
  std::unique_ptr<PendingFetch> f = std::move(it->second);
  fetches_.erase(it);
  const uint64_t start = now_ns_();
  const bool wait_all = policy == Prefetch::kWaitComplete;
  if (wait_all) {
    PollRuns(*f, -1, true);
  } else if (policy == Prefetch::kTimeout) {
    while (!PollRuns(*f, -1, false) && now_ns_() - start < budget_ns) {
    }
  } else {
    PollRuns(*f, -1, false);
  }
  // A read in place that was not waited for would land over the block the
  // caller recomputes: move those blocks to fresh slots and keep the old
  // ones until the read lands (or, with no slot to spare, wait for it).
  for (size_t r = 0; r < f->runs.size(); ++r) {
    PendingFetch::Run& run = f->runs[r];
    if (run.done || run.direct == nullptr) continue;
    std::vector<uint64_t> fresh;
    for (size_t k = 0; k < run.count; ++k) {
      StatusOr<uint64_t> slot = TakeLocalSlot();
      if (!slot.ok()) break;
      fresh.push_back(*slot);
    }
    if (fresh.size() < run.count) {
      for (uint64_t slot : fresh) s_->free_local.push_back(slot);
      run.status = remote_->Wait(run.ticket);
      run.done = true;
      LandRun(*f, r);
      continue;
    }
    for (size_t k = 0; k < run.count; ++k) {
      Block& b = s_->blocks.at(f->readable[run.first + k]);
      f->quarantined.push_back(static_cast<uint64_t>(b.local_slot));
      b.local_slot = static_cast<int64_t>(fresh[k]);
    }
  }
  FetchOutcome out;
  out.lost = f->lost;
  // A block is back when every chunk passed its check; a failed chunk loses
  // it; one not waited for leaves it to recompute.
  for (size_t i = 0; i < f->readable.size(); ++i) {
    Block& b = s_->blocks.at(f->readable[i]);
    b.arriving = 0;
    const auto first = f->state.begin() + static_cast<long>(i * chunks_);
    const auto last = first + static_cast<long>(chunks_);
    if (std::find(first, last, PendingFetch::kBad) != last) {
      ReleaseRemote(b);
      b.written = false;
      out.lost.push_back(f->readable[i]);
    } else if (std::find(first, last, PendingFetch::kFlying) != last) {
      b.written = false;
      out.not_arrived.push_back(f->readable[i]);
    } else {
      b.written = true;
      s_->stats.bytes_fetched += slot_bytes_ * chunks_;
    }
  }
  std::vector<PendingFetch::Run> still_flying;
  for (auto& run : f->runs) {
    if (!run.done) still_flying.push_back(run);
  }
  for (BlockId id : f->table) {
    if (auto b = s_->blocks.find(id); b != s_->blocks.end()) {
      b->second.pinned = false;
      if (b->second.local_slot >= 0) s_->policy->Touched(id);
    }
  }
  out.waited_ns = now_ns_() - start;
  s_->stats.stall_ns += out.waited_ns;
  s_->stats.lost_blocks += out.lost.size();
  s_->stats.not_arrived += out.not_arrived.size();
  if (!still_flying.empty() || !f->quarantined.empty()) {
    // Reads not waited for still land in the staging buffer or quarantined
    // slots: keep them until they do.
    f->runs = std::move(still_flying);
    draining_.push_back(std::move(f));
  } else if (f->staging.size() > s_->spare_read_staging.size()) {
    s_->spare_read_staging = std::move(f->staging);
  }
  return out;
}

void KvBlockManager::ReapDraining() {
  if (draining_.empty()) return;
  (void)remote_->Progress();  // once: then only look (see PollRuns)
  for (auto it = draining_.begin(); it != draining_.end();) {
    bool done = true;
    for (auto& run : (*it)->runs) {
      if (run.done) continue;
      StatusOr<bool> ready = remote_->Done(run.ticket);
      if (!ready.ok() || *ready) {
        (void)remote_->Wait(run.ticket);
        run.done = true;
      } else {
        done = false;
      }
    }
    if (done) {
      for (uint64_t slot : (*it)->quarantined) s_->free_local.push_back(slot);
      if ((*it)->staging.size() > s_->spare_read_staging.size()) {
        s_->spare_read_staging = std::move((*it)->staging);
      }
      it = draining_.erase(it);
    } else {
      ++it;
    }
  }
}

StatusOr<std::vector<BlockId>> KvBlockManager::Fetch(SequenceId seq) {
  LL_ASSIGN_OR_RETURN(uint64_t fetch, StartFetch(seq));
  LL_ASSIGN_OR_RETURN(FetchOutcome out, FinishFetch(fetch, Prefetch::kWaitComplete));
  return out.lost;
}

}  // namespace lightloop::memory_offload
