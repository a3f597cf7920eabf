// SPDX-License-Identifier: Apache-2.0
// Block layouts and layer-pipelined transfers: contents round trip under
// both layouts and every codec; under layer_major one layer of a run of
// blocks is one transfer, WaitLayer hands out layer 0 while the later
// layers are on the wire, OffloadLayer writes a prefill back layer by layer,
// and a corrupted layer is caught; a bad layout name is an error naming it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>

#include "lightloop/memory_offload/kv_block_manager.h"
#include "tests/delay_tier.h"
#include "tests/kv_test_util.h"

namespace lightloop::memory_offload {
namespace {

// 4 layers x 2 heads x 8 dims x 2 bytes x 4 tokens x K,V: 256 bytes a layer, 1 KiB a block.
KvShape LayeredShape() {
  return {.layers = 4, .kv_heads = 2, .head_dim = 8, .dtype_bytes = 2, .block_tokens = 4};
}
constexpr uint64_t kLayerBytes = 256, kBlockBytes = 1024;

TEST(KvLayout, ABadLayoutNameIsAnErrorNamingIt) {
  EXPECT_THAT(ParseBlockLayout("row_major").status().ToString(),
              ::testing::HasSubstr("layout 'row_major' is not one of: block_major, layer_major"));
  KvBlockManager::Options o{.shape = SmallShape(), .layout = "row_major"};
  EXPECT_THAT(KvBlockManager::RemoteSlotBytes(o).status().ToString(), ::testing::HasSubstr("'row_major'"));
  auto bad = KvBlockManager::Create(o, std::make_unique<HostTier>(8, SmallShape().block_bytes()));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().ToString(), ::testing::HasSubstr("'row_major' is not one of"));
  // layer_major: slots are one layer, and the tier holds whole planes of them.
  o.layout = "layer_major";
  ASSERT_OK_AND_ASSIGN(uint64_t slot, KvBlockManager::RemoteSlotBytes(o));
  EXPECT_EQ(slot, SmallShape().block_bytes() / 2);
  EXPECT_EQ(*KvBlockManager::RemoteSlots(o, 8), 16u);
  auto odd = KvBlockManager::Create(o, std::make_unique<HostTier>(15, slot));
  ASSERT_FALSE(odd.ok());
  EXPECT_THAT(odd.status().ToString(), ::testing::HasSubstr("whole planes of 2"));
  EXPECT_TRUE(KvBlockManager::Create(o, std::make_unique<HostTier>(16, slot)).ok());
}

// Random finite bf16 values.
void FillValues(unsigned char* p, uint64_t bytes, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.0f, 2.0f);
  auto* v = reinterpret_cast<uint16_t*>(p);
  for (uint64_t i = 0; i < bytes / 2; ++i) v[i] = FloatToBf16(d(g));
}

