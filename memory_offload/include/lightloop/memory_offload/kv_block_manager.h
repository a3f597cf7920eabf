// SPDX-License-Identifier: Apache-2.0
// Paged KV cache over two tiers. A sequence is a table of fixed-size blocks
// (block_tokens tokens of K and V for every layer). Blocks live in a local
// tier of `local_blocks` slots (the accelerator's memory budget) and, once
// offloaded, in a remote tier (RemoteTier: memnodes or host memory).
//
// - Prefix cache: a block is named by the hash of its token prefix (the
//   `hash_ids` of a trace); appending a block whose hash is known reuses it,
//   in whichever tier it is, instead of computing it again. Blocks that no
//   sequence uses stay cached until evicted.
// - Eviction: above the high watermark of local slots, blocks leave the
//   local tier down to the low watermark, in the order of the eviction
//   policy (by name: lru, prefix_aware). A block not yet in the remote tier
//   is written back first; victims are written in batches of consecutive
//   remote slots up to `coalesce_bytes`, so small blocks travel as large
//   transfers.
// - Codecs: blocks may be encoded on the way out (fp8, int8, int4) and
//   decoded on the way back; the bytes saved on the link are counted.
// - Integrity: each offloaded block's XXH3-64 checksum is kept and verified
//   when it is fetched; a block whose remote copy fails the check (or whose
//   read fails) is reported lost and the caller recomputes it. Wrong data is
//   never handed out.
//
//   KvBlockManager::Options o{.shape = {.layers = 32}, .local_blocks = 4096};
//   LL_ASSIGN_OR_RETURN(auto kv, KvBlockManager::Create(o, std::move(tier)));
//   SequenceId s = kv->NewSequence();
//   LL_ASSIGN_OR_RETURN(AppendResult b, kv->AppendBlock(s, prefix_hash));
//   if (!b.prefix_hit) { fill kv->Data(b.block) ...; kv->MarkWritten(b.block); }
//   LL_ASSIGN_OR_RETURN(std::vector<BlockId> lost, kv->Fetch(s));  // before the next step
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "lightloop/memory_offload/kv_codec.h"
#include "lightloop/memory_offload/remote_tier.h"

namespace lightloop::memory_offload {

using BlockId = uint64_t;
using SequenceId = uint64_t;

struct KvShape {
  int64_t layers = 32;
  int64_t kv_heads = 8;
  int64_t head_dim = 128;
  int64_t dtype_bytes = 2;
  int64_t block_tokens = 16;
  // K and V of every layer for block_tokens tokens.
  uint64_t block_bytes() const {
    return 2ull * static_cast<uint64_t>(layers * kv_heads * head_dim * dtype_bytes * block_tokens);
  }
};

struct AppendResult {
  BlockId block = 0;
  bool prefix_hit = false;  // the contents exist already: do not compute them
};

// How long a step waits for its prefetched blocks (by name):
//   best_effort    not at all: what has not arrived is recomputed;
//   wait_complete  until every block is there;
//   timeout        up to a budget, then recomputes what has not arrived.
enum class Prefetch { kBestEffort, kWaitComplete, kTimeout };
StatusOr<Prefetch> ParsePrefetch(const std::string& name);

struct FetchOutcome {
  std::vector<BlockId> lost;         // checksum or read failed: recompute
  std::vector<BlockId> not_arrived;  // not waited for: recompute
  uint64_t waited_ns = 0;            // on the manager's clock
};

struct KvStats {
  uint64_t blocks_local = 0, blocks_remote = 0;
  uint64_t bytes_offloaded = 0, bytes_fetched = 0;
  uint64_t offload_transfers = 0, fetch_transfers = 0;
  uint64_t zero_copy_transfers = 0;  // straight from or into local slots
  uint64_t prefix_hits = 0, prefix_misses = 0;
  uint64_t evictions = 0, dropped = 0;  // dropped: left both tiers
  uint64_t bytes_saved = 0;             // by the codec, on the way out
  uint64_t checksum_failures = 0, lost_blocks = 0, not_arrived = 0;
  uint64_t stall_ns = 0;  // waiting for fetches
};

class KvBlockManager {
 public:
  struct Options {
    KvShape shape;
    uint64_t local_blocks = 1024;
    // Shape mode: the local slots' bytes alias onto this many physical
    // slots (slot s uses physical slot s % local_physical_blocks), so a
    // budget of real size needs no real memory. The contents are then
    // meaningless; timing and accounting are not. 0: every slot is real.
    uint64_t local_physical_blocks = 0;
    // Checksums of offloaded blocks, verified on fetch. Off only where the
    // contents mean nothing (shape mode, aliased slots).
    bool checksums = true;
    double high_watermark = 0.95;  // of local_blocks: eviction starts above it...
    double low_watermark = 0.80;   // ...and stops here
    std::string eviction = "lru";
    uint64_t coalesce_bytes = 2 << 20;  // largest batch per transfer
    // How blocks look in the remote tier (kv_codec.h); lossy codecs need
    // 2-byte (bf16) values.
    std::string codec = "none";
    size_t codec_scale_group = 0;  // values per scale: 0 per block, head_dim per head
    // The clock waits are measured on (e.g. the runtime's client clock,
    // virtual on the sim target); empty: the wall clock.
    std::function<uint64_t()> now_ns;
  };

