// SPDX-License-Identifier: Apache-2.0
#include "lightloop/workloads/synthetic.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace lightloop::workloads {
namespace {

uint32_t Draw(const LengthSpec& l, std::mt19937_64& rng) {
  double v = l.mean;
  switch (l.kind) {
    case Lengths::kFixed: break;
    case Lengths::kUniform: v = std::uniform_real_distribution<double>(l.min, l.max)(rng); break;
    case Lengths::kLognormal: {
      // mean of a lognormal = exp(mu + sigma^2 / 2)
      double mu = std::log(l.mean) - l.sigma * l.sigma / 2;
      v = std::lognormal_distribution<double>(mu, l.sigma)(rng);
      break;
    }
  }
  return static_cast<uint32_t>(std::clamp(std::round(v), std::max(1.0, l.min), l.max));
}

}  // namespace

std::vector<Request> Generate(const SyntheticSpec& s) {
  std::mt19937_64 rng(s.seed);
  std::vector<Request> out;
  out.reserve(s.requests);
  // Gamma inter-arrivals with shape k = 1 / cv^2 and mean 1 / rate: k = 1 is exponential (Poisson).
  const double shape = s.arrival == Arrival::kGamma ? 1.0 / std::max(s.burstiness, 1e-6) : 1.0;
  std::gamma_distribution<double> gap(shape, 1.0 / (s.rate_per_s * shape));
  std::uniform_int_distribution<uint32_t> group(0, s.prefix_groups > 0 ? s.prefix_groups - 1 : 0);
  const uint64_t group_blocks = s.block_tokens > 0 ? s.prefix_tokens / s.block_tokens : 0;
  uint64_t next_block = uint64_t{s.prefix_groups} * group_blocks;  // ids above the groups' own
  double t = 0;
  for (uint64_t i = 0; i < s.requests; ++i) {
    Request r;
    r.id = i;
    if (i > 0) t += gap(rng);
    r.arrival_s = t;
    r.input_tokens = Draw(s.input, rng);
    r.output_tokens = Draw(s.output, rng);
    uint64_t blocks = s.block_tokens > 0 ? (r.input_tokens + s.block_tokens - 1) / s.block_tokens : 0;
    uint64_t shared = 0;
    if (s.prefix_groups > 0) {
      r.input_tokens = std::max(r.input_tokens, s.prefix_tokens);
      blocks = (r.input_tokens + s.block_tokens - 1) / s.block_tokens;
      uint32_t g = group(rng);
      shared = std::min<uint64_t>(group_blocks, blocks);
      for (uint64_t b = 0; b < shared; ++b) r.hash_ids.push_back(g * group_blocks + b);
    }
    for (uint64_t b = shared; b < blocks; ++b) r.hash_ids.push_back(next_block++);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace lightloop::workloads
