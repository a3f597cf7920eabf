// SPDX-License-Identifier: Apache-2.0
// `lightloop bench weights`: weight streaming through memory_offload's
// WeightStreamer. A model's layers live in the remote tier; a token visits
// every layer in order, computing each while the streamer fetches the next
// ones. Reported beside two baselines measured in the same run: the raw
// runtime reading layer-sized operations, and the bound of a token,
// max(compute of every layer, transfer of the streamed layers). Each
// buffer count is one line (1: no overlap, 2: double, 3: triple buffering).
// Targets and timing as for `bench offload`.
//
//   WeightsBenchOptions opts{.provider = "shm", .layer_bytes = 16 << 20, .layers = 16};
//   LL_ASSIGN_OR_RETURN(WeightsBenchReport r, RunWeightsBench(opts));
//   std::cout << FormatTable(r);
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lightloop/runtime/status.h"

namespace lightloop::testbench {

struct WeightsBenchOptions {
  std::string target = "nic";  // "nic" | "sim" | "fpga" (as for bench transport)
  std::string config;          // sim, fpga: hw_models node file
  std::string board;           // fpga: the board spec (default FI_LIGHTLOOP_BOARD, else virtual)
  std::string provider;        // nic: libfabric provider; empty: the memnode's
  std::string memnode_binary;  // lightloop program for the spawned memnode
  uint64_t layer_bytes = 16 << 20;
  int64_t layers = 16;
  int64_t pinned = 0;                     // the first `pinned` layers stay resident
  std::vector<int64_t> buffers{1, 2, 3};  // a streamer per count
  uint64_t compute_ns = 0;                // per layer; 0: the raw transfer time of a layer
  int tokens = 2;                         // timed tokens per measurement, after one to warm up
  int repeats = 3;                        // measurements per figure; the best is reported
};

struct WeightsBenchLine {
  int64_t buffers = 0;
  double token_us = 0;  // one token, every layer
  double ratio = 0;     // token_us / the bound
  uint64_t stalls = 0;  // Acquires that waited, per token
  double stall_us = 0;  // time in them, per token
};

struct WeightsBenchReport {
  std::string target, time, provider;
  uint64_t layer_bytes = 0;
  int64_t layers = 0, pinned = 0;
  double raw_read_gbps = 0;  // the runtime alone, layer-sized reads, as many in flight as the streamer
  double stream_gbps = 0;    // streamed bytes per second through the streamer with no compute
  double compute_us = 0;     // per layer
  double bound_us = 0;       // max(layers x compute, streamed layers x a layer's raw transfer)
  std::vector<WeightsBenchLine> lines;
};

runtime::StatusOr<WeightsBenchReport> RunWeightsBench(const WeightsBenchOptions& options);
std::string FormatTable(const WeightsBenchReport& report);
nlohmann::json ToJson(const WeightsBenchReport& report);

}  // namespace lightloop::testbench
