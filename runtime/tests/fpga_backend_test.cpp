// SPDX-License-Identifier: Apache-2.0
// The lightloop provider's fpga backend on the virtual board, beyond the
// conformance suite: an access past the board's memory is an error
// completion, and a DMA's virtual time is the board's cycles at its clock.
#include "memnode_fixture.h"

namespace lightloop::runtime::testing {
namespace {

constexpr uint64_t kBoardBytes = 256ull << 20;  // the virtual board's default memory
constexpr double kBoardHz = 250e6;              // its default clock
constexpr double kBytesPerCycle = 8;            // the link's flit payload per cycle

class FpgaBackendTest : public MemnodeTest {
 protected:
  // Virtual picoseconds one write of `len` bytes takes on an idle board.
  uint64_t TimeWrite(RemoteMemoryClient& client, const RemoteRegion& region, uint64_t offset,
                     const std::vector<char>& data) {
    uint64_t t0 = client.clock().now_ps();
    auto w = client.Write(region, offset, data.data(), data.size());
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    if (!w.ok()) return 0;
    EXPECT_TRUE(client.Wait(*w).ok());
    return client.clock().now_ps() - t0;
  }
};

TEST_P(FpgaBackendTest, RandomDataRoundTripsThroughBoardMemory) {
  auto client = Connect();
  ASSERT_TRUE(client);
  ASSERT_OK_AND_ASSIGN(RemoteRegion region, client->Allocate(1 << 20));
  for (uint64_t size : {1ull, 7ull, 4096ull, 65537ull}) {
    std::vector<char> data = RandomBytes(size, size), back(size);
    ASSERT_OK_AND_ASSIGN(OpHandle w, client->Write(region, 13, data.data(), size));
    ASSERT_OK(client->Wait(w));
    ASSERT_OK_AND_ASSIGN(OpHandle r, client->Read(region, 13, back.data(), size));
    ASSERT_OK(client->Wait(r));
    EXPECT_EQ(back, data) << size << " bytes";
  }
}

TEST_P(FpgaBackendTest, BeyondBoardMemoryIsAnErrorCompletion) {
  auto client = Connect();
  ASSERT_TRUE(client);
  // The pool is larger than the board: this region's tail lies past it.
  ASSERT_OK_AND_ASSIGN(RemoteRegion region, client->Allocate(kBoardBytes + (16 << 20)));
  std::vector<char> data = RandomBytes(4096, 1), back(4096);
  // Last page inside board memory: works.
  ASSERT_OK_AND_ASSIGN(OpHandle w, client->Write(region, kBoardBytes - 4096, data.data(), 4096));
  ASSERT_OK(client->Wait(w));
  // One byte across the end, and wholly past it: refused, no crash.
  auto across = client->Write(region, kBoardBytes - 4095, data.data(), 4096);
  ASSERT_TRUE(across.ok()) << across.status().ToString();
  Status s = client->Wait(*across);
  EXPECT_FALSE(s.ok());
  auto past = client->Read(region, kBoardBytes + 4096, back.data(), 4096);
  ASSERT_TRUE(past.ok()) << past.status().ToString();
  EXPECT_FALSE(client->Wait(*past).ok());
  // The client and the board still work.
  ASSERT_OK_AND_ASSIGN(OpHandle r, client->Read(region, kBoardBytes - 4096, back.data(), 4096));
  ASSERT_OK(client->Wait(r));
  EXPECT_EQ(back, data);
}

TEST_P(FpgaBackendTest, DmaTimeIsBoardCyclesAtTheBoardClock) {
  auto client = Connect();
  ASSERT_TRUE(client);
  ASSERT_OK_AND_ASSIGN(RemoteRegion region, client->Allocate(2 << 20));
  std::vector<char> data = RandomBytes(1 << 20, 3);
  const uint64_t first = TimeWrite(*client, region, 0, data);
  const uint64_t second = TimeWrite(*client, region, 1 << 20, data);
  // 1 MiB at 8 B/cycle: 131,072 cycles, plus the DMA's fixed cost.
  const double ideal_ps = static_cast<double>(data.size()) / kBytesPerCycle / kBoardHz * 1e12;
  EXPECT_GE(static_cast<double>(first), ideal_ps);
  EXPECT_LE(static_cast<double>(first), ideal_ps * 1.05);
  EXPECT_EQ(first, second);  // same DMA on the same idle board: same cycles
}

INSTANTIATE_TEST_SUITE_P(Providers, FpgaBackendTest, ::testing::Values("fpga"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace lightloop::runtime::testing
