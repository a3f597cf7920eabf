// SPDX-License-Identifier: Apache-2.0
// A scenario: one YAML file that describes a run of `lightloop run` — the
// model and its mode, the accelerator, the requests (a trace or synthetic
// arrivals), the scheduler, the KV cache and its tiers, sampling, the SLO,
// and how each target is reached. Every key is declared once with its unit,
// default and range (docs/config-reference.md lists them); a misspelled key,
// a wrong type or a value out of range is an error naming the file, line,
// column and key. Relative paths are relative to the folder of the file
// that wrote them (the scenario or a fragment it includes).
//
//   LL_ASSIGN_OR_RETURN(Scenario s, LoadScenario("testbench/scenarios/quickstart.yaml"));
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lightloop/hw_models/config/config_reader.h"
#include "lightloop/runtime/status.h"
#include "lightloop/testbench/thresholds.h"
#include "lightloop/workloads/llama.h"
#include "lightloop/workloads/synthetic.h"
#include "lightloop/workloads/trace.h"

namespace lightloop::testbench {

// One swept key: its dotted name and the values it takes, each with the
// place it was written.
struct SweepAxis {
  std::string key;
  std::vector<YAML::Node> values;
  std::vector<hw_models::Location> where;
};

// A scenario's `sweep:` section: every combination of the cartesian axes,
// each with the zipped axes stepping together (all of one length).
struct Sweep {
  std::vector<SweepAxis> cartesian;
  std::vector<SweepAxis> zip;
  bool empty() const { return cartesian.empty() && zip.empty(); }
};

// One point of a sweep: the values it sets, and a label ("kv.local_blocks=16 scheduler.max_seqs=4").
struct SweepPoint {
  std::vector<hw_models::ConfigOverride> overrides;
  std::string label;
};

struct Scenario {
  std::string path;  // the file it came from
  // The scenario resolved into one flat YAML: fragments merged, overrides
  // applied, every key with its value (defaults too), paths absolute.
  // `lightloop run` of this text gives the same run; every report keeps it.
  std::string resolved_yaml;
  Sweep sweep;
  std::string name;
  uint64_t seed = 1;

  // model
  std::string mode = "functional";  // functional | shape
  std::string model_dir;            // functional: config.json + safetensors; empty: a random model
  workloads::RandomModelSpec random;
  std::string model_config;  // shape: a config.json (preset name resolved to a path)
  int threads = 0;           // functional: 0 = every core

  // accelerator
  std::string accelerator;  // a preset file
  int accelerators = 1;

  // workload
  std::string trace;  // empty: synthetic
  workloads::TraceOptions trace_options;
  workloads::SyntheticSpec synthetic;
  uint32_t max_input_tokens = 0, max_output_tokens = 0;  // 0: as given

  // scheduler
  uint32_t max_batch_tokens = 2048, max_seqs = 256, prefill_chunk = 512;
  std::string preemption = "offload";
  std::string swap_in = "ahead";

  // kv cache
  int64_t block_tokens = 16;
  uint64_t local_blocks = 0;  // 0: from local_bytes
  uint64_t local_bytes = 0;
  uint64_t remote_blocks = 0;  // 0: four times the local tier
  double high_watermark = 0.95, low_watermark = 0.80;
  std::string eviction = "lru", codec = "none", prefetch = "wait_complete", layout = "block_major";
  std::string write_back = "on_evict";
  double prefetch_budget_us = 0;
  bool prefix_cache = true;
  uint64_t coalesce_bytes = 2 << 20;
  uint64_t alias_blocks = 1;  // shape mode: real slots behind each tier (few: they stay in cache)

  // weights (functional mode): streamed from the remote tier layer by layer
  bool weights_stream = false;
  int64_t weights_buffers = 2;          // local buffers for the streamed layers
  std::vector<int64_t> weights_pinned;  // layers fetched once, kept resident

  // sampling
  double temperature = 0;
  int64_t top_k = 0;

  // slo
  double slo_ttft_ms = 0, slo_tpot_ms = 0;

  // targets
  std::string nic_provider = "shm";
  std::vector<std::string> nic_memnodes;  // host:port of running memnodes; empty: start nic_memnode_count
  int nic_memnode_count = 1;
  std::string fpga_board;  // virtual | pcie:... | uio:...; empty: FI_LIGHTLOOP_BOARD, else virtual
  std::string sim_config;  // hw_models node file; empty: the provider's default
  std::string sim_node;    // or the node written in the scenario, resolved (YAML text)
  std::vector<std::string> report_metrics;  // report.metrics: headline values, by dotted path

  // Checked on the report of every run of the scenario (and by suites).
  std::vector<Threshold> thresholds;

  double sample_every_ms = 100;  // fractions too: a small model runs for microseconds of virtual time
};

// Loads `path` with the fragments it includes (`include:`, a path or a
// list: relative to the file, then to testbench/fragments/) and then
// `overrides` (a sweep point's values) applied.
runtime::StatusOr<Scenario> LoadScenario(const std::string& path,
                                         const std::vector<hw_models::ConfigOverride>& overrides = {});

// Every point of the scenario's sweep (one point, with no overrides, when it
// has none). An error when zipped lists differ in length.
runtime::StatusOr<std::vector<SweepPoint>> ExpandSweep(const Scenario& scenario);

// The declarations of every scenario key, for the generated reference.
std::vector<hw_models::ParamInfo> ScenarioReference();
// The same as markdown: docs/scenario-reference.md (`lightloop info --scenario-reference`).
std::string ScenarioReferenceMarkdown();

}  // namespace lightloop::testbench