// Contents round trip through eviction and fetch under each layout and
// codec: exactly for `none`, and for a lossy codec exactly as the codec
// alone turns each encoded unit (a block; a layer under layer_major).
class LayoutRoundTrip : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(LayoutRoundTrip, RandomBlocksComeBackAsTheCodecLeavesThem) {
  const auto& [layout, codec_name] = GetParam();
  Harness h = MakeWithShape({.shape = LayeredShape(),
                             .local_blocks = 8,
                             .coalesce_bytes = 4096,
                             .codec = codec_name,
                             .layout = layout},
                            64);
  ASSERT_NE(h.kv, nullptr);
  KvBlockManager& kv = *h.kv;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<KvCodec> codec, MakeKvCodec(codec_name));
  const uint64_t unit = layout == "layer_major" ? kLayerBytes : kBlockBytes;
  ASSERT_OK_AND_ASSIGN(uint64_t slot, KvBlockManager::RemoteSlotBytes(kv.options()));
  EXPECT_EQ(slot, codec->EncodedBytes(unit / 2));
  std::vector<SequenceId> seqs;
  for (int s = 0; s < 3; ++s) {
    seqs.push_back(kv.NewSequence());
    for (int b = 0; b < 6; ++b) {
      ASSERT_OK_AND_ASSIGN(AppendResult r, kv.AppendBlock(seqs.back(), 0));
      FillValues(*kv.Data(r.block), kBlockBytes, s * 100 + b);
      ASSERT_OK(kv.MarkWritten(r.block));
    }
  }
  ASSERT_OK(kv.EvictTo(0));
  std::vector<unsigned char> want(kBlockBytes), wire(slot);
  for (int s = 0; s < 3; ++s) {
    ASSERT_OK_AND_ASSIGN(std::vector<BlockId> lost, kv.Fetch(seqs[s]));
    EXPECT_TRUE(lost.empty());
    for (int b = 0; b < 6; ++b) {
      FillValues(want.data(), kBlockBytes, s * 100 + b);
      for (uint64_t at = 0; at < kBlockBytes; at += unit) {
        auto* v = reinterpret_cast<uint16_t*>(want.data() + at);
        codec->Encode(v, unit / 2, wire.data());
        codec->Decode(wire.data(), unit / 2, v);
      }
      ASSERT_OK_AND_ASSIGN(unsigned char* p, kv.Data(kv.BlockTable(seqs[s])[b]));
      EXPECT_EQ(std::memcmp(p, want.data(), kBlockBytes), 0) << "sequence " << s << " block " << b;
    }
  }
  EXPECT_EQ(kv.stats().bytes_offloaded, 18 * kBlockBytes / unit * slot);
  EXPECT_EQ(kv.stats().checksum_failures, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Codecs, LayoutRoundTrip,
    ::testing::Combine(::testing::Values("block_major", "layer_major"),
                       ::testing::Values("none", "fp8_e4m3", "fp8_e5m2", "int8", "int4")),
    [](const auto& info) { return std::get<0>(info.param) + "_" + std::get<1>(info.param); });

// A manager of LayeredShape() over a DelayTier of 64 blocks whose link moves
// a byte a ns, with 1 us of latency (polls take no time).
struct Pipeline {
  explicit Pipeline(const std::string& layout, uint64_t poll_ns = 0) {
    KvBlockManager::Options o{.shape = LayeredShape(),
                              .local_blocks = 16,
                              .high_watermark = 1.0,
                              .layout = layout,
                              .now_ns = [this] { return clock; }};
    const uint64_t slots = *KvBlockManager::RemoteSlots(o, 64);
    auto t =
        std::make_unique<DelayTier>(slots, *KvBlockManager::RemoteSlotBytes(o), &clock, 1000, poll_ns, 1);
    tier = t.get();
    auto made = KvBlockManager::Create(o, std::move(t));
    EXPECT_TRUE(made.ok()) << made.status().ToString();
    kv = std::move(made).value();
    seq = kv->NewSequence();
  }
  void Prefill() {
    for (int b = 0; b < 8; ++b) Append(*kv, seq, 0, b);
    EXPECT_TRUE(kv->EvictTo(0).ok());
  }
  uint64_t clock = 0;
  DelayTier* tier = nullptr;
  std::unique_ptr<KvBlockManager> kv;
  SequenceId seq = 0;
};

