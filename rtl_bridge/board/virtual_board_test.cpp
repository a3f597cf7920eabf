// SPDX-License-Identifier: Apache-2.0
// The DMA descriptor engine of the whole board (ll_board) through a ring built
// by hand in host memory: descriptor processing, the status write-back, the
// refusals (bad length, out-of-range board address, alignment, operation,
// unreachable host memory) on both sides of each boundary, ring wrap-around,
// the counters and the interrupt causes.
#include "lightloop/rtl_bridge/board/virtual_board.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "lightloop/rtl_bridge/board_regs.h"

namespace lightloop::rtl_bridge {
namespace {

namespace regs = board_regs;
constexpr uint64_t kBus = 0x10'0000'0000ull;  // bus address of host_[0]
constexpr uint64_t kRingOff = 0;              // ring at the start of host memory
constexpr uint64_t kDataOff = 0x10000;        // data buffers after it
constexpr uint64_t kMem = 1 << 20;            // board memory
enum : uint8_t { kOk = 1, kBadLength = 2, kOutOfRange = 3, kBadAlign = 4, kBadOp = 5, kHostError = 7 };

class RawRingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.assign(1 << 21, 0);
    board_.MapHost(kBus, host_.data(), host_.size());
    board_.Write32(regs::kControlOffset, regs::control::kLinkEnableMask);
    board_.Write32(regs::kRingBaseLoOffset, static_cast<uint32_t>(kBus + kRingOff));
    board_.Write32(regs::kRingBaseHiOffset, static_cast<uint32_t>((kBus + kRingOff) >> 32));
    board_.Write32(regs::kRingSizeOffset, ring_size_);
    board_.Write32(regs::kDmaControlOffset, regs::dma_control::kEnableMask);
  }

  uint64_t* Desc(uint32_t slot) { return reinterpret_cast<uint64_t*>(host_.data() + kRingOff + slot * 32); }

  // Posts one descriptor and runs the board until the engine completes it.
  uint64_t Run(uint8_t op, uint64_t host_bus, uint64_t board_addr, uint32_t len) {
    uint64_t* d = Desc(head_);
    d[0] = host_bus;
    d[1] = board_addr;
    d[2] = (uint64_t{op} << 32) | len;
    d[3] = 0;
    head_ = (head_ + 1) % ring_size_;
    board_.Write32(regs::kRingHeadOffset, head_);
    EXPECT_TRUE(board_.RunUntilDmaDone(2'000'000)) << "no completion";
    return d[3];
  }
  uint8_t Status(uint8_t op, uint64_t host_bus, uint64_t board_addr, uint32_t len) {
    return Run(op, host_bus, board_addr, len) & 0xFF;
  }

  uint32_t ring_size_ = 16;
  uint32_t head_ = 0;
  std::vector<uint8_t> host_;
  VirtualBoard board_{VirtualBoardConfig{.mem_bytes = kMem}};
};

TEST_F(RawRingTest, RegistersShowTheBoard) {
  EXPECT_EQ(board_.Read32(regs::kIdOffset), regs::kIdReset);
  EXPECT_EQ(board_.Read32(regs::kVersionOffset), regs::kVersionReset);
  EXPECT_EQ(board_.Read32(regs::kMemSizeLoOffset), kMem);
  EXPECT_EQ(board_.Read32(regs::kMemSizeHiOffset), 0u);
  EXPECT_EQ(board_.Read32(regs::kDmaMaxLenOffset), 16u << 20);
  EXPECT_EQ(board_.Read32(regs::kDmaStatusOffset), 0u);  // idle, head valid
  EXPECT_EQ(board_.Read32(regs::kRingTailOffset), 0u);
  EXPECT_EQ(board_.Read32(regs::kRingSizeOffset), 16u);
}

TEST_F(RawRingTest, WriteThenReadMovesTheBytesAndWritesBackOk) {
  for (uint32_t i = 0; i < 4096; ++i) host_[kDataOff + i] = static_cast<uint8_t>(i * 7 + 3);
  const uint64_t w = Run(1, kBus + kDataOff, 0x2000, 4096);
  EXPECT_EQ(w & 0xFF, kOk);
  EXPECT_EQ(w >> 32, 1u);  // the completion number
  EXPECT_EQ(std::memcmp(board_.memory() + 0x2000, host_.data() + kDataOff, 4096), 0);
  const uint64_t r = Run(2, kBus + kDataOff + 8192, 0x2000, 4096);
  EXPECT_EQ(r & 0xFF, kOk);
  EXPECT_EQ(r >> 32, 2u);
  EXPECT_EQ(std::memcmp(host_.data() + kDataOff + 8192, host_.data() + kDataOff, 4096), 0);
  EXPECT_EQ(board_.Read32(regs::kDmaCompletedOffset), 2u);
  EXPECT_EQ(board_.Read32(regs::kDmaErrorsOffset), 0u);
  EXPECT_EQ(board_.Read32(regs::kRingTailOffset), 2u);
  EXPECT_EQ((board_.Read32(regs::kDmaStatusOffset) & regs::dma_status::kLastStatusMask) >>
                regs::dma_status::kLastStatusLsb,
            kOk);
}

