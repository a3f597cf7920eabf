// SPDX-License-Identifier: Apache-2.0
// Synthetic request streams: Poisson or gamma arrivals at a rate, input and
// output lengths from a distribution, and shared-prefix groups (requests of
// a group start with the same prefix blocks, as a system prompt does), in
// the same Request form as the traces so the rest cannot tell them apart.
//
//   SyntheticSpec s{.requests = 1000, .rate_per_s = 20, .arrival = Arrival::kGamma, .burstiness = 4};
//   std::vector<Request> rs = Generate(s);
#pragma once

#include <cstdint>
#include <vector>

#include "lightloop/workloads/trace.h"

namespace lightloop::workloads {

enum class Arrival { kPoisson, kGamma };
enum class Lengths { kFixed, kUniform, kLognormal };

struct LengthSpec {
  Lengths kind = Lengths::kFixed;
  double mean = 512;  // tokens (fixed: the value; uniform: the middle of [min, max])
  double min = 1, max = 4096;
  double sigma = 0.5;  // lognormal: of the underlying normal
};

struct SyntheticSpec {
  uint64_t requests = 100;
  double rate_per_s = 10;
  Arrival arrival = Arrival::kPoisson;
  double burstiness = 1;  // gamma: the coefficient of variation squared (1 is Poisson)
  LengthSpec input{};
  LengthSpec output{.mean = 128};
  // Shared prefixes: `prefix_groups` groups, each request joining one at
  // random; its first `prefix_tokens` tokens are the group's.
  uint32_t prefix_groups = 0;
  uint32_t prefix_tokens = 0;
  uint32_t block_tokens = 512;  // tokens per hash_id block (Mooncake: 512)
  uint64_t seed = 1;
};

std::vector<Request> Generate(const SyntheticSpec& spec);

}  // namespace lightloop::workloads
