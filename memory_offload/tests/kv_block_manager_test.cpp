// SPDX-License-Identifier: Apache-2.0
// The paged KV cache over a host-memory remote tier: contents survive
// eviction and fetch, prefixes are reused, watermarks hold, batches are
// coalesced, corrupted remote copies are caught, each eviction policy
// behaves as named; and a property test drives random allocate / append /
// fork / free / evict / fetch sequences against a reference model.
#include "lightloop/memory_offload/kv_block_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "eviction/i_eviction_policy.h"
#include "tests/delay_tier.h"
#include "tests/kv_test_util.h"

namespace lightloop::memory_offload {
namespace {

TEST(KvBlockManager, ContentsSurviveEvictionAndFetch) {
  Harness h = Make({.local_blocks = 8});
  KvBlockManager& kv = *h.kv;
  const uint64_t bb = kv.options().shape.block_bytes();
  std::vector<SequenceId> seqs;
  for (int s = 0; s < 4; ++s) {
    seqs.push_back(kv.NewSequence());
    for (int b = 0; b < 6; ++b) Append(kv, seqs.back(), 0, s * 100 + b);
  }
  EXPECT_LE(kv.local_used(), 8u);
  EXPECT_GT(kv.stats().evictions, 0u);
  for (int s = 0; s < 4; ++s) {
    ASSERT_OK_AND_ASSIGN(std::vector<BlockId> lost, kv.Fetch(seqs[s]));
    EXPECT_TRUE(lost.empty());
    const std::vector<BlockId>& table = kv.BlockTable(seqs[s]);
    for (int b = 0; b < 6; ++b) {
      ASSERT_OK_AND_ASSIGN(unsigned char* p, kv.Data(table[b]));
      EXPECT_TRUE(Holds(p, bb, s * 100 + b)) << "sequence " << s << " block " << b;
    }
  }
  KvStats st = kv.stats();
  EXPECT_EQ(st.bytes_fetched % bb, 0u);
  EXPECT_GT(st.bytes_fetched, 0u);
  EXPECT_EQ(st.checksum_failures, 0u);
}

TEST(KvBlockManager, ASequenceAfterAFreedOneStillWritesBackInPlace) {
  // 8 blocks of a sequence, freed; the next sequence's 8 take the same slots
  // in the same rising order, so its write-back goes straight from local
  // memory (one zero-copy run), not through the staging copy.
  Harness h = Make({.local_blocks = 8, .high_watermark = 1.0, .coalesce_bytes = 1 << 20});
  KvBlockManager& kv = *h.kv;
  for (int round = 0; round < 3; ++round) {
    SequenceId s = kv.NewSequence();
    for (int b = 0; b < 8; ++b) Append(kv, s, 0, round * 10 + b);
    const uint64_t zero_copy = kv.stats().zero_copy_transfers, transfers = kv.stats().offload_transfers;
    ASSERT_OK(kv.Offload(s));
    EXPECT_EQ(kv.stats().offload_transfers, transfers + 1) << "round " << round;
    EXPECT_EQ(kv.stats().zero_copy_transfers, zero_copy + 1) << "round " << round;
    ASSERT_OK(kv.Free(s));
  }
}

TEST(KvBlockManager, EvictSequenceFreesItsOwnBlocksOnly) {
  Harness h = Make({.local_blocks = 16});
  KvBlockManager& kv = *h.kv;
  const uint64_t bb = kv.options().shape.block_bytes();
  SequenceId a = kv.NewSequence();
  for (int b = 0; b < 4; ++b) Append(kv, a, 0, 10 + b);
  ASSERT_OK_AND_ASSIGN(SequenceId child, kv.Fork(a));
  Append(kv, child, 0, 99);  // the child's own block
  ASSERT_OK(kv.EvictSequence(child));
  // The shared blocks stay; the child's own block left, written back first.
  EXPECT_EQ(kv.local_used(), 4u);
  EXPECT_EQ(kv.stats().bytes_offloaded, bb);
  for (BlockId id : kv.BlockTable(a)) EXPECT_TRUE(kv.IsResident(id));
  ASSERT_OK_AND_ASSIGN(std::vector<BlockId> lost, kv.Fetch(child));
  EXPECT_TRUE(lost.empty());
  ASSERT_OK_AND_ASSIGN(unsigned char* p, kv.Data(kv.BlockTable(child).back()));
  EXPECT_TRUE(Holds(p, bb, 99));
  EXPECT_FALSE(kv.EvictSequence(12345).ok());
}

TEST(KvBlockManager, AliasedLocalSlotsKeepAccountingAndTiming) {
  // 16 slots on 4 real ones: shape mode's budget of real size in little memory.
  Harness h = Make({.local_blocks = 16, .local_physical_blocks = 4});
  KvBlockManager& kv = *h.kv;
  SequenceId s = kv.NewSequence();
  std::set<unsigned char*> addresses;
  for (int b = 0; b < 12; ++b) {
    ASSERT_OK_AND_ASSIGN(AppendResult r, kv.AppendBlock(s, 0));
    ASSERT_OK_AND_ASSIGN(unsigned char* p, kv.Data(r.block));
    addresses.insert(p);
    ASSERT_OK(kv.MarkWritten(r.block));
  }
  EXPECT_EQ(kv.local_used(), 12u);  // counted as 12...
  EXPECT_EQ(addresses.size(), 4u);  // ...held in 4
  ASSERT_OK(kv.EvictTo(0));
  EXPECT_EQ(kv.stats().bytes_offloaded, 12 * kv.options().shape.block_bytes());
  ASSERT_OK_AND_ASSIGN(std::vector<BlockId> lost, kv.Fetch(s));
  EXPECT_TRUE(lost.empty());
  // More real slots than counted ones is a mistake.
  KvBlockManager::Options bad{.shape = SmallShape(), .local_blocks = 4, .local_physical_blocks = 8};
  ASSERT_OK_AND_ASSIGN(uint64_t slot, KvBlockManager::RemoteSlotBytes(bad));
  EXPECT_FALSE(KvBlockManager::Create(bad, std::make_unique<HostTier>(8, slot)).ok());
}

TEST(AliasTier, RunsKeepTheirSizeOverFewerRealSlots) {
  // 10 slots of 4 bytes over 4 real ones.
  auto host = std::make_unique<HostTier>(4, 4);
  HostTier* real = host.get();
  AliasTier tier(std::move(host), 10);
  EXPECT_EQ(tier.slots(), 10u);
  EXPECT_EQ(tier.slot_bytes(), 4u);
  std::vector<unsigned char> src(24);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>(i + 1);
  // Slots 6..8: one transfer of 3 slots, at real slot 6 % (4 - 3 + 1) = 0.
  ASSERT_OK_AND_ASSIGN(Ticket w, tier.Write(6, 3, src.data()));
  ASSERT_OK(tier.Wait(w));
  std::span<unsigned char> bytes = real->bytes();
  EXPECT_TRUE(std::equal(src.begin(), src.begin() + 12, bytes.begin()));
  std::vector<unsigned char> back(12);
  ASSERT_OK_AND_ASSIGN(Ticket r, tier.Read(6, 3, back.data()));
  ASSERT_OK_AND_ASSIGN(bool done, tier.Test(r));
  EXPECT_TRUE(done);
  ASSERT_OK(tier.Wait(r));
  EXPECT_TRUE(std::equal(back.begin(), back.end(), src.begin()));
  // Six slots, more than the real four: pieces of four and two.
  ASSERT_OK_AND_ASSIGN(Ticket big, tier.Write(1, 6, src.data()));
  ASSERT_OK(tier.Wait(big));
  EXPECT_EQ(bytes[0], 1);                           // the first piece (slots 1..4) at real slot 1 % 1 = 0
  EXPECT_EQ(bytes[8], 17);                          // the second (slots 5, 6) at real slot 5 % 3 = 2
  EXPECT_FALSE(tier.Write(8, 3, src.data()).ok());  // past the 10 slots
  EXPECT_FALSE(tier.Wait(r).ok());                  // already waited for
}

TEST(KvBlockManager, KnownPrefixesAreReusedNotRecomputed) {
  Harness h = Make({.local_blocks = 16});
  KvBlockManager& kv = *h.kv;
  SequenceId a = kv.NewSequence(), b = kv.NewSequence();
  for (uint64_t i = 1; i <= 4; ++i) Append(kv, a, 1000 + i, i);
  uint64_t used = kv.local_used();
  bool hit = false;
  for (uint64_t i = 1; i <= 4; ++i) {
    Append(kv, b, 1000 + i, 999, &hit);  // a hit must not be refilled
    EXPECT_TRUE(hit) << i;
  }
  Append(kv, b, 2000, 5, &hit);
  EXPECT_FALSE(hit);
  EXPECT_EQ(kv.local_used(), used + 1);
  EXPECT_EQ(kv.stats().prefix_hits, 4u);
  EXPECT_EQ(kv.stats().prefix_misses, 5u);
  // A freed sequence's blocks stay cached for the next request.
  ASSERT_OK(kv.Free(a));
  ASSERT_OK(kv.Free(b));
  SequenceId c = kv.NewSequence();
  Append(kv, c, 1001, 0, &hit);
  EXPECT_TRUE(hit);
  ASSERT_OK_AND_ASSIGN(unsigned char* p, kv.Data(kv.BlockTable(c)[0]));
  EXPECT_TRUE(Holds(p, kv.options().shape.block_bytes(), 1));
}

TEST(KvBlockManager, WatermarksBoundTheLocalTier) {
  Harness h = Make({.local_blocks = 20, .high_watermark = 0.9, .low_watermark = 0.5});
  KvBlockManager& kv = *h.kv;
  SequenceId s = kv.NewSequence();
  for (int b = 0; b < 18; ++b) Append(kv, s, 0, b);
  EXPECT_EQ(kv.local_used(), 18u);
  Append(kv, s, 0, 18);  // the 19th block crosses 90 %: down to 50 % first
  EXPECT_EQ(kv.local_used(), 11u);
  EXPECT_EQ(kv.stats().evictions, 8u);
}

// A manager of SmallShape() over a DelayTier: transfers take 10 us on `clock`.
std::unique_ptr<KvBlockManager> OverDelayTier(KvBlockManager::Options o, uint64_t* clock) {
  o.shape = SmallShape();
  o.now_ns = [clock] { return *clock; };
  auto kv =
      KvBlockManager::Create(o, std::make_unique<DelayTier>(256, o.shape.block_bytes(), clock, 10000, 100));
  EXPECT_TRUE(kv.ok()) << kv.status().ToString();
  return kv.ok() ? std::move(kv).value() : nullptr;
}

TEST(KvBlockManager, EvictionWritesBackWhileTheCallerGoesOn) {
  uint64_t clock = 0;
  auto kv = OverDelayTier({.local_blocks = 20, .high_watermark = 0.9, .low_watermark = 0.5}, &clock);
  ASSERT_TRUE(kv);
  SequenceId s = kv->NewSequence();
  for (int b = 0; b < 18; ++b) Append(*kv, s, 0, b);
  Append(*kv, s, 0, 18);  // crosses 90 %: 8 write-backs start, nobody waits
  EXPECT_LE(clock, 100u) << "the append waited for the write-backs (one poll is 100 ns)";
  EXPECT_EQ(kv->stats().eviction_writes, 8u);
  EXPECT_EQ(kv->stats().evictions, 0u);
  EXPECT_EQ(kv->local_used(), 19u);
  EXPECT_TRUE(kv->IsResident(kv->BlockTable(s)[0])) << "still local while its write is in flight";
  Append(*kv, s, 0, 19);  // the 20th slot was free: still no wait, no second eviction
  EXPECT_LE(clock, 100u);
  EXPECT_EQ(kv->stats().eviction_writes, 8u);
  clock += 20000;  // compute meanwhile; the writes land
  ASSERT_OK(kv->Progress());
  EXPECT_EQ(kv->stats().evictions, 8u);
  EXPECT_EQ(kv->local_used(), 12u);
  EXPECT_EQ(kv->stats().eviction_wait_ns, 0u);
  ExpectFetchedIntact(*kv, s, 20);
}

TEST(KvBlockManager, AFullLocalTierWaitsForItsEvictionWrites) {
  uint64_t clock = 0;
  auto kv = OverDelayTier({.local_blocks = 4, .high_watermark = 1.0, .low_watermark = 0.5}, &clock);
  ASSERT_TRUE(kv);
  SequenceId s = kv->NewSequence();
  for (int b = 0; b < 4; ++b) Append(*kv, s, 0, b);
  SequenceId t = kv->NewSequence();
  Append(*kv, t, 0, 4);  // no free slot: the two write-backs must land first
  EXPECT_GE(clock, 10000u);
  EXPECT_GE(kv->stats().eviction_wait_ns, 9000u);
  EXPECT_LE(kv->stats().eviction_wait_ns, clock);
  EXPECT_EQ(kv->stats().evictions, 2u);
  EXPECT_EQ(kv->local_used(), 3u);
  EXPECT_TRUE(Holds(*kv->Data(kv->BlockTable(t)[0]), 256, 4));
  ExpectFetchedIntact(*kv, s, 4);  // t's block makes room
}

TEST(KvBlockManager, AnEvictionWithNoRemoteRoomLosesNothing) {
  uint64_t clock = 0;
  KvBlockManager::Options o{
      .shape = SmallShape(), .local_blocks = 4, .high_watermark = 1.0, .low_watermark = 0.25};
  o.now_ns = [&clock] { return clock; };
  ASSERT_OK_AND_ASSIGN(auto kv,
                       KvBlockManager::Create(o, std::make_unique<DelayTier>(2, 256, &clock, 10000, 100)));
  SequenceId s = kv->NewSequence();
  for (int b = 0; b < 4; ++b) Append(*kv, s, 0, b);
  auto fifth = kv->AppendBlock(kv->NewSequence(), 0);  // three must leave; the remote tier holds two
  ASSERT_FALSE(fifth.ok());
  EXPECT_EQ(fifth.status().code(), runtime::StatusCode::kResourceExhausted) << fifth.status().ToString();
  EXPECT_THAT(fifth.status().ToString(), ::testing::HasSubstr("remote tier"));
  clock += 20000;
  ASSERT_OK(kv->Progress());
  for (int b = 0; b < 4; ++b) EXPECT_TRUE(Holds(*kv->Data(kv->BlockTable(s)[b]), 256, b)) << b;
  ASSERT_OK(kv->EvictTo(2));  // two fit
  ExpectFetchedIntact(*kv, s, 4);
}

// Ten slots, watermarks 80 % and 50 %: sequence s_ fills eight, t_'s one
// block crosses the high watermark and blocks 0-2 of s_ start leaving.
class EvictionInFlight : public ::testing::Test {
 protected:
  void SetUp() override {
    kv_ = OverDelayTier({.local_blocks = 10, .high_watermark = 0.8, .low_watermark = 0.5}, &clock_);
    ASSERT_TRUE(kv_);
    s_ = kv_->NewSequence();
    for (int b = 0; b < 8; ++b) Append(*kv_, s_, 0, b);
    t_ = kv_->NewSequence();
    Append(*kv_, t_, 0, 8);
    ASSERT_EQ(kv_->stats().eviction_writes, 3u);
  }
  uint64_t clock_ = 0;
  std::unique_ptr<KvBlockManager> kv_;
  SequenceId s_ = 0, t_ = 0;
};

TEST_F(EvictionInFlight, ABlockTakenUpWhileLeavingStaysLocal) {
  const BlockId rewritten = kv_->BlockTable(s_)[0], active = kv_->BlockTable(s_)[1];
  Fill(*kv_->Data(rewritten), 256, 100);  // written again while its old contents travel
  ASSERT_OK(kv_->MarkWritten(rewritten));
  ASSERT_OK_AND_ASSIGN(SequenceId fork, kv_->Fork(s_));
  ASSERT_OK(kv_->SetActive(fork, true));  // every block of s_ in use again
  clock_ += 20000;
  ASSERT_OK(kv_->Progress());
  EXPECT_EQ(kv_->stats().evictions, 0u) << "blocks in use do not leave";
  EXPECT_TRUE(kv_->IsResident(rewritten));
  EXPECT_TRUE(kv_->IsResident(active));
  EXPECT_TRUE(Holds(*kv_->Data(rewritten), 256, 100));
  ASSERT_OK(kv_->SetActive(fork, false));
  ASSERT_OK(kv_->EvictTo(0));  // the rewritten block goes out again, with its new contents
  ASSERT_OK_AND_ASSIGN(std::vector<BlockId> lost, kv_->Fetch(s_));
  EXPECT_TRUE(lost.empty());
  EXPECT_TRUE(Holds(*kv_->Data(rewritten), 256, 100));
  for (int b = 1; b < 8; ++b) EXPECT_TRUE(Holds(*kv_->Data(kv_->BlockTable(s_)[b]), 256, b)) << b;
}

TEST_F(EvictionInFlight, EvictingTheSequenceCountsEachBlockOnce) {
  ASSERT_OK(kv_->EvictSequence(s_));  // waits: the three in flight land, the other five follow
  EXPECT_EQ(kv_->stats().evictions, 8u);
  EXPECT_EQ(kv_->local_used(), 1u);
  SequenceId u = kv_->NewSequence();
  for (int b = 0; b < 7; ++b) Append(*kv_, u, 0, 20 + b);  // every freed slot is a real one
  EXPECT_EQ(kv_->local_used(), 8u);
  ExpectFetchedIntact(*kv_, s_, 8);
}

TEST_F(EvictionInFlight, AFetchKeepsTheBlocksItFindsLeaving) {
  ASSERT_OK_AND_ASSIGN(uint64_t f, kv_->StartFetch(s_));  // all eight resident: nothing to read
  ASSERT_OK_AND_ASSIGN(FetchOutcome out, kv_->FinishFetch(f, Prefetch::kWaitComplete));
  EXPECT_TRUE(out.lost.empty());
  clock_ += 20000;
  ASSERT_OK(kv_->Progress());  // the writes land; the blocks stay, clean
  EXPECT_EQ(kv_->stats().evictions, 0u);
  for (int b = 0; b < 8; ++b) EXPECT_TRUE(Holds(*kv_->Data(kv_->BlockTable(s_)[b]), 256, b)) << b;
  const uint64_t offloaded = kv_->stats().bytes_offloaded;
  ASSERT_OK(kv_->EvictTo(0));  // their remote copies are current: only s_'s other five and t_'s are written
  EXPECT_EQ(kv_->stats().bytes_offloaded, offloaded + 6 * 256);
}

TEST_F(EvictionInFlight, FreeingASequenceWhileItsBlocksLeaveLosesNoSlot) {
  ASSERT_OK(kv_->Free(s_));  // its blocks had no prefix hash: gone, leaving or not
  EXPECT_EQ(kv_->local_used(), 1u);
  clock_ += 20000;
  ASSERT_OK(kv_->Progress());
  EXPECT_EQ(kv_->local_used(), 1u);
  SequenceId u = kv_->NewSequence();
  for (int b = 0; b < 7; ++b) Append(*kv_, u, 0, 20 + b);  // 8 of 10: no eviction needed
  EXPECT_EQ(kv_->local_used(), 8u);
  EXPECT_EQ(kv_->stats().eviction_writes, 3u);
}

// A block being fetched is arriving for its sequence, for a sequence that
// shares it, and under its prefix, until the fetch is finished; a fetch
// that does not read in place stages every read and still brings each
// block back intact.
TEST(KvBlockManager, ArrivingBlocksAreVisibleUntilTheFetchEnds) {
  Harness h = Make({.local_blocks = 8});
  KvBlockManager& kv = *h.kv;
  const SequenceId s = kv.NewSequence();
  for (uint64_t b = 0; b < 4; ++b) Append(kv, s, 1000 + b, 70 + b);
  ASSERT_OK_AND_ASSIGN(SequenceId twin, kv.Fork(s));
  ASSERT_OK(kv.EvictTo(0));
  EXPECT_FALSE(kv.Arriving(s));
  EXPECT_FALSE(kv.PrefixArriving(1000));
  for (bool in_place : {true, false}) {
    SCOPED_TRACE(in_place ? "in place" : "staged");
    const uint64_t direct_before = kv.stats().zero_copy_transfers;
    ASSERT_OK_AND_ASSIGN(uint64_t f, kv.StartFetch(s, in_place));
    EXPECT_TRUE(kv.Arriving(s));
    EXPECT_TRUE(kv.Arriving(twin)) << "it shares the blocks";
    EXPECT_TRUE(kv.PrefixArriving(1002));
    EXPECT_FALSE(kv.PrefixArriving(999)) << "no such prefix";
    EXPECT_FALSE(kv.StartFetch(twin).ok()) << "a block arrives for one fetch at a time";
    ASSERT_OK_AND_ASSIGN(FetchOutcome out, kv.FinishFetch(f, Prefetch::kWaitComplete));
    EXPECT_TRUE(out.lost.empty());
    EXPECT_FALSE(kv.Arriving(s));
    EXPECT_FALSE(kv.PrefixArriving(1002));
    if (in_place) {
      EXPECT_GT(kv.stats().zero_copy_transfers, direct_before);
    } else {
      EXPECT_EQ(kv.stats().zero_copy_transfers, direct_before);
    }
    for (uint64_t b = 0; b < 4; ++b) {
      ASSERT_OK_AND_ASSIGN(unsigned char* p, kv.Data(kv.BlockTable(s)[b]));
      EXPECT_TRUE(Holds(p, kv.options().shape.block_bytes(), 70 + b)) << "block " << b;
    }
    ASSERT_OK(kv.EvictTo(0));
  }
}

// A block appended unnamed and computed later can be named by its prefix:
// from then on a sequence appending that prefix shares it. A block is
// named once, and a name belongs to one block.
TEST(KvBlockManager, ABlockNamedAfterItsComputeIsFoundByItsPrefix) {
  Harness h = Make({.local_blocks = 8});
  KvBlockManager& kv = *h.kv;
  const SequenceId s = kv.NewSequence();
  const BlockId b = Append(kv, s, 0, 41);
  EXPECT_FALSE(kv.HasPrefix(777));
  ASSERT_OK(kv.NamePrefix(b, 777));
  EXPECT_TRUE(kv.HasPrefix(777));
  const SequenceId other = kv.NewSequence();
  bool hit = false;
  EXPECT_EQ(Append(kv, other, 777, 0, &hit), b);
  EXPECT_TRUE(hit);
  EXPECT_FALSE(kv.NamePrefix(b, 778).ok()) << "named already";
  const BlockId c = Append(kv, s, 0, 42);
  EXPECT_FALSE(kv.NamePrefix(c, 777).ok()) << "the name is taken";
  EXPECT_FALSE(kv.NamePrefix(c, 0).ok());
  EXPECT_FALSE(kv.NamePrefix(9999, 5).ok()) << "no such block";
  ASSERT_OK_AND_ASSIGN(unsigned char* p, kv.Data(b));
  EXPECT_TRUE(Holds(p, kv.options().shape.block_bytes(), 41));
}

TEST(KvBlockManager, SmallBlocksTravelInCoalescedTransfers) {
  // 8 blocks of 256 B per transfer.
  Harness h = Make({.local_blocks = 64, .coalesce_bytes = 2048});
  KvBlockManager& kv = *h.kv;
  SequenceId s = kv.NewSequence();
  for (int b = 0; b < 16; ++b) Append(kv, s, 0, b);
  ASSERT_OK(kv.Offload(s));
  EXPECT_EQ(kv.stats().offload_transfers, 2u);
  EXPECT_EQ(kv.stats().bytes_offloaded, 16u * 256);
  ASSERT_OK(kv.EvictTo(0));
  ASSERT_OK_AND_ASSIGN(std::vector<BlockId> lost, kv.Fetch(s));
  EXPECT_TRUE(lost.empty());
  EXPECT_EQ(kv.stats().fetch_transfers, 2u);
  EXPECT_EQ(kv.stats().offload_transfers, 2u) << "blocks already offloaded are not written again";
}

TEST(KvBlockManager, ACorruptedRemoteCopyIsLostAndRecomputed) {
  Harness h = Make({.local_blocks = 8});
  KvBlockManager& kv = *h.kv;
  const uint64_t bb = kv.options().shape.block_bytes();
  SequenceId s = kv.NewSequence();
  for (int b = 0; b < 4; ++b) Append(kv, s, 0, b);
  ASSERT_OK(kv.EvictTo(0));
  // Flip one byte of every stored slot's second block... of the whole tier.
  std::span<unsigned char> stored = h.host->bytes();
  BlockId victim = kv.BlockTable(s)[2];
  bool flipped = false;
  for (uint64_t slot = 0; slot < 256 && !flipped; ++slot) {
    std::vector<unsigned char> want(bb);
    Fill(want.data(), bb, 2);
    if (std::equal(want.begin(), want.end(), stored.begin() + static_cast<long>(slot * bb))) {
      stored[slot * bb + 17] ^= 0x40;
      flipped = true;
    }
  }
  ASSERT_TRUE(flipped);
  ASSERT_OK_AND_ASSIGN(std::vector<BlockId> lost, kv.Fetch(s));
  EXPECT_THAT(lost, ::testing::ElementsAre(victim));
  EXPECT_EQ(kv.stats().checksum_failures, 1u);
  // The good blocks came back; the lost one is resident, to be recomputed.
  for (int b : {0, 1, 3}) EXPECT_TRUE(Holds(*kv.Data(kv.BlockTable(s)[b]), bb, b));
  Fill(*kv.Data(victim), bb, 2);
  ASSERT_OK(kv.MarkWritten(victim));
  ASSERT_OK(kv.EvictTo(0));
  ASSERT_OK_AND_ASSIGN(lost, kv.Fetch(s));
  EXPECT_TRUE(lost.empty());
  EXPECT_TRUE(Holds(*kv.Data(victim), bb, 2));
}

TEST(KvBlockManager, ACodecShrinksWhatCrossesTheLink) {
  Harness h = Make({.local_blocks = 8, .codec = "int8"});
  KvBlockManager& kv = *h.kv;
  const uint64_t bb = kv.options().shape.block_bytes();
  ASSERT_OK_AND_ASSIGN(uint64_t slot, KvBlockManager::RemoteSlotBytes(kv.options()));
  EXPECT_EQ(slot, bb / 2 + 4) << "one byte a value and one scale";
  // Smooth values (bf16) so that the error bound is easy to state.
  SequenceId s = kv.NewSequence();
  std::vector<std::vector<uint16_t>> want;
  for (int b = 0; b < 4; ++b) {
    ASSERT_OK_AND_ASSIGN(AppendResult r, kv.AppendBlock(s, 0));
    auto* v = reinterpret_cast<uint16_t*>(*kv.Data(r.block));
    want.emplace_back(bb / 2);
    for (uint64_t i = 0; i < bb / 2; ++i) want.back()[i] = v[i] = FloatToBf16(std::sin(0.1f * i + b));
    ASSERT_OK(kv.MarkWritten(r.block));
  }
  ASSERT_OK(kv.EvictTo(0));
  EXPECT_EQ(kv.stats().bytes_offloaded, 4 * slot);
  EXPECT_EQ(kv.stats().bytes_saved, 4 * (bb - slot));
  ASSERT_OK_AND_ASSIGN(std::vector<BlockId> lost, kv.Fetch(s));
  EXPECT_TRUE(lost.empty());
  bool all_exact = true;
  for (int b = 0; b < 4; ++b) {
    auto* v = reinterpret_cast<uint16_t*>(*kv.Data(kv.BlockTable(s)[b]));
    for (uint64_t i = 0; i < bb / 2; ++i) {
      float x = Bf16ToFloat(want[b][i]), y = Bf16ToFloat(v[i]);
      ASSERT_LE(std::fabs(x - y), 1.0f / 127 / 2 + std::fabs(x) / 256 + 1e-6f)
          << "block " << b << " value " << i;
      all_exact = all_exact && x == y;
    }
  }
  EXPECT_FALSE(all_exact) << "int8 is lossy: the values came back through it";
  auto bad = KvBlockManager::RemoteSlotBytes({.shape = {.dtype_bytes = 4}, .codec = "fp8_e4m3"});
  EXPECT_FALSE(bad.ok());
}

class PrefetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KvBlockManager::Options o{.shape = SmallShape(), .local_blocks = 16, .now_ns = [this] { return clock_; }};
    auto kv = KvBlockManager::Create(
        o, std::make_unique<DelayTier>(64, o.shape.block_bytes(), &clock_, 10000, 100));
    ASSERT_TRUE(kv.ok()) << kv.status().ToString();
    kv_ = std::move(kv).value();
    seq_ = kv_->NewSequence();
    for (int b = 0; b < 4; ++b) Append(*kv_, seq_, 0, b);
    ASSERT_OK(kv_->EvictTo(0));  // the blocks are remote only now
  }
  uint64_t clock_ = 0;
  std::unique_ptr<KvBlockManager> kv_;
  SequenceId seq_ = 0;
};

