// SPDX-License-Identifier: Apache-2.0
#include "lightloop/memory_offload/kv_block_manager.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "src/kv_block_manager_state.h"

namespace lightloop::memory_offload {

uint64_t BlockChecksum(const void* data, uint64_t bytes) {
  return XXH3_64bits(data, bytes);
}

StatusOr<BlockLayout> ParseBlockLayout(const std::string& name) {
  if (name == "block_major") return BlockLayout::kBlockMajor;
  if (name == "layer_major") return BlockLayout::kLayerMajor;
  return runtime::InvalidArgument("kv cache: layout '" + name + "' is not one of: block_major, layer_major");
}

KvBlockManager::KvBlockManager(const Options& options, std::unique_ptr<RemoteTier> remote)
    : o_(options), remote_(std::move(remote)), s_(std::make_unique<State>()) {
  now_ns_ = o_.now_ns ? o_.now_ns : [] {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  };
}

KvBlockManager::~KvBlockManager() {
  // Reads still landing in staging buffers: let them finish first.
  for (auto& f : draining_) {
    for (auto& run : f->runs) {
      if (!run.done) (void)remote_->Wait(run.ticket);
    }
  }
  for (auto& [id, f] : fetches_) {
    for (auto& run : f->runs) {
      if (!run.done) (void)remote_->Wait(run.ticket);
    }
  }
  (void)ReapLayerWrites(true);  // their staging buffers go with them
}

uint64_t KvBlockManager::TierSlot(int64_t slot, uint64_t chunk) const {
  return chunk * remote_blocks_ + static_cast<uint64_t>(slot);
}

StatusOr<uint64_t> KvBlockManager::RemoteSlotBytes(const Options& o) {
  LL_ASSIGN_OR_RETURN(std::unique_ptr<KvCodec> codec, MakeKvCodec(o.codec));
  LL_ASSIGN_OR_RETURN(BlockLayout layout, ParseBlockLayout(o.layout));
  if (!codec->lossless() && o.shape.dtype_bytes != 2) {
    return runtime::InvalidArgument("kv cache: codec '" + o.codec + "' encodes 2-byte (bf16) values, not " +
                                    std::to_string(o.shape.dtype_bytes) + "-byte ones");
  }
  if (o.shape.layers <= 0) return runtime::InvalidArgument("kv cache: the shape needs at least one layer");
  // The scale groups decide the encoded size: size it as the manager encodes.
  codec->SetScaleGroup(o.codec_scale_group);
  return codec->EncodedBytes(o.shape.block_bytes() / 2 / ChunksFor(layout, o.shape));
}

StatusOr<uint64_t> KvBlockManager::RemoteSlots(const Options& o, uint64_t blocks) {
  LL_ASSIGN_OR_RETURN(BlockLayout layout, ParseBlockLayout(o.layout));
  return blocks * ChunksFor(layout, o.shape);
}

StatusOr<std::unique_ptr<KvBlockManager>> KvBlockManager::Create(const Options& o,
                                                                 std::unique_ptr<RemoteTier> remote) {
  if (!remote) return runtime::InvalidArgument("kv cache: no remote tier");
  LL_ASSIGN_OR_RETURN(uint64_t slot_bytes, RemoteSlotBytes(o));
  if (remote->slot_bytes() != slot_bytes) {
    return runtime::InvalidArgument("kv cache: the remote tier's slots are " +
                                    std::to_string(remote->slot_bytes()) + " bytes; blocks need " +
                                    std::to_string(slot_bytes) + " (codec " + o.codec + ")");
  }
  if (o.local_blocks == 0) return runtime::InvalidArgument("kv cache: local_blocks must be positive");
  if (!(o.low_watermark >= 0 && o.low_watermark < o.high_watermark && o.high_watermark <= 1)) {
    return runtime::InvalidArgument("kv cache: watermarks need 0 <= low < high <= 1");
  }
  LL_ASSIGN_OR_RETURN(BlockLayout layout, ParseBlockLayout(o.layout));
  const uint64_t chunks = ChunksFor(layout, o.shape);
  if (remote->slots() % chunks != 0) {
    return runtime::InvalidArgument(
        "kv cache: layer_major needs the remote tier's slots in whole planes of " + std::to_string(chunks) +
        " (one a layer; RemoteSlots), not " + std::to_string(remote->slots()));
  }
  LL_ASSIGN_OR_RETURN(std::unique_ptr<EvictionPolicy> policy, MakeEvictionPolicy(o.eviction));
  std::unique_ptr<KvBlockManager> kv(new KvBlockManager(o, std::move(remote)));
  LL_ASSIGN_OR_RETURN(kv->codec_, MakeKvCodec(o.codec));
  kv->codec_->SetScaleGroup(o.codec_scale_group);
  kv->slot_bytes_ = slot_bytes;
  kv->chunks_ = chunks;
  kv->chunk_bytes_ = o.shape.block_bytes() / chunks;
  kv->remote_blocks_ = kv->remote_->slots() / chunks;
  State& s = *kv->s_;
  s.policy = std::move(policy);
  if (o.local_physical_blocks > o.local_blocks) {
    return runtime::InvalidArgument("kv cache: local_physical_blocks (" +
                                    std::to_string(o.local_physical_blocks) + ") exceeds local_blocks (" +
                                    std::to_string(o.local_blocks) + ")");
  }
  kv->physical_blocks_ = o.local_physical_blocks == 0 ? o.local_blocks : o.local_physical_blocks;
  s.local.resize(kv->physical_blocks_ * o.shape.block_bytes());
  for (uint64_t i = o.local_blocks; i > 0; --i) s.free_local.push_back(i - 1);
  s.remote_used.assign(kv->remote_blocks_, false);
  s.remote_inflight.assign(kv->remote_blocks_, 0);
  if (o.checksums) s.remote_sums.assign(kv->remote_->slots(), 0);
  // The local tier is registered once; staging buffers are not.
  LL_RETURN_IF_ERROR(kv->remote_->RegisterLocal(s.local.data(), s.local.size()));
  return kv;
}

uint64_t KvBlockManager::local_used() const {
  return o_.local_blocks - s_->free_local.size();
}

const KvStats& KvBlockManager::counters() const {
  return s_->stats;
}

KvStats KvBlockManager::stats() const {
  KvStats st = s_->stats;
  st.blocks_local = local_used();
  st.blocks_remote = static_cast<uint64_t>(std::count(s_->remote_used.begin(), s_->remote_used.end(), true));
  return st;
}

SequenceId KvBlockManager::NewSequence() {
  SequenceId id = s_->next_sequence++;
  s_->sequences[id];
  return id;
}

const std::vector<BlockId>& KvBlockManager::BlockTable(SequenceId seq) const {
  static const std::vector<BlockId> kNone;
  auto it = s_->sequences.find(seq);
  return it == s_->sequences.end() ? kNone : it->second;
}

bool KvBlockManager::IsResident(BlockId block) const {
  auto it = s_->blocks.find(block);
  return it != s_->blocks.end() && it->second.local_slot >= 0;
}

// Above the high watermark, eviction down to the low one starts without
// waiting for its write-backs: the slots between the high watermark and the
// end serve meanwhile. Only a tier with no free slot left waits, for the
// eviction writes in flight, and then, if those were not enough, evicts
// and waits in full.
StatusOr<uint64_t> KvBlockManager::TakeLocalSlot() {
  const auto high = static_cast<uint64_t>(o_.high_watermark * static_cast<double>(o_.local_blocks));
  const auto low = static_cast<uint64_t>(o_.low_watermark * static_cast<double>(o_.local_blocks));
  if (local_used() - leaving_ + 1 > high || s_->free_local.empty()) LL_RETURN_IF_ERROR(Evict(low, false));
  if (s_->free_local.empty() && leaving_ > 0) {
    const uint64_t start = now_ns_();
    Status landed = ReapLayerWrites(true);
    s_->stats.eviction_wait_ns += now_ns_() - start;
    LL_RETURN_IF_ERROR(landed);
  }
  if (s_->free_local.empty()) LL_RETURN_IF_ERROR(EvictTo(low));
  if (s_->free_local.empty()) {
    return runtime::ResourceExhausted("kv cache: every local slot holds a block that cannot leave (" +
                                      std::to_string(o_.local_blocks) + " slots)");
  }
  uint64_t slot = s_->free_local.back();
  s_->free_local.pop_back();
  return slot;
}

StatusOr<AppendResult> KvBlockManager::AppendBlock(SequenceId seq, uint64_t prefix_hash) {
  auto table = s_->sequences.find(seq);
  if (table == s_->sequences.end()) return runtime::NotFound("kv cache: no sequence " + std::to_string(seq));
  if (prefix_hash != 0) {
    if (auto hit = s_->by_hash.find(prefix_hash); hit != s_->by_hash.end()) {
      Block& b = s_->blocks.at(hit->second);
      ++b.sharers;
      if (s_->active.count(seq)) ++b.active;
      if (b.local_slot >= 0) s_->policy->Touched(hit->second);
      table->second.push_back(hit->second);
      ++s_->stats.prefix_hits;
      return AppendResult{hit->second, true};
    }
  }
  LL_ASSIGN_OR_RETURN(uint64_t slot, TakeLocalSlot());
  BlockId id = s_->next_block++;
  Block& b = s_->blocks[id];
  b.hash = prefix_hash;
  b.sharers = 1;
  b.active = s_->active.count(seq) ? 1 : 0;
  b.local_slot = static_cast<int64_t>(slot);
  if (prefix_hash != 0) s_->by_hash[prefix_hash] = id;
  s_->policy->Touched(id);
  s_->sequences.at(seq).push_back(id);  // TakeLocalSlot may have rehashed nothing here, but look it up again
  ++s_->stats.prefix_misses;
  return AppendResult{id, false};
}

Status KvBlockManager::SetActive(SequenceId seq, bool active) {
  auto it = s_->sequences.find(seq);
  if (it == s_->sequences.end()) return runtime::NotFound("kv cache: no sequence " + std::to_string(seq));
  if (active == (s_->active.count(seq) > 0)) return Status::Ok();
  if (active) {
    s_->active.insert(seq);
  } else {
    s_->active.erase(seq);
  }
  for (BlockId id : it->second) s_->blocks.at(id).active += active ? 1 : -1;
  return Status::Ok();
}

bool KvBlockManager::HasPrefix(uint64_t prefix_hash) const {
  return prefix_hash != 0 && s_->by_hash.count(prefix_hash) > 0;
}

Status KvBlockManager::NamePrefix(BlockId block, uint64_t prefix_hash) {
  auto it = s_->blocks.find(block);
  if (it == s_->blocks.end()) return runtime::NotFound("kv cache: no block " + std::to_string(block));
  if (prefix_hash == 0) return runtime::InvalidArgument("kv cache: prefix hash 0 names nothing");
  if (it->second.hash != 0) {
    return runtime::FailedPrecondition("kv cache: block " + std::to_string(block) + " is named already");
  }
  if (!s_->by_hash.emplace(prefix_hash, block).second) {
    return runtime::FailedPrecondition("kv cache: another block has prefix hash " +
                                       std::to_string(prefix_hash));
  }
  it->second.hash = prefix_hash;
  return Status::Ok();
}

bool KvBlockManager::PrefixArriving(uint64_t prefix_hash) const {
  auto it = prefix_hash != 0 ? s_->by_hash.find(prefix_hash) : s_->by_hash.end();
  return it != s_->by_hash.end() && s_->blocks.at(it->second).arriving != 0;
}

bool KvBlockManager::Arriving(SequenceId seq) const {
  auto it = s_->sequences.find(seq);
  if (it == s_->sequences.end()) return false;
  return std::any_of(it->second.begin(), it->second.end(),
                     [&](BlockId id) { return s_->blocks.at(id).arriving != 0; });
}

StatusOr<SequenceId> KvBlockManager::Fork(SequenceId parent) {
  auto it = s_->sequences.find(parent);
  if (it == s_->sequences.end()) return runtime::NotFound("kv cache: no sequence " + std::to_string(parent));
  std::vector<BlockId> table = it->second;
  for (BlockId id : table) ++s_->blocks.at(id).sharers;
  SequenceId child = s_->next_sequence++;
  s_->sequences[child] = std::move(table);
  return child;
}

Status KvBlockManager::Free(SequenceId seq) {
  auto it = s_->sequences.find(seq);
  if (it == s_->sequences.end()) return runtime::NotFound("kv cache: no sequence " + std::to_string(seq));
  std::vector<BlockId> table = std::move(it->second);
  s_->sequences.erase(it);
  const bool active = s_->active.erase(seq) > 0;
  // Last block first: the freed slots go on the stack so that the next
  // sequence takes them again in the same rising order, side by side, and
  // its write-back runs go zero-copy from local memory (first to last, a
  // sequence's slots came back descending and every run went through the
  // staging copy: offload at 0.6 of the raw write instead of 1.0).
  for (auto b = table.rbegin(); b != table.rend(); ++b) {
    if (active) --s_->blocks.at(*b).active;
    --s_->blocks.at(*b).sharers;
    DropIfUnused(*b);
  }
  return Status::Ok();
}

void KvBlockManager::ReleaseRemote(Block& b) {
  if (b.remote_slot >= 0) s_->remote_used[static_cast<size_t>(b.remote_slot)] = false;
  b.remote_slot = -1;
  b.in_remote = false;
  b.layers_out.clear();  // a layer-by-layer offload in progress is abandoned
  b.chunks_landed = 0;
}

// A block nobody uses and nobody can find again (no prefix hash) is gone.
void KvBlockManager::DropIfUnused(BlockId id) {
  Block& b = s_->blocks.at(id);
  if (b.sharers > 0 || b.hash != 0) return;
  if (b.leaving) --leaving_;  // its write may still land: nothing will be recorded
  if (b.local_slot >= 0) {
    s_->free_local.push_back(static_cast<uint64_t>(b.local_slot));
    s_->policy->Removed(id);
  }
  ReleaseRemote(b);
  s_->blocks.erase(id);
  ++s_->stats.dropped;
}

StatusOr<unsigned char*> KvBlockManager::Data(BlockId block) {
  auto it = s_->blocks.find(block);
  if (it == s_->blocks.end()) return runtime::NotFound("kv cache: no block " + std::to_string(block));
  if (it->second.local_slot < 0 || it->second.arriving) {
    return runtime::FailedPrecondition("kv cache: block " + std::to_string(block) +
                                       (it->second.arriving ? " is arriving; finish its fetch first"
                                                            : " is not resident; Fetch its sequence first"));
  }
  return SlotData(it->second.local_slot);
}

StatusOr<unsigned char*> KvBlockManager::Place(BlockId block) {
  auto it = s_->blocks.find(block);
  if (it == s_->blocks.end()) return runtime::NotFound("kv cache: no block " + std::to_string(block));
  if (it->second.local_slot < 0) {
    return runtime::FailedPrecondition("kv cache: block " + std::to_string(block) +
                                       " is not resident; Fetch its sequence first");
  }
  return SlotData(it->second.local_slot);
}

StatusOr<unsigned char*> KvBlockManager::LayerData(BlockId block, int64_t layer) {
  auto it = s_->blocks.find(block);
  if (it == s_->blocks.end()) return runtime::NotFound("kv cache: no block " + std::to_string(block));
  if (layer < 0 || layer >= o_.shape.layers) {
    return runtime::InvalidArgument("kv cache: layer " + std::to_string(layer) + " is not in [0, " +
                                    std::to_string(o_.shape.layers) + ")");
  }
  const Block& b = it->second;
  if (b.local_slot < 0) {
    return runtime::FailedPrecondition("kv cache: block " + std::to_string(block) +
                                       " is not resident; Fetch its sequence first");
  }
  const uint64_t layer_bytes = o_.shape.block_bytes() / static_cast<uint64_t>(o_.shape.layers);
  if (b.arriving != 0) {
    const PendingFetch& f = *fetches_.at(b.arriving);
    const uint64_t chunk = chunks_ > 1 ? static_cast<uint64_t>(layer) : 0;
    const uint8_t st = f.state[f.index.at(block) * chunks_ + chunk];
    if (st != PendingFetch::kGood) {
      return runtime::FailedPrecondition(
          "kv cache: layer " + std::to_string(layer) + " of block " + std::to_string(block) +
          (st == PendingFetch::kBad ? " is lost; recompute it" : " is arriving; WaitLayer for it first"));
    }
  }
  return SlotData(b.local_slot) + static_cast<uint64_t>(layer) * layer_bytes;
}

unsigned char* KvBlockManager::SlotData(int64_t slot) const {
  return s_->local.data() + (static_cast<uint64_t>(slot) % physical_blocks_) * o_.shape.block_bytes();
}

Status KvBlockManager::MarkWritten(BlockId block) {
  auto it = s_->blocks.find(block);
  if (it == s_->blocks.end() || it->second.local_slot < 0) {
    return runtime::FailedPrecondition("kv cache: block " + std::to_string(block) + " is not resident");
  }
  it->second.written = true;
  ReleaseRemote(it->second);  // the remote copy, if any, is stale now
  s_->policy->Touched(block);
  return Status::Ok();
}

StatusOr<uint64_t> KvBlockManager::TakeRemoteRun(uint64_t count) {
  std::vector<bool>& used = s_->remote_used;
  const uint64_t n = used.size();
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (uint64_t scanned = 0, start = s_->remote_cursor % std::max<uint64_t>(n, 1); scanned < n;) {
      if (start + count > n) {
        scanned += n - start;
        start = 0;
        continue;
      }
      uint64_t run = 0;
      while (run < count && !used[start + run] && s_->remote_inflight[start + run] == 0) ++run;
      if (run == count) {
        for (uint64_t i = 0; i < count; ++i) used[start + i] = true;
        s_->remote_cursor = start + count;
        return start;
      }
      scanned += run + 1;
      start += run + 1;
    }
    if (attempt == 1) break;
    // Make room: cached blocks that no sequence uses and that are not
    // resident leave the remote tier (and the prefix cache).
    std::vector<BlockId> cold;
    for (const auto& [id, b] : s_->blocks) {
      if (b.sharers == 0 && b.local_slot < 0 && b.in_remote) cold.push_back(id);
    }
    if (cold.empty()) break;
    std::sort(cold.begin(), cold.end());  // oldest first
    for (BlockId id : cold) {
      Block& b = s_->blocks.at(id);
      ReleaseRemote(b);
      if (b.hash != 0) s_->by_hash.erase(b.hash);
      s_->blocks.erase(id);
      ++s_->stats.dropped;
    }
  }
  return runtime::ResourceExhausted("kv cache: no run of " + std::to_string(count) +
                                    " free slots in the remote tier");
}

