// SPDX-License-Identifier: Apache-2.0
// The board driver on the in-process virtual board: random round trips,
// non-blocking submit and poll, replay after injected link errors with no
// corruption end to end, and the errors (out-of-bounds range, timeouts, bad
// specs and missing or foreign BAR files) that must be clear and never hang.
#include "lightloop/rtl_bridge/board_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "lightloop/rtl_bridge/board_backends.h"
#include "lightloop/rtl_bridge/board_regs.h"

namespace lightloop::rtl_bridge {
namespace {

namespace regs = board_regs;
using ::testing::HasSubstr;

std::vector<uint8_t> RandomBytes(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

struct Board {
  explicit Board(VirtualBoardConfig config = {.mem_bytes = 64ull << 20}, DriverOptions options = {}) {
    auto backend = std::make_unique<VirtualBackend>(config);
    rtl = &backend->board();
    driver = std::make_unique<BoardDriver>(std::move(backend), options);
  }
  VirtualBoard* rtl;
  std::unique_ptr<BoardDriver> driver;
};

TEST(BoardDriverTest, RandomRoundTripsAtAnyAlignmentAndLength) {
  Board b;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 60; ++i) {
    const size_t len = 1 + rng() % (i % 10 == 0 ? (3 << 20) : 9000);  // some span several descriptors
    const uint64_t addr = rng() % (b.driver->memory_bytes() - len);
    const std::vector<uint8_t> data = RandomBytes(rng, len);
    const uint8_t before = addr > 0 ? b.rtl->memory()[addr - 1] : 0;
    b.driver->Write(addr, data.data(), len);
    ASSERT_EQ(std::memcmp(b.rtl->memory() + addr, data.data(), len), 0) << "board memory, round " << i;
    if (addr > 0) ASSERT_EQ(b.rtl->memory()[addr - 1], before) << "byte before the range changed";
    std::vector<uint8_t> back(len);
    b.driver->Read(addr, back.data(), len);
    ASSERT_EQ(back, data) << "round " << i << ": " << len << " B at " << addr;
  }
}

TEST(BoardDriverTest, SubmitIsNonBlockingAndPollReportsInOrder) {
  Board b;
  DmaBuffer buf = b.driver->AllocDma(64 * 1024);
  std::memset(buf.host, 0x77, buf.bytes);
  std::vector<uint64_t> tickets;
  for (int i = 0; i < 8; ++i) {
    auto t = b.driver->Submit({DmaOp::kWrite, buf.bus_addr + i * 8192, uint64_t(i) * 8192, 8192});
    ASSERT_TRUE(t.has_value());
    tickets.push_back(*t);
  }
  EXPECT_EQ(b.driver->in_flight(), 8u);
  std::vector<Completion> done;
  while (done.size() < 8) b.driver->Poll(&done);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(done[i].ticket, tickets[i]);
    EXPECT_EQ(done[i].status, DmaStatus::kOk);
    EXPECT_EQ(done[i].desc.board_addr, uint64_t(i) * 8192);
  }
  EXPECT_EQ(b.rtl->memory()[8 * 8192 - 1], 0x77);
  EXPECT_EQ(b.driver->in_flight(), 0u);
}

TEST(BoardDriverTest, AFullRingRefusesSubmitUntilCompletionsArePolled) {
  Board b({.mem_bytes = 1 << 20}, {.ring_entries = 4});
  DmaBuffer buf = b.driver->AllocDma(4096);
  b.driver->Write32(regs::kDmaControlOffset, 0);  // hold the engine
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b.driver->Submit({DmaOp::kWrite, buf.bus_addr, 0, 64}));
  EXPECT_FALSE(b.driver->Submit({DmaOp::kWrite, buf.bus_addr, 0, 64}).has_value());
  b.driver->Write32(regs::kDmaControlOffset, regs::dma_control::kEnableMask);
  std::vector<Completion> done;
  while (done.empty()) b.driver->Poll(&done);
  EXPECT_TRUE(b.driver->Submit({DmaOp::kWrite, buf.bus_addr, 0, 64}).has_value());
}

TEST(BoardDriverTest, BoardRefusalsComeBackAsCompletionStatus) {
  Board b({.mem_bytes = 1 << 20});
  DmaBuffer buf = b.driver->AllocDma(4096);
  auto bad_len = b.driver->Submit({DmaOp::kWrite, buf.bus_addr, 0, 12});
  auto out = b.driver->Submit({DmaOp::kRead, buf.bus_addr, (1 << 20) - 8, 16});
  EXPECT_EQ(b.driver->Wait(*bad_len), DmaStatus::kBadLength);
  EXPECT_EQ(b.driver->Wait(*out), DmaStatus::kOutOfRange);
  EXPECT_EQ(b.driver->Read32(regs::kDmaBadLengthOffset), 1u);
  EXPECT_EQ(b.driver->Read32(regs::kDmaOutOfRangeOffset), 1u);
  EXPECT_EQ(DmaStatusName(DmaStatus::kOutOfRange), "OUT_OF_RANGE");
}

