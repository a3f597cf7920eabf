// SPDX-License-Identifier: Apache-2.0
// The KV cache over real memnodes (a `lightloop memnode` child per node,
// over tcp and shm): contents survive eviction to the remote tier, slots
// stripe across two memnodes, and a block corrupted in the memnode's
// memory is caught on fetch and reported lost; under layer_major, blocks
// written back layer by layer come back layer by layer.
#include <gtest/gtest.h>

#include "lightloop/memory_offload/kv_block_manager.h"
#include "memnode_fixture.h"

namespace lightloop::memory_offload {
namespace {

using runtime::testing::MemnodeTest;
using runtime::testing::RandomBytes;

// 8 layers x 8 heads x 128 dims x 2 bytes x 4 tokens x K,V = 128 KiB a block.
KvShape Shape() {
  return {.layers = 8, .kv_heads = 8, .head_dim = 128, .dtype_bytes = 2, .block_tokens = 4};
}

class KvOverMemnode : public MemnodeTest {
 protected:
  // Appends `n` computed blocks (contents from `seed`) to a new sequence.
  static SequenceId Compute(KvBlockManager& kv, int n, uint64_t seed) {
    SequenceId s = kv.NewSequence();
    const uint64_t bb = kv.options().shape.block_bytes();
    for (int b = 0; b < n; ++b) {
      auto r = kv.AppendBlock(s, 0);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      std::vector<char> bytes = RandomBytes(bb, seed * 1000 + b);
      std::memcpy(*kv.Data(r->block), bytes.data(), bb);
      EXPECT_TRUE(kv.MarkWritten(r->block).ok());
    }
    return s;
  }
  static void ExpectHolds(KvBlockManager& kv, SequenceId s, uint64_t seed) {
    auto lost = kv.Fetch(s);
    ASSERT_TRUE(lost.ok()) << lost.status().ToString();
    EXPECT_TRUE(lost->empty());
    const uint64_t bb = kv.options().shape.block_bytes();
    const auto& table = kv.BlockTable(s);
    for (size_t b = 0; b < table.size(); ++b) {
      std::vector<char> want = RandomBytes(bb, seed * 1000 + b);
      EXPECT_EQ(std::memcmp(*kv.Data(table[b]), want.data(), bb), 0) << "block " << b;
    }
  }
};

TEST_P(KvOverMemnode, BlocksRoundTripThroughTwoMemnodes) {
  auto second = SpawnMemnode();
  ASSERT_NE(second, nullptr);
  auto c1 = Connect("kv");
  auto o2 = ClientOptions("kv");
  o2.memnode = second->control_address();
  auto c2 = runtime::RemoteMemoryClient::Connect(o2);
  ASSERT_TRUE(c2.ok()) << c2.status().ToString();
  const uint64_t bb = Shape().block_bytes();
  auto tier = MemnodeTier::Create({c1.get(), c2->get()}, bb, 64, /*stripe_slots=*/4);
  ASSERT_TRUE(tier.ok()) << tier.status().ToString();
  // Full at 8 blocks, then down to 2: victims leave six at a time.
  auto kv = KvBlockManager::Create({.shape = Shape(),
                                    .local_blocks = 8,
                                    .high_watermark = 1.0,
                                    .low_watermark = 0.25,
                                    .coalesce_bytes = 1 << 20},
                                   std::move(tier).value());
  ASSERT_TRUE(kv.ok()) << kv.status().ToString();
  std::vector<SequenceId> seqs;
  for (uint64_t i = 0; i < 4; ++i) seqs.push_back(Compute(**kv, 6, i));
  EXPECT_GT((*kv)->stats().evictions, 0u);
  for (uint64_t i = 0; i < 4; ++i) ExpectHolds(**kv, seqs[i], i);
  auto st1 = c1->Stats();
  auto st2 = (*c2)->Stats();
  ASSERT_TRUE(st1.ok() && st2.ok());
  EXPECT_GT(st1->bytes_written, 0u) << "slots stripe over both memnodes";
  EXPECT_GT(st2->bytes_written, 0u);
  KvStats st = (*kv)->stats();
  EXPECT_LT(st.offload_transfers * 2, st.bytes_offloaded / bb) << "blocks travel in batches";
}

// The same KV contents come back on every target (nic: tcp and shm; sim:
// lightloop), through eviction, write-back and fetch.
TEST_P(KvOverMemnode, ContentsComeBackOnEveryTarget) {
  auto client = Connect("kv");
  const uint64_t bb = Shape().block_bytes();
  auto tier = MemnodeTier::Create({client.get()}, bb, 64);
  ASSERT_TRUE(tier.ok()) << tier.status().ToString();
  auto kv = KvBlockManager::Create(
      {.shape = Shape(), .local_blocks = 8, .high_watermark = 1.0, .low_watermark = 0.25},
      std::move(tier).value());
  ASSERT_TRUE(kv.ok()) << kv.status().ToString();
  std::vector<SequenceId> seqs;
  for (uint64_t i = 0; i < 5; ++i) seqs.push_back(Compute(**kv, 5, 10 + i));
  for (uint64_t i = 0; i < 5; ++i) ExpectHolds(**kv, seqs[i], 10 + i);
  EXPECT_GT((*kv)->stats().bytes_fetched, 0u);
}

TEST_P(KvOverMemnode, ABlockCorruptedInTheMemnodeIsLost) {
  auto client = Connect("kv");
  const uint64_t bb = Shape().block_bytes();
  auto tier = MemnodeTier::Create({client.get()}, bb, 32);
  ASSERT_TRUE(tier.ok()) << tier.status().ToString();
  runtime::RemoteRegion region = (*tier)->regions()[0];
  auto kv = KvBlockManager::Create({.shape = Shape(), .local_blocks = 8}, std::move(tier).value());
  ASSERT_TRUE(kv.ok()) << kv.status().ToString();
  SequenceId s = Compute(**kv, 4, 7);
  ASSERT_TRUE((*kv)->EvictTo(0).ok());
  // Somebody scribbles over slot 0 in the memnode.
  std::vector<char> junk = RandomBytes(64, 99);
  auto w = client->Write(region, 100, junk.data(), junk.size());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(client->Wait(*w).ok());
  auto lost = (*kv)->Fetch(s);
  ASSERT_TRUE(lost.ok()) << lost.status().ToString();
  EXPECT_EQ(lost->size(), 1u);
  EXPECT_EQ((*kv)->stats().checksum_failures, 1u);
}

// layer_major on every target (one memnode, so that the sim targets run it
// too): a prefill written back layer by layer (OffloadLayer) and sequences
// written back whole by eviction come back, fetched layer by layer
// (WaitLayer, LayerData) and whole.
TEST_P(KvOverMemnode, LayerMajorRoundTripsLayerByLayer) {
  auto client = Connect("kv");
  KvBlockManager::Options o{.shape = Shape(),
                            .local_blocks = 8,
                            .high_watermark = 1.0,
                            .low_watermark = 0.25,
                            .coalesce_bytes = 1 << 20,
                            .layout = "layer_major"};
  const uint64_t bb = Shape().block_bytes(), lb = bb / 8;
  ASSERT_EQ(*KvBlockManager::RemoteSlotBytes(o), lb);
  auto tier = MemnodeTier::Create({client.get()}, lb, *KvBlockManager::RemoteSlots(o, 64), 4);
  ASSERT_TRUE(tier.ok()) << tier.status().ToString();
  auto made = KvBlockManager::Create(o, std::move(tier).value());
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  KvBlockManager& kv = **made;
  // The prefill: 4 blocks, each layer handed over once computed.
  SequenceId prefill = kv.NewSequence();
  std::vector<BlockId> blocks;
  for (int b = 0; b < 4; ++b) blocks.push_back(kv.AppendBlock(prefill, 0)->block);
  for (int64_t l = 0; l < 8; ++l) {
    for (int b = 0; b < 4; ++b) {
      std::vector<char> want = RandomBytes(bb, 20 * 1000 + b);
      std::memcpy(*kv.LayerData(blocks[b], l), want.data() + l * lb, lb);
    }
    ASSERT_TRUE(kv.OffloadLayer(prefill, l).ok());
  }
  ASSERT_TRUE(kv.WaitOffload().ok());
  EXPECT_EQ(kv.stats().offload_transfers, 8u) << "one write per layer of the 4 blocks";
  std::vector<SequenceId> seqs;
  for (uint64_t i = 0; i < 3; ++i) seqs.push_back(Compute(kv, 5, 30 + i));
  ASSERT_TRUE(kv.EvictTo(0).ok());
  // The prefill, layer by layer.
  auto f = kv.StartFetch(prefill);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  for (int64_t l = 0; l < 8; ++l) {
    auto out = kv.WaitLayer(*f, l, Prefetch::kWaitComplete);
    ASSERT_TRUE(out.ok() && out->lost.empty() && out->not_arrived.empty());
    for (int b = 0; b < 4; ++b) {
      std::vector<char> want = RandomBytes(bb, 20 * 1000 + b);
      auto layer = kv.LayerData(blocks[b], l);
      ASSERT_TRUE(layer.ok()) << layer.status().ToString();
      EXPECT_EQ(std::memcmp(*layer, want.data() + l * lb, lb), 0) << "block " << b << " layer " << l;
    }
  }
  ASSERT_TRUE(kv.FinishFetch(*f, Prefetch::kWaitComplete).ok());
  ExpectHolds(kv, prefill, 20);
  for (uint64_t i = 0; i < 3; ++i) ExpectHolds(kv, seqs[i], 30 + i);
  EXPECT_EQ(kv.stats().checksum_failures, 0u);
}

LIGHTLOOP_OVER_PROVIDERS(KvOverMemnode);

}  // namespace
}  // namespace lightloop::memory_offload
