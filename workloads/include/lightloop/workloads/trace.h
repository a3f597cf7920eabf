// SPDX-License-Identifier: Apache-2.0
// LLM-serving request traces: the Azure LLM inference format (CSV:
// TIMESTAMP, ContextTokens, GeneratedTokens) and the Mooncake format (JSON
// lines: timestamp in ms, input_length, output_length, hash_ids of 512-token
// prefix blocks, which drive the prefix cache). Arrival times are seconds
// from the trace's first request, then windowed, sampled and scaled.
//
//   TraceOptions o{.window_end_s = 600, .time_scale = 0.5};   // the first ten minutes, twice as fast
//   LL_ASSIGN_OR_RETURN(std::vector<Request> rs, ReadTrace("workloads/traces/azure_conv_sample.csv", o));
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "lightloop/runtime/status.h"

namespace lightloop::workloads {

struct Request {
  uint64_t id = 0;  // row order in the trace, from 0
  double arrival_s = 0;
  uint32_t input_tokens = 0;
  uint32_t output_tokens = 0;
  std::vector<uint64_t> hash_ids;  // Mooncake: prefix blocks; empty for Azure
};

struct TraceOptions {
  double window_start_s = 0;  // keep arrivals in [start, end) of the trace
  double window_end_s = std::numeric_limits<double>::infinity();
  double time_scale = 1.0;    // arrival times are multiplied by this (0.5: twice the rate)
  double sample = 1.0;        // keep each request with this probability
  uint64_t seed = 1;          // of the sampling
  uint64_t max_requests = 0;  // 0: no limit
};

// Reads `path` in the format its name says (.csv: Azure, .jsonl: Mooncake).
// Errors name the file and line.
runtime::StatusOr<std::vector<Request>> ReadTrace(const std::string& path, const TraceOptions& options = {});

struct TraceSummary {
  uint64_t requests = 0;
  double span_s = 0;  // last arrival - first
  double mean_input = 0, mean_output = 0;
};
TraceSummary Summarize(const std::vector<Request>& requests);

}  // namespace lightloop::workloads
