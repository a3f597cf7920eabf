// SPDX-License-Identifier: Apache-2.0
// Many `lightloop run`s, each in its own child process (its own SystemC
// kernel, provider and memnode), `jobs` at a time: how sweeps and suites run
// their points and cases. Each run writes its report folder and run.log;
// Ctrl-C (cancelled) lets the running ones finish their reports and starts
// no more.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace lightloop::testbench {

struct BatchRun {
  std::string label;     // for log lines
  std::string scenario;  // a scenario file
  std::string target;
  std::string out;  // its report folder (report.json, run.log, ...)
};

struct BatchResult {
  // ok | interrupted (the run stopped early; its report covers what ran) |
  // failed (no report; see run.log) | skipped (cancelled before it started)
  std::string status = "skipped";
  int exit_code = -1;
  double seconds = 0;
  nlohmann::json report;  // report.json when there is one
};

struct BatchOptions {
  int jobs = 1;
  std::function<bool()> cancelled;
  std::function<void(const std::string&)> log;
};

// The results in the order of `runs`; sets *interrupted when cancelled.
std::vector<BatchResult> RunBatch(const std::vector<BatchRun>& runs, const BatchOptions& options,
                                  bool* interrupted = nullptr);

}  // namespace lightloop::testbench