TEST(BoardDriverTest, OutOfBoundsRangeIsAClearErrorAndSubmitsNothing) {
  Board b({.mem_bytes = 1 << 20});
  std::vector<uint8_t> data(64);
  try {
    b.driver->Write((1 << 20) - 32, data.data(), 64);
    FAIL() << "no error";
  } catch (const BoardError& e) {
    EXPECT_THAT(e.what(), HasSubstr("outside board memory"));
    EXPECT_THAT(e.what(), HasSubstr("MEM_SIZE 0x100000"));
    EXPECT_THAT(e.what(), HasSubstr("virtual board"));
  }
  EXPECT_THROW(b.driver->Read(1 << 20, data.data(), 1), BoardError);
  EXPECT_EQ(b.driver->Read32(regs::kDmaCompletedOffset), 0u);
}

TEST(BoardDriverTest, ATimeoutNamesTheDescriptorAndTheDevice) {
  Board b({.mem_bytes = 1 << 20}, {.timeout = std::chrono::milliseconds(200)});
  DmaBuffer buf = b.driver->AllocDma(4096);
  b.driver->Write32(regs::kDmaControlOffset, 0);  // the engine never takes it
  auto t = b.driver->Submit({DmaOp::kWrite, buf.bus_addr, 0x40, 64});
  try {
    b.driver->Wait(*t);
    FAIL() << "no timeout";
  } catch (const BoardError& e) {
    EXPECT_THAT(e.what(), HasSubstr("descriptor 1 (write 64 B"));
    EXPECT_THAT(e.what(), HasSubstr("board 0x40"));
    EXPECT_THAT(e.what(), HasSubstr("not completed after 200 ms"));
  }
}

TEST(BoardDriverTest, InterruptStatusShowsCompletionsAndClears) {
  Board b({.mem_bytes = 1 << 20});
  b.driver->AckIrq(0xFFFFFFFFu);
  uint64_t word = 0x1122334455667788ull;
  b.driver->Write(0, &word, 8);
  b.driver->backend().Progress();
  EXPECT_EQ(b.driver->irq_status() & regs::irq_status::kDmaDoneMask, regs::irq_status::kDmaDoneMask);
  b.driver->AckIrq(regs::irq_status::kDmaDoneMask);
  EXPECT_EQ(b.driver->irq_status() & regs::irq_status::kDmaDoneMask, 0u);
}

TEST(BoardDriverTest, VirtualTimeIsTheBoardsCycleCount) {
  Board b({.mem_bytes = 1 << 20, .clock_hz = 100e6});
  const uint64_t c0 = b.driver->cycles();
  std::vector<uint8_t> data(4096, 1);
  b.driver->Write(0, data.data(), data.size());
  const uint64_t used = b.driver->cycles() - c0;
  EXPECT_GT(used, 4096u / 8);  // at least one cycle per 8-byte word
  EXPECT_LT(used, 20000u);
  EXPECT_EQ(b.driver->clock_hz(), 100e6);
}

// Random bit errors on both data lanes: every byte arrives intact, the link
// counted CRC errors and replayed.
TEST(BoardDriverTest, ReplayAfterInjectedLinkErrorsLeavesNoCorruption) {
  VirtualBoardConfig config{.mem_bytes = 8 << 20};
  config.link.fwd_err_threshold = 655;  // ~1% of flits
  config.link.fwd_latency = 8;
  config.link.rev_latency = 8;
  Board b(config);
  b.driver->Write32(regs::kControlOffset, regs::control::kLinkEnableMask | regs::control::kErrInjectMask);
  std::mt19937_64 rng(11);
  for (int i = 0; i < 4; ++i) {
    const std::vector<uint8_t> data = RandomBytes(rng, 1 << 20);
    b.driver->Write(uint64_t(i) << 20, data.data(), data.size());
    std::vector<uint8_t> back(data.size());
    b.driver->Read(uint64_t(i) << 20, back.data(), back.size());
    ASSERT_EQ(back, data) << "MiB " << i;
  }
  const uint32_t crc_errors = b.driver->Read32(regs::kCrcErrorsOffset);
  EXPECT_GT(crc_errors, 100u);
  EXPECT_GT(b.driver->Read32(regs::kReplaysOffset), 50u);
  EXPECT_EQ(crc_errors, b.rtl->debug().errors_injected);  // every injected error was caught
  EXPECT_EQ(b.driver->Read32(regs::kDmaErrorsOffset), 0u);
}