TEST_F(RawRingTest, BadLengthIsRefusedWithoutMovingData) {
  std::memset(host_.data() + kDataOff, 0xAB, 64);
  EXPECT_EQ(Status(1, kBus + kDataOff, 0, 0), kBadLength);
  EXPECT_EQ(Status(1, kBus + kDataOff, 0, 12), kBadLength);               // not a multiple of 8
  EXPECT_EQ(Status(1, kBus + kDataOff, 0, (16u << 20) + 8), kBadLength);  // above DMA_MAX_LEN
  EXPECT_EQ(Status(1, kBus + kDataOff, 0, 8), kOk);                       // the smallest good one
  EXPECT_EQ(board_.memory()[8], 0);                                       // only the good one wrote
  EXPECT_EQ(board_.Read32(regs::kDmaBadLengthOffset), 3u);
  EXPECT_EQ(board_.Read32(regs::kDmaErrorsOffset), 3u);
  EXPECT_EQ(board_.Read32(regs::kDmaCompletedOffset), 4u);
}

TEST_F(RawRingTest, MaxLengthIsAcceptedAtTheBoundary) {
  VirtualBoard big({.mem_bytes = 32u << 20});
  std::vector<uint8_t> host((16u << 20) + 4096);
  big.MapHost(kBus, host.data(), host.size());
  big.Write32(regs::kControlOffset, regs::control::kLinkEnableMask);
  big.Write32(regs::kRingBaseLoOffset, static_cast<uint32_t>(kBus));
  big.Write32(regs::kRingBaseHiOffset, static_cast<uint32_t>(kBus >> 32));
  big.Write32(regs::kRingSizeOffset, 4);
  big.Write32(regs::kDmaControlOffset, regs::dma_control::kEnableMask);
  auto* d = reinterpret_cast<uint64_t*>(host.data());
  d[0] = kBus + 4096;
  d[1] = 0;
  d[2] = (uint64_t{1} << 32) | (16u << 20);
  host[4096 + (16u << 20) - 1] = 0x5A;
  big.Write32(regs::kRingHeadOffset, 1);
  ASSERT_TRUE(big.RunUntilDmaDone(5'000'000));
  EXPECT_EQ(d[3] & 0xFF, kOk);
  EXPECT_EQ(big.memory()[(16u << 20) - 1], 0x5A);
}

TEST_F(RawRingTest, OutOfRangeBoardAddressIsRefusedOnBothSidesOfTheEnd) {
  std::memset(host_.data() + kDataOff, 0xCD, 64);
  EXPECT_EQ(Status(1, kBus + kDataOff, kMem - 8, 16), kOutOfRange);   // runs 8 B past the end
  EXPECT_EQ(Status(1, kBus + kDataOff, kMem, 8), kOutOfRange);        // starts at the end
  EXPECT_EQ(Status(2, kBus + kDataOff, 1ull << 40, 8), kOutOfRange);  // far outside
  EXPECT_EQ(board_.memory()[kMem - 8], 0);                            // nothing written
  EXPECT_EQ(Status(1, kBus + kDataOff, kMem - 8, 8), kOk);            // the last word is fine
  EXPECT_EQ(board_.memory()[kMem - 8], 0xCD);
  EXPECT_EQ(board_.Read32(regs::kDmaOutOfRangeOffset), 3u);
  EXPECT_EQ(board_.Read32(regs::kDmaBadLengthOffset), 0u);
}

TEST_F(RawRingTest, AlignmentOperationAndHostFaultsAreRefused) {
  EXPECT_EQ(Status(1, kBus + kDataOff + 4, 0, 8), kBadAlign);
  EXPECT_EQ(Status(1, kBus + kDataOff, 4, 8), kBadAlign);
  EXPECT_EQ(Status(0, kBus + kDataOff, 0, 8), kBadOp);
  EXPECT_EQ(Status(3, kBus + kDataOff, 0, 8), kBadOp);
  EXPECT_EQ(Status(1, 0x1000, 0, 64), kHostError);  // host address outside every mapped region
  EXPECT_GT(board_.debug().host_read_faults, 0u);
  EXPECT_EQ(board_.Read32(regs::kDmaErrorsOffset), 5u);
}