TEST(KvLayout, LayerMajorMovesOneLayerOfARunPerTransfer) {
  for (const char* layout : {"block_major", "layer_major"}) {
    SCOPED_TRACE(layout);
    Pipeline p(layout);
    p.Prefill();
    const bool layered = std::string(layout) == "layer_major";
    // The 8 blocks took remote slots 0..7. block_major: one write of 8
    // blocks; layer_major: one write of layer l of the 8 blocks, plane l.
    const auto& log = p.tier->transfers();
    ASSERT_EQ(log.size(), layered ? 4u : 1u);
    for (size_t l = 0; l < log.size(); ++l) {
      EXPECT_TRUE(log[l].write);
      EXPECT_EQ(log[l].count, 8u);
      EXPECT_EQ(log[l].first, l * 64) << "layer " << l << " of remote slot 0";
    }
    EXPECT_EQ(p.kv->stats().offload_transfers, log.size());
    ASSERT_OK_AND_ASSIGN(std::vector<BlockId> lost, p.kv->Fetch(p.seq));
    EXPECT_TRUE(lost.empty());
    ASSERT_EQ(log.size(), layered ? 8u : 2u);
    for (size_t l = 0; l < log.size() / 2; ++l) {
      const auto& read = log[log.size() / 2 + l];
      EXPECT_FALSE(read.write);
      EXPECT_EQ(read.count, 8u) << "8 blocks' layer (" << 8 * kLayerBytes << " bytes) or 8 blocks";
      EXPECT_EQ(read.first, l * 64);
    }
    for (int b = 0; b < 8; ++b) EXPECT_TRUE(Holds(*p.kv->Data(p.kv->BlockTable(p.seq)[b]), kBlockBytes, b));
  }
}

// A decode step over 8 remote blocks: each layer computes for as long as a
// layer of the 8 blocks takes on the link (2048 ns).
uint64_t LayerPipelinedStep(Pipeline& p, std::vector<uint64_t>* layer_ready_at) {
  const uint64_t t0 = p.clock;
  auto f = p.kv->StartFetch(p.seq);
  EXPECT_TRUE(f.ok());
  for (int64_t l = 0; l < 4; ++l) {
    auto out = p.kv->WaitLayer(*f, l, Prefetch::kWaitComplete);
    EXPECT_TRUE(out.ok() && out->lost.empty() && out->not_arrived.empty());
    layer_ready_at->push_back(p.clock - t0);
    for (BlockId id : p.kv->BlockTable(p.seq)) {
      auto layer = p.kv->LayerData(id, l);
      EXPECT_TRUE(layer.ok()) << layer.status().ToString();
    }
    p.clock += 8 * kLayerBytes;  // compute layer l
  }
  auto out = p.kv->FinishFetch(*f, Prefetch::kWaitComplete);
  EXPECT_TRUE(out.ok() && out->lost.empty() && out->not_arrived.empty());
  return p.clock - t0;
}

TEST(KvLayout, WaitLayerHandsOutLayerZeroWhileTheRestIsOnTheWire) {
  Pipeline p("layer_major");
  p.Prefill();
  const uint64_t reads_before = p.tier->transfers().size();
  const uint64_t t0 = p.clock;
  ASSERT_OK_AND_ASSIGN(uint64_t f, p.kv->StartFetch(p.seq));
  EXPECT_EQ(p.tier->transfers().size(), reads_before + 4) << "every layer's read is posted at once";
  ASSERT_OK_AND_ASSIGN(FetchOutcome first, p.kv->WaitLayer(f, 0, Prefetch::kWaitComplete));
  EXPECT_TRUE(first.lost.empty());
  EXPECT_TRUE(first.not_arrived.empty());
  // Layer 0 of the 8 blocks (2 KiB) crossed the link, then the latency.
  EXPECT_EQ(p.clock - t0, 8 * kLayerBytes + 1000);
  EXPECT_EQ(p.tier->reads_landed(), 1u) << "layers 1-3 are still on the wire";
  const BlockId b3 = p.kv->BlockTable(p.seq)[3];
  std::vector<unsigned char> want(kBlockBytes);
  Fill(want.data(), kBlockBytes, 3);
  ASSERT_OK_AND_ASSIGN(unsigned char* layer0, p.kv->LayerData(b3, 0));
  EXPECT_EQ(std::memcmp(layer0, want.data(), kLayerBytes), 0);
  EXPECT_THAT(p.kv->LayerData(b3, 3).status().ToString(), ::testing::HasSubstr("arriving; WaitLayer"));
  EXPECT_THAT(p.kv->Data(b3).status().ToString(), ::testing::HasSubstr("arriving"));
  // best_effort does not wait for layer 3: all 8 blocks are not there yet.
  ASSERT_OK_AND_ASSIGN(FetchOutcome early, p.kv->WaitLayer(f, 3, Prefetch::kBestEffort));
  EXPECT_EQ(early.not_arrived.size(), 8u);
  ASSERT_OK_AND_ASSIGN(FetchOutcome last, p.kv->WaitLayer(f, 3, Prefetch::kWaitComplete));
  EXPECT_TRUE(last.not_arrived.empty());
  EXPECT_EQ(p.clock - t0, 4 * 8 * kLayerBytes + 1000);
  ASSERT_OK_AND_ASSIGN(unsigned char* layer3, p.kv->LayerData(b3, 3));
  EXPECT_EQ(std::memcmp(layer3, want.data() + 3 * kLayerBytes, kLayerBytes), 0);
  ASSERT_OK_AND_ASSIGN(FetchOutcome out, p.kv->FinishFetch(f, Prefetch::kWaitComplete));
  EXPECT_TRUE(out.lost.empty() && out.not_arrived.empty());
  for (int b = 0; b < 8; ++b) EXPECT_TRUE(Holds(*p.kv->Data(p.kv->BlockTable(p.seq)[b]), kBlockBytes, b));
  EXPECT_THAT(p.kv->WaitLayer(f, 0, Prefetch::kWaitComplete).status().ToString(),
              ::testing::HasSubstr("no fetch"));
}

