// SPDX-License-Identifier: Apache-2.0
// Thresholds on a run's report, written in a scenario (`thresholds:`, checked
// by every `lightloop run` of it) or in a suite's case (with checks against
// other cases). Each item is one check on a dotted path of report.json:
//
//   thresholds:
//     - {metric: metrics.tpot_ms.p99, max: 30}                      # min and/or max
//     - {metric: tokens_sha256, golden: golden/quickstart.sha256}   # equals a file's text
//     - {metric: tokens_sha256, same_as: quickstart-sim}            # suites: equals that case's
//     - {metric: metrics.ttft_ms.p50, max_error_pct: 5, vs: board}  # suites: within 5% of that case's
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lightloop/hw_models/config/config_reader.h"

namespace lightloop::testbench {

struct Threshold {
  std::string metric;
  std::optional<double> min, max, max_error_pct;
  std::string golden;       // absolute
  std::string same_as, vs;  // other cases (suites)
  std::string where;        // file:line:column, for messages
};

struct ThresholdCheck {
  std::string what;    // "metrics.tpot_ms.p99 <= 30"
  bool passed = false;
  std::string detail;  // "metrics.tpot_ms.p99 = 24.9"
};

// The value at a dotted path of a report ("metrics.ttft_ms.p99"), or null
// with *missing saying which part is not there and what is.
const nlohmann::json* FindMetric(const nlohmann::json& report, const std::string& path, std::string* missing);

// The list under `key` of `r`; throws ConfigError for a bad item.
// `references` allows same_as and vs (suites, whose other cases they name).
std::vector<Threshold> ReadThresholds(hw_models::ConfigReader& r, const std::string& key, bool references);

// `others`: reports by case name, for same_as and vs (null: that case has none).
// `update_golden` writes the golden file from this report instead of checking it.
ThresholdCheck Evaluate(const Threshold& t, const nlohmann::json& report,
                        const std::map<std::string, const nlohmann::json*>& others = {}, bool update_golden = false);

}  // namespace lightloop::testbench
