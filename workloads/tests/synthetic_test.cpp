// SPDX-License-Identifier: Apache-2.0
// Synthetic streams: the rate and burstiness asked for, length
// distributions with their means, prefix groups that share blocks, and the
// same stream for the same seed.
#include "lightloop/workloads/synthetic.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace lightloop::workloads {
namespace {

// Mean and squared coefficient of variation of the inter-arrival gaps.
std::pair<double, double> GapStats(const std::vector<Request>& rs) {
  double sum = 0, sq = 0;
  for (size_t i = 1; i < rs.size(); ++i) {
    double g = rs[i].arrival_s - rs[i - 1].arrival_s;
    sum += g;
    sq += g * g;
  }
  double n = static_cast<double>(rs.size() - 1), mean = sum / n;
  return {mean, (sq / n - mean * mean) / (mean * mean)};
}

TEST(Synthetic, PoissonAndGammaArrivalsHaveTheirRateAndBurstiness) {
  auto [mean, cv2] = GapStats(Generate({.requests = 20000, .rate_per_s = 50}));
  EXPECT_NEAR(1 / mean, 50, 1.5);
  EXPECT_NEAR(cv2, 1.0, 0.06) << "exponential gaps";
  auto [gmean, gcv2] =
      GapStats(Generate({.requests = 20000, .rate_per_s = 50, .arrival = Arrival::kGamma, .burstiness = 4}));
  EXPECT_NEAR(1 / gmean, 50, 2.5);
  EXPECT_NEAR(gcv2, 4.0, 0.4) << "bursty";
}

TEST(Synthetic, LengthsFollowTheirDistribution) {
  auto rs =
      Generate({.requests = 20000,
                .input = {.kind = Lengths::kLognormal, .mean = 1000, .min = 1, .max = 1e6, .sigma = 0.8},
                .output = {.kind = Lengths::kUniform, .min = 10, .max = 30}});
  double in = 0;
  uint32_t out_min = ~0u, out_max = 0;
  for (const Request& r : rs) {
    in += r.input_tokens;
    out_min = std::min(out_min, r.output_tokens);
    out_max = std::max(out_max, r.output_tokens);
  }
  EXPECT_NEAR(in / rs.size(), 1000, 30);
  EXPECT_GE(out_min, 10u);
  EXPECT_LE(out_max, 30u);
}

TEST(Synthetic, PrefixGroupsShareTheirFirstBlocks) {
  auto rs = Generate({.requests = 200,
                      .input = {.mean = 3000},
                      .prefix_groups = 3,
                      .prefix_tokens = 1024,
                      .block_tokens = 512,
                      .seed = 7});
  std::set<std::pair<uint64_t, uint64_t>> prefixes;
  std::set<uint64_t> private_blocks;
  for (const Request& r : rs) {
    ASSERT_EQ(r.hash_ids.size(), 6u) << "ceil(3000 / 512)";
    prefixes.insert({r.hash_ids[0], r.hash_ids[1]});
    for (size_t b = 2; b < r.hash_ids.size(); ++b) EXPECT_TRUE(private_blocks.insert(r.hash_ids[b]).second);
  }
  EXPECT_EQ(prefixes.size(), 3u) << "three groups, two shared blocks each";
  auto again = Generate({.requests = 200,
                         .input = {.mean = 3000},
                         .prefix_groups = 3,
                         .prefix_tokens = 1024,
                         .block_tokens = 512,
                         .seed = 7});
  for (size_t i = 0; i < rs.size(); ++i) EXPECT_EQ(again[i].hash_ids, rs[i].hash_ids);
}

}  // namespace
}  // namespace lightloop::workloads
