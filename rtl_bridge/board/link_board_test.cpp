// SPDX-License-Identifier: Apache-2.0
// The link side of the board through its registers, as a host sees it.
#include "lightloop/rtl_bridge/board/link_board.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "lightloop/rtl_bridge/board_regs.h"

namespace lightloop::rtl_bridge {
namespace {

namespace regs = board_regs;

std::vector<uint64_t> SendRandom(LinkBoard& board, size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> sent(n);
  for (uint64_t& v : sent) {
    v = rng();
    board.Send(v);
  }
  return sent;
}

TEST(LinkBoardTest, IdentifiesItselfThroughMmio) {
  LinkBoard board({});
  EXPECT_EQ(board.Read(regs::kIdOffset), regs::kIdReset);
  EXPECT_EQ(board.Read(regs::kVersionOffset), regs::kVersionReset);
}

TEST(LinkBoardTest, LinkStaysIdleUntilEnabled) {
  LinkBoard board({.fwd_latency = 5, .rev_latency = 5});
  std::vector<uint64_t> sent = SendRandom(board, 100, 1);
  board.Run(500);
  EXPECT_TRUE(board.received().empty());
  EXPECT_EQ(board.Read(regs::kTxFlitsOffset), 0u);
  board.Write(regs::kControlOffset, regs::control::kLinkEnableMask);
  board.RunUntilDelivered(10'000);
  EXPECT_EQ(board.received(), sent);
  EXPECT_EQ(board.Read(regs::kTxFlitsOffset), 100u);
  EXPECT_EQ(board.Read(regs::kRxFlitsOffset), 100u);
  EXPECT_EQ(board.Read(regs::kStatusOffset) & regs::status::kLinkUpMask, regs::status::kLinkUpMask);
  EXPECT_EQ(board.Read(regs::kCrcErrorsOffset), 0u);
}

TEST(LinkBoardTest, DisablingTheLinkMidReplayNeitherLosesNorRetriesInVain) {
  LinkBoard board({.fwd_latency = 6, .rev_latency = 6, .timeout_cycles = 50});
  board.Write(regs::kControlOffset, regs::control::kLinkEnableMask);
  std::vector<uint64_t> sent = SendRandom(board, 200, 7);
  board.FlipBitOfNextFlit(5);
  board.Run(30);
  board.Write(regs::kControlOffset, 0);
  board.Run(1000);  // 20 timer periods with the link off
  EXPECT_EQ(board.Read(regs::kReplaysOffset), 1u);
  board.Write(regs::kControlOffset, regs::control::kLinkEnableMask);
  board.RunUntilDelivered(10'000);
  EXPECT_EQ(board.received(), sent);
}

TEST(LinkBoardTest, ErrInjectGatesTheLaneErrors) {
  LinkBoard board({.seed = 3, .fwd_err_threshold = 6000});
  board.Write(regs::kControlOffset, regs::control::kLinkEnableMask);
  SendRandom(board, 2000, 2);
  board.RunUntilDelivered(100'000);
  EXPECT_EQ(board.Read(regs::kCrcErrorsOffset), 0u);
  EXPECT_EQ(board.debug().fwd_errors_injected, 0u);
}

TEST(LinkBoardTest, ErrorCountersAndInterruptsReachTheHost) {
  LinkBoard board({.fwd_latency = 7, .rev_latency = 3, .seed = 9, .fwd_err_threshold = 1311});
  board.Write(regs::kControlOffset, regs::control::kLinkEnableMask | regs::control::kErrInjectMask);
  std::vector<uint64_t> sent = SendRandom(board, 5000, 3);
  board.RunUntilDelivered(500'000);
  EXPECT_EQ(board.received(), sent);
  const LinkBoardDebug d = board.debug();
  EXPECT_GT(d.fwd_errors_injected, 20u);
  EXPECT_EQ(board.Read(regs::kCrcErrorsOffset), d.fwd_errors_injected);
  EXPECT_GE(board.Read(regs::kReplaysOffset), d.naks_sent);
  const uint32_t causes = regs::irq_status::kCrcErrorMask | regs::irq_status::kReplayMask;
  EXPECT_EQ(board.Read(regs::kIrqStatusOffset), causes);
  EXPECT_FALSE(board.irq());  // masked
  board.Write(regs::kIrqMaskOffset, regs::irq_mask::kCrcErrorMask);
  EXPECT_TRUE(board.irq());
  board.Write(regs::kIrqStatusOffset, regs::irq_status::kCrcErrorMask);
  EXPECT_FALSE(board.irq());
  EXPECT_EQ(board.Read(regs::kIrqStatusOffset), regs::irq_status::kReplayMask);
}

TEST(LinkBoardTest, ForcedFlipShowsAsOneCrcErrorAndOneReplay) {
  LinkBoard board({.fwd_latency = 4, .rev_latency = 4});
  board.Write(regs::kControlOffset, regs::control::kLinkEnableMask);
  std::vector<uint64_t> sent = SendRandom(board, 64, 4);
  board.FlipBitOfNextFlit(77);
  board.RunUntilDelivered(10'000);
  EXPECT_EQ(board.received(), sent);
  EXPECT_EQ(board.Read(regs::kCrcErrorsOffset), 1u);
  EXPECT_EQ(board.Read(regs::kReplaysOffset), 1u);
}

TEST(LinkBoardTest, FewCreditsShowAsStallCycles) {
  LinkBoard board({.fwd_latency = 10, .rev_latency = 10, .credits = 4});
  board.Write(regs::kControlOffset, regs::control::kLinkEnableMask);
  SendRandom(board, 2000, 5);
  const uint64_t cycles = board.RunUntilDelivered(100'000);
  // 4 credits per round trip of 10 + 10 + 4 cycles.
  EXPECT_NEAR(double(cycles), 2000 * 24 / 4.0, 0.01 * 2000 * 24 / 4.0);
  EXPECT_GT(board.Read(regs::kStallCyclesOffset), 0u);
}

TEST(LinkBoardTest, CyclesCountBoardClocks) {
  LinkBoard board({});
  const uint32_t a = board.Read(regs::kCyclesOffset);
  board.Run(1000);
  EXPECT_EQ(board.Read(regs::kCyclesOffset) - a, 1001u);  // the 1000 plus the first read's cycle
}

TEST(LinkBoardTest, WritesWaveformsOnRequest) {
  const std::filesystem::path vcd =
      std::filesystem::temp_directory_path() / ("link_board_" + std::to_string(::getpid()) + ".vcd");
  {
    LinkBoard board({});
    board.StartTrace(vcd.string());
    board.Write(regs::kControlOffset, regs::control::kLinkEnableMask);
    SendRandom(board, 10, 6);
    board.RunUntilDelivered(1000);
  }
  std::ifstream in(vcd);
  std::stringstream text;
  text << in.rdbuf();
  std::filesystem::remove(vcd);
  EXPECT_NE(text.str().find("$enddefinitions"), std::string::npos);
  EXPECT_NE(text.str().find(" in_ready "), std::string::npos);
  EXPECT_NE(text.str().find(" u_tx "), std::string::npos);
}

}  // namespace
}  // namespace lightloop::rtl_bridge
