// SPDX-License-Identifier: Apache-2.0
// KvBlockManager's private state, shared by its sources: the manager
// (kv_block_manager.cpp), its write-back (kv_write_back.cpp) and its
// fetches (kv_fetch.cpp).
#pragma once

#include <xxhash.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h>  // libxxhash picks SSE2, AVX2 or AVX-512 at run time
#endif

#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "eviction/i_eviction_policy.h"
#include "lightloop/memory_offload/kv_block_manager.h"

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
  bool leaving = false;    // its eviction write is in flight: the slot frees when it lands
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

// Writes the caller does not wait for: one OffloadLayer call's (one chunk
// of some blocks) or one eviction's (whole blocks).
struct KvBlockManager::LayerWrite {
  std::vector<Ticket> tickets;
  std::vector<bool> done;
  Status status = Status::Ok();
  std::vector<std::pair<BlockId, int64_t>> blocks;    // and the remote block slot written
  uint64_t chunks = 1;                                // of each block
  std::vector<std::pair<BlockId, int64_t>> evicting;  // and the local slot to free when it lands
  std::unique_ptr<unsigned char[]> staging;           // valid until every ticket is done
};

// Chunks of a block as the remote tier holds them: its layers one by one
// under layer_major, the whole block under block_major.
inline uint64_t ChunksFor(BlockLayout layout, const KvShape& shape) {
  return layout == BlockLayout::kLayerMajor ? static_cast<uint64_t>(shape.layers) : 1;
}

}  // namespace lightloop::memory_offload
