// SPDX-License-Identifier: Apache-2.0
// `lightloop bench offload`: KV-cache offload and fetch bandwidth through
// memory_offload's KvBlockManager beside the raw runtime bandwidth of the
// same provider in the same run, and one decode step whose KV is in the
// remote tier, with and without prefetch, beside max(compute, transfer),
// and the same step computing layer by layer as each layer arrives; a
// prefill's write-back after it and layer by layer.
// On the nic target (a real provider, a memnode process) in wall time; on
// the sim target (the lightloop provider, the memnode in this process) in
// virtual time. The runtime's Clock does the timing either way.
//
//   OffloadBenchOptions opts{.provider = "shm", .block_bytes = 1 << 20, .blocks = 256};
//   LL_ASSIGN_OR_RETURN(OffloadBenchReport r, RunOffloadBench(opts));
//   std::cout << FormatTable(r);
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "lightloop/runtime/status.h"

namespace lightloop::testbench {

struct OffloadBenchOptions {
  std::string target = "nic";      // "nic" | "sim" | "fpga" (as for bench transport)
  std::string config;              // sim, fpga: hw_models node file
  std::string board;               // fpga: the board spec (default FI_LIGHTLOOP_BOARD, else virtual)
  std::string provider;            // nic: libfabric provider; empty: the memnode's
  std::string memnode_binary;      // lightloop program for the spawned memnode
  uint64_t block_bytes = 1 << 20;  // a KV block (rounded to whole tokens of the bench's model shape)
  uint64_t blocks = 256;           // blocks moved per measurement
  size_t depth = 16;               // the client's operations in flight
  std::string codec = "none";
  std::string layout = "block_major";  // the remote tier's block layout (block_major, layer_major)
  int repeats = 3;                     // measurements per figure; the best is reported
  // Off: the layer neither takes nor verifies checksums, to measure what
  // integrity costs (never off in a real run).
  bool checksums = true;
};

struct OffloadBenchReport {
  std::string target, time, provider, codec, layout;
  uint64_t block_bytes = 0, blocks = 0;
  double raw_write_gbps = 0, raw_read_gbps = 0;  // the runtime alone, block-sized operations
  double offload_gbps = 0, fetch_gbps = 0;       // through the KV cache (bytes of KV per second)
  double step_no_prefetch_us = 0;                // fetch, then compute
  double step_prefetch_us = 0;                   // start the fetch, compute, finish it
  double step_bound_us = 0;                      // max(compute, transfer)
  // Start the fetch, then per layer: wait for it (WaitLayer), compute it.
  double step_layer_pipelined_us = 0;
  // A prefill computing as long as the step, its KV written back after it
  // (Offload) or layer by layer as each layer is computed (OffloadLayer).
  double prefill_offload_after_us = 0;
  double prefill_offload_layered_us = 0;
  double compute_us = 0;     // the step's compute (set to the fetch's time)
  uint64_t bytes_saved = 0;  // by the codec, in the offload measurements
  bool checksums = true;
  // The cost of integrity on this thread (wall clock only; 0 in virtual
  // time, where hashing takes none): XXH3 over the blocks from memory, and
  // the raw runtime with that hash in series, 1 / (1/raw + 1/hash): what a
  // layer that hashed and then moved each block would get. Above 1 of it,
  // the layer hides hashing behind the transfers. In virtual time or
  // without checksums, the raw figures.
  double hash_gbps = 0;
  double verified_write_bound_gbps = 0, verified_read_bound_gbps = 0;
};

runtime::StatusOr<OffloadBenchReport> RunOffloadBench(const OffloadBenchOptions& options);
std::string FormatTable(const OffloadBenchReport& report);
nlohmann::json ToJson(const OffloadBenchReport& report);

}  // namespace lightloop::testbench