TEST(BoardDriverTest, OneFlippedBitCostsOneCrcErrorAndOneReplay) {
  Board b({.mem_bytes = 1 << 20});
  std::vector<uint8_t> data(4096);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
  b.rtl->FlipBitOfNextFlit(40);  // a payload bit of the next downstream flit
  b.driver->Write(0x100, data.data(), data.size());
  std::vector<uint8_t> back(data.size());
  b.driver->Read(0x100, back.data(), back.size());
  EXPECT_EQ(back, data);
  EXPECT_EQ(b.driver->Read32(regs::kCrcErrorsOffset), 1u);
  EXPECT_EQ(b.driver->Read32(regs::kReplaysOffset), 1u);
}

// A long transfer runs at the link's closed-form rate, min(1, C / RTT) flits
// of 8 bytes per cycle with C credits and RTT = fwd + rev + 4 (README), plus
// a fixed cost per descriptor that does not grow with the length.
struct RatePoint {
  uint32_t credits, fwd, rev;
};
class DmaRateTest : public ::testing::TestWithParam<RatePoint> {};

TEST_P(DmaRateTest, LongTransfersRunAtTheLinkClosedFormRate) {
  const RatePoint p = GetParam();
  VirtualBoardConfig config{.mem_bytes = 4 << 20};
  config.link.credits = p.credits;
  config.link.fwd_latency = p.fwd;
  config.link.rev_latency = p.rev;
  Board b(config);
  DmaBuffer buf = b.driver->AllocDma(1 << 20);
  const double rate = std::min(1.0, double(p.credits) / (p.fwd + p.rev + 4));
  for (DmaOp op : {DmaOp::kWrite, DmaOp::kRead}) {
    uint64_t cycles[2];
    int i = 0;
    for (uint32_t bytes : {1u << 18, 1u << 20}) {
      const uint64_t c0 = b.driver->cycles();
      ASSERT_EQ(b.driver->Wait(*b.driver->Submit({op, buf.bus_addr, 0, bytes})), DmaStatus::kOk);
      cycles[i++] = b.driver->cycles() - c0;
    }
    // The difference of two lengths removes the fixed cost.
    const double per_flit = double(cycles[1] - cycles[0]) / (((1u << 20) - (1u << 18)) / 8);
    EXPECT_NEAR(per_flit, 1.0 / rate, 0.01 / rate) << (op == DmaOp::kWrite ? "write" : "read");
    EXPECT_LT(cycles[0] - (1u << 18) / 8 / rate, 300.0) << "fixed cost per descriptor";
  }
}

INSTANTIATE_TEST_SUITE_P(Points, DmaRateTest,
                         ::testing::Values(RatePoint{32, 4, 4}, RatePoint{32, 16, 16}, RatePoint{8, 8, 8},
                                           RatePoint{4, 16, 4}));

TEST(OpenBoardTest, AMissingBarFileIsNamed) {
  try {
    OpenBoard("pcie:/sys/bus/pci/devices/0000:99:00.0/resource0");
    FAIL();
  } catch (const BoardError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/sys/bus/pci/devices/0000:99:00.0/resource0"));
    EXPECT_THAT(e.what(), HasSubstr("No such file"));
  }
}

TEST(OpenBoardTest, AWindowWithoutALightloopBoardIsRefused) {
  const std::string path = "/tmp/ll_not_a_board_" + std::to_string(getpid());
  std::ofstream(path) << std::string(4096, '\0');
  try {
    OpenBoard("pcie:" + path);
    FAIL();
  } catch (const BoardError& e) {
    EXPECT_THAT(e.what(), HasSubstr("no lightloop board at pcie " + path));
    EXPECT_THAT(e.what(), HasSubstr("ID reads 0x0"));
  }
  std::filesystem::remove(path);
}

TEST(OpenBoardTest, BadSpecsNameTheKey) {
  EXPECT_THROW(OpenBoard("fpga"), BoardError);
  try {
    OpenBoard("pcie:/dev/null,dam=shm:/x@0");
    FAIL();
  } catch (const BoardError& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown key `dam`"));
  }
  try {
    OpenBoard("pcie:/dev/null,dma=hugepages");
    FAIL();
  } catch (const BoardError& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown DMA allocator"));
  }
}

TEST(OpenBoardTest, VirtualSpecOpensTheInProcessBoard) {
  auto board = OpenBoard("virtual");
  EXPECT_EQ(board->memory_bytes(), 256ull << 20);
  uint64_t v = 42, back = 0;
  board->Write(8, &v, 8);
  board->Read(8, &back, 8);
  EXPECT_EQ(back, 42u);
}

}  // namespace
}  // namespace lightloop::rtl_bridge
