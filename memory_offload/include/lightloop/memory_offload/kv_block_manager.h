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
// - Layout (by name): block_major keeps a block's layers together in the
//   remote tier; layer_major keeps one layer of consecutive remote slots
//   together, so that one layer of a run of blocks is one transfer and
//   fetches and write-backs go layer by layer (WaitLayer, OffloadLayer).
//
//   KvBlockManager::Options o{.shape = {.layers = 32}, .local_blocks = 4096};
//   LL_ASSIGN_OR_RETURN(auto kv, KvBlockManager::Create(o, std::move(tier)));
//   SequenceId s = kv->NewSequence();
//   LL_ASSIGN_OR_RETURN(AppendResult b, kv->AppendBlock(s, prefix_hash));
//   if (!b.prefix_hit) { fill kv->Data(b.block) ...; kv->MarkWritten(b.block); }
//   LL_ASSIGN_OR_RETURN(std::vector<BlockId> lost, kv->Fetch(s));  // before the next step
//
// Layer-pipelined (layout layer_major): a step computes layer l while the
// later layers are on the wire; a prefill writes each layer back as soon as
// it is computed.
//   LL_ASSIGN_OR_RETURN(uint64_t f, kv->StartFetch(s));
//   for (int64_t l = 0; l < layers; ++l) {
//     LL_ASSIGN_OR_RETURN(FetchOutcome lo, kv->WaitLayer(f, l, Prefetch::kWaitComplete));
//     compute layer l from kv->LayerData(block, l) ...
//   }
//   LL_ASSIGN_OR_RETURN(FetchOutcome out, kv->FinishFetch(f, Prefetch::kWaitComplete));
//   for (int64_t l = 0; l < layers; ++l) { compute layer l; LL_RETURN_IF_ERROR(kv->OffloadLayer(s, l)); }
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

// How blocks are placed in the remote tier (by name):
//   block_major  a block's layers side by side: one slot a block, the
//                remote copy of a run of blocks is one transfer;
//   layer_major  one plane a layer: layer l of remote slot s at
//                l * planes + s in units of one encoded layer, so one layer
//                of a run of consecutive blocks is one transfer, and
//                transfers go layer by layer (layer 0 first).
enum class BlockLayout { kBlockMajor, kLayerMajor };
StatusOr<BlockLayout> ParseBlockLayout(const std::string& name);

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
  // Eviction above the high watermark writes its dirty victims back while
  // the caller goes on; a victim's slot is free once its write lands.
  uint64_t eviction_writes = 0;   // blocks written back that way
  uint64_t eviction_wait_ns = 0;  // waiting for them: no local slot was free
};

