// SPDX-License-Identifier: Apache-2.0
// KvBlockManager's way out: remote slots for blocks, coalesced writes of a
// chunk (a block, or one layer of blocks under layer_major), write-back of
// whole blocks, and OffloadLayer's writes that land while the caller computes.
#include <algorithm>

#include "src/kv_block_manager_state.h"

namespace lightloop::memory_offload {

Status KvBlockManager::ReserveRemote(const std::vector<BlockId>& blocks) {
  std::vector<BlockId> need;
  for (BlockId id : blocks) {
    if (s_->blocks.at(id).remote_slot < 0) need.push_back(id);
  }
  // Runs as long as a transfer may be: one layer of a run is one transfer
  // under layer_major, the whole run under block_major.
  const uint64_t batch = std::max<uint64_t>(1, o_.coalesce_bytes / slot_bytes_);
  for (size_t i = 0; i < need.size();) {
    uint64_t want = std::min<uint64_t>(batch, need.size() - i);
    StatusOr<uint64_t> run = TakeRemoteRun(want);
    while (!run.ok() && want > 1) run = TakeRemoteRun(want /= 2);  // a shorter run, then
    if (!run.ok()) return run.status();
    for (uint64_t k = 0; k < want; ++k)
      s_->blocks.at(need[i + k]).remote_slot = static_cast<int64_t>(*run + k);
    i += want;
  }
  return Status::Ok();
}

Status KvBlockManager::WriteChunk(const std::vector<BlockId>& blocks, uint64_t chunk, unsigned char* staging,
                                  LayerWrite& out) {
  const uint64_t sb = slot_bytes_;
  const uint64_t batch = std::max<uint64_t>(1, o_.coalesce_bytes / sb);
  auto remote_slot = [&](size_t i) { return s_->blocks.at(blocks[i]).remote_slot; };
  for (size_t i = 0; i < blocks.size();) {
    size_t n = 1;
    while (i + n < blocks.size() && n < batch &&
           remote_slot(i + n) == remote_slot(i) + static_cast<int64_t>(n)) {
      ++n;
    }
    const uint64_t first = TierSlot(remote_slot(i), chunk);
    const unsigned char* direct = ContiguousLocal(blocks, i, n);
    if (direct != nullptr) {
      // The blocks are side by side in local memory and stored as they are:
      // they go straight from there, and their checksums are taken while
      // they are on the wire.
      LL_ASSIGN_OR_RETURN(Ticket t, remote_->Write(first, n, direct));
      out.tickets.push_back(t);
      ++s_->stats.zero_copy_transfers;
      if (o_.checksums) {
        for (uint64_t k = 0; k < n; ++k) s_->remote_sums[first + k] = BlockChecksum(direct + k * sb, sb);
      }
      LL_RETURN_IF_ERROR(remote_->Progress());  // keep the wire fed while hashing
    } else {
      unsigned char* dst = staging + i * sb;
      for (uint64_t k = 0; k < n; ++k) {
        const unsigned char* src = SlotData(s_->blocks.at(blocks[i + k]).local_slot) + chunk * chunk_bytes_;
        codec_->Encode(reinterpret_cast<const uint16_t*>(src), chunk_bytes_ / 2, dst + k * sb);
        if (o_.checksums) s_->remote_sums[first + k] = BlockChecksum(dst + k * sb, sb);
      }
      LL_ASSIGN_OR_RETURN(Ticket t, remote_->Write(first, n, dst));
      out.tickets.push_back(t);
    }
    s_->stats.bytes_offloaded += n * sb;
    s_->stats.bytes_saved += n * (chunk_bytes_ - std::min(chunk_bytes_, sb));
    ++s_->stats.offload_transfers;
    i += n;
  }
  return Status::Ok();
}

Status KvBlockManager::WriteBack(const std::vector<BlockId>& blocks) {
  // Layer writes in flight first: a block they complete needs no write here.
  if (!layer_writes_.empty()) LL_RETURN_IF_ERROR(ReapLayerWrites(true));
  std::vector<BlockId> todo;
  for (BlockId id : blocks) {
    Block& b = s_->blocks.at(id);
    if (!b.written || b.in_remote || b.local_slot < 0) continue;
    ReleaseRemote(b);  // an unfinished layer-by-layer offload is superseded by the whole block
    todo.push_back(id);
  }
  if (todo.empty()) return Status::Ok();
  Status result = ReserveRemote(todo);
  // Kept from call to call: a fresh buffer would fault in every page again.
  std::vector<unsigned char>& staging = s_->write_staging;
  if (staging.size() < todo.size() * slot_bytes_ * chunks_)
    staging.resize(todo.size() * slot_bytes_ * chunks_);
  LayerWrite w;  // all of them in flight at once
  if (result.ok()) result = PostBlockWrites(todo, staging.data(), w);
  for (Ticket t : w.tickets) {
    Status st = remote_->Wait(t);
    if (!st.ok() && result.ok()) result = st;
  }
  for (BlockId id : todo) {
    Block& b = s_->blocks.at(id);
    // Nothing was lost on failure: the local copies are still there. Forget
    // the remote copies that may not have landed.
    if (result.ok()) {
      b.in_remote = true;
    } else {
      ReleaseRemote(b);
    }
  }
  return result;
}

Status KvBlockManager::OffloadLayer(SequenceId seq, int64_t layer) {
  auto it = s_->sequences.find(seq);
  if (it == s_->sequences.end()) return runtime::NotFound("kv cache: no sequence " + std::to_string(seq));
  if (layer < 0 || layer >= o_.shape.layers) {
    return runtime::InvalidArgument("kv cache: layer " + std::to_string(layer) + " is not in [0, " +
                                    std::to_string(o_.shape.layers) + ")");
  }
  // No polling here: the caller polls between pieces of compute (Progress),
  // and a second poll with no compute in between is a wait on the sim target.
  const auto l = static_cast<size_t>(layer);
  // The blocks with a chunk to write now: this layer (layer_major), or the
  // whole block once this was its last layer (block_major).
  std::vector<BlockId> ready;
  for (BlockId id : it->second) {
    Block& b = s_->blocks.at(id);
    if (b.local_slot < 0 || b.in_remote || b.arriving != 0) continue;
    if (!b.layers_out.empty() && b.layers_out[l]) continue;  // handed over already (or listed twice)
    if (b.layers_out.empty()) b.layers_out.assign(static_cast<size_t>(o_.shape.layers), false);
    b.layers_out[l] = true;
    const bool complete = std::all_of(b.layers_out.begin(), b.layers_out.end(), [](bool x) { return x; });
    if (complete) b.written = true;  // every layer is computed: the contents are whole
    if (chunks_ > 1 || complete) ready.push_back(id);
  }
  if (ready.empty()) return Status::Ok();
  Status st = ReserveRemote(ready);
  std::sort(ready.begin(), ready.end(), [&](BlockId a, BlockId b) {
    return s_->blocks.at(a).remote_slot < s_->blocks.at(b).remote_slot;
  });
  auto w = std::make_unique<LayerWrite>();
  // Owned by the write: the caller goes on computing the next layer.
  w->staging.reset(new unsigned char[ready.size() * slot_bytes_]);
  if (st.ok()) st = WriteChunk(ready, chunks_ > 1 ? l : 0, w->staging.get(), *w);
  for (BlockId id : ready) {
    const int64_t slot = s_->blocks.at(id).remote_slot;
    if (slot < 0) continue;
    ++s_->remote_inflight[static_cast<size_t>(slot)];
    w->blocks.emplace_back(id, slot);
  }
  w->done.assign(w->tickets.size(), false);
  if (!st.ok()) {
    for (BlockId id : ready) ReleaseRemote(s_->blocks.at(id));  // the local copies stay
    w->status = st;
  }
  layer_writes_.push_back(std::move(w));
  return st;
}

Status KvBlockManager::PostBlockWrites(std::vector<BlockId>& todo, unsigned char* staging, LayerWrite& w) {
  // Consecutive remote slots travel together; under layer_major, layer by layer.
  std::stable_sort(todo.begin(), todo.end(), [&](BlockId a, BlockId b) {
    return s_->blocks.at(a).remote_slot < s_->blocks.at(b).remote_slot;
  });
  for (uint64_t c = 0; c < chunks_; ++c) {
    LL_RETURN_IF_ERROR(WriteChunk(todo, c, staging + c * todo.size() * slot_bytes_, w));
  }
  return Status::Ok();
}

Status KvBlockManager::StartEvictionWrite(const std::vector<BlockId>& victims) {
  std::vector<BlockId> todo = victims;
  Status st = ReserveRemote(todo);
  if (!st.ok()) {  // no room remote: the victims stay, holding no remote slot
    for (BlockId id : todo) ReleaseRemote(s_->blocks.at(id));
    return st;
  }
  auto w = std::make_unique<LayerWrite>();
  w->chunks = chunks_;
  // Owned by the write; only encoded or scattered runs go through it.
  w->staging.reset(new unsigned char[todo.size() * slot_bytes_ * chunks_]);
  st = PostBlockWrites(todo, w->staging.get(), *w);
  w->done.assign(w->tickets.size(), false);
  for (BlockId id : todo) {
    Block& b = s_->blocks.at(id);
    // The slot is not handed out again while a write to it may be in flight.
    ++s_->remote_inflight[static_cast<size_t>(b.remote_slot)];
    w->blocks.emplace_back(id, b.remote_slot);
    if (!st.ok()) {
      ReleaseRemote(b);  // nothing lost: the local copy stays, and the block with it
      continue;
    }
    w->evicting.emplace_back(id, b.local_slot);
    b.leaving = true;
    ++leaving_;
  }
  s_->stats.eviction_writes += st.ok() ? todo.size() : 0;
  if (!st.ok()) w->status = st;
  layer_writes_.push_back(std::move(w));
  return st;
}

Status KvBlockManager::ReapLayerWrites(bool wait) {
  Status result = Status::Ok();
  for (auto it = layer_writes_.begin(); it != layer_writes_.end();) {
    LayerWrite& w = **it;
    bool all = true;
    for (size_t k = 0; k < w.tickets.size(); ++k) {
      if (w.done[k]) continue;
      if (!wait) {
        StatusOr<bool> ready = remote_->Done(w.tickets[k]);
        if (ready.ok() && !*ready) {
          all = false;
          continue;
        }
      }
      Status st = remote_->Wait(w.tickets[k]);
      if (!st.ok() && w.status.ok()) w.status = st;
      w.done[k] = true;
    }
    if (!all) {
      ++it;
      continue;
    }
    for (auto [id, slot] : w.blocks) {
      --s_->remote_inflight[static_cast<size_t>(slot)];
      auto b = s_->blocks.find(id);
      // Gone, or let go of that slot since (recomputed, written whole): nothing to record.
      if (b == s_->blocks.end() || b->second.remote_slot != slot) continue;
      if (!w.status.ok()) {
        ReleaseRemote(b->second);
      } else if ((b->second.chunks_landed += w.chunks) == chunks_) {
        b->second.in_remote = true;
        b->second.layers_out.clear();
        b->second.chunks_landed = 0;
      }
    }
    // An evicted block leaves now that its copy is remote, unless it was
    // taken up meanwhile (written again, being fetched, active): then it stays.
    std::vector<uint64_t> freed;
    for (auto [id, local] : w.evicting) {
      auto b = s_->blocks.find(id);
      if (b == s_->blocks.end() || !b->second.leaving) continue;  // dropped meanwhile
      Block& blk = b->second;
      blk.leaving = false;
      --leaving_;
      if (blk.local_slot == local && blk.in_remote && !blk.pinned && blk.active == 0 && blk.arriving == 0) {
        LeaveLocal(id, freed);
      }
    }
    FreeLocalSlots(std::move(freed));
    if (!w.status.ok() && result.ok()) result = w.status;
    it = layer_writes_.erase(it);
  }
  return result;
}

Status KvBlockManager::WaitOffload() {
  return ReapLayerWrites(true);
}

Status KvBlockManager::Progress() {
  LL_RETURN_IF_ERROR(remote_->Progress());
  // Then only look: a second step with nothing new is a wait on the sim
  // target, and this is called between pieces of compute. Fetched runs that
  // landed are checked and placed now, while the caller computes, instead
  // of all at once when it waits for them.
  for (auto& [id, f] : fetches_) (void)LandDone(*f, -1);
  return layer_writes_.empty() ? Status::Ok() : ReapLayerWrites(false);
}

}  // namespace lightloop::memory_offload
