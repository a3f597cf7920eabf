// SPDX-License-Identifier: Apache-2.0
// `lightloop bench <what>`: benchmarks that print ratios against a baseline
// measured in the same run.
#include <fstream>
#include <iostream>
#include <memory>
#include <vector>

#include "cli/commands.h"
#include "lightloop/runtime/size.h"
#include "lightloop/testbench/model_bench.h"
#include "lightloop/testbench/offload_bench.h"
#include "lightloop/testbench/transport_bench.h"
#include "lightloop/testbench/weights_bench.h"

namespace lightloop::testbench {
namespace {

struct TransportArgs {
  std::string target = "nic";
  std::string config;
  std::string provider;
  std::string memnode;
  std::string sizes = "4K,64K,1M,16M";
  size_t depth = 16;
  std::string json;
  int min_time_ms = 300;
  size_t latency_iterations = 2000;
  std::string max_chunk = "0";
  std::string board;
};

// The virtual board simulates ~3 M cycles (~24 MB of DMA) per wall second:
// on fpga, the defaults the user did not override are scaled down.
void FpgaDefaults(TransportArgs& a, const CLI::App& t) {
  if (a.target != "fpga") return;
  if (t.count("--sizes") == 0) a.sizes = "4K,64K,1M";
  if (t.count("--min-time-ms") == 0) a.min_time_ms = 2;
  if (t.count("--latency-iterations") == 0) a.latency_iterations = 200;
}

runtime::Status RunTransport(const TransportArgs& a) {
  TransportBenchOptions o;
  o.target = a.target;
  o.config = a.config;
  o.board = a.board;
  o.provider = a.provider;
  o.memnode = a.memnode;
  auto sizes = runtime::ParseSizeList(a.sizes);
  if (!sizes.ok()) return sizes.status().WithContext("--sizes");
  o.sizes = *sizes;
  o.depth = a.depth;
  o.min_time = std::chrono::milliseconds(a.min_time_ms);
  o.latency_iterations = a.latency_iterations;
  LL_ASSIGN_OR_RETURN(o.max_chunk, ParseSizeFlag("--max-chunk", a.max_chunk));
  LL_ASSIGN_OR_RETURN(TransportBenchReport report, RunTransportBench(o));
  std::cout << FormatTable(report) << std::flush;
  LL_RETURN_IF_ERROR(WriteJsonIfAsked(a.json, ToJson(report)));
  return runtime::Status::Ok();
}

struct ModelArgs {
  uint64_t transactions = 2'000'000;
  std::string stream_bytes = "16GiB";
  std::string json;
};

runtime::Status RunModel(const ModelArgs& a) {
  ModelBenchOptions o;
  o.small_transactions = a.transactions;
  LL_ASSIGN_OR_RETURN(o.stream_bytes, ParseSizeFlag("--stream-bytes", a.stream_bytes));
  LL_ASSIGN_OR_RETURN(ModelBenchReport report, RunModelBench(o));
  std::cout << FormatTable(report) << std::flush;
  LL_RETURN_IF_ERROR(WriteJsonIfAsked(a.json, ToJson(report)));
  return runtime::Status::Ok();
}

struct OffloadArgs {
  std::string target = "nic";
  std::string config;
  std::string board;
  std::string provider;
  std::string block_size = "1MiB";
  uint64_t blocks = 256;
  bool blocks_given = false;
  size_t depth = 16;
  std::string codec = "none";
  std::string layout = "block_major";
  int repeats = 3;
  bool no_checksums = false;
  std::string json;
};

runtime::Status RunOffload(const OffloadArgs& a) {
  OffloadBenchOptions o;
  o.target = a.target;
  o.config = a.config;
  o.board = a.board;
  o.provider = a.provider;
  LL_ASSIGN_OR_RETURN(o.block_bytes, ParseSizeFlag("--block-size", a.block_size));
  // The virtual board moves ~24 MB of DMA per wall second and holds 256 MiB.
  o.blocks = a.target == "fpga" && !a.blocks_given ? 16 : a.blocks;
  o.depth = a.depth;
  o.codec = a.codec;
  o.layout = a.layout;
  o.repeats = a.repeats;
  o.checksums = !a.no_checksums;
  LL_ASSIGN_OR_RETURN(OffloadBenchReport report, RunOffloadBench(o));
  std::cout << FormatTable(report) << std::flush;
  LL_RETURN_IF_ERROR(WriteJsonIfAsked(a.json, ToJson(report)));
  return runtime::Status::Ok();
}

struct WeightsArgs {
  std::string target = "nic";
  std::string config;
  std::string board;
  std::string provider;
  std::string layer_size = "16MiB";
  int64_t layers = 16;
  int64_t pinned = 0;
  std::vector<int64_t> buffers{1, 2, 3};
  double compute_us = 0;
  int tokens = 2;
  int repeats = 3;
  std::string json;
};

// The virtual board moves ~24 MB of DMA per wall second: on fpga, the
// model's size defaults to 8 layers of 1 MiB.
void FpgaDefaults(WeightsArgs& a, const CLI::App& w) {
  if (a.target != "fpga") return;
  if (w.count("--layer-size") == 0) a.layer_size = "1MiB";
  if (w.count("--layers") == 0) a.layers = 8;
}

runtime::Status RunWeights(const WeightsArgs& a) {
  WeightsBenchOptions o;
  o.target = a.target;
  o.config = a.config;
  o.board = a.board;
  o.provider = a.provider;
  LL_ASSIGN_OR_RETURN(o.layer_bytes, ParseSizeFlag("--layer-size", a.layer_size));
  o.layers = a.layers;
  o.pinned = a.pinned;
  o.buffers = a.buffers;
  o.compute_ns = static_cast<uint64_t>(a.compute_us * 1e3);
  o.tokens = a.tokens;
  o.repeats = a.repeats;
  LL_ASSIGN_OR_RETURN(WeightsBenchReport report, RunWeightsBench(o));
  std::cout << FormatTable(report) << std::flush;
  LL_RETURN_IF_ERROR(WriteJsonIfAsked(a.json, ToJson(report)));
  return runtime::Status::Ok();
}

}  // namespace

void AddBenchCommand(CLI::App& app, CommandFn& run) {
  CLI::App* bench =
      app.add_subcommand("bench", "Benchmarks, each against a baseline measured in the same run");
  bench->require_subcommand(1);
  auto a = std::make_shared<TransportArgs>();
  CLI::App* t = bench->add_subcommand(
      "transport",
      "RMA write/read bandwidth and 64-byte latency through the runtime vs memcpy (nic) "
      "or the closed form (sim, fpga)");
  t->add_option("--target", a->target,
                "nic: a real provider to a memnode process (wall time); sim: the lightloop provider, "
                "memnode in-process (virtual time); fpga: as sim, the provider's regions in the board's "
                "memory and RMA by its DMA (board cycles; defaults: --sizes 4K,64K,1M --min-time-ms 2 "
                "--latency-iterations 200)")
      ->capture_default_str()
      ->check(CLI::IsMember({"nic", "sim", "fpga"}));
  t->add_option("--board", a->board,
                "fpga: the board spec (virtual, pcie:<BAR file>[,dma=...]; default virtual)");
  t->add_option("--config", a->config,
                "sim: hw_models node file (default: FI_LIGHTLOOP_CONFIG, else the provider's preset)");
  t->add_option("--provider", a->provider, "libfabric provider (tcp, shm, verbs, ...)");
  t->add_option("--memnode", a->memnode, "HOST:PORT of a running memnode; default: start one");
  t->add_option("--sizes", a->sizes, "transfer sizes, comma-separated")->capture_default_str();
  t->add_option("--depth", a->depth, "operations in flight")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  t->add_option("--json", a->json, "also write the results as JSON to this file");
  t->add_option("--min-time-ms", a->min_time_ms, "measuring time per point (virtual on sim)")
      ->capture_default_str()
      ->check(CLI::Range(1, 600000));
  t->add_option("--latency-iterations", a->latency_iterations, "64-byte round trips per op")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000000));
  t->add_option("--max-chunk", a->max_chunk, "split transfers above this size (0: provider's max_msg_size)")
      ->capture_default_str();
  t->callback([a, t, &run] {
    FpgaDefaults(*a, *t);
    run = [a] { return RunTransport(*a); };
  });

  auto m = std::make_shared<ModelArgs>();
  CLI::App* model = bench->add_subcommand(
      "model", "Simulation speed of the hardware models vs a bare TLM b_transport loop");
  model->add_option("--transactions", m->transactions, "64-byte transactions to time")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  model->add_option("--stream-bytes", m->stream_bytes, "simulated traffic of 64 KiB transactions")
      ->capture_default_str();
  model->add_option("--json", m->json, "also write the results as JSON to this file");
  model->callback([m, &run] { run = [m] { return RunModel(*m); }; });

  auto f = std::make_shared<OffloadArgs>();
  CLI::App* offload = bench->add_subcommand(
      "offload",
      "KV offload and fetch through memory_offload vs the raw runtime, and a decode step with and without "
      "prefetch vs max(compute, transfer)");
  offload
      ->add_option("--target", f->target,
                   "nic (wall time), sim (virtual time) or fpga (board cycles), as for bench transport")
      ->capture_default_str()
      ->check(CLI::IsMember({"nic", "sim", "fpga"}));
  offload->add_option("--config", f->config, "sim, fpga: hw_models node file");
  offload->add_option("--board", f->board,
                      "fpga: the board spec (virtual[,memory=<file>], pcie:<BAR file>[,dma=...]; default "
                      "FI_LIGHTLOOP_BOARD, else virtual)");
  offload->add_option("--provider", f->provider, "nic: libfabric provider (tcp, shm, verbs, ...)");
  offload
      ->add_option("--block-size", f->block_size, "KV block size (whole tokens of a 32-layer, 8-head model)")
      ->capture_default_str();
  CLI::Option* blocks = offload->add_option("--blocks", f->blocks, "blocks moved per measurement (fpga: 16)")
                            ->capture_default_str()
                            ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 20));
  offload->add_option("--depth", f->depth, "operations in flight")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  offload
      ->add_option("--layout", f->layout,
                   "the remote tier's block layout: block_major (a block's layers together) or layer_major "
                   "(one layer of a run of blocks together; transfers go layer by layer)")
      ->capture_default_str();
  offload->add_option("--codec", f->codec, "codec on the offload path (none, fp8_e4m3, fp8_e5m2, int8, int4)")
      ->capture_default_str();
  offload->add_option("--repeats", f->repeats, "measurements per figure; the best is reported")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  offload->add_flag(
      "--no-checksums", f->no_checksums,
      "measure without the layer's checksums, to see what integrity costs (never off in a run)");
  offload->add_option("--json", f->json, "also write the results as JSON to this file");
  offload->callback([f, blocks, &run] {
    f->blocks_given = blocks->count() > 0;
    run = [f] { return RunOffload(*f); };
  });

  auto w = std::make_shared<WeightsArgs>();
  CLI::App* weights = bench->add_subcommand(
      "weights",
      "Weight streaming through memory_offload vs the raw runtime, and a token's time per buffer count vs "
      "max(compute, transfer)");
  weights
      ->add_option("--target", w->target,
                   "nic (wall time), sim (virtual time) or fpga (board cycles), as for bench transport")
      ->capture_default_str()
      ->check(CLI::IsMember({"nic", "sim", "fpga"}));
  weights->add_option("--config", w->config, "sim, fpga: hw_models node file");
  weights->add_option("--board", w->board, "fpga: the board spec, as for bench offload");
  weights->add_option("--provider", w->provider, "nic: libfabric provider (tcp, shm, verbs, ...)");
  weights->add_option("--layer-size", w->layer_size, "one layer's weights (fpga: 1MiB)")
      ->capture_default_str();
  weights->add_option("--layers", w->layers, "layers of the model (fpga: 8)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  weights->add_option("--pinned", w->pinned, "the first N layers stay resident")->capture_default_str();
  weights->add_option("--buffers", w->buffers, "buffer counts to measure, comma-separated (1: no overlap)")
      ->delimiter(',')
      ->capture_default_str();
  weights
      ->add_option("--compute-us", w->compute_us,
                   "compute per layer; 0: a layer's raw transfer time (compute and transfer balanced)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9));
  weights->add_option("--tokens", w->tokens, "timed tokens per measurement")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  weights->add_option("--repeats", w->repeats, "measurements per figure; the best is reported")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  weights->add_option("--json", w->json, "also write the results as JSON to this file");
  weights->callback([w, weights, &run] {
    FpgaDefaults(*w, *weights);
    run = [w] { return RunWeights(*w); };
  });

  AddBoardBenchCommand(*bench, run);
}

}  // namespace lightloop::testbench
