// SPDX-License-Identifier: Apache-2.0
// Weight streaming over a remote tier with a latency: the right bytes for
// every layer, no stall once the lookahead covers the fetch, a stall per
// layer without lookahead, and pinned layers fetched once.
#include "lightloop/memory_offload/weight_streamer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "tests/delay_tier.h"

namespace lightloop::memory_offload {
namespace {

constexpr uint64_t kLayerBytes = 4096;
constexpr int64_t kLayers = 8;
constexpr uint64_t kFetchNs = 10000;

class WeightStreamerTest : public ::testing::Test {
 protected:
  std::unique_ptr<WeightStreamer> Make(int64_t buffers, std::vector<int64_t> pinned = {}) {
    WeightStreamer::Options o{.layer_bytes = kLayerBytes,
                              .layers = kLayers,
                              .buffers = buffers,
                              .pinned = std::move(pinned),
                              .now_ns = [this] { return clock_; }};
    auto ws =
        WeightStreamer::Create(o, std::make_unique<DelayTier>(kLayers, kLayerBytes, &clock_, kFetchNs, 100));
    EXPECT_TRUE(ws.ok()) << ws.status().ToString();
    if (!ws.ok()) return nullptr;
    for (int64_t l = 0; l < kLayers; ++l) {
      std::vector<unsigned char> w(kLayerBytes, static_cast<unsigned char>(l * 3 + 1));
      EXPECT_TRUE((*ws)->Store(l, w.data()).ok());
    }
    EXPECT_TRUE((*ws)->LoadPinned().ok());
    return std::move(ws).value();
  }
  // Two passes over the layers, computing `compute_ns` per layer; checks
  // each layer's bytes.
  void Run(WeightStreamer& ws, uint64_t compute_ns) {
    for (int pass = 0; pass < 2; ++pass) {
      for (int64_t l = 0; l < kLayers; ++l) {
        auto w = ws.Acquire(l);
        ASSERT_TRUE(w.ok()) << w.status().ToString();
        ASSERT_EQ((*w)[0], l * 3 + 1) << "layer " << l;
        ASSERT_EQ((*w)[kLayerBytes - 1], l * 3 + 1) << "layer " << l;
        clock_ += compute_ns;
      }
    }
  }
  uint64_t clock_ = 0;
};

TEST_F(WeightStreamerTest, DoubleBufferingHidesAFetchShorterThanTheCompute) {
  auto ws = Make(2);
  Run(*ws, 2 * kFetchNs);
  EXPECT_EQ(ws->stats().stalls, 1u) << "only the very first layer waits";
  EXPECT_EQ(ws->stats().fetches, 2u * kLayers + 1) << "and layer 0 again, for the next token";
}

TEST_F(WeightStreamerTest, WithoutLookaheadEveryLayerWaits) {
  auto ws = Make(1);
  Run(*ws, 2 * kFetchNs);
  EXPECT_EQ(ws->stats().stalls, 2u * kLayers);
  EXPECT_EQ(ws->stats().stall_ns, 2u * kLayers * kFetchNs);
}

TEST_F(WeightStreamerTest, TripleBufferingCoversAFetchLongerThanOneLayersCompute) {
  // Each fetch takes 10 us, each layer computes 6 us: two layers ahead keep up
  // once the pipeline is full, one does not.
  auto triple = Make(3);
  Run(*triple, 6000);
  auto doubled = Make(2);
  Run(*doubled, 6000);
  EXPECT_LT(triple->stats().stall_ns, doubled->stats().stall_ns);
  EXPECT_LE(triple->stats().stalls, 2u);
}

TEST_F(WeightStreamerTest, PinnedLayersAreFetchedOnce) {
  auto ws = Make(2, {0, kLayers - 1});
  Run(*ws, 2 * kFetchNs);
  EXPECT_EQ(ws->stats().fetches, 2u + 2u * (kLayers - 2) + 1)
      << "pinned: once each; the others: once a pass, and layer 1 again for the next token";
  auto bad = WeightStreamer::Create({.layer_bytes = kLayerBytes, .layers = kLayers, .pinned = {kLayers}},
                                    std::make_unique<HostTier>(kLayers, kLayerBytes));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().ToString(), ::testing::HasSubstr("pinned layer 8 is not in [0, 8)"));
}

// A layer that has landed is no stall, even on a clock that moves between
// any two readings (as the wall clock does): the host tier's reads land at
// once, so nothing ever waits.
TEST(WeightStreamerStalls, ALandedLayerIsNoStallOnAMovingClock) {
  uint64_t tick = 0;
  WeightStreamer::Options o{
      .layer_bytes = kLayerBytes, .layers = kLayers, .buffers = 2, .now_ns = [&tick] { return tick += 100; }};
  auto ws = WeightStreamer::Create(o, std::make_unique<HostTier>(kLayers, kLayerBytes));
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  std::vector<unsigned char> w(kLayerBytes, 7);
  for (int64_t l = 0; l < kLayers; ++l) ASSERT_TRUE((*ws)->Store(l, w.data()).ok());
  for (int64_t l = 0; l < kLayers; ++l) {
    auto p = (*ws)->Acquire(l);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ((*p)[kLayerBytes - 1], 7);
  }
  EXPECT_EQ((*ws)->stats().fetches, static_cast<uint64_t>(kLayers) + 1);
  EXPECT_EQ((*ws)->stats().stalls, 0u);
  EXPECT_EQ((*ws)->stats().stall_ns, 0u);
}

}  // namespace
}  // namespace lightloop::memory_offload
