// SPDX-License-Identifier: Apache-2.0
// `lightloop bench transport --target sim`: what the sim target needs
// besides the benchmark itself. The lightloop provider is in-process only
// for now (no fabric daemon), so the memnode runs in the benchmark's own
// process; libfabric has to be pointed at the provider and the node file
// before its first use, and each point gets the node's closed form.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "lightloop/hw_models/node/memory_node.h"
#include "lightloop/runtime/memnode.h"
#include "lightloop/runtime/memnode_process.h"
#include "lightloop/runtime/status.h"

namespace lightloop::testbench {

struct SimTarget {
  std::string config;  // the node file the provider builds its fabric from
  hw_models::NodeConfig node;
};

// Resolves the node file (`config`, else FI_LIGHTLOOP_CONFIG, else the
// default preset the provider also uses), checks that it loads and has a
// link with a closed form, and sets FI_PROVIDER_PATH (the directory holding
// liblightloop-fi.so: the build's, else ../lib beside the running program)
// and FI_LIGHTLOOP_CONFIG. Call before anything in the process uses libfabric.
runtime::StatusOr<SimTarget> PrepareSimTarget(const std::string& config);

struct PointClosedForm {
  double gbps = 0;    // min(link x rails, memory, depth x size / lat_us)
  double lat_us = 0;  // one operation on the idle node
};

// The closed form of `depth` operations of `size` bytes kept in flight:
// the write (data, memory, ack) or read (request, memory, data) round trip
// of hw_models' node closed form (ModelRunResult::closed_form_latency_ns),
// and the saturated rate of the slower of the link and the memory, bounded
// by depth over latency (Little's law).
PointClosedForm ClosedFormOf(const hw_models::NodeConfig& node, bool write, uint64_t size, size_t depth);

// Where a benchmark's client connects: `address` when given (nic), else a
// memnode process on `provider` (nic), or on the sim target a memnode in
// this process on the lightloop provider (the simulated fabric cannot reach
// another process yet).
struct BenchMemnode {
  std::unique_ptr<runtime::MemnodeProcess> process;
  std::unique_ptr<runtime::Memnode> in_process;
  std::string address;
};
runtime::StatusOr<BenchMemnode> StartBenchMemnode(bool sim, const std::string& address,
                                                  const std::string& provider, const std::string& binary,
                                                  uint64_t capacity);

}  // namespace lightloop::testbench
