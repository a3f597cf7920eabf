// SPDX-License-Identifier: Apache-2.0
// A memory node composed from YAML, and `lightloop model`'s traffic run
// against it: a requester, one or more photonic links side by side (rails;
// each transfer is striped across them), and one or more memory controllers
// (addresses interleaved across them). Link and memory may be given inline
// or by reference to a preset file; the memory is any registered model
// (memory_registry.h), a partner's own included:
//
//   link: links/optical_io_16x32g.yaml      # relative to the node file, then to the presets
//   rails: 2
//   memory: memory/ddr5_4800.yaml            # or inline: {impl: fixed_latency, latency_ns: 90}
//   controllers: 2
//   interleave_bytes: 4096
//   switch: {impl: ocs, ports: 4, reconfig_us: 0.004}   # optional: controllers behind a circuit switch
//
//   NodeConfig node = ReadNode("hw_models/presets/nodes/optical_io_fixed.yaml");
//   ModelRunResult r = RunNodeModel(node, {.pattern = TrafficPattern::kRandom, .size = 65536});
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "lightloop/hw_models/link/link_registry.h"
#include "lightloop/hw_models/link/photonic_link.h"
#include "lightloop/hw_models/memory/memory_registry.h"
#include "lightloop/hw_models/switch/switch_registry.h"

namespace lightloop::hw_models {

struct NodeConfig {
  std::string file;
  std::shared_ptr<const LinkSpec> link;  // of one rail
  int64_t rails = 1;
  std::shared_ptr<const MemorySpec> memory;  // of one controller
  int64_t controllers = 1;
  uint64_t interleave_bytes = 4096;
  // With a switch, controller k sits behind output k (contiguous, not
  // interleaved) and rail i (switch input i) carries the traffic of the
  // controllers k with k % rails == i.
  std::shared_ptr<const SwitchSpec> fabric_switch;  // none: no switch
  uint64_t memory_size() const { return memory->size() * static_cast<uint64_t>(controllers); }
};

// How one transfer of `bytes` divides over a node whose rails are striped
// and whose controllers are interleaved: what each rail carries and what the
// busiest controller serves. The node model, its closed form and the sim
// provider all divide transfers this way.
struct TransferShare {
  uint64_t per_rail = 0;
  uint64_t per_controller = 0;
};
TransferShare StripedShare(const NodeConfig& node, uint64_t bytes);

// Throws ConfigError (file, line, column, key) for any bad input.
NodeConfig ReadNode(const std::string& path);
// The same from a node already parsed (`top`, its top-level mapping), with
// preset references resolved beside `path`; calls top.Finish().
NodeConfig ReadNode(ConfigReader& top, const std::string& path);

enum class TrafficPattern { kSequential, kRandom, kStrided };

struct TrafficSpec {
  TrafficPattern pattern = TrafficPattern::kSequential;
  double read_fraction = 0;  // 0: all writes, 1: all reads
  uint32_t size = 65536;
  uint64_t count = 10000;
  uint32_t depth = 16;
  uint64_t stride = 1 << 20;  // for kStrided
  uint64_t seed = 1;
  // Temporal decoupling: how far the driver's local time may run ahead of
  // the kernel before it syncs (0: no limit).
  double quantum_ns = 0;
};

struct ModelRunResult {
  double latency_ns_p50 = 0, latency_ns_p99 = 0, latency_ns_max = 0;
  double gbps = 0;              // payload GB/s in simulated time
  double link_utilization = 0;  // busiest direction's serializing time / simulated time
  uint64_t flit_errors = 0, flits_replayed = 0;
  double row_buffer_hit_rate = -1;  // -1: the memory has no rows
  double pj_per_bit = 0;            // energy per payload bit, link and memory
  double joules = 0;
  double sim_wall_s = 0;
  double simulated_s = 0;
  // Closed form for this node: one transfer on an idle link (a write's or a
  // read's round trip, as the op mix says) and saturated goodput.
  // Negative when the link model has no closed form (a partner's link).
  double closed_form_latency_ns = -1;
  double closed_form_gbps = -1;
  uint64_t reconfigurations = 0;  // of the switch, if the node has one
  uint64_t quantum_syncs = 0;     // times the driver waited for the kernel
};

// Elaborates and simulates once: SystemC allows one run per process.
ModelRunResult RunNodeModel(const NodeConfig& node, const TrafficSpec& traffic);

}  // namespace lightloop::hw_models