TEST_F(PrefetchTest, WaitCompleteWaitsForTheTransfer) {
  ASSERT_OK_AND_ASSIGN(uint64_t f, kv_->StartFetch(seq_));
  ASSERT_OK_AND_ASSIGN(FetchOutcome out, kv_->FinishFetch(f, Prefetch::kWaitComplete));
  EXPECT_TRUE(out.not_arrived.empty());
  EXPECT_TRUE(out.lost.empty());
  EXPECT_EQ(out.waited_ns, 10000u);
  EXPECT_TRUE(Holds(*kv_->Data(kv_->BlockTable(seq_)[3]), 256, 3));
}

TEST_F(PrefetchTest, ComputeOverlapsThePrefetch) {
  ASSERT_OK_AND_ASSIGN(uint64_t f, kv_->StartFetch(seq_));
  clock_ += 12000;  // the previous layer computes meanwhile
  ASSERT_OK_AND_ASSIGN(FetchOutcome out, kv_->FinishFetch(f, Prefetch::kBestEffort));
  EXPECT_TRUE(out.not_arrived.empty()) << "the transfer finished during the compute";
  EXPECT_LE(out.waited_ns, 100u) << "one poll";
  EXPECT_TRUE(Holds(*kv_->Data(kv_->BlockTable(seq_)[0]), 256, 0));
}

