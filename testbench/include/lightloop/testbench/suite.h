// SPDX-License-Identifier: Apache-2.0
// `lightloop suite <suite.yaml>`: a partner's regression suite. Each case
// runs a scenario on a target and checks thresholds on its report:
//
//   name: smoke
//   cases:
//     - name: quickstart-sim
//       scenario: ../scenarios/quickstart.yaml
//       target: sim
//       thresholds:
//         - {metric: metrics.tpot_ms.p99, max: 0.05}         # a bound
//         - {metric: tokens_sha256, golden: golden/quickstart.tokens_sha256}
//     - name: quickstart-fpga
//       scenario: ../scenarios/quickstart.yaml
//       target: fpga
//       thresholds:
//         - {metric: tokens_sha256, same_as: quickstart-sim}  # equal to another case's
//         - {metric: metrics.ttft_ms.p50, max_error_pct: 10, vs: quickstart-sim}
//
// A metric is a dotted path into report.json. Everything is validated
// before any case runs (file, line and key of each mistake). The cases run
// in child processes (--jobs at a time); the result is a summary, JUnit XML,
// and the exit status: non-zero when any threshold fails or a case fails to run.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "lightloop/runtime/status.h"

namespace lightloop::testbench {

struct SuiteOptions {
  std::string out;          // folder: cases/<name>/ report folders, summary.txt, junit.xml
  std::string junit;        // JUnit XML here too (e.g. for CI); empty: only out/junit.xml
  std::string target;       // overrides every case's target when set
  int jobs = 1;
  bool update_golden = false;  // write golden files from this run instead of checking them
  std::function<bool()> cancelled;
  std::function<void(const std::string&)> log;
};

struct SuiteResult {
  size_t cases = 0, failed_cases = 0, errors = 0;  // errors: cases that did not run to a report
  size_t checks = 0, failed_checks = 0;
  bool interrupted = false;
  std::string summary;  // what summary.txt holds
  bool passed() const { return failed_cases == 0 && errors == 0 && !interrupted; }
};

runtime::StatusOr<SuiteResult> RunSuite(const std::string& suite, const SuiteOptions& options);

}  // namespace lightloop::testbench
