// SPDX-License-Identifier: Apache-2.0
#include "lightloop/memory_offload/kv_block_manager.h"

#include <xxhash.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h>  // libxxhash picks SSE2, AVX2 or AVX-512 at run time
#endif

#include <algorithm>
#include <chrono>
#include <cstring>
#include <unordered_set>

#include "eviction/i_eviction_policy.h"

namespace lightloop::memory_offload {

struct KvBlockManager::Block {
  uint64_t hash = 0;  // 0: never shared
  int sharers = 0;    // sequences whose table holds it
  int64_t local_slot = -1;
  int64_t remote_slot = -1;
  bool written = false;    // the local copy holds computed contents
  bool in_remote = false;  // the remote copy equals them
  bool pinned = false;     // being fetched: not evictable
  int active = 0;          // active sequences holding it: not evictable
  uint64_t arriving = 0;   // the fetch whose read of it is in flight (0: none)
  // OffloadLayer: the layers handed over so far (empty: none) and the
  // chunks whose writes landed; complete, the remote copy is valid.
  std::vector<bool> layers_out;
  uint64_t chunks_landed = 0;
};

struct KvBlockManager::PendingFetch {
  struct Run {
    size_t first = 0, count = 0;
    Ticket ticket;
    Status status = Status::Ok();
    bool done = false;
    bool landed = false;              // checked and placed (LandRun)
    uint64_t chunk = 0;               // the layer it reads (layer_major)
    unsigned char* direct = nullptr;  // read in place into local slots
    uint64_t staging_offset = 0;      // else here in the staging buffer
  };
  enum : uint8_t { kFlying = 0, kGood = 1, kBad = 2 };
  std::vector<BlockId> table;                 // pinned until the fetch finishes
  std::vector<BlockId> readable;              // by remote slot
  std::vector<BlockId> lost;                  // known lost at the start
  std::unordered_map<BlockId, size_t> index;  // into readable
  std::vector<uint8_t> state;                 // of chunk c of readable[i], at i * chunks + c
  std::vector<unsigned char> staging;
  std::vector<Run> runs;  // layer 0's first under layer_major
  // Local slots that late in-place reads may still write: free once they land.
  std::vector<uint64_t> quarantined;
};

struct KvBlockManager::State {
  std::vector<unsigned char> local;
  std::vector<uint64_t> free_local;
  std::vector<bool> remote_used;  // by remote block slot
  // OffloadLayer writes in flight into a remote block slot: it is not
  // handed out again until they land, even if its block let it go.
  std::vector<uint32_t> remote_inflight;
  // XXH3-64 of each remote tier slot's contents (a block, or one layer of one).
  std::vector<uint64_t> remote_sums;
  uint64_t remote_cursor = 0;
  std::unordered_map<BlockId, Block> blocks;
  std::unordered_map<uint64_t, BlockId> by_hash;
  std::unordered_map<SequenceId, std::vector<BlockId>> sequences;
  std::unordered_set<SequenceId> active;
  std::unique_ptr<EvictionPolicy> policy;
  std::vector<unsigned char> write_staging;
  std::vector<unsigned char> spare_read_staging;  // a finished fetch's, for the next one
  BlockId next_block = 1;
  SequenceId next_sequence = 1;
  KvStats stats;
};

namespace {

uint64_t Checksum(const unsigned char* p, uint64_t n) {
  return XXH3_64bits(p, n);
}

// Chunks of a block as the remote tier holds them: its layers one by one
// under layer_major, the whole block under block_major.
uint64_t ChunksFor(BlockLayout layout, const KvShape& shape) {
  return layout == BlockLayout::kLayerMajor ? static_cast<uint64_t>(shape.layers) : 1;
}

}  // namespace

// One OffloadLayer call's writes: one chunk of some blocks.
struct KvBlockManager::LayerWrite {
  std::vector<Ticket> tickets;
  std::vector<bool> done;
  Status status = Status::Ok();
  std::vector<std::pair<BlockId, int64_t>> blocks;  // and the remote block slot written
  std::unique_ptr<unsigned char[]> staging;         // valid until every ticket is done
};

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
  kv->layout_ = layout;
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

StatusOr<uint64_t> KvBlockManager::TakeLocalSlot() {
  const auto high = static_cast<uint64_t>(o_.high_watermark * static_cast<double>(o_.local_blocks));
  if (local_used() + 1 > high || s_->free_local.empty()) {
    LL_RETURN_IF_ERROR(
        EvictTo(static_cast<uint64_t>(o_.low_watermark * static_cast<double>(o_.local_blocks))));
  }
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
        for (uint64_t k = 0; k < n; ++k) s_->remote_sums[first + k] = Checksum(direct + k * sb, sb);
      }
      LL_RETURN_IF_ERROR(remote_->Progress());  // keep the wire fed while hashing
    } else {
      unsigned char* dst = staging + i * sb;
      for (uint64_t k = 0; k < n; ++k) {
        const unsigned char* src = SlotData(s_->blocks.at(blocks[i + k]).local_slot) + chunk * chunk_bytes_;
        codec_->Encode(reinterpret_cast<const uint16_t*>(src), chunk_bytes_ / 2, dst + k * sb);
        if (o_.checksums) s_->remote_sums[first + k] = Checksum(dst + k * sb, sb);
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
  const uint64_t sb = slot_bytes_;
  Status result = ReserveRemote(todo);
  // Consecutive remote slots travel together; under layer_major, layer by layer.
  std::stable_sort(todo.begin(), todo.end(), [&](BlockId a, BlockId b) {
    return s_->blocks.at(a).remote_slot < s_->blocks.at(b).remote_slot;
  });
  // Kept from call to call: a fresh buffer would fault in every page again.
  std::vector<unsigned char>& staging = s_->write_staging;
  if (staging.size() < todo.size() * sb * chunks_) staging.resize(todo.size() * sb * chunks_);
  LayerWrite w;  // all of them in flight at once
  for (uint64_t c = 0; c < chunks_ && result.ok(); ++c) {
    result = WriteChunk(todo, c, staging.data() + c * todo.size() * sb, w);
  }
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
  LL_RETURN_IF_ERROR(ReapLayerWrites(false));  // frees the remote slots of writes that landed
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
    if (complete) b.written = true;  // every layer is computed: the block is
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

Status KvBlockManager::ReapLayerWrites(bool wait) {
  Status result = Status::Ok();
  for (auto it = layer_writes_.begin(); it != layer_writes_.end();) {
    LayerWrite& w = **it;
    bool all = true;
    for (size_t k = 0; k < w.tickets.size(); ++k) {
      if (w.done[k]) continue;
      if (!wait) {
        StatusOr<bool> ready = remote_->Test(w.tickets[k]);
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
      } else if (++b->second.chunks_landed == chunks_) {
        b->second.in_remote = true;
        b->second.layers_out.clear();
        b->second.chunks_landed = 0;
      }
    }
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
  return layer_writes_.empty() ? Status::Ok() : ReapLayerWrites(false);
}

Status KvBlockManager::EvictTo(uint64_t keep) {
  auto evictable = [&](BlockId id) {
    const Block& b = s_->blocks.at(id);
    return b.local_slot >= 0 && !b.pinned && b.active == 0 && b.written;
  };
  auto sharers = [&](BlockId id) { return s_->blocks.at(id).sharers; };
  while (local_used() > keep) {
    std::vector<BlockId> victims = s_->policy->Victims(local_used() - keep, evictable, sharers);
    if (victims.empty()) break;
    LL_RETURN_IF_ERROR(EvictBlocks(victims));
  }
  return Status::Ok();
}

Status KvBlockManager::EvictBlocks(const std::vector<BlockId>& victims) {
  LL_RETURN_IF_ERROR(WriteBack(victims));
  std::vector<uint64_t> freed;
  for (BlockId id : victims) {
    Block& b = s_->blocks.at(id);
    freed.push_back(static_cast<uint64_t>(b.local_slot));
    b.local_slot = -1;
    s_->policy->Removed(id);
    ++s_->stats.evictions;
  }
  // Highest first on the stack, so that slots are taken again in rising
  // order and blocks fetched together sit side by side (zero-copy).
  std::sort(freed.rbegin(), freed.rend());
  s_->free_local.insert(s_->free_local.end(), freed.begin(), freed.end());
  return Status::Ok();
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

StatusOr<uint64_t> KvBlockManager::StartFetch(SequenceId seq) {
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
      run.direct = const_cast<unsigned char*>(ContiguousLocal(f->readable, i, n));
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
        (!o_.checksums || Checksum(src, sb) == s_->remote_sums[TierSlot(b.remote_slot, run.chunk)]);
    if (run.status.ok() && !good) ++s_->stats.checksum_failures;
    if (good && !run.direct) {
      unsigned char* dst = SlotData(b.local_slot) + run.chunk * chunk_bytes_;
      codec_->Decode(src, chunk_bytes_ / 2, reinterpret_cast<uint16_t*>(dst));
    }
    f.state[i * chunks_ + run.chunk] = good ? PendingFetch::kGood : PendingFetch::kBad;
  }
}

bool KvBlockManager::PollRuns(PendingFetch& f, int64_t chunk, bool wait) {
  bool all = true;
  for (size_t r = 0; r < f.runs.size(); ++r) {
    PendingFetch::Run& run = f.runs[r];
    if (chunk >= 0 && run.chunk != static_cast<uint64_t>(chunk)) continue;
    if (!run.done) {
      // Waiting, each run is checked while the later ones are still on the wire.
      StatusOr<bool> ready = wait ? StatusOr<bool>(true) : remote_->Test(run.ticket);
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
  for (auto it = draining_.begin(); it != draining_.end();) {
    bool done = true;
    for (auto& run : (*it)->runs) {
      if (run.done) continue;
      StatusOr<bool> ready = remote_->Test(run.ticket);
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