TEST_F(PrefetchTest, ProgressChecksAndPlacesWhatLandedWhileTheCallerComputes) {
  ASSERT_OK_AND_ASSIGN(uint64_t f, kv_->StartFetch(seq_));
  const BlockId b = kv_->BlockTable(seq_)[2];
  EXPECT_THAT(kv_->LayerData(b, 1).status().ToString(), ::testing::HasSubstr("arriving"));
  ASSERT_OK(kv_->Progress());  // nothing landed yet
  EXPECT_THAT(kv_->LayerData(b, 1).status().ToString(), ::testing::HasSubstr("arriving"));
  clock_ += 12000;  // compute; the reads land
  ASSERT_OK(kv_->Progress());
  // Checked and in place before anyone waits for the fetch.
  ASSERT_OK_AND_ASSIGN(unsigned char* layer1, kv_->LayerData(b, 1));
  std::vector<unsigned char> want(256);
  Fill(want.data(), 256, 2);
  EXPECT_TRUE(std::equal(want.begin() + 128, want.end(), layer1));
  ASSERT_OK_AND_ASSIGN(FetchOutcome out, kv_->FinishFetch(f, Prefetch::kBestEffort));
  EXPECT_TRUE(out.not_arrived.empty());
  EXPECT_TRUE(out.lost.empty());
}