// The checksum each offloaded remote slot carries and a fetch verifies:
// XXH3-64 of its bytes.
uint64_t BlockChecksum(const void* data, uint64_t bytes);

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
    // Values per scale: 0 per encoded unit (a block; a block's layer under
    // layer_major), head_dim per head.
    size_t codec_scale_group = 0;
    // block_major or layer_major (BlockLayout). Under layer_major each layer
    // of a block is encoded and checksummed on its own.
    std::string layout = "block_major";
    // The clock waits are measured on (e.g. the runtime's client clock,
    // virtual on the sim target); empty: the wall clock.
    std::function<uint64_t()> now_ns;
  };

  // The remote tier's slot size for these options: a block after the codec
  // (block_major), one layer of a block after the codec (layer_major).
  static StatusOr<uint64_t> RemoteSlotBytes(const Options& options);
  // The remote tier's slot count that holds `blocks` blocks: `blocks`
  // (block_major), blocks * layers (layer_major).
  static StatusOr<uint64_t> RemoteSlots(const Options& options, uint64_t blocks);

  // The tier's slots must be RemoteSlotBytes(options), and under
  // layer_major a whole number of layer planes (RemoteSlots).
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
  // Names a block appended unnamed by its prefix hash once its contents
  // are computed (AppendBlock with that hash finds it from then). Fails if
  // the block is unknown or named, or the name is taken.
  Status NamePrefix(BlockId block, uint64_t prefix_hash);
  // True when the block named `prefix_hash` is being fetched (StartFetch):
  // a sequence that took it up could not fetch it until that fetch ends.
  bool PrefixArriving(uint64_t prefix_hash) const;
  // True when a block of `seq` is being fetched, for it or for a sequence
  // sharing the block: StartFetch(seq) fails until that fetch ends.
  bool Arriving(SequenceId seq) const;
  // A new sequence sharing every block of `parent`.
  StatusOr<SequenceId> Fork(SequenceId parent);
  // The sequence ends; its blocks stay cached while nothing evicts them.
  Status Free(SequenceId seq);
  const std::vector<BlockId>& BlockTable(SequenceId seq) const;

  // The bytes of a resident block (block_bytes(), layers in order, K then V).
  StatusOr<unsigned char*> Data(BlockId block);
  // Layer `layer` of a resident block (block_bytes() / layers, K then V).
  // Unlike Data, it serves a block that is still arriving once that layer
  // has landed and passed its checksum (WaitLayer said so).
  StatusOr<unsigned char*> LayerData(BlockId block, int64_t layer);
  // Where a resident block lives in the local tier, also while it is still
  // arriving: for a kernel handed whole blocks that waits layer by layer.
  // Layer l of an arriving block holds its fetched bytes only once
  // WaitLayer reported that layer landed and passed its check (LayerData
  // checks that; Place does not). Valid until FinishFetch.
  StatusOr<unsigned char*> Place(BlockId block);
  Status MarkWritten(BlockId block);
  bool IsResident(BlockId block) const;

  // Brings every block of `seq` into the local tier. Returns the blocks
  // whose remote copy was lost: they are resident again, to be recomputed
  // (then MarkWritten).
  StatusOr<std::vector<BlockId>> Fetch(SequenceId seq);
  // The same in two halves, so that the transfers overlap compute: start
  // bringing `seq` in, compute, then finish as the prefetch policy says.
  // Blocks returned as lost or not arrived are resident, to be recomputed.
  // A block may be arriving for one fetch at a time. With `in_place`
  // false, every read lands in a staging buffer and is copied to its block
  // once checked, so a caller may write into blocks still arriving (a
  // step computing layer by layer whose wait gave up) without spoiling the
  // check of a read that lands after.
  StatusOr<uint64_t> StartFetch(SequenceId seq, bool in_place = true);
  StatusOr<FetchOutcome> FinishFetch(uint64_t fetch, Prefetch policy, uint64_t budget_ns = 0);
  // Waits, as the policy says, until layer `layer` of every block the fetch
  // reads is local and checked, so the caller computes that layer while
  // later ones are on the wire. Under layer_major the reads go layer by
  // layer, layer 0 first; under block_major a layer comes with its whole
  // block, so any layer waits for whole blocks. The outcome names the
  // blocks whose layer failed its check (lost) or was not waited for
  // (not_arrived); nothing is given up: FinishFetch still decides per block.
  StatusOr<FetchOutcome> WaitLayer(uint64_t fetch, int64_t layer, Prefetch policy, uint64_t budget_ns = 0);
  // Writes every block of `seq` that is not in the remote tier yet (they
  // stay local), after the OffloadLayer writes in flight.
  Status Offload(SequenceId seq);
  // Layer `layer` of `seq`'s blocks that have no remote copy is computed:
  // writes it without waiting (layer_major: one transfer per run of
  // consecutive remote slots; block_major: a block is written whole once
  // its last layer is offloaded). A block whose every layer was offloaded
  // counts as written at once (no MarkWritten: that would make the copy
  // stale) and as offloaded, checksums recorded, once its writes land.
  Status OffloadLayer(SequenceId seq, int64_t layer);
  // Waits for every OffloadLayer write in flight. A block whose write
  // failed keeps no remote copy (its local one is intact); the error is
  // returned.
  Status WaitOffload();
  // Moves transfers in flight along (a prefetch, write-backs) without
  // blocking, checks and places the fetched blocks that landed, and records
  // the OffloadLayer and eviction writes that landed (an evicted block's
  // slot is free from then): call it between pieces of compute.
  Status Progress();
  // Evicts until at most `keep` blocks are local, waiting for the
  // write-backs. (The eviction a new block triggers above the high
  // watermark does not wait: see KvStats::eviction_writes.)
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
  struct LayerWrite;
  void ReapDraining();
  // Remote tier slot of chunk `chunk` (a layer under layer_major, the block
  // under block_major) of remote block slot `slot`.
  uint64_t TierSlot(int64_t slot, uint64_t chunk) const;
  // Marks runs of the fetch (of `chunk`, or all when chunk < 0) that are
  // done, waiting for them first when `wait`; returns true when all are.
  bool PollRuns(PendingFetch& f, int64_t chunk, bool wait);
  // Lands the runs (of `chunk`, or all) whose transfers are done, without
  // stepping the tier; returns true when all are.
  bool LandDone(PendingFetch& f, int64_t chunk);
  // Checks and places the blocks of a run that is done.
  void LandRun(PendingFetch& f, size_t run);
  // Posts the writes of chunk `chunk` of `blocks` (sorted by remote slot),
  // a run of consecutive remote slots a transfer, encoding through
  // `staging` (blocks.size() slots); the tickets go in `out`.
  Status WriteChunk(const std::vector<BlockId>& blocks, uint64_t chunk, unsigned char* staging,
                    LayerWrite& out);
  // Records the OffloadLayer writes that landed (all of them when `wait`);
  // not waiting, it only looks (Done): the caller moved them along.
  Status ReapLayerWrites(bool wait);
  // Gives remote slots to those of `blocks` that have none, in runs.
  Status ReserveRemote(const std::vector<BlockId>& blocks);
  // The local bytes of blocks[first, first + count) when they sit in
  // consecutive local slots and the codec stores them as they are; else null.
  const unsigned char* ContiguousLocal(const std::vector<BlockId>& blocks, size_t first, size_t count) const;
  KvBlockManager(const Options& options, std::unique_ptr<RemoteTier> remote);
  unsigned char* SlotData(int64_t slot) const;
  StatusOr<uint64_t> TakeLocalSlot();
  Status WriteBack(const std::vector<BlockId>& blocks);
  Status EvictBlocks(const std::vector<BlockId>& victims);
  // Evicts down to `keep` local blocks in the policy's order. Waiting, the
  // write-backs land before it returns (EvictBlocks); not waiting, clean
  // victims leave at once and dirty ones once their write lands
  // (StartEvictionWrite).
  Status Evict(uint64_t keep, bool wait);
  Status StartEvictionWrite(const std::vector<BlockId>& victims);
  // Block `id` leaves the local tier (an eviction); its slot goes to `freed`.
  void LeaveLocal(BlockId id, std::vector<uint64_t>& freed);
  // Frees local slots (highest first on the stack: taken again in rising order).
  void FreeLocalSlots(std::vector<uint64_t> slots);
  // Sorts `todo` by remote slot and posts the writes of their every chunk
  // into `w`, encoding through `staging` (todo.size() x chunks slots).
  Status PostBlockWrites(std::vector<BlockId>& todo, unsigned char* staging, LayerWrite& w);
  StatusOr<uint64_t> TakeRemoteRun(uint64_t count);
  void ReleaseRemote(Block& b);
  void DropIfUnused(BlockId id);

  Options o_;
  std::unique_ptr<KvCodec> codec_;
  // What one remote tier slot holds: a block (block_major, 1 chunk) or one
  // layer of a block (layer_major, `layers` chunks).
  uint64_t chunks_ = 1;
  uint64_t chunk_bytes_ = 0;      // of a chunk in the local tier
  uint64_t remote_blocks_ = 0;    // block slots of the remote tier (slots / chunks)
  uint64_t slot_bytes_ = 0;       // of the remote tier
  uint64_t physical_blocks_ = 0;  // of the local tier
  std::unique_ptr<RemoteTier> remote_;
  struct State;
  std::unique_ptr<State> s_;
  std::function<uint64_t()> now_ns_;
  uint64_t next_fetch_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<PendingFetch>> fetches_;
  std::vector<std::unique_ptr<PendingFetch>> draining_;    // reads not waited for
  std::vector<std::unique_ptr<LayerWrite>> layer_writes_;  // OffloadLayer and eviction writes in flight
  uint64_t leaving_ = 0;                                   // local blocks whose eviction write is in flight
};

}  // namespace lightloop::memory_offload
