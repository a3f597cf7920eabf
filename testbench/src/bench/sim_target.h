// SPDX-License-Identifier: Apache-2.0
// `lightloop bench transport --target sim`: what the sim target needs
// besides the benchmark itself. The lightloop provider is in-process only
// for now (no fabric daemon), so the memnode runs in the benchmark's own
// process; libfabric has to be pointed at the provider and the node file
// before its first use, and each point gets the node's closed form.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "lightloop/hw_models/node/memory_node.h"
#include "lightloop/runtime/memnode.h"
#include "lightloop/runtime/memnode_process.h"
#include "lightloop/runtime/remote_memory.h"
#include "lightloop/runtime/status.h"

namespace lightloop::testbench {

struct SimTarget {
  std::string config;  // the node file the provider builds its fabric from
  hw_models::NodeConfig node;
  std::string board;  // fpga target: the board spec (FI_LIGHTLOOP_BOARD); empty on sim
};

// The folder holding liblightloop-fi.so: the build's, else ../lib beside the
// running program (an installed or relocated build/bin/lightloop).
runtime::StatusOr<std::string> ProviderDir();

// The node file the sim target uses when the scenario names none:
// FI_LIGHTLOOP_CONFIG, else the provider's default preset.
std::string DefaultNodeConfig();

// Resolves the node file (`config`, else FI_LIGHTLOOP_CONFIG, else the
// default preset the provider also uses), checks that it loads and has a
// link with a closed form, and sets FI_PROVIDER_PATH (the directory holding
// liblightloop-fi.so: the build's, else ../lib beside the running program)
// and FI_LIGHTLOOP_CONFIG. Call before anything in the process uses libfabric.
runtime::StatusOr<SimTarget> PrepareSimTarget(const std::string& config);

// The fpga target: the sim target's setup plus FI_LIGHTLOOP_BOARD=`board`
// (empty: FI_LIGHTLOOP_BOARD if set, else "virtual"), so the provider's regions live in that board's memory
// and RMA becomes its DMA. Same rule: before libfabric's first use.
runtime::StatusOr<SimTarget> PrepareFpgaTarget(const std::string& config, const std::string& board);

// sim and fpga run the lightloop provider with the memnode in this process.
bool InProcessTarget(const std::string& target);
// PrepareSimTarget or PrepareFpgaTarget as `target` says; nothing for nic.
runtime::StatusOr<std::optional<SimTarget>> PrepareInProcessTarget(const std::string& target,
                                                                   const std::string& config,
                                                                   const std::string& board);

// The board's ideal DMA rate: 8 bytes (one flit payload) per cycle at the
// virtual board's default clock, GB/s. A pcie board's clock may differ.
double BoardIdealGbps();

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
// The fpga target's: one DMA engine, so depth adds no rate; latency is the
// data's cycles alone (a lower bound: descriptor fetch and status not counted).
PointClosedForm BoardClosedFormOf(uint64_t size);

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

// A benchmark client's options for `node`: the lightloop provider when the
// memnode is in this process (sim, fpga), else `provider`.
runtime::RemoteMemoryClient::Options BenchClientOptions(const BenchMemnode& node, bool sim,
                                                        const std::string& provider,
                                                        const std::string& tenant, size_t depth);

}  // namespace lightloop::testbench