TEST_F(PrefetchTest, BestEffortDoesNotWaitAndLeavesTheRestToRecompute) {
  uint64_t zero_copy = kv_->stats().zero_copy_transfers;
  ASSERT_OK_AND_ASSIGN(uint64_t f, kv_->StartFetch(seq_));
  EXPECT_THAT(kv_->Data(kv_->BlockTable(seq_)[0]).status().ToString(), ::testing::HasSubstr("arriving"));
  EXPECT_EQ(kv_->stats().zero_copy_transfers, zero_copy + 1) << "the four blocks are read in place";
  ASSERT_OK_AND_ASSIGN(FetchOutcome out, kv_->FinishFetch(f, Prefetch::kBestEffort));
  EXPECT_EQ(out.not_arrived.size(), 4u);
  EXPECT_LE(out.waited_ns, 100u);
  EXPECT_EQ(kv_->stats().not_arrived, 4u);
  // The caller recomputes them; the late reads land in a staging buffer,
  // never over the recomputed blocks.
  for (int b = 0; b < 4; ++b) {
    BlockId id = kv_->BlockTable(seq_)[b];
    std::memset(*kv_->Data(id), 0, 256);
    Fill(*kv_->Data(id), 256, 100 + b);
    ASSERT_OK(kv_->MarkWritten(id));
  }
  clock_ += 50000;
  ASSERT_OK_AND_ASSIGN(uint64_t again, kv_->StartFetch(seq_));  // reaps the late reads
  ASSERT_OK_AND_ASSIGN(out, kv_->FinishFetch(again, Prefetch::kWaitComplete));
  for (int b = 0; b < 4; ++b) EXPECT_TRUE(Holds(*kv_->Data(kv_->BlockTable(seq_)[b]), 256, 100 + b));
}

