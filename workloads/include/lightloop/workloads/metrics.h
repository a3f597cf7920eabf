// SPDX-License-Identifier: Apache-2.0
// What the users of a served model see, per request and summarised: the
// queueing delay, time to first token (TTFT), each inter-token latency
// (ITL), time per output token (TPOT: (e2e - TTFT) / (tokens - 1)) and the
// end-to-end latency, with p50/p90/p95/p99 and mean of each, throughput and
// goodput under a TTFT/TPOT service-level objective. Times are on the run's
// clock: virtual on simulated targets, wall on real ones.
//
//   RequestTimes t{.arrival_ns = 0, .scheduled_ns = 5e6, .token_ns = {80e6, 95e6, 111e6}};
//   RunSummary s = Summarize({t}, {.ttft_ms = 200, .tpot_ms = 50}, span_ns);
//   s.ttft_ms.p99 ...
#pragma once

#include <cstdint>
#include <vector>

namespace lightloop::workloads {

struct RequestTimes {
  uint64_t arrival_ns = 0;
  uint64_t scheduled_ns = 0;       // first admitted into a batch
  std::vector<uint64_t> token_ns;  // when each output token came out
  uint32_t preemptions = 0;
};

struct Distribution {
  double p50 = 0, p90 = 0, p95 = 0, p99 = 0, mean = 0, max = 0;
  uint64_t count = 0;
};

// Nearest-rank percentiles of `values` (empty: all zero).
Distribution Summarize(std::vector<double> values);

struct Slo {
  double ttft_ms = 0;  // 0: no bound
  double tpot_ms = 0;
};

struct RunSummary {
  uint64_t requests = 0, finished = 0;
  uint64_t output_tokens = 0;
  Distribution queue_ms, ttft_ms, itl_ms, tpot_ms, e2e_ms;
  double span_s = 0;  // first arrival to last token
  double throughput_tok_s = 0, throughput_req_s = 0;
  double goodput_req_s = 0;  // finished requests that met the SLO, per second
  uint64_t slo_met = 0;
};

RunSummary Summarize(const std::vector<RequestTimes>& requests, const Slo& slo);

}  // namespace lightloop::workloads
