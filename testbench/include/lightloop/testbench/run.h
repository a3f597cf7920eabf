// SPDX-License-Identifier: Apache-2.0
// `lightloop run <scenario> --target nic|sim|fpga|local`: one workload on one
// target, reported. The target decides only where the KV cache's remote
// tier lives and which clock the run keeps:
//   local  host memory in this process, wall clock (the reference run);
//   nic    a memnode over a real libfabric provider, wall clock;
//   sim    a memnode on lightloop's provider over the hardware models, in
//          virtual time (deterministic: two runs give identical reports);
//   fpga   a memnode whose regions live in a board's memory, behind the
//          provider's fpga backend (FI_LIGHTLOOP_BOARD, default the virtual
//          board): RMA is the board's DMA, virtual time in board cycles.
// The report (report.json) carries at least requests, tokens_sha256 (of
// every generated token id in request order), metrics.{ttft_ms, tpot_ms,
// e2e_ms, itl_ms, queue_ms}.{p50, p90, p95, p99, mean},
// metrics.throughput_tok_s, virtual_time and wall_s; the folder gets the
// resolved scenario and a CSV time series too, and with `trace` a Chrome
// trace-event file (trace.json) that opens in Perfetto.
//
//   RunOptions o{.target = "sim", .out = "build/reports/quickstart-sim"};
//   LL_ASSIGN_OR_RETURN(nlohmann::json report, RunScenario(scenario, o));
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "lightloop/runtime/status.h"
#include "lightloop/testbench/scenario.h"

namespace lightloop::testbench {

struct RunOptions {
  std::string target = "local";
  std::string out;  // folder for report.json and the rest; empty: none written
  bool trace = false;  // also trace.json (Chrome trace events: steps, compute, KV bytes, requests)
  std::function<bool()> cancelled;
  // Progress lines (requests done, run time); null: silent.
  std::function<void(uint64_t done, uint64_t total, double run_s)> progress;
};

runtime::StatusOr<nlohmann::json> RunScenario(const Scenario& scenario, const RunOptions& options);

// `lightloop check`: everything a run would read (the trace, the model's
// config, the accelerator, the node file) loads; a summary of what would run.
runtime::StatusOr<std::string> CheckScenario(const Scenario& scenario);

// A report as markdown (report.md): what ran, the latency table, throughput,
// the KV cache's traffic and the link's.
std::string ReportMarkdown(const nlohmann::json& report);

// One line per report, side by side: target, TTFT, TPOT, throughput, bytes
// moved, and whether the generated tokens are identical across them.
std::string CompareTable(const std::vector<nlohmann::json>& reports);

}  // namespace lightloop::testbench
