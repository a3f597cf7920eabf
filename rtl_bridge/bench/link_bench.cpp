// SPDX-License-Identifier: Apache-2.0
// rtl_bridge_bench [--cycles N] [--json FILE]
// Verilated cycles per wall second, with traffic flowing, of the link pair
// (ll_tx, two ll_lane, ll_rx as four models wired in C++) and of the link board
// (the same blocks plus the register file in one model), beside a bare
// Verilator clock loop of a trivial design (ll_counter) in the same run.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#include "Vll_counter.h"
#include "lightloop/rtl_bridge/board/link_board.h"
#include "lightloop/rtl_bridge/board_regs.h"
#include "lightloop/rtl_bridge/link/link_pair.h"
#include "verilated.h"

namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double BaselineCyclesPerSecond(uint64_t cycles) {
  auto ctx = std::make_unique<VerilatedContext>();
  Vll_counter top(ctx.get(), "counter");
  top.rst = 0;
  auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < cycles; ++i) {
    top.clk = 0;
    top.eval();
    top.clk = 1;
    top.eval();
  }
  double s = Seconds(start);
  if (top.count != static_cast<uint32_t>(cycles)) std::fprintf(stderr, "counter mismatch\n");
  top.final();
  return cycles / s;
}

double LinkCyclesPerSecond(uint64_t cycles) {
  lightloop::rtl_bridge::LinkPair link({.fwd_latency = 16, .rev_latency = 16});
  for (uint64_t i = 0; i < cycles; ++i) link.Send(i);
  auto start = std::chrono::steady_clock::now();
  link.Run(cycles);
  double s = Seconds(start);
  std::printf("link pair delivered %zu flits in %llu cycles\n", link.received().size(),
              static_cast<unsigned long long>(cycles));
  return cycles / s;
}

double BoardCyclesPerSecond(uint64_t cycles) {
  namespace regs = lightloop::rtl_bridge::board_regs;
  lightloop::rtl_bridge::LinkBoard board({.fwd_latency = 16, .rev_latency = 16});
  board.Write(regs::kControlOffset, regs::control::kLinkEnableMask);
  for (uint64_t i = 0; i < cycles; ++i) board.Send(i);
  auto start = std::chrono::steady_clock::now();
  board.Run(cycles);
  double s = Seconds(start);
  std::printf("link board delivered %zu flits in %llu cycles\n", board.received().size(),
              static_cast<unsigned long long>(cycles));
  return cycles / s;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t cycles = 2'000'000;
  std::string json;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--cycles"))
      cycles = std::stoull(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--json"))
      json = argv[i + 1];
  }
  const double base = BaselineCyclesPerSecond(cycles * 10);
  const double link = LinkCyclesPerSecond(cycles);
  const double board = BoardCyclesPerSecond(cycles);
  std::printf("baseline (bare Verilator loop, ll_counter):   %.3g cycles/s\n", base);
  std::printf("link pair (4 models, wired in C++):           %.3g cycles/s (%.1f%% of baseline)\n", link,
              100.0 * link / base);
  std::printf("link board (ll_link_board, one model + regs): %.3g cycles/s (%.1f%% of baseline)\n", board,
              100.0 * board / base);
  if (!json.empty()) {
    std::ofstream(json) << "{\"cycles_per_s\": " << board << ", \"link_pair_cycles_per_s\": " << link
                        << ", \"baseline_cycles_per_s\": " << base << "}\n";
  }
  return 0;
}