TEST(KvLayout, WaitLayerWithATimeoutWaitsUpToItsBudget) {
  // Polls take 100 ns. Layer 0 lands 3048 ns after the start: a budget of
  // 1500 ns gives up on it (nothing is lost: the reads go on), one of
  // 5000 ns more gets it, and the step finishes whole.
  Pipeline p("layer_major", 100);
  p.Prefill();
  ASSERT_OK_AND_ASSIGN(uint64_t f, p.kv->StartFetch(p.seq));
  ASSERT_OK_AND_ASSIGN(FetchOutcome early, p.kv->WaitLayer(f, 0, Prefetch::kTimeout, 1500));
  EXPECT_EQ(early.not_arrived.size(), 8u);
  EXPECT_GE(early.waited_ns, 1500u);
  EXPECT_LT(early.waited_ns, 1600u);
  ASSERT_OK_AND_ASSIGN(FetchOutcome later, p.kv->WaitLayer(f, 0, Prefetch::kTimeout, 5000));
  EXPECT_TRUE(later.not_arrived.empty());
  EXPECT_LT(later.waited_ns, 3048u - 1500 + 100);
  ASSERT_OK_AND_ASSIGN(FetchOutcome out, p.kv->FinishFetch(f, Prefetch::kWaitComplete));
  EXPECT_TRUE(out.not_arrived.empty() && out.lost.empty());
  for (int b = 0; b < 8; ++b) EXPECT_TRUE(Holds(*p.kv->Data(p.kv->BlockTable(p.seq)[b]), kBlockBytes, b));
}

TEST(KvLayout, LayerPipelinedStepOverlapsComputeWithTheFetch) {
  // layer_major: layer l is ready once l + 1 layers crossed (+ latency);
  // computing each layer as long as its transfer, the step is one layer's
  // transfer and the latency longer than the compute alone.
  Pipeline layered("layer_major");
  layered.Prefill();
  std::vector<uint64_t> ready;
  const uint64_t step = LayerPipelinedStep(layered, &ready);
  EXPECT_THAT(ready, ::testing::ElementsAre(3048, 3048 + 2048, 3048 + 4096, 3048 + 6144));
  EXPECT_EQ(step, 1000 + 2048 + 4 * 2048);
  // block_major: a layer comes with its whole block, so layer 0 waits for
  // all the bytes and nothing overlaps.
  Pipeline whole("block_major");
  whole.Prefill();
  ready.clear();
  EXPECT_EQ(LayerPipelinedStep(whole, &ready), 1000 + 8192 + 4 * 2048);
  EXPECT_EQ(ready[0], 1000u + 8192);
  EXPECT_EQ(whole.tier->reads_landed(), 1u);
}

