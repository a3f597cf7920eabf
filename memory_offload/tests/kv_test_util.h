// SPDX-License-Identifier: Apache-2.0
// Test support for the KV cache tests: status assertions, block contents
// named by a seed, and a manager over a host-memory tier.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include "lightloop/memory_offload/kv_block_manager.h"

namespace lightloop::memory_offload {

#define ASSERT_OK_AND_ASSIGN(lhs, expr)                                                           \
  auto LL_CONCAT(ll_v_, __LINE__) = (expr);                                                       \
  ASSERT_TRUE(LL_CONCAT(ll_v_, __LINE__).ok()) << LL_CONCAT(ll_v_, __LINE__).status().ToString(); \
  lhs = std::move(LL_CONCAT(ll_v_, __LINE__)).value()
#define ASSERT_OK(expr)                                \
  do {                                                 \
    const ::lightloop::runtime::Status ll_s_ = (expr); \
    ASSERT_TRUE(ll_s_.ok()) << ll_s_.ToString();       \
  } while (0)

// 2 layers x 1 head x 8 dims x 2 bytes x 4 tokens x K,V = 256 bytes a block.
inline KvShape SmallShape() {
  return {.layers = 2, .kv_heads = 1, .head_dim = 8, .dtype_bytes = 2, .block_tokens = 4};
}

// The contents a block named `seed` must hold.
inline void Fill(unsigned char* p, uint64_t n, uint64_t seed) {
  std::mt19937_64 g(seed * 0x9e3779b97f4a7c15ull + 1);
  for (uint64_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(g());
}

inline bool Holds(const unsigned char* p, uint64_t n, uint64_t seed) {
  std::vector<unsigned char> want(n);
  Fill(want.data(), n, seed);
  return std::equal(want.begin(), want.end(), p);
}

struct Harness {
  HostTier* host = nullptr;
  std::unique_ptr<KvBlockManager> kv;
};

// A manager of `o` over a host tier of `remote_blocks` blocks.
inline Harness MakeWithShape(const KvBlockManager::Options& o, uint64_t remote_blocks = 256) {
  auto slot = KvBlockManager::RemoteSlotBytes(o);
  EXPECT_TRUE(slot.ok()) << slot.status().ToString();
  auto slots = KvBlockManager::RemoteSlots(o, remote_blocks);
  EXPECT_TRUE(slots.ok()) << slots.status().ToString();
  auto tier = std::make_unique<HostTier>(slots.ok() ? *slots : 0, slot.ok() ? *slot : 0);
  Harness h;
  h.host = tier.get();
  auto kv = KvBlockManager::Create(o, std::move(tier));
  EXPECT_TRUE(kv.ok()) << kv.status().ToString();
  if (kv.ok()) h.kv = std::move(kv).value();
  return h;
}

// The same, of SmallShape().
inline Harness Make(KvBlockManager::Options o, uint64_t remote_blocks = 256) {
  o.shape = SmallShape();
  return MakeWithShape(o, remote_blocks);
}

// Appends a block and, on a miss, computes it: fills it with `seed`'s bytes.
inline BlockId Append(KvBlockManager& kv, SequenceId s, uint64_t hash, uint64_t seed, bool* hit = nullptr) {
  auto r = kv.AppendBlock(s, hash);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return 0;
  if (hit) *hit = r->prefix_hit;
  if (!r->prefix_hit) {
    Fill(*kv.Data(r->block), kv.options().shape.block_bytes(), seed);
    EXPECT_TRUE(kv.MarkWritten(r->block).ok());
  }
  return r->block;
}

// Fetches `s`: nothing is lost, and its block k holds seed first_seed + k,
// for k below `blocks`.
inline void ExpectFetchedIntact(KvBlockManager& kv, SequenceId s, int blocks, uint64_t first_seed = 0) {
  ASSERT_OK_AND_ASSIGN(std::vector<BlockId> lost, kv.Fetch(s));
  EXPECT_TRUE(lost.empty());
  const uint64_t bb = kv.options().shape.block_bytes();
  for (int b = 0; b < blocks; ++b) {
    EXPECT_TRUE(Holds(*kv.Data(kv.BlockTable(s)[b]), bb, first_seed + b)) << "block " << b;
  }
}

}  // namespace lightloop::memory_offload