const unsigned char* KvBlockManager::ContiguousLocal(const std::vector<BlockId>& blocks, size_t first,
                                                     size_t count) const {
  // Under layer_major one layer of a run is strided in local memory.
  if (!codec_->lossless() || chunks_ > 1) return nullptr;
  const int64_t base = s_->blocks.at(blocks[first]).local_slot;
  for (size_t k = 1; k < count; ++k) {
    if (s_->blocks.at(blocks[first + k]).local_slot != base + static_cast<int64_t>(k)) return nullptr;
  }
  // Aliased slots are contiguous only up to the end of the physical area.
  if (static_cast<uint64_t>(base) % physical_blocks_ + count > physical_blocks_) return nullptr;
  return SlotData(base);
}

Status KvBlockManager::EvictTo(uint64_t keep) {
  return Evict(keep, true);
}

Status KvBlockManager::Evict(uint64_t keep, bool wait) {
  // Waiting, eviction writes in flight land first: their blocks leave with them.
  if (wait && leaving_ > 0) LL_RETURN_IF_ERROR(ReapLayerWrites(true));
  // Not waiting, blocks with layers still on their way out (OffloadLayer)
  // are left to a waiting eviction: their writes are in flight already.
  auto evictable = [&](BlockId id) {
    const Block& b = s_->blocks.at(id);
    return b.local_slot >= 0 && !b.pinned && b.active == 0 && b.written && !b.leaving &&
           (wait || b.in_remote || b.layers_out.empty());
  };
  auto sharers = [&](BlockId id) { return s_->blocks.at(id).sharers; };
  while (local_used() - leaving_ > keep) {
    std::vector<BlockId> victims = s_->policy->Victims(local_used() - leaving_ - keep, evictable, sharers);
    if (victims.empty()) break;
    if (wait) {
      LL_RETURN_IF_ERROR(EvictBlocks(victims));
      continue;
    }
    std::vector<BlockId> dirty;
    std::vector<uint64_t> freed;
    for (BlockId id : victims) {
      if (s_->blocks.at(id).in_remote) {
        LeaveLocal(id, freed);  // its remote copy is current: it goes now
      } else {
        dirty.push_back(id);
      }
    }
    FreeLocalSlots(std::move(freed));
    if (!dirty.empty()) LL_RETURN_IF_ERROR(StartEvictionWrite(dirty));
  }
  // Writes that completed already (a host tier's at once) free their slots now.
  return wait || layer_writes_.empty() ? Status::Ok() : ReapLayerWrites(false);
}

