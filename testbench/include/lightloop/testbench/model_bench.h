// SPDX-License-Identifier: Apache-2.0
// `lightloop bench model`: how fast the hardware models simulate. A
// requester drives loosely-timed transactions through a photonic link into
// a memory; the baseline, measured in the same run, is a bare TLM-2.0
// b_transport loop into a target that only annotates a delay.
//
//   LL_ASSIGN_OR_RETURN(ModelBenchReport r, RunModelBench({}));
//   std::cout << FormatTable(r);
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "lightloop/runtime/status.h"

namespace lightloop::testbench {

struct ModelBenchOptions {
  uint64_t small_transactions = 2'000'000;  // 64-byte transactions for txn_per_s
  uint64_t stream_bytes = 16ull << 30;      // simulated traffic of 64 KiB transactions
};

struct ModelBenchReport {
  double txn_per_s = 0;           // 64 B transactions through link + memory, per wall second
  double gb_per_s_64k = 0;        // simulated GB per wall second, 64 KiB transactions
  double baseline_txn_per_s = 0;  // bare b_transport loop, same run
  double simulated_gbps_64k = 0;  // the link's bandwidth in simulated time (closed form: saturation)
  // The same two figures with the DDR5-4800 DRAM controller (transaction
  // level) in place of the fixed-latency memory.
  double dram_txn_per_s = 0;
  double dram_gb_per_s_64k = 0;
  // memcpy of the same 64 KiB pieces over the same 64 MiB span, same run:
  // the stream carries its data for real, so this bounds gb_per_s_64k.
  double memcpy_gb_per_s_64k = 0;
  std::string what;  // the model that was driven
};

// Runs once per process: SystemC elaborates a single time.
runtime::StatusOr<ModelBenchReport> RunModelBench(const ModelBenchOptions& options);
std::string FormatTable(const ModelBenchReport& report);
nlohmann::json ToJson(const ModelBenchReport& report);

}  // namespace lightloop::testbench
