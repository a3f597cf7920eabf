// SPDX-License-Identifier: Apache-2.0
#include "lightloop/rtl_bridge/board/board_bench.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <vector>

#include "Vll_counter.h"
#include "lightloop/rtl_bridge/board_backends.h"
#include "verilated.h"

namespace lightloop::rtl_bridge {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double BaselineCyclesPerSecond(uint64_t cycles) {
  auto ctx = std::make_unique<VerilatedContext>();
  Vll_counter top(ctx.get(), "counter");
  top.rst = 0;
  const auto start = Clock::now();
  for (uint64_t i = 0; i < cycles; ++i) {
    top.clk = 0;
    top.eval();
    top.clk = 1;
    top.eval();
  }
  const double s = Seconds(start);
  if (top.count != static_cast<uint32_t>(cycles)) throw std::runtime_error("ll_counter miscounted");
  top.final();
  return cycles / s;
}

// Board cycles from the doorbell to the completion of one descriptor (median).
uint64_t TransferCycles(BoardDriver& d, const DmaBuffer& buf, DmaOp op, uint32_t bytes, int repeats) {
  std::vector<uint64_t> samples;
  for (int i = 0; i < repeats; ++i) {
    const uint64_t c0 = d.cycles();
    auto t = d.Submit({op, buf.bus_addr, 0, bytes});
    if (!t || d.Wait(*t) != DmaStatus::kOk)
      throw BoardError(d.backend().name() + ": benchmark transfer failed");
    samples.push_back(d.cycles() - c0);
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

// Keeps the ring busy with 1 MiB writes and reads for `cycles` board cycles.
double BusyCyclesPerSecond(BoardDriver& d, const DmaBuffer& buf, uint64_t cycles, double* bytes) {
  std::vector<Completion> done;
  const uint64_t c0 = d.cycles();
  const auto start = Clock::now();
  uint64_t n = 0;
  while (d.cycles() - c0 < cycles) {
    while (d.in_flight() < 4) {
      const DmaOp op = (n++ % 2) ? DmaOp::kRead : DmaOp::kWrite;
      if (!d.Submit({op, buf.bus_addr, 0, static_cast<uint32_t>(buf.bytes)})) break;
    }
    d.Poll(&done);
  }
  const double s = Seconds(start);
  for (const Completion& c : done) {
    if (c.status != DmaStatus::kOk) throw BoardError("benchmark descriptor failed");
  }
  *bytes = static_cast<double>(done.size()) * buf.bytes;
  return (d.cycles() - c0) / s;
}

}  // namespace

BoardBenchReport RunBoardBench(const BoardBenchOptions& o) {
  BoardBenchReport r;
  r.baseline_cycles_per_s = BaselineCyclesPerSecond(o.baseline_cycles);
  auto backend = std::make_unique<VirtualBackend>(o.board);
  VirtualBoard& rtl = backend->board();
  BoardDriver d(std::move(backend));
  r.clock_hz = d.clock_hz();
  const DmaBuffer buf = d.AllocDma(1 << 20);
  std::fill(buf.host, buf.host + buf.bytes, uint8_t{0x5A});

  const auto idle_start = Clock::now();
  rtl.Run(o.busy_cycles / 4);
  r.idle_cycles_per_s = (o.busy_cycles / 4) / Seconds(idle_start);
  r.busy_cycles = o.busy_cycles;
  r.cycles_per_s = BusyCyclesPerSecond(d, buf, o.busy_cycles, &r.busy_bytes);

  if (!o.trace_fst.empty()) rtl.StartTrace(o.trace_fst);
  r.cycles_per_4k = TransferCycles(d, buf, DmaOp::kWrite, 4096, o.repeats);
  r.cycles_per_4k_read = TransferCycles(d, buf, DmaOp::kRead, 4096, o.repeats);
  r.cycles_per_1m = TransferCycles(d, buf, DmaOp::kWrite, 1 << 20, o.repeats);
  r.cycles_per_1m_read = TransferCycles(d, buf, DmaOp::kRead, 1 << 20, o.repeats);
  return r;
}

}  // namespace lightloop::rtl_bridge