Status KvBlockManager::EvictBlocks(const std::vector<BlockId>& victims) {
  LL_RETURN_IF_ERROR(WriteBack(victims));  // eviction writes in flight land first, and free their slots
  std::vector<uint64_t> freed;
  for (BlockId id : victims) {
    if (s_->blocks.at(id).local_slot >= 0) LeaveLocal(id, freed);  // else it left with its eviction write
  }
  FreeLocalSlots(std::move(freed));
  return Status::Ok();
}

void KvBlockManager::LeaveLocal(BlockId id, std::vector<uint64_t>& freed) {
  Block& b = s_->blocks.at(id);
  freed.push_back(static_cast<uint64_t>(b.local_slot));
  b.local_slot = -1;
  s_->policy->Removed(id);
  ++s_->stats.evictions;
}

void KvBlockManager::FreeLocalSlots(std::vector<uint64_t> slots) {
  // Highest first on the stack, so that slots are taken again in rising
  // order and blocks fetched together sit side by side (zero-copy).
  std::sort(slots.rbegin(), slots.rend());
  s_->free_local.insert(s_->free_local.end(), slots.begin(), slots.end());
}

Status KvBlockManager::EvictSequence(SequenceId seq) {
  auto it = s_->sequences.find(seq);
  if (it == s_->sequences.end()) return runtime::NotFound("kv cache: no sequence " + std::to_string(seq));
  std::vector<BlockId> victims;
  for (BlockId id : it->second) {
    const Block& b = s_->blocks.at(id);
    if (b.local_slot >= 0 && !b.pinned && b.active == 0 && b.written && b.sharers == 1) victims.push_back(id);
  }
  return victims.empty() ? Status::Ok() : EvictBlocks(victims);
}

Status KvBlockManager::Offload(SequenceId seq) {
  auto it = s_->sequences.find(seq);
  if (it == s_->sequences.end()) return runtime::NotFound("kv cache: no sequence " + std::to_string(seq));
  return WriteBack(it->second);
}

StatusOr<Prefetch> ParsePrefetch(const std::string& name) {
  if (name == "best_effort") return Prefetch::kBestEffort;
  if (name == "wait_complete") return Prefetch::kWaitComplete;
  if (name == "timeout") return Prefetch::kTimeout;
  return runtime::InvalidArgument("prefetch policy '" + name +
                                  "' is not one of: best_effort, timeout, wait_complete");
}

}  // namespace lightloop::memory_offload