TEST_F(RawRingTest, InterruptCausesLatchDoneAndError) {
  board_.Write32(regs::kIrqMaskOffset, regs::irq_mask::kDmaDoneMask);
  EXPECT_FALSE(board_.irq());
  EXPECT_EQ(Status(1, kBus + kDataOff, 0, 64), kOk);
  board_.Run(2);
  EXPECT_EQ(board_.Read32(regs::kIrqStatusOffset) & 0x18u, regs::irq_status::kDmaDoneMask);
  EXPECT_TRUE(board_.irq());
  board_.Write32(regs::kIrqStatusOffset, regs::irq_status::kDmaDoneMask);
  EXPECT_FALSE(board_.irq());
  EXPECT_EQ(Status(1, kBus + kDataOff, 0, 0), kBadLength);
  board_.Run(2);
  EXPECT_EQ(board_.Read32(regs::kIrqStatusOffset) & 0x18u,
            regs::irq_status::kDmaDoneMask | regs::irq_status::kDmaErrorMask);
}

TEST_F(RawRingTest, TheRingWrapsAndTheTailFollows) {
  for (int i = 0; i < 40; ++i) {
    const uint64_t w = Run(i % 2 ? 2 : 1, kBus + kDataOff, 64 * (i / 2), 64);
    ASSERT_EQ(w & 0xFF, kOk) << i;
    ASSERT_EQ(w >> 32, static_cast<uint64_t>(i + 1));
  }
  EXPECT_EQ(board_.Read32(regs::kRingTailOffset), 40u % ring_size_);
  EXPECT_EQ(board_.Read32(regs::kDmaCompletedOffset), 40u);
}

TEST_F(RawRingTest, ManyPostedDescriptorsCompleteInOrder) {
  for (uint32_t i = 0; i < 10; ++i) {
    uint64_t* d = Desc(i);
    d[0] = kBus + kDataOff + i * 256;
    d[1] = i * 256;
    d[2] = (uint64_t{1} << 32) | 256;
    d[3] = 0;
    std::memset(host_.data() + kDataOff + i * 256, static_cast<int>(i + 1), 256);
  }
  board_.Write32(regs::kRingHeadOffset, 10);  // one doorbell for ten descriptors
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(board_.RunUntilDmaDone(100000));
  for (uint32_t i = 0; i < 10; ++i) {
    EXPECT_EQ(Desc(i)[3], (uint64_t{i + 1} << 32) | kOk);
    EXPECT_EQ(board_.memory()[i * 256 + 255], i + 1);
  }
}

TEST_F(RawRingTest, AHeadOutsideTheRingStopsTheEngine) {
  board_.Write32(regs::kRingHeadOffset, ring_size_);  // not below RING_SIZE
  EXPECT_EQ(board_.Read32(regs::kDmaStatusOffset) & regs::dma_status::kHeadInvalidMask,
            regs::dma_status::kHeadInvalidMask);
  EXPECT_FALSE(board_.RunUntilDmaDone(2000));
  EXPECT_EQ(board_.Read32(regs::kDmaCompletedOffset), 0u);
}

TEST_F(RawRingTest, DisablingTheEngineResetsTheTail) {
  EXPECT_EQ(Status(1, kBus + kDataOff, 0, 64), kOk);
  EXPECT_EQ(board_.Read32(regs::kRingTailOffset), 1u);
  board_.Write32(regs::kDmaControlOffset, 0);
  board_.Run(2);
  EXPECT_EQ(board_.Read32(regs::kRingTailOffset), 0u);
}

TEST_F(RawRingTest, StartTraceWritesAnFstFile) {
  const auto path =
      std::filesystem::temp_directory_path() / ("ll_board_" + std::to_string(getpid()) + ".fst");
  {
    VirtualBoard traced({.mem_bytes = 4096});
    traced.StartTrace(path.string());
    traced.Run(100);
  }
  ASSERT_TRUE(std::filesystem::exists(path));
  EXPECT_GT(std::filesystem::file_size(path), 100u);
  std::filesystem::remove(path);
}

TEST(VirtualBoardConfigTest, OutOfRangeConfigIsRefusedByName) {
  EXPECT_THROW(VirtualBoard({.mem_bytes = 12}), std::invalid_argument);
  try {
    VirtualBoard b({.host_latency = 0});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("host_latency"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lightloop::rtl_bridge
