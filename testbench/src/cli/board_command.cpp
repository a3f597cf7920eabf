// SPDX-License-Identifier: Apache-2.0
// `lightloop board --virtual`: run the virtual board as its own process behind
// shared-memory files (lightloop/rtl_bridge/board/board_server.h) until SIGINT
// or SIGTERM, then remove them.
#include <signal.h>

#include <atomic>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "lightloop/rtl_bridge/board/board_server.h"
#include "lightloop/rtl_bridge/board_backends.h"
#include "lightloop/rtl_bridge/board_driver.h"

namespace lightloop::testbench {
namespace {

std::atomic<bool> g_stop{false};

void OnStopSignal(int) {
  g_stop.store(true);
}

struct BoardArgs {
  bool virtual_board = false;
  std::string prefix;
  std::string mem = "256MiB";
  std::string dma = "64MiB";
  uint32_t fwd_latency = 4;
  uint32_t rev_latency = 4;
  uint32_t credits = 32;
  uint32_t err_threshold = 0;
  uint32_t seed = 1;
  uint32_t host_latency = 32;
  uint32_t mem_latency = 8;
  double clock_hz = 250e6;
  uint32_t idle_sleep_us = 100;
  std::string trace_fst;
  std::string memory;      // hw_models memory file timing the board memory
  bool mem_given = false;  // --mem on the command line (else the memory file's size)
};

runtime::Status RunBoard(const BoardArgs& a) {
  if (!a.virtual_board) {
    return runtime::InvalidArgument(
        "only --virtual is implemented; a real board is opened by the driver directly");
  }
  rtl_bridge::BoardServerOptions o;
  if (!a.memory.empty()) {  // times the board memory and sizes it, unless --mem says otherwise
    try {
      rtl_bridge::UseMemoryModel(a.memory, o.board);
    } catch (const rtl_bridge::BoardError& e) {
      return runtime::InvalidArgument(std::string("--memory: ") + e.what());
    }
  }
  if (a.memory.empty() || a.mem_given) {
    LL_ASSIGN_OR_RETURN(o.board.mem_bytes, ParseSizeFlag("--mem", a.mem));
  }
  LL_ASSIGN_OR_RETURN(o.dma_bytes, ParseSizeFlag("--dma", a.dma));
  if (o.board.mem_bytes < 8 || o.board.mem_bytes % 8 != 0 || o.board.mem_bytes > (uint64_t{1} << 40)) {
    return runtime::InvalidArgument("board memory of " + std::to_string(o.board.mem_bytes) +
                                    " B (--mem, or the --memory file's size): must be a multiple of 8 B "
                                    "between 8 B and 1 TiB");
  }
  if (o.dma_bytes < (uint64_t{1} << 16))
    return runtime::InvalidArgument("--dma " + a.dma + ": at least 64KiB");
  o.prefix = a.prefix;
  o.board.link = {.fwd_latency = a.fwd_latency,
                  .rev_latency = a.rev_latency,
                  .credits = a.credits,
                  .seed = a.seed,
                  .fwd_err_threshold = a.err_threshold};
  o.board.host_latency = a.host_latency;
  o.board.mem_latency = a.mem_latency;
  o.board.clock_hz = a.clock_hz;
  o.idle_sleep_us = a.idle_sleep_us;
  o.trace_fst = a.trace_fst;
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  try {
    rtl_bridge::BoardServer server(o);
    std::cout << server.ReadyLine() << std::endl;
    server.Run(g_stop);
    std::cerr << "board: stopping after " << server.cycles() << " cycles" << std::endl;
  } catch (const std::exception& e) {  // BoardError, std::invalid_argument from the config
    return runtime::InvalidArgument(e.what());
  }
  std::cout << "board stopped" << std::endl;
  return runtime::Status::Ok();
}

}  // namespace

void AddBoardLatencyFlags(CLI::App* cmd, uint32_t& fwd_latency, uint32_t& rev_latency,
                          uint32_t& host_latency) {
  cmd->add_option("--fwd-latency", fwd_latency, "data lane latency, cycles")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--rev-latency", rev_latency, "control lane latency, cycles")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--host-latency", host_latency, "host-memory read latency, cycles")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
}

void AddBoardCommand(CLI::App& app, CommandFn& run) {
  auto a = std::make_shared<BoardArgs>();
  CLI::App* cmd = app.add_subcommand(
      "board", "Run the virtual board (the Verilated RTL) as a process behind shared-memory files");
  cmd->add_flag("--virtual", a->virtual_board, "the Verilated board (required)");
  cmd->add_option("--prefix", a->prefix, "file prefix (default /dev/shm/lightloop-board-<pid>)");
  CLI::Option* mem = cmd->add_option("--mem", a->mem, "board memory size (sparse)")->capture_default_str();
  cmd->add_option("--memory", a->memory,
                  "time the board memory by this hw_models memory file (e.g. "
                  "hw_models/presets/memory/ddr5_4800.yaml) instead of --mem-latency; its size unless --mem");
  cmd->add_option("--dma", a->dma, "size of the DMA area clients allocate from")->capture_default_str();
  AddBoardLatencyFlags(cmd, a->fwd_latency, a->rev_latency, a->host_latency);
  cmd->add_option("--credits", a->credits, "receiver credits")
      ->capture_default_str()
      ->check(CLI::Range(1, 32));
  cmd->add_option("--err-threshold", a->err_threshold,
                  "per-flit bit-error probability x 65536 on the data lanes while CONTROL.ERR_INJECT is set")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--seed", a->seed, "lane error LFSR seed")->capture_default_str();
  cmd->add_option("--mem-latency", a->mem_latency, "board-memory read latency, cycles")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--clock-hz", a->clock_hz, "board clock (cycles to seconds)")->capture_default_str();
  cmd->add_option("--idle-sleep-us", a->idle_sleep_us, "nap between cycle batches while the DMA engine idles")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--trace-fst", a->trace_fst, "write FST waveforms of the whole board to this file (slow)");
  cmd->callback([a, mem, &run] {
    a->mem_given = mem->count() > 0;
    run = [a] { return RunBoard(*a); };
  });
}

}  // namespace lightloop::testbench
