// SPDX-License-Identifier: Apache-2.0
// `lightloop bench transport`: bandwidth and 64-byte latency of RMA writes
// and reads through the runtime to a memnode, against single-core memcpy
// measured in the same run.
//
//   TransportBenchOptions opts{.provider = "shm", .sizes = {1 << 20}, .depth = 16};
//   LL_ASSIGN_OR_RETURN(TransportBenchReport report, RunTransportBench(opts));
//   std::cout << FormatTable(report);
//   WriteFile("out.json", ToJson(report).dump(2));
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lightloop/runtime/status.h"

namespace lightloop::testbench {

struct TransportBenchOptions {
  std::string provider;        // empty: the memnode's (or FI_PROVIDER)
  std::string memnode;         // HOST:PORT; empty: start one
  std::string memnode_binary;  // lightloop program for the spawned memnode
  std::vector<uint64_t> sizes{4096, 65536, 1 << 20, 16 << 20};
  size_t depth = 16;
  std::chrono::milliseconds min_time{300};  // per measured point
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
  double memcpy_gbps = 0;      // memcpy of the same size over the same working set
  double ratio_vs_memcpy = 0;  // gbps / baseline memcpy_gbps
  uint64_t operations = 0;
};

struct TransportBenchReport {
  std::string provider;
  std::string mr_mode;
  std::string memnode;
  uint64_t chunk_size = 0;
  double memcpy_gbps = 0;  // baseline: 1 MiB blocks over a 256 MiB working set, one core
  std::vector<TransportResult> results;
};

runtime::StatusOr<TransportBenchReport> RunTransportBench(const TransportBenchOptions& options);
std::string FormatTable(const TransportBenchReport& report);
nlohmann::json ToJson(const TransportBenchReport& report);

}  // namespace lightloop::testbench