TEST_F(PrefetchTest, TimeoutWaitsUpToItsBudget) {
  ASSERT_OK_AND_ASSIGN(uint64_t f, kv_->StartFetch(seq_));
  ASSERT_OK_AND_ASSIGN(FetchOutcome out, kv_->FinishFetch(f, Prefetch::kTimeout, 3000));
  EXPECT_EQ(out.not_arrived.size(), 4u);
  EXPECT_GE(out.waited_ns, 3000u);
  EXPECT_LT(out.waited_ns, 3500u);
}

TEST_F(PrefetchTest, TimeoutLongEnoughGetsEverything) {
  ASSERT_OK_AND_ASSIGN(uint64_t f, kv_->StartFetch(seq_));
  ASSERT_OK_AND_ASSIGN(FetchOutcome out, kv_->FinishFetch(f, Prefetch::kTimeout, 50000));
  EXPECT_TRUE(out.not_arrived.empty());
  EXPECT_GE(out.waited_ns, 10000u);
  EXPECT_LT(out.waited_ns, 10500u);
  EXPECT_EQ(kv_->stats().stall_ns, out.waited_ns);
  EXPECT_THAT(ParsePrefetch("eager").status().ToString(),
              ::testing::HasSubstr("'eager' is not one of: best_effort, timeout, wait_complete"));
}