  // The remote tier's slot size for these options: a block after the codec.
  static StatusOr<uint64_t> RemoteSlotBytes(const Options& options);

  // The tier's slots must be RemoteSlotBytes(options).
  static StatusOr<std::unique_ptr<KvBlockManager>> Create(const Options& options,
                                                          std::unique_ptr<RemoteTier> remote);
  ~KvBlockManager();

  SequenceId NewSequence();
  // Appends a block named by `prefix_hash` (0: never shared). A known hash
  // is a prefix hit; otherwise a local slot is taken (evicting if needed)
  // and the caller fills it, then calls MarkWritten.
  StatusOr<AppendResult> AppendBlock(SequenceId seq, uint64_t prefix_hash);
  // An active sequence's blocks (those it has and those it appends) are
  // never evicted: the running set of a scheduler stays in the local tier
  // without being touched every step. Inactive again, they are ordinary
  // cached blocks. Free ends it too.
  Status SetActive(SequenceId seq, bool active);
  // True when a block named `prefix_hash` exists (AppendBlock would hit).
  bool HasPrefix(uint64_t prefix_hash) const;
  // A new sequence sharing every block of `parent`.
  StatusOr<SequenceId> Fork(SequenceId parent);
  // The sequence ends; its blocks stay cached while nothing evicts them.
  Status Free(SequenceId seq);
  const std::vector<BlockId>& BlockTable(SequenceId seq) const;

  // The bytes of a resident block (block_bytes(), layers in order, K then V).
  StatusOr<unsigned char*> Data(BlockId block);
  Status MarkWritten(BlockId block);
  bool IsResident(BlockId block) const;

  // Brings every block of `seq` into the local tier. Returns the blocks
  // whose remote copy was lost: they are resident again, to be recomputed
  // (then MarkWritten).
  StatusOr<std::vector<BlockId>> Fetch(SequenceId seq);
  // The same in two halves, so that the transfers overlap compute: start
  // bringing `seq` in, compute, then finish as the prefetch policy says.
  // Blocks returned as lost or not arrived are resident, to be recomputed.
  // A block may be arriving for one fetch at a time.
  StatusOr<uint64_t> StartFetch(SequenceId seq);
  StatusOr<FetchOutcome> FinishFetch(uint64_t fetch, Prefetch policy, uint64_t budget_ns = 0);
  // Writes every block of `seq` that is not in the remote tier yet (they
  // stay local).
  Status Offload(SequenceId seq);
  // Moves transfers in flight along (a prefetch, write-backs) without
  // blocking: call it between pieces of compute.
  Status Progress() { return remote_->Progress(); }
  // Evicts until at most `keep` blocks are local.
  Status EvictTo(uint64_t keep);
  // Evicts the blocks of `seq` that no other sequence uses (written back
  // first if needed): preemption by offload frees the local tier at once.
  Status EvictSequence(SequenceId seq);

  KvStats stats() const;
  // The running counters alone (no block counts): cheap enough for every step.
  const KvStats& counters() const;
  uint64_t local_used() const;
  const Options& options() const { return o_; }

 private:
  struct Block;
  struct PendingFetch;
  void ReapDraining();
  // The local bytes of blocks[first, first + count) when they sit in
  // consecutive local slots and the codec stores them as they are; else null.
  const unsigned char* ContiguousLocal(const std::vector<BlockId>& blocks, size_t first, size_t count) const;
  KvBlockManager(const Options& options, std::unique_ptr<RemoteTier> remote);
  unsigned char* SlotData(int64_t slot) const;
  StatusOr<uint64_t> TakeLocalSlot();
  Status WriteBack(const std::vector<BlockId>& blocks);
  Status EvictBlocks(const std::vector<BlockId>& victims);
  StatusOr<uint64_t> TakeRemoteRun(uint64_t count);
  void ReleaseRemote(Block& b);
  void DropIfUnused(BlockId id);

  Options o_;
  std::unique_ptr<KvCodec> codec_;
  uint64_t slot_bytes_ = 0;       // of the remote tier
  uint64_t physical_blocks_ = 0;  // of the local tier
  std::unique_ptr<RemoteTier> remote_;
  struct State;
  std::unique_ptr<State> s_;
  std::function<uint64_t()> now_ns_;
  uint64_t next_fetch_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<PendingFetch>> fetches_;
  std::vector<std::unique_ptr<PendingFetch>> draining_;  // reads not waited for
};

}  // namespace lightloop::memory_offload
