// SPDX-License-Identifier: Apache-2.0
// A memory node composed from YAML, and `lightloop model`'s traffic run
// against it: a requester, a photonic link and a memory. The link may be
// given inline or by reference to a preset file:
//
//   link: links/optical_io_16x32g.yaml      # relative to the node file, then to the presets
//   memory:
//     impl: fixed_latency
//     latency_ns: 90
//     size: 1GiB
//
//   NodeConfig node = ReadNode("hw_models/presets/nodes/optical_io_fixed.yaml");
//   ModelRunResult r = RunNodeModel(node, {.pattern = TrafficPattern::kRandom, .size = 65536});
#pragma once

#include <cstdint>
#include <string>

#include "lightloop/hw_models/link/photonic_link.h"

namespace lightloop::hw_models {

struct FixedMemoryParams {
  double latency_ns = 90;
  uint64_t size = 1ull << 30;
};

struct NodeConfig {
  std::string file;
  PhotonicLinkParams link;
  FixedMemoryParams memory;
};

// Throws ConfigError (file, line, column, key) for any bad input.
NodeConfig ReadNode(const std::string& path);

enum class TrafficPattern { kSequential, kRandom, kStrided };

struct TrafficSpec {
  TrafficPattern pattern = TrafficPattern::kSequential;
  double read_fraction = 0;  // 0: all writes, 1: all reads
  uint32_t size = 65536;
  uint64_t count = 10000;
  uint32_t depth = 16;
  uint64_t stride = 1 << 20;  // for kStrided
  uint64_t seed = 1;
};

struct ModelRunResult {
  double latency_ns_p50 = 0, latency_ns_p99 = 0, latency_ns_max = 0;
  double gbps = 0;              // payload GB/s in simulated time
  double link_utilization = 0;  // busiest direction's serializing time / simulated time
  uint64_t flit_errors = 0, flits_replayed = 0;
  double pj_per_bit = 0;  // energy per payload bit
  double joules = 0;
  double sim_wall_s = 0;
  double simulated_s = 0;
  // Closed form for this node: one transfer on an idle link (a write's or a
  // read's round trip, as the op mix says) and saturated goodput.
  double closed_form_latency_ns = 0;
  double closed_form_gbps = 0;
};

// Elaborates and simulates once: SystemC allows one run per process.
ModelRunResult RunNodeModel(const NodeConfig& node, const TrafficSpec& traffic);

}  // namespace lightloop::hw_models