// A prefill: layer l of the 8 blocks is computed (2048 ns), then handed to
// OffloadLayer, which returns at once.
void LayeredPrefill(Pipeline& p, const std::function<void(int64_t)>& after_layer) {
  std::vector<BlockId> blocks;
  for (int b = 0; b < 8; ++b) blocks.push_back(p.kv->AppendBlock(p.seq, 0)->block);
  std::vector<unsigned char> full(kBlockBytes);
  for (int64_t l = 0; l < 4; ++l) {
    for (int b = 0; b < 8; ++b) {
      Fill(full.data(), kBlockBytes, 50 + b);
      std::memcpy(*p.kv->LayerData(blocks[b], l), full.data() + l * kLayerBytes, kLayerBytes);
    }
    p.clock += 8 * kLayerBytes;
    const uint64_t before = p.clock;
    EXPECT_TRUE(p.kv->OffloadLayer(p.seq, l).ok());
    EXPECT_EQ(p.clock, before) << "OffloadLayer does not wait";
    after_layer(l);
  }
}

TEST(KvLayout, OffloadLayerWritesAPrefillBackLayerByLayer) {
  Pipeline p("layer_major");
  LayeredPrefill(p, [&](int64_t l) {
    const auto& log = p.tier->transfers();
    ASSERT_EQ(log.size(), static_cast<size_t>(l + 1)) << "one write per layer, posted at once";
    EXPECT_TRUE(log.back().write);
    EXPECT_EQ(log.back().count, 8u);
    EXPECT_EQ(log.back().first, static_cast<uint64_t>(l) * 64);
    EXPECT_EQ(p.kv->stats().blocks_remote, 8u) << "remote slots are held from layer 0";
  });
  // Each layer's write flew during the next layer's compute: only the last
  // one (2048 ns on the link and the latency) is left to wait for.
  const uint64_t before = p.clock;
  ASSERT_OK(p.kv->WaitOffload());
  EXPECT_EQ(p.clock - before, 2048u + 1000);
  EXPECT_EQ(p.kv->stats().bytes_offloaded, 8 * kBlockBytes);
  ASSERT_OK(p.kv->EvictTo(0));
  EXPECT_EQ(p.tier->transfers().size(), 4u) << "the blocks are offloaded: eviction writes nothing";
  ExpectFetchedIntact(*p.kv, p.seq, 8, 50);
}

TEST(KvLayout, OffloadLayerUnderBlockMajorWritesWholeBlocksAfterTheLastLayer) {
  Pipeline p("block_major");
  LayeredPrefill(p, [&](int64_t l) {
    EXPECT_EQ(p.tier->transfers().size(), l == 3 ? 1u : 0u) << "layer " << l;
    EXPECT_EQ(p.kv->stats().blocks_remote, l == 3 ? 8u : 0u);
  });
  const uint64_t before = p.clock;
  ASSERT_OK(p.kv->WaitOffload());
  EXPECT_EQ(p.clock - before, 8192u + 1000) << "nothing overlapped the prefill";
  ASSERT_OK(p.kv->EvictTo(0));
  ExpectFetchedIntact(*p.kv, p.seq, 8, 50);
}