TEST(EvictionPolicies, LruTakesTheLeastRecentlyUsed) {
  Harness h = Make({.local_blocks = 4, .high_watermark = 1.0, .low_watermark = 0.75, .eviction = "lru"});
  KvBlockManager& kv = *h.kv;
  SequenceId a = kv.NewSequence(), b = kv.NewSequence();
  BlockId a0 = Append(kv, a, 0, 1);
  BlockId b0 = Append(kv, b, 0, 2);
  Append(kv, a, 0, 3);
  Append(kv, b, 0, 4);
  ASSERT_OK_AND_ASSIGN(auto lost, kv.Fetch(a));  // touches a's blocks
  Append(kv, a, 0, 5);                           // full: one block must go
  EXPECT_FALSE(kv.IsResident(b0));
  EXPECT_TRUE(kv.IsResident(a0));
}

TEST(EvictionPolicies, PrefixAwareKeepsSharedBlocks) {
  Harness h =
      Make({.local_blocks = 4, .high_watermark = 1.0, .low_watermark = 0.75, .eviction = "prefix_aware"});
  KvBlockManager& kv = *h.kv;
  SequenceId a = kv.NewSequence();
  BlockId shared = Append(kv, a, 77, 1);  // the system prompt, oldest
  ASSERT_OK_AND_ASSIGN(SequenceId b, kv.Fork(a));
  ASSERT_OK_AND_ASSIGN(SequenceId c, kv.Fork(a));
  BlockId own = Append(kv, b, 0, 2);
  Append(kv, c, 0, 3);
  Append(kv, a, 0, 4);
  Append(kv, a, 0, 5);  // full: the least shared, least recent goes
  EXPECT_TRUE(kv.IsResident(shared)) << "shared by three sequences";
  EXPECT_FALSE(kv.IsResident(own));
}

