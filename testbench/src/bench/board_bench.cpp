// SPDX-License-Identifier: Apache-2.0
// `lightloop bench board`: the virtual board's speed (rtl_bridge's
// RunBoardBench) as a table and, with --json, a JSON file.
#include "lightloop/rtl_bridge/board/board_bench.h"

#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/commands.h"

namespace lightloop::testbench {
namespace {

struct BoardBenchArgs {
  uint64_t cycles = 10'000'000;
  int repeats = 3;
  uint32_t fwd_latency = 4;
  uint32_t rev_latency = 4;
  uint32_t host_latency = 32;
  std::string trace_fst;
  std::string json;
};

nlohmann::json ToJson(const rtl_bridge::BoardBenchReport& r) {
  return {{"cycles_per_s", r.cycles_per_s},
          {"idle_cycles_per_s", r.idle_cycles_per_s},
          {"baseline_cycles_per_s", r.baseline_cycles_per_s},
          {"cycles_per_4k", r.cycles_per_4k},
          {"cycles_per_4k_read", r.cycles_per_4k_read},
          {"cycles_per_1m", r.cycles_per_1m},
          {"cycles_per_1m_read", r.cycles_per_1m_read},
          {"clock_hz", r.clock_hz},
          {"busy_cycles", r.busy_cycles},
          {"busy_bytes", r.busy_bytes}};
}

void PrintTable(const rtl_bridge::BoardBenchReport& r) {
  const double base = r.baseline_cycles_per_s;
  auto line = [&](const char* what, double v) {
    std::printf("%-46s %10.3g cycles/s  (%5.1f%% of baseline)\n", what, v, 100.0 * v / base);
  };
  line("baseline: bare Verilator loop (ll_counter)", base);
  line("whole board, DMA traffic flowing", r.cycles_per_s);
  line("whole board, idle", r.idle_cycles_per_s);
  auto xfer = [&](const char* what, uint64_t bytes, uint64_t cycles) {
    std::printf("%-46s %10llu cycles    (%.2f B/cycle, %.2f GB/s at %.0f MHz)\n", what,
                static_cast<unsigned long long>(cycles), double(bytes) / cycles,
                bytes / (cycles / r.clock_hz) / 1e9, r.clock_hz / 1e6);
  };
  xfer("4 KiB write (host -> board), doorbell to done", 4096, r.cycles_per_4k);
  xfer("4 KiB read (board -> host)", 4096, r.cycles_per_4k_read);
  xfer("1 MiB write", 1 << 20, r.cycles_per_1m);
  xfer("1 MiB read", 1 << 20, r.cycles_per_1m_read);
  std::fflush(stdout);
}

runtime::Status RunBoardBenchCommand(const BoardBenchArgs& a) {
  rtl_bridge::BoardBenchOptions o;
  o.busy_cycles = a.cycles;
  o.baseline_cycles = a.cycles * 5;
  o.repeats = a.repeats;
  o.board.link.fwd_latency = a.fwd_latency;
  o.board.link.rev_latency = a.rev_latency;
  o.board.host_latency = a.host_latency;
  o.trace_fst = a.trace_fst;
  rtl_bridge::BoardBenchReport report;
  try {
    report = rtl_bridge::RunBoardBench(o);
  } catch (const std::exception& e) {
    return runtime::Internal(e.what());
  }
  PrintTable(report);
  return WriteJsonIfAsked(a.json, ToJson(report));
}

}  // namespace

void AddBoardBenchCommand(CLI::App& bench, CommandFn& run) {
  auto a = std::make_shared<BoardBenchArgs>();
  CLI::App* cmd = bench.add_subcommand(
      "board",
      "Virtual board: Verilated cycles per second with DMA traffic, cycles per 4 KiB and 1 MiB transfer, "
      "vs a bare Verilator loop");
  cmd->add_option("--cycles", a->cycles, "board cycles timed with traffic flowing")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{100000}, uint64_t{1} << 36));
  cmd->add_option("--repeats", a->repeats, "transfers per size; the median is reported")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  AddBoardLatencyFlags(cmd, a->fwd_latency, a->rev_latency, a->host_latency);
  cmd->add_option("--trace-fst", a->trace_fst, "FST waveforms of the transfer measurements");
  cmd->add_option("--json", a->json, "also write the results as JSON to this file");
  cmd->callback([a, &run] { run = [a] { return RunBoardBenchCommand(*a); }; });
}

}  // namespace lightloop::testbench
