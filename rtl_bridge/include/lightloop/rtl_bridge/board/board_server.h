// SPDX-License-Identifier: Apache-2.0
// The virtual board as its own process (`lightloop board --virtual`): the
// Verilated board runs continuously and shows itself through three shared
// files, so that the driver's pcie backend reaches it exactly as it reaches a
// real board's BAR:
//   <prefix>.regs  4096 B register window, register at its byte offset (u32,
//                  little-endian). The server refreshes one register per board
//                  cycle from the RTL and publishes it with a compare-and-swap;
//                  a word the host changed is taken as a register write and
//                  applied to the RTL on the next cycle. A write that leaves a
//                  word unchanged is not seen (harmless for RW registers and the
//                  doorbell; see docs/targets.md for W1C). On exit every word
//                  is set to 0xFFFFFFFF, as a removed PCIe device reads.
//   <prefix>.mem   board memory, MEM_SIZE bytes (sparse)
//   <prefix>.dma   the DMA area: host memory the board reaches, byte 0 at bus
//                  address dma_bus_base; clients carve their buffers from it
//                  (dma=shm:<prefix>.dma@<base> in the board spec).
//   BoardServer server({});
//   std::cout << server.ReadyLine() << std::endl;  // "board ready ... spec=pcie:..."
//   server.Run(stop_flag);                          // until stop_flag is set
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "lightloop/rtl_bridge/board/virtual_board.h"

namespace lightloop::rtl_bridge {

struct BoardServerOptions {
  VirtualBoardConfig board;          // its mem_file is set by the server
  std::string prefix;                // default /dev/shm/lightloop-board-<pid>
  uint64_t dma_bytes = 64ull << 20;  // size of the DMA area
  uint64_t dma_bus_base = 0x20'0000'0000ull;
  uint32_t idle_sleep_us = 100;  // nap between batches while the engine idles (0: spin)
  std::string trace_fst;         // FST waveforms of the whole run, if set
};

class BoardServer {
 public:
  static constexpr uint64_t kWindowBytes = 4096;

  // Creates the files and fills the register window. Throws BoardError
  // (board_driver.h) naming the file that cannot be created.
  explicit BoardServer(const BoardServerOptions& options);
  ~BoardServer();  // poisons the window and removes the files
  BoardServer(const BoardServer&) = delete;
  BoardServer& operator=(const BoardServer&) = delete;

  // "board ready regs=<file> mem=<file> dma=<file> dma_bus_base=0x... mem_bytes=N
  //  clock_hz=N spec=pcie:<regs>,dma=shm:<dma>@0x..."
  std::string ReadyLine() const;
  std::string spec() const;  // the board spec for OpenBoard
  // Clocks the board until `stop` is set (e.g. by a signal handler).
  void Run(const std::atomic<bool>& stop);
  uint64_t cycles() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lightloop::rtl_bridge