TEST(EvictionPolicies, EveryRegisteredPolicyWorksByName) {
  std::vector<std::string> names = EvictionPolicies();
  EXPECT_THAT(names, ::testing::IsSupersetOf({"lru", "prefix_aware"}));
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    Harness h = Make({.local_blocks = 4, .eviction = name});
    ASSERT_NE(h.kv, nullptr);
    std::vector<SequenceId> seqs;
    for (int s = 0; s < 4; ++s) {
      seqs.push_back(h.kv->NewSequence());
      for (int b = 0; b < 2; ++b) Append(*h.kv, seqs.back(), 0, s * 10 + b);
    }
    for (int s = 0; s < 4; ++s) {
      ASSERT_OK_AND_ASSIGN(auto lost, h.kv->Fetch(seqs[s]));
      EXPECT_TRUE(lost.empty());
      EXPECT_TRUE(Holds(*h.kv->Data(h.kv->BlockTable(seqs[s])[1]), 256, s * 10 + 1));
    }
    EXPECT_GT(h.kv->stats().evictions, 0u);
  }
  auto bad = KvBlockManager::Create({.shape = SmallShape(), .eviction = "lfu"},
                                    std::make_unique<HostTier>(8, SmallShape().block_bytes()));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().ToString(), ::testing::HasSubstr("'lfu' is not one of: lru, prefix_aware"));
}

// Random operations against a reference model: which contents each
// sequence's blocks must hold. After every Fetch, every block must hold
// exactly them; the local tier never exceeds its slots. Under each layout;
// blocks are also computed layer by layer and offloaded with OffloadLayer.
// Over a host tier every transfer is done at once; over a DelayTier writes
// (eviction's among them) land a microsecond later on a test clock that
// compute steps move on.
class KvProperty : public ::testing::TestWithParam<std::tuple<uint64_t, std::string, std::string>> {};

