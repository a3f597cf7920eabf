// SPDX-License-Identifier: Apache-2.0
// Speed of the virtual board, for `lightloop bench board`: Verilated cycles per
// wall second of the whole board with DMA traffic flowing (driver included),
// board cycles per 4 KiB and per 1 MiB DMA transfer (doorbell to completion),
// beside a bare Verilator loop of a trivial design (ll_counter) measured in
// the same run.
//   BoardBenchReport r = RunBoardBench({.busy_cycles = 20'000'000});
#pragma once

#include <cstdint>
#include <string>

#include "lightloop/rtl_bridge/board/virtual_board.h"

namespace lightloop::rtl_bridge {

struct BoardBenchOptions {
  uint64_t busy_cycles = 10'000'000;      // board cycles timed with traffic flowing
  uint64_t baseline_cycles = 50'000'000;  // cycles of the bare loop
  int repeats = 3;                        // transfers per size; the median is reported
  VirtualBoardConfig board;               // lanes, latencies, clock
  std::string trace_fst;                  // FST waveforms of the transfer measurements, if set
};

struct BoardBenchReport {
  double cycles_per_s = 0;           // whole board, DMA traffic flowing
  double idle_cycles_per_s = 0;      // whole board, no traffic
  double baseline_cycles_per_s = 0;  // bare Verilator loop of ll_counter
  uint64_t cycles_per_4k = 0;        // 4 KiB write (host -> board), doorbell to completion
  uint64_t cycles_per_4k_read = 0;   // 4 KiB read (board -> host)
  uint64_t cycles_per_1m = 0;        // 1 MiB write
  uint64_t cycles_per_1m_read = 0;   // 1 MiB read
  double clock_hz = 0;
  uint64_t busy_cycles = 0;
  double busy_bytes = 0;  // bytes moved while timing cycles_per_s
};

BoardBenchReport RunBoardBench(const BoardBenchOptions& options);

}  // namespace lightloop::rtl_bridge