TEST(KvLayout, ALayerRecomputedDuringItsOffloadLeavesNoStaleCopy) {
  // Block 0 is recomputed (MarkWritten) after two layers went out: its
  // half-written remote copy is dropped, the rest complete, and the block is
  // written whole later with its new contents.
  Pipeline p("layer_major");
  std::vector<unsigned char> full(kBlockBytes);
  LayeredPrefill(p, [&](int64_t l) {
    if (l != 1) return;
    BlockId b0 = p.kv->BlockTable(p.seq)[0];
    Fill(*p.kv->Data(b0), kBlockBytes, 99);
    EXPECT_TRUE(p.kv->MarkWritten(b0).ok());
  });
  ASSERT_OK(p.kv->WaitOffload());
  ASSERT_EQ(p.tier->transfers().size(), 4u) << "a write per layer";
  ASSERT_OK(p.kv->EvictTo(0));
  // Its layers 0-1 never went out again: block 0 is written back whole
  // (a layer a transfer), the other 7 were offloaded already.
  const auto& log = p.tier->transfers();
  ASSERT_EQ(log.size(), 8u);
  for (size_t k = 4; k < 8; ++k) EXPECT_TRUE(log[k].write && log[k].count == 1) << k;
  EXPECT_EQ(p.kv->stats().blocks_remote, 8u);
  ASSERT_OK_AND_ASSIGN(std::vector<BlockId> lost, p.kv->Fetch(p.seq));
  EXPECT_TRUE(lost.empty());
  // Layers 2 and 3 of block 0 were handed over after the recompute; only
  // its own bytes count: seed 99 for layers 0-1, 50 for 2-3.
  Fill(full.data(), kBlockBytes, 99);
  std::vector<unsigned char> late(kBlockBytes);
  Fill(late.data(), kBlockBytes, 50);
  std::memcpy(full.data() + 2 * kLayerBytes, late.data() + 2 * kLayerBytes, 2 * kLayerBytes);
  EXPECT_EQ(std::memcmp(*p.kv->Data(p.kv->BlockTable(p.seq)[0]), full.data(), kBlockBytes), 0);
  for (int b = 1; b < 8; ++b)
    EXPECT_TRUE(Holds(*p.kv->Data(p.kv->BlockTable(p.seq)[b]), kBlockBytes, 50 + b));
}

TEST(KvLayout, ACorruptedLayerIsCaughtUnderLayerMajor) {
  Harness h = MakeWithShape({.shape = LayeredShape(), .local_blocks = 8, .layout = "layer_major"}, 64);
  KvBlockManager& kv = *h.kv;
  SequenceId s = kv.NewSequence();
  for (int b = 0; b < 4; ++b) Append(kv, s, 0, b);
  ASSERT_OK(kv.EvictTo(0));
  // Flip one byte of layer 2 of block 1, wherever its plane put it.
  std::vector<unsigned char> want(kBlockBytes);
  Fill(want.data(), kBlockBytes, 1);
  std::span<unsigned char> stored = h.host->bytes();
  bool flipped = false;
  for (uint64_t slot = 0; slot < 4 * 64 && !flipped; ++slot) {
    if (std::equal(want.begin() + 2 * kLayerBytes, want.begin() + 3 * kLayerBytes,
                   stored.begin() + static_cast<long>(slot * kLayerBytes))) {
      EXPECT_EQ(slot / 64, 2u) << "layer 2's plane";
      stored[slot * kLayerBytes + 5] ^= 0x10;
      flipped = true;
    }
  }
  ASSERT_TRUE(flipped);
  const BlockId victim = kv.BlockTable(s)[1];
  ASSERT_OK_AND_ASSIGN(uint64_t f, kv.StartFetch(s));
  ASSERT_OK_AND_ASSIGN(FetchOutcome l0, kv.WaitLayer(f, 0, Prefetch::kWaitComplete));
  EXPECT_TRUE(l0.lost.empty());
  ASSERT_OK_AND_ASSIGN(FetchOutcome l2, kv.WaitLayer(f, 2, Prefetch::kWaitComplete));
  EXPECT_THAT(l2.lost, ::testing::ElementsAre(victim));
  EXPECT_THAT(kv.LayerData(victim, 2).status().ToString(), ::testing::HasSubstr("lost; recompute"));
  ASSERT_OK_AND_ASSIGN(FetchOutcome out, kv.FinishFetch(f, Prefetch::kWaitComplete));
  EXPECT_THAT(out.lost, ::testing::ElementsAre(victim));
  EXPECT_EQ(kv.stats().checksum_failures, 1u);
  for (int b : {0, 2, 3}) EXPECT_TRUE(Holds(*kv.Data(kv.BlockTable(s)[b]), kBlockBytes, b));
  // Recomputed, it goes out and comes back whole.
  Fill(*kv.Data(victim), kBlockBytes, 1);
  ASSERT_OK(kv.MarkWritten(victim));
  ASSERT_OK(kv.EvictTo(0));
  ASSERT_OK_AND_ASSIGN(std::vector<BlockId> lost, kv.Fetch(s));
  EXPECT_TRUE(lost.empty());
  EXPECT_TRUE(Holds(*kv.Data(victim), kBlockBytes, 1));
}