TEST_P(KvProperty, RandomOperationsMatchTheReference) {
  std::mt19937_64 rng(std::get<0>(GetParam()));
  const std::vector<std::string> policies = {"lru", "prefix_aware"};
  uint64_t clock = 0;
  KvBlockManager::Options o{.shape = SmallShape(),
                            .local_blocks = 12 + rng() % 20,
                            .high_watermark = 0.9,
                            .low_watermark = 0.6,
                            .eviction = policies[rng() % 2],
                            .coalesce_bytes = 128 * (1 + rng() % 16),
                            .layout = std::get<1>(GetParam()),
                            .now_ns = [&clock] { return clock; }};
  const bool delayed = std::get<2>(GetParam()) == "delay";
  Harness h;
  if (delayed) {
    ASSERT_OK_AND_ASSIGN(uint64_t slots, KvBlockManager::RemoteSlots(o, 512));
    ASSERT_OK_AND_ASSIGN(uint64_t slot_bytes, KvBlockManager::RemoteSlotBytes(o));
    ASSERT_OK_AND_ASSIGN(
        h.kv, KvBlockManager::Create(o, std::make_unique<DelayTier>(slots, slot_bytes, &clock, 1000, 100)));
  } else {
    h = MakeWithShape(o, 512);
  }
  KvBlockManager& kv = *h.kv;
  const uint64_t bb = kv.options().shape.block_bytes();
  // Reference: per sequence, the seed of each block's contents. A block
  // named by a prefix hash holds that prefix's contents (seed = hash).
  std::map<SequenceId, std::vector<uint64_t>> ref;
  uint64_t fresh = 1;
  for (int step = 0; step < 1500; ++step) {
    int op = static_cast<int>(rng() % 100);
    if (ref.empty() || op < 10) {
      ref[kv.NewSequence()];
    } else {
      auto it = std::next(ref.begin(), static_cast<long>(rng() % ref.size()));
      SequenceId s = it->first;
      if (op < 55) {
        // Shared prefixes: hashes chain the previous block's.
        bool shareable = rng() % 2;
        uint64_t prev = it->second.empty() ? 0 : it->second.back();
        uint64_t hash = shareable ? (prev * 31 + 7 + rng() % 2) % 100000 + 1 : 0;
        uint64_t seed = hash != 0 ? hash : 1000000 + fresh++;
        auto r = kv.AppendBlock(s, hash);
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        if (!r->prefix_hit) {
          Fill(*kv.Data(r->block), bb, seed);
          ASSERT_OK(kv.MarkWritten(r->block));
        }
        it->second.push_back(seed);
      } else if (op < 62) {
        ASSERT_OK_AND_ASSIGN(SequenceId child, kv.Fork(s));
        ref[child] = it->second;
      } else if (op < 72) {
        ASSERT_OK(kv.Free(s));
        ref.erase(it);
      } else if (op < 75) {
        clock += rng() % 2000;  // compute: transfers in flight land meanwhile
        ASSERT_OK(kv.Progress());
      } else if (op < 78) {
        ASSERT_OK(kv.EvictTo(rng() % (kv.options().local_blocks + 1)));
      } else if (op < 82) {
        ASSERT_OK(kv.Offload(s));
      } else if (op < 86) {
        // A prefill of two blocks, layer by layer, each layer written back
        // as soon as it is computed.
        const int64_t layers = kv.options().shape.layers;
        const uint64_t lb = bb / static_cast<uint64_t>(layers);
        std::vector<std::pair<BlockId, uint64_t>> fresh_blocks;
        for (int k = 0; k < 2; ++k) {
          ASSERT_OK_AND_ASSIGN(AppendResult r, kv.AppendBlock(s, 0));
          fresh_blocks.emplace_back(r.block, 1000000 + fresh++);
          it->second.push_back(fresh_blocks.back().second);
        }
        std::vector<unsigned char> full(bb);
        for (int64_t l = 0; l < layers; ++l) {
          for (auto [id, seed] : fresh_blocks) {
            Fill(full.data(), bb, seed);
            ASSERT_OK_AND_ASSIGN(unsigned char* p, kv.LayerData(id, l));
            std::memcpy(p, full.data() + static_cast<uint64_t>(l) * lb, lb);
          }
          ASSERT_OK(kv.OffloadLayer(s, l));
        }
        if (rng() % 2) ASSERT_OK(kv.WaitOffload());
      } else if (it->second.size() * 10 < kv.options().local_blocks * 6) {  // fits beside the watermark
        ASSERT_OK_AND_ASSIGN(std::vector<BlockId> lost, kv.Fetch(s));
        ASSERT_TRUE(lost.empty()) << "nothing corrupts the host tier here";
        const std::vector<BlockId>& table = kv.BlockTable(s);
        ASSERT_EQ(table.size(), it->second.size());
        for (size_t b = 0; b < table.size(); ++b) {
          ASSERT_OK_AND_ASSIGN(unsigned char* p, kv.Data(table[b]));
          ASSERT_TRUE(Holds(p, bb, it->second[b])) << "step " << step << " block " << b;
        }
      }
    }
    ASSERT_LE(kv.local_used(), kv.options().local_blocks);
  }
  KvStats st = kv.stats();
  EXPECT_GT(st.evictions, 0u);
  EXPECT_GT(st.bytes_fetched, 0u);
  EXPECT_EQ(st.checksum_failures, 0u);
  if (delayed) EXPECT_GT(st.eviction_writes, 0u) << "no eviction wrote back without waiting";
}

INSTANTIATE_TEST_SUITE_P(Seeds, KvProperty,
                         ::testing::Combine(::testing::Values(1, 2, 3, 4, 5, 6, 7, 8),
                                            ::testing::Values("block_major", "layer_major"),
                                            ::testing::Values("host", "delay")),
                         [](const auto& info) {
                           return std::get<1>(info.param) + "_" + std::get<2>(info.param) + "_" +
                                  std::to_string(std::get<0>(info.param));
                         });

}  // namespace
}  // namespace lightloop::memory_offload
