// SPDX-License-Identifier: Apache-2.0
// The virtual board: the Verilated ll_board (register file, DMA engine, two
// links, far end) clocked in batches from C++, with a harness that serves its
// host-memory port from mapped host regions (as a PCIe root complex serves a
// bus master) and its AXI-like memory port from a board memory of any size
// (allocated lazily by the kernel: untouched pages cost nothing). The cycle
// count is the board's virtual time. Single-threaded: one thread at a time.
//   VirtualBoard board({.mem_bytes = 64 << 20});
//   board.MapHost(0x1000000000, buf, 1 << 20);   // bus address -> host bytes
//   board.Write32(board_regs::kRingBaseLoOffset, ...);
//   board.RunUntilDmaDone(100000);
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "lightloop/rtl_bridge/link/link_pair.h"

namespace lightloop::hw_models {
class MemoryTimer;
}

namespace lightloop::rtl_bridge {

struct VirtualBoardConfig {
  LinkConfig link;                    // both links; fwd_err_threshold applies while CONTROL.ERR_INJECT
  uint64_t mem_bytes = 256ull << 20;  // board memory, 8..2^40 bytes, a multiple of 8
  uint32_t host_latency = 32;         // cycles from a host-memory read request to its data, 1..4096
  uint32_t mem_latency =
      8;                    // cycles from an AXI read address to its first beat, 0..4096 (4 bursts in flight)
  double clock_hz = 250e6;  // the board clock: cycles -> seconds
  // Board memory backed by this file (mapped shared, created/truncated to
  // mem_bytes) instead of anonymous memory; lets another process see it.
  std::string mem_file;
  // Board memory timed by a hw_models memory (e.g. a DDR5 preset, through
  // MemorySpec::Timer()) instead of mem_latency: a read burst's first beat
  // comes when the model has read the whole burst, a write burst's response
  // when it has written it. Null: the fixed mem_latency.
  std::shared_ptr<hw_models::MemoryTimer> memory_timer;
};

// Throws std::invalid_argument naming the field outside its range.
void ValidateVirtualBoardConfig(const VirtualBoardConfig& config);

// Counters the register map does not show, for tests and the board process.
struct VirtualBoardDebug {
  uint64_t errors_injected;    // bit errors the data lanes injected (both links)
  uint64_t naks_sent;          // NAKs the receivers sent (both links)
  uint64_t host_read_faults;   // host-memory reads outside every mapped region
  uint64_t host_write_faults;  // host-memory writes outside every mapped region (dropped)
  uint64_t dma_done;           // descriptors the engine completed
};

class VirtualBoard {
 public:
  explicit VirtualBoard(const VirtualBoardConfig& config);  // reset, then released
  ~VirtualBoard();
  VirtualBoard(const VirtualBoard&) = delete;
  VirtualBoard& operator=(const VirtualBoard&) = delete;

  // MMIO: one register access, one board cycle (the board keeps running).
  uint32_t Read32(uint32_t offset);
  void Write32(uint32_t offset, uint32_t value);

  // Makes [bus_addr, bus_addr + bytes) of host memory reachable by the board's
  // DMA engine at `host`. Regions must not overlap; the memory must outlive the
  // board or be unmapped first.
  void MapHost(uint64_t bus_addr, void* host, uint64_t bytes);
  void UnmapHost(uint64_t bus_addr);

  void Run(uint64_t cycles);
  // Clocks until the DMA engine completes a descriptor (returns true) or
  // max_cycles pass (false).
  bool RunUntilDmaDone(uint64_t max_cycles);
  // Flips bit `bit` (0..103) of the next downstream data flit.
  void FlipBitOfNextFlit(unsigned bit);
  // Writes FST waveforms of every later cycle (all signals) to `path`, closed
  // when the board is destroyed. Slows the board down; for debugging.
  void StartTrace(const std::string& fst_path);

  uint8_t* memory();  // board memory, mem_bytes long
  uint64_t memory_bytes() const;
  uint64_t cycles() const;
  double clock_hz() const;
  bool irq() const;
  bool dma_busy() const;
  VirtualBoardDebug debug() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lightloop::rtl_bridge
