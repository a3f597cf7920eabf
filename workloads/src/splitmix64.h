// SPDX-License-Identifier: Apache-2.0
// splitmix64 (Steele, Lea and Flood): one step of the generator, the same
// numbers on every machine. The random-weight writer, seeded sampling and
// the engine's token ids and prefix hashes all draw from it.
#pragma once

#include <cstdint>

namespace lightloop::workloads {

inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace lightloop::workloads
