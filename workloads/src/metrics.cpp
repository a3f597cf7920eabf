// SPDX-License-Identifier: Apache-2.0
#include "lightloop/workloads/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace lightloop::workloads {
namespace {

double Ms(uint64_t ns) {
  return static_cast<double>(ns) / 1e6;
}

double Rank(const std::vector<double>& sorted, double q) {
  // Nearest rank: the smallest value with at least q of the values at or below it.
  size_t k = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(k, 1, sorted.size()) - 1];
}

}  // namespace

Distribution Summarize(std::vector<double> values) {
  Distribution d;
  if (values.empty()) return d;
  std::sort(values.begin(), values.end());
  d.count = values.size();
  d.p50 = Rank(values, 0.50);
  d.p90 = Rank(values, 0.90);
  d.p95 = Rank(values, 0.95);
  d.p99 = Rank(values, 0.99);
  d.max = values.back();
  d.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  return d;
}

RunSummary Summarize(const std::vector<RequestTimes>& requests, const Slo& slo) {
  RunSummary s;
  s.requests = requests.size();
  std::vector<double> queue, ttft, itl, tpot, e2e;
  uint64_t first = UINT64_MAX, last = 0;
  for (const RequestTimes& r : requests) {
    first = std::min(first, r.arrival_ns);
    if (r.token_ns.empty()) continue;
    ++s.finished;
    s.output_tokens += r.token_ns.size();
    last = std::max(last, r.token_ns.back());
    queue.push_back(Ms(r.scheduled_ns - r.arrival_ns));
    const double t_first = Ms(r.token_ns.front() - r.arrival_ns);
    const double t_all = Ms(r.token_ns.back() - r.arrival_ns);
    ttft.push_back(t_first);
    e2e.push_back(t_all);
    for (size_t i = 1; i < r.token_ns.size(); ++i) itl.push_back(Ms(r.token_ns[i] - r.token_ns[i - 1]));
    double per_token = 0;
    if (r.token_ns.size() > 1) {
      per_token = (t_all - t_first) / static_cast<double>(r.token_ns.size() - 1);
      tpot.push_back(per_token);
    }
    const bool ok =
        (slo.ttft_ms <= 0 || t_first <= slo.ttft_ms) && (slo.tpot_ms <= 0 || per_token <= slo.tpot_ms);
    if (ok) ++s.slo_met;
  }
  s.queue_ms = Summarize(std::move(queue));
  s.ttft_ms = Summarize(std::move(ttft));
  s.itl_ms = Summarize(std::move(itl));
  s.tpot_ms = Summarize(std::move(tpot));
  s.e2e_ms = Summarize(std::move(e2e));
  if (s.finished > 0 && last > first) {
    s.span_s = static_cast<double>(last - first) / 1e9;
    s.throughput_tok_s = static_cast<double>(s.output_tokens) / s.span_s;
    s.throughput_req_s = static_cast<double>(s.finished) / s.span_s;
    s.goodput_req_s = static_cast<double>(s.slo_met) / s.span_s;
  }
  return s;
}

}  // namespace lightloop::workloads
