// SPDX-License-Identifier: Apache-2.0
// hw_models memories behind the board's far end (ll_far_end's AXI port):
// a fixed-latency memory whose latency equals the built-in one gives the
// same cycles, a longer one adds exactly its difference, a DDR5 preset costs
// its closed-form latency and keeps every byte, and bad specs are named.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <vector>

#include "lightloop/hw_models/config/config_reader.h"
#include "lightloop/hw_models/memory/memory_registry.h"
#include "lightloop/rtl_bridge/board_backends.h"

namespace lightloop::rtl_bridge {
namespace {

constexpr double kCycleNs = 4.0;  // the virtual board's default 250 MHz

std::string WriteFile(const std::string& name, const std::string& text) {
  std::string path = testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

std::string FixedMemory(double latency_ns) {
  return WriteFile(
      "fixed_" + std::to_string(static_cast<int>(latency_ns)) + ".yaml",
      "memory:\n  impl: fixed_latency\n  latency_ns: " + std::to_string(latency_ns) + "\n  size_mib: 16\n");
}

// A driver on an in-process virtual board; `memory` empty: the built-in
// 8-cycle latency.
struct Board {
  explicit Board(const std::string& memory) {
    VirtualBoardConfig config{.mem_bytes = 16 << 20};
    if (!memory.empty()) UseMemoryModel(memory, config);
    auto backend = std::make_unique<VirtualBackend>(config);
    rtl = &backend->board();
    driver = std::make_unique<BoardDriver>(std::move(backend));
  }
  // Board cycles one blocking transfer takes.
  uint64_t Cycles(bool write, uint64_t addr, std::vector<uint8_t>& bytes) {
    const uint64_t before = rtl->cycles();
    if (write) {
      driver->Write(addr, bytes.data(), bytes.size());
    } else {
      driver->Read(addr, bytes.data(), bytes.size());
    }
    return rtl->cycles() - before;
  }
  VirtualBoard* rtl;
  std::unique_ptr<BoardDriver> driver;
};

// 36 ns is 9 cycles: the built-in port answers a read burst 1 + 8 cycles
// after its address, so the two boards run cycle for cycle alike on reads.
TEST(FarMemory, AFixedLatencyEqualToTheBuiltInOneGivesTheSameReadCycles) {
  Board built_in(""), fixed(FixedMemory(36));
  std::vector<uint8_t> a(4096, 1), b(4096, 1);
  built_in.Cycles(true, 0x1000, a);
  fixed.Cycles(true, 0x1000, b);
  for (uint64_t len : {64u, 4096u, 65536u}) {
    std::vector<uint8_t> x(len), y(len);
    EXPECT_EQ(built_in.Cycles(false, 0x1000, x), fixed.Cycles(false, 0x1000, y)) << len;
  }
}

// One burst (64 B): 236 ns is 59 cycles, 50 more than the built-in 9; a write
// burst's response waits the memory's 9 cycles instead of 1.
TEST(FarMemory, ALongerLatencyAddsExactlyItsDifferencePerBurst) {
  Board built_in(""), fixed(FixedMemory(236)), write_fixed(FixedMemory(36));
  std::vector<uint8_t> x(64, 7);
  const uint64_t base_write = built_in.Cycles(true, 0x40, x);
  EXPECT_EQ(write_fixed.Cycles(true, 0x40, x), base_write + 8);
  const uint64_t base_read = built_in.Cycles(false, 0x40, x);
  EXPECT_EQ(fixed.Cycles(false, 0x40, x), base_read + 50);
}

// The CXL-attached DDR5-4800 preset: a 64 B read costs the memory's idle latency (its
// closed form) in board cycles, and 1 MiB of random bytes round-trips intact.
TEST(FarMemory, CxlDdr5PresetCostsItsIdleLatencyAndKeepsEveryByte) {
  const std::string ddr5 = std::string(LIGHTLOOP_SOURCE_DIR) + "/hw_models/presets/memory/cxl_ddr5_4800.yaml";
  Board built_in(""), dram(ddr5);
  EXPECT_EQ(dram.rtl->memory_bytes(), 16ull << 30);  // the preset's 16 GiB, sparse

  hw_models::ConfigReader top = hw_models::ConfigReader::Load(ddr5);
  hw_models::ConfigReader section = top.Section("memory");
  const double idle_ns = hw_models::ParseMemory(section)->IdleLatencyNs(false, 64);
  std::vector<uint8_t> x(64);
  const double extra = static_cast<double>(dram.Cycles(false, 0x100000, x)) -
                       static_cast<double>(built_in.Cycles(false, 0x100000, x));
  EXPECT_NEAR(extra, idle_ns / kCycleNs - 9, 1.5) << "idle " << idle_ns << " ns";
  EXPECT_GT(extra, 20);  // the CXL port, both ways, is far from the built-in 36 ns

  std::vector<uint8_t> out(1 << 20), in(1 << 20);
  std::mt19937 rng(5);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  dram.Cycles(true, 0x3000000, out);
  dram.Cycles(false, 0x3000000, in);
  EXPECT_EQ(in, out);
}

TEST(FarMemory, BadSpecsNameTheFileOrTheKey) {
  auto message = [](const std::string& spec) {
    try {
      OpenBoard(spec);
    } catch (const BoardError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message("virtual,memory=/nonexistent/ddr.yaml").find("/nonexistent/ddr.yaml"), std::string::npos);
  EXPECT_NE(message("virtual,latency=3").find("unknown key `latency`"), std::string::npos);
  const std::string bad = WriteFile("bad_memory.yaml", "memory:\n  impl: fixed_latency\n  latncy_ns: 5\n");
  EXPECT_NE(message("virtual,memory=" + bad).find("bad_memory.yaml:3"), std::string::npos)
      << message("virtual,memory=" + bad);
}

}  // namespace
}  // namespace lightloop::rtl_bridge