TEST(KvLayout, PerHeadScalesSizeTheRemoteSlot) {
  // One scale per head of 8 values: the slot holds 4 + 8 bytes a head, and
  // blocks round trip through it (the slot was once sized per block).
  for (const char* layout : {"block_major", "layer_major"}) {
    SCOPED_TRACE(layout);
    KvBlockManager::Options o{.shape = LayeredShape(),
                              .local_blocks = 8,
                              .codec = "int8",
                              .codec_scale_group = 8,
                              .layout = layout};
    ASSERT_OK_AND_ASSIGN(uint64_t slot, KvBlockManager::RemoteSlotBytes(o));
    const uint64_t unit_values = (std::string(layout) == "layer_major" ? kLayerBytes : kBlockBytes) / 2;
    EXPECT_EQ(slot, unit_values / 8 * (4 + 8));
    Harness h = MakeWithShape(o, 16);
    SequenceId s = h.kv->NewSequence();
    ASSERT_OK_AND_ASSIGN(AppendResult r, h.kv->AppendBlock(s, 0));
    FillValues(*h.kv->Data(r.block), kBlockBytes, 7);
    std::vector<unsigned char> want(*h.kv->Data(r.block), *h.kv->Data(r.block) + kBlockBytes);
    ASSERT_OK(h.kv->MarkWritten(r.block));
    ASSERT_OK(h.kv->EvictTo(0));
    ASSERT_OK_AND_ASSIGN(std::vector<BlockId> lost, h.kv->Fetch(s));
    EXPECT_TRUE(lost.empty());
    const auto* got = reinterpret_cast<const uint16_t*>(*h.kv->Data(r.block));
    const auto* ref = reinterpret_cast<const uint16_t*>(want.data());
    for (uint64_t i = 0; i < kBlockBytes / 2; ++i) {
      // Half a step of the head's scale, and the bf16 rounding.
      ASSERT_NEAR(Bf16ToFloat(got[i]), Bf16ToFloat(ref[i]),
                  8.0f / 127 / 2 + std::fabs(Bf16ToFloat(ref[i])) / 128)
          << i;
    }
  }
}

TEST(KvLayout, LayerArgumentsAreChecked) {
  Pipeline p("layer_major");
  p.Prefill();
  ASSERT_OK_AND_ASSIGN(uint64_t f, p.kv->StartFetch(p.seq));
  EXPECT_THAT(p.kv->WaitLayer(f, 4, Prefetch::kWaitComplete).status().ToString(),
              ::testing::HasSubstr("layer 4 is not in [0, 4)"));
  EXPECT_THAT(p.kv->OffloadLayer(p.seq, -1).ToString(), ::testing::HasSubstr("layer -1 is not in [0, 4)"));
  EXPECT_THAT(p.kv->LayerData(p.kv->BlockTable(p.seq)[0], 7).status().ToString(),
              ::testing::HasSubstr("layer 7"));
  ASSERT_OK(p.kv->FinishFetch(f, Prefetch::kWaitComplete).status());
}

}  // namespace
}  // namespace lightloop::memory_offload
