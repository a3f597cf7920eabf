// SPDX-License-Identifier: Apache-2.0
// `lightloop sweep <scenario> --target T --out DIR --jobs N`: every point of
// the scenario's `sweep:` section, each a `lightloop run` in a child process
// (N at a time), each in DIR/points/NNN/ with its resolved scenario, report
// and log. Resumable: a point whose report.json exists, finished, and was
// made from the same resolved scenario is kept, not run again; change a
// value and only the points it touches run. DIR/summary.csv has a row per
// point (its swept values, status, latency percentiles, throughput, KV
// traffic), and scripts/plot-sweep.sh draws it (latency.png, throughput.png).
//
//   sweep:
//     cartesian: {kv.local_blocks: [16, 24, 48]}
//     zip: {scheduler.max_seqs: [4, 8], scheduler.max_batch_tokens: [128, 256]}
#pragma once

#include <functional>
#include <string>

#include "lightloop/runtime/status.h"

namespace lightloop::testbench {

struct SweepOptions {
  std::string target = "sim";
  std::string out;
  int jobs = 1;
  bool plot = true;                   // run scripts/plot-sweep.sh when gnuplot is installed
  std::function<bool()> cancelled;    // Ctrl-C: running points finish their reports, no new ones start
  std::function<void(const std::string&)> log;  // one line per event (point started, done, failed)
};

struct SweepResult {
  size_t points = 0, ran = 0, reused = 0, failed = 0;
  bool interrupted = false;
  std::string summary_csv;  // DIR/summary.csv
  std::vector<std::string> plots;  // PNG files written
};

runtime::StatusOr<SweepResult> RunSweep(const std::string& scenario, const SweepOptions& options);

}  // namespace lightloop::testbench
