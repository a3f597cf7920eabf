// SPDX-License-Identifier: Apache-2.0
// `lightloop bench transport`: bandwidth and 64-byte latency of RMA writes
// and reads through the runtime to a memnode. On the nic target (a real
// provider, a memnode process) against single-core memcpy measured in the
// same run, in wall time; on the sim target (the lightloop provider, the
// memnode in this process) against the node's closed form, in virtual time.
// Either way the runtime's Clock (lightloop/runtime/clock.h) does the timing.
//
//   TransportBenchOptions opts{.provider = "shm", .sizes = {1 << 20}, .depth = 16};
//   TransportBenchOptions sim{.target = "sim", .config = "hw_models/presets/nodes/pam4_fixed.yaml"};
//   LL_ASSIGN_OR_RETURN(TransportBenchReport report, RunTransportBench(opts));
//   std::cout << FormatTable(report);
//   WriteFile("out.json", ToJson(report).dump(2));
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lightloop/runtime/fabric.h"
#include "lightloop/runtime/status.h"

namespace lightloop::testbench {

struct TransportBenchOptions {
  // "nic": `provider` to a memnode process. "sim": the lightloop provider
  // with a memnode in this process; sets FI_PROVIDER_PATH and
  // FI_LIGHTLOOP_CONFIG, so libfabric must not have been used before.
  std::string target = "nic";
  // "fpga": as sim, with the provider's fpga backend on `board` (regions in
  // board memory, RMA by DMA, time = board cycles at its clock).
  std::string config;          // sim: hw_models node file; empty: FI_LIGHTLOOP_CONFIG or the default preset
  std::string board;           // fpga: board spec; empty: virtual
  std::string provider;        // empty: the memnode's (or FI_PROVIDER)
  std::string memnode;         // HOST:PORT; empty: start one
  std::string memnode_binary;  // lightloop program for the spawned memnode
  std::vector<uint64_t> sizes{4096, 65536, 1 << 20, 16 << 20};
  size_t depth = 16;
  std::chrono::milliseconds min_time{300};  // per measured point, on the runtime's clock (virtual on sim)
  size_t latency_iterations = 2000;
  uint64_t max_chunk = 0;  // 0: the provider's max_msg_size
};

struct TransportResult {
  std::string op;  // "write" | "read"
  uint64_t size = 0;
  size_t depth = 0;
  double gbps = 0;        // gigabytes (1e9) per second
  double lat_us_p50 = 0;  // issue to completion, per operation
  double lat_us_p99 = 0;
  double memcpy_gbps = 0;      // memcpy of the same size over the same working set (nic only)
  double ratio_vs_memcpy = 0;  // gbps / baseline memcpy_gbps (nic only)
  uint64_t operations = 0;
  // The node's closed form for this point (sim only, else negative): the
  // rate at this size and depth, and one operation's unloaded latency.
  double closed_form_gbps = -1;
  double closed_form_lat_us = -1;
  double wall_s = 0;  // wall time the measurement took
};

struct TransportBenchReport {
  std::string target;  // "nic" | "sim" | "fpga"
  std::string time;    // the runtime clock's kind: "wall" | "virtual"
  std::string config;  // sim: the node file
  std::string board;   // fpga: the board spec
  std::string provider;
  std::string mr_mode;
  std::string memnode;
  uint64_t chunk_size = 0;
  double memcpy_gbps = 0;        // nic baseline: 1 MiB blocks over a 256 MiB working set, one core
  double closed_form_gbps = -1;  // sim: the node's saturated rate (link x rails, memory)
  std::optional<runtime::ShmCopyChoice> shm_copy;  // provider shm: CMA or SAR, and why
  std::vector<TransportResult> results;
};

runtime::StatusOr<TransportBenchReport> RunTransportBench(const TransportBenchOptions& options);
std::string FormatTable(const TransportBenchReport& report);
nlohmann::json ToJson(const TransportBenchReport& report);

}  // namespace lightloop::testbench
