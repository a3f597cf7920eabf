// SPDX-License-Identifier: Apache-2.0
// The link layer in Verilated RTL: CRC against software, in-order delivery,
// replay after bit errors, credit stalls against the closed form.
#include "lightloop/rtl_bridge/link/link_pair.h"

#include <gtest/gtest.h>

#include <random>
#include <stdexcept>

#include "lightloop/rtl_bridge/link/crc32.h"

namespace lightloop::rtl_bridge {
namespace {

// Throughput with C credits is min(1, C / RTT): a credit comes back one
// credit-loop round trip after the flit that used it left. RTT is the two lane
// latencies plus the design's fixed pipeline of four registers: ll_tx's flit
// register, ll_rx's buffer write, ll_rx's control-flit register (loaded on the
// edge that pops the flit) and ll_tx's credit-limit register. Checked here over
// several latencies and credit counts.
constexpr uint32_t kPipelineCycles = 4;

std::vector<uint64_t> SendRandom(LinkPair& link, size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> sent(n);
  for (uint64_t& v : sent) {
    v = rng();
    link.Send(v);
  }
  return sent;
}

TEST(LinkPairTest, FlitCrcMatchesSoftwareCrc32ForRandomFlits) {
  LinkPair link({});
  std::vector<Flit> flits;
  link.set_flit_tap([&](const Flit& f) { flits.push_back(f); });
  std::vector<uint64_t> sent = SendRandom(link, 2000, 11);
  link.RunUntilDelivered(100'000);
  ASSERT_EQ(flits.size(), sent.size());
  for (size_t i = 0; i < flits.size(); ++i) {
    EXPECT_EQ(flits[i].seq, static_cast<uint8_t>(i));
    EXPECT_EQ(flits[i].payload, sent[i]);
    ASSERT_EQ(flits[i].crc, FlitCrc(flits[i].seq, flits[i].payload)) << "flit " << i;
  }
}

TEST(LinkPairTest, OutOfRangeConfigIsRefusedByName) {
  EXPECT_THROW(LinkPair({.fwd_latency = 0}), std::invalid_argument);
  EXPECT_THROW(LinkPair({.rev_latency = 65}), std::invalid_argument);
  try {
    LinkPair link({.credits = 33});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "LinkConfig.credits is 33; the RTL supports 1..32");
  }
}

TEST(LinkPairTest, CleanLinkDeliversRandomPayloadInOrder) {
  LinkPair link({.fwd_latency = 7, .rev_latency = 5});
  std::vector<uint64_t> sent = SendRandom(link, 5000, 1);
  link.RunUntilDelivered(100'000);
  EXPECT_EQ(link.received(), sent);
  LinkCounters c = link.counters();
  EXPECT_EQ(c.tx_flits, sent.size());
  EXPECT_EQ(c.rx_flits, sent.size());
  EXPECT_EQ(c.crc_errors + c.seq_errors + c.dup_flits + c.overflows, 0u);
  EXPECT_EQ(c.nak_replays + c.timeout_replays, 0u);
}

TEST(LinkPairTest, CleanLinkWithFullCreditsCarriesOneFlitPerCycle) {
  LinkPair link({.fwd_latency = 10, .rev_latency = 10, .credits = 32});
  SendRandom(link, 20'000, 2);
  uint64_t cycles = link.RunUntilDelivered(100'000);
  EXPECT_EQ(link.received().size(), 20'000u);
  EXPECT_LT(cycles, 20'000u + 100u);  // one flit per cycle plus the pipeline fill
}

TEST(LinkPairTest, ForcedBitFlipCostsExactlyOneNakAndOneReplay) {
  LinkPair link({.fwd_latency = 6, .rev_latency = 6});
  std::vector<uint64_t> sent = SendRandom(link, 50, 3);
  link.Run(20);
  link.FlipBitOfNextFlit(40);
  link.RunUntilDelivered(10'000);
  EXPECT_EQ(link.received(), sent);
  LinkCounters c = link.counters();
  EXPECT_EQ(c.fwd_errors_injected, 1u);
  EXPECT_EQ(c.crc_errors, 1u);
  EXPECT_EQ(c.naks_sent, 1u);
  EXPECT_EQ(c.nak_replays, 1u);
  EXPECT_EQ(c.timeout_replays, 0u);
}

// An idle link delivers a payload fwd_latency + 3 cycles after Send(): the
// cycle ll_tx takes it (into its flit register), the lane, and ll_rx's buffer
// write. Probed on both sides of the boundary.
TEST(LinkPairTest, DeliveryLatencyIsTheLaneLatencyPlusThree) {
  for (uint32_t lat : {1u, 2u, 5u, 17u, 64u}) {
    LinkPair link({.fwd_latency = lat, .rev_latency = 3});
    link.Run(100);  // credits arrive
    link.Send(7);
    link.Run(lat + 2);
    EXPECT_TRUE(link.received().empty()) << "latency " << lat;
    link.Run(1);
    EXPECT_EQ(link.received().size(), 1u) << "latency " << lat;
  }
}

// With C credits the first C flits leave back to back and flit C leaves
// exactly one credit round trip (fwd + rev + kPipelineCycles) after flit 0.
TEST(LinkPairTest, CreditsBoundTheFlitsInFlight) {
  for (uint32_t credits : {1u, 5u, 9u}) {
    for (auto [fwd, rev] : {std::pair{20u, 20u}, {3u, 11u}}) {
      LinkPair link({.fwd_latency = fwd, .rev_latency = rev, .credits = credits});
      std::vector<uint64_t> sent_at;
      link.set_flit_tap([&](const Flit&) { sent_at.push_back(link.cycles()); });
      link.Run(100);
      SendRandom(link, 100, credits);
      link.Run(200);
      ASSERT_GT(sent_at.size(), credits);
      EXPECT_EQ(sent_at[credits - 1] - sent_at[0], credits - 1) << credits << " credits";
      EXPECT_EQ(sent_at[credits] - sent_at[0], fwd + rev + kPipelineCycles) << credits << " credits";
    }
  }
}

// A NAK costs one replay round trip: the corrupted flit's slot is taken again
// fwd + rev + kNakPipelineCycles later (ll_tx's flit register, ll_rx's
// control-flit register, ll_tx's NAK register).
constexpr uint64_t kNakPipelineCycles = 3;

uint64_t CyclesToDeliver(uint32_t fwd, uint32_t rev, bool flip) {
  LinkPair link({.fwd_latency = fwd, .rev_latency = rev});
  SendRandom(link, 300, 9);
  link.Run(50);
  if (flip) link.FlipBitOfNextFlit(50);
  return 50 + link.RunUntilDelivered(100'000);
}

TEST(LinkPairTest, ANakCostsOneReplayRoundTrip) {
  for (auto [fwd, rev] : {std::pair{1u, 1u}, {4u, 4u}, {10u, 3u}, {12u, 12u}}) {
    EXPECT_EQ(CyclesToDeliver(fwd, rev, true) - CyclesToDeliver(fwd, rev, false),
              fwd + rev + kNakPipelineCycles)
        << "fwd " << fwd << " rev " << rev;
  }
}

TEST(LinkPairTest, TimerRecoversWhenTheReplayIsAlsoCorrupted) {
  // The receiver does not NAK again while a NAK is outstanding, so a corrupted
  // replay is recovered by ll_tx's timer.
  LinkPair link({.fwd_latency = 6, .rev_latency = 6, .timeout_cycles = 100});
  std::vector<uint64_t> sent = SendRandom(link, 40, 8);
  link.Run(10);
  link.FlipBitOfNextFlit(20);
  while (link.counters().nak_replays == 0) link.Run(1);
  link.Run(1);                 // the flit chosen before the NAK was seen
  link.FlipBitOfNextFlit(30);  // the first flit of the replay
  link.RunUntilDelivered(10'000);
  EXPECT_EQ(link.received(), sent);
  LinkCounters c = link.counters();
  EXPECT_EQ(c.crc_errors, 2u);
  EXPECT_EQ(c.naks_sent, 1u);
  EXPECT_EQ(c.nak_replays, 1u);
  EXPECT_EQ(c.timeout_replays, 1u);
}

TEST(LinkPairTest, EveryFlipOfAFlitBitIsCaught) {
  for (unsigned bit = 0; bit < 104; bit += 7) {
    LinkPair link({.fwd_latency = 3, .rev_latency = 3});
    std::vector<uint64_t> sent = SendRandom(link, 8, bit);
    link.Run(4);
    link.FlipBitOfNextFlit(bit);
    link.RunUntilDelivered(10'000);
    EXPECT_EQ(link.received(), sent) << "bit " << bit;
    EXPECT_EQ(link.counters().crc_errors, 1u) << "bit " << bit;
  }
}

TEST(LinkPairTest, RandomBitErrorsAreReplayedWithoutLossOrDuplicates) {
  // About 2% of data flits get a bit flipped.
  LinkPair link({.fwd_latency = 9, .rev_latency = 4, .seed = 0xC0FFEE, .fwd_err_threshold = 1311});
  std::vector<uint64_t> sent = SendRandom(link, 20'000, 4);
  link.RunUntilDelivered(1'000'000);
  EXPECT_EQ(link.received(), sent);  // exactly once, in order
  LinkCounters c = link.counters();
  RecordProperty("cycles", std::to_string(link.cycles()));
  RecordProperty("crc_errors", std::to_string(c.crc_errors));
  RecordProperty("naks_sent", std::to_string(c.naks_sent));
  RecordProperty("timeout_replays", std::to_string(c.timeout_replays));
  EXPECT_GT(c.fwd_errors_injected, 100u);
  EXPECT_EQ(c.crc_errors, c.fwd_errors_injected);  // CRC-32 catches every single-bit error
  EXPECT_GT(c.naks_sent, 0u);
  EXPECT_EQ(c.nak_replays, c.naks_sent);  // the replay counter counts the NAKs
  // A NAK is not repeated while one is outstanding, so a corrupted replay is
  // recovered by the timer: rare (here at most one per ten NAKs).
  EXPECT_LE(c.timeout_replays, c.naks_sent / 10);
  EXPECT_EQ(c.rx_flits, sent.size());
  EXPECT_EQ(c.tx_flits, sent.size());
  // Closed form: one cycle per flit, one replay round trip per NAK, one timer
  // period per timeout (NAK windows that overlap make it approximate).
  const double closed_form =
      sent.size() + c.naks_sent * (9 + 4 + kNakPipelineCycles) + c.timeout_replays * 512.0;
  EXPECT_NEAR(double(link.cycles()), closed_form, 0.01 * closed_form);
}

TEST(LinkPairTest, ErrorsInBothDirectionsStillDeliverExactlyOnce) {
  LinkPair link({.fwd_latency = 5,
                 .rev_latency = 8,
                 .timeout_cycles = 64,
                 .seed = 77,
                 .fwd_err_threshold = 3000,
                 .rev_err_threshold = 6000});
  std::mt19937 rng(5);
  link.set_sink_ready([&] { return rng() % 4 != 0; });  // the far side pushes back a quarter of the time
  std::vector<uint64_t> sent = SendRandom(link, 10'000, 6);
  link.RunUntilDelivered(2'000'000);
  EXPECT_EQ(link.received(), sent);
  LinkCounters c = link.counters();
  EXPECT_GT(c.ctl_crc_errors, 0u);
  EXPECT_GT(c.crc_errors, 0u);
  EXPECT_EQ(c.overflows, 0u);  // credits keep the receiver's buffer from overflowing
}

struct CreditCase {
  uint32_t credits, fwd, rev;
};

class CreditStallTest : public ::testing::TestWithParam<CreditCase> {};

TEST_P(CreditStallTest, ThroughputIsCreditsOverRoundTrip) {
  const CreditCase p = GetParam();
  LinkPair link({.fwd_latency = p.fwd, .rev_latency = p.rev, .credits = p.credits});
  SendRandom(link, 30'000, 7);
  link.Run(1000);  // warm up
  const uint64_t before = link.received().size();
  const uint64_t window = 10'000;
  link.Run(window);
  const double measured = double(link.received().size() - before) / double(window);
  const double rtt = p.fwd + p.rev + kPipelineCycles;
  const double expected = std::min(1.0, p.credits / rtt);
  EXPECT_NEAR(measured, expected, 0.01 * expected) << "credits " << p.credits << " rtt " << rtt;
  if (expected < 1.0) EXPECT_GT(link.counters().stall_cycles, 0u);
}

INSTANTIATE_TEST_SUITE_P(Credits, CreditStallTest,
                         ::testing::Values(CreditCase{1, 4, 4}, CreditCase{4, 10, 10}, CreditCase{8, 20, 5},
                                           CreditCase{16, 30, 30}, CreditCase{32, 8, 8}),
                         [](const auto& info) {
                           return "c" + std::to_string(info.param.credits) + "_f" +
                                  std::to_string(info.param.fwd) + "_r" + std::to_string(info.param.rev);
                         });

}  // namespace
}  // namespace lightloop::rtl_bridge
