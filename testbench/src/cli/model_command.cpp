// SPDX-License-Identifier: Apache-2.0
// `lightloop model`: drive a memory node model with synthetic traffic.
#include <charconv>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "lightloop/hw_models/node/memory_node.h"

namespace lightloop::testbench {
namespace hw = lightloop::hw_models;
namespace {

struct ModelArgs {
  std::string config;
  std::string pattern = "seq";
  std::string op = "write";
  std::string size = "64K";
  uint64_t count = 100000;
  uint32_t depth = 16;
  std::string stride = "1M";
  uint64_t seed = 1;
  double quantum_ns = 0;
  std::string json;
};

// "read", "write" or "mix:F" with F the fraction of reads.
runtime::StatusOr<double> ReadFraction(const std::string& op) {
  if (op == "read") return 1.0;
  if (op == "write") return 0.0;
  if (op.rfind("mix:", 0) == 0) {
    double f = -1;
    auto [ptr, ec] = std::from_chars(op.data() + 4, op.data() + op.size(), f);
    if (ec == std::errc() && ptr == op.data() + op.size() && f >= 0 && f <= 1) return f;
  }
  return runtime::InvalidArgument("--op: '" + op +
                                  "' is not read, write or mix:F with F from 0 to 1 (reads)");
}

nlohmann::json ToJson(const hw::ModelRunResult& r, const ModelArgs& a) {
  return {{"config", a.config},
          {"latency_ns", {{"p50", r.latency_ns_p50}, {"p99", r.latency_ns_p99}, {"max", r.latency_ns_max}}},
          {"gbps", r.gbps},
          {"link_utilization", r.link_utilization},
          {"retransmissions", {{"flit_errors", r.flit_errors}, {"flits_replayed", r.flits_replayed}}},
          {"row_buffer_hit_rate",
           r.row_buffer_hit_rate < 0 ? nlohmann::json() : nlohmann::json(r.row_buffer_hit_rate)},
          {"energy", {{"pj_per_bit", r.pj_per_bit}, {"joules", r.joules}}},
          {"sim_wall_s", r.sim_wall_s},
          {"simulated_s", r.simulated_s},
          {"reconfigurations", r.reconfigurations},
          {"quantum_syncs", r.quantum_syncs},
          {"closed_form", r.closed_form_gbps < 0 ? nlohmann::json()  // the link model has none
                                                 : nlohmann::json{{"latency_ns", r.closed_form_latency_ns},
                                                                  {"gbps", r.closed_form_gbps}}}};
}

void PrintTable(const hw::ModelRunResult& r) {
  std::cout << std::fixed << std::setprecision(2) << "latency ns   p50 " << r.latency_ns_p50 << "  p99 "
            << r.latency_ns_p99 << "  max " << r.latency_ns_max
            << "   (closed form, idle: " << r.closed_form_latency_ns << ")\n"
            << "bandwidth    " << r.gbps << " GB/s   (closed form, saturated: " << r.closed_form_gbps << ")\n"
            << "link         " << std::setprecision(3) << r.link_utilization << " utilized, " << r.flit_errors
            << " flit errors, " << r.flits_replayed << " flits replayed\n"
            << "memory       row-buffer hit rate "
            << (r.row_buffer_hit_rate < 0 ? std::string("n/a (no rows)")
                                          : std::to_string(r.row_buffer_hit_rate))
            << "\n"
            << "energy       " << r.pj_per_bit << " pJ per payload bit, " << std::scientific << r.joules
            << " J\n"
            << std::fixed << "simulated    " << r.simulated_s * 1e3 << " ms in " << r.sim_wall_s
            << " s of wall time\n";
}

runtime::Status RunModel(const ModelArgs& a) {
  hw::TrafficSpec t;
  t.pattern = a.pattern == "random"    ? hw::TrafficPattern::kRandom
              : a.pattern == "strided" ? hw::TrafficPattern::kStrided
                                       : hw::TrafficPattern::kSequential;
  LL_ASSIGN_OR_RETURN(t.read_fraction, ReadFraction(a.op));
  LL_ASSIGN_OR_RETURN(uint64_t size, ParseSizeFlag("--size", a.size));
  if (size == 0 || size > (1u << 30)) return runtime::InvalidArgument("--size must be from 1 byte to 1GiB");
  t.size = static_cast<uint32_t>(size);
  LL_ASSIGN_OR_RETURN(t.stride, ParseSizeFlag("--stride", a.stride));
  t.count = a.count;
  t.depth = a.depth;
  t.seed = a.seed;
  t.quantum_ns = a.quantum_ns;
  hw::NodeConfig node;
  try {
    node = hw::ReadNode(a.config);
  } catch (const hw::ConfigError& e) {
    return runtime::InvalidArgument(e.what());
  }
  if (t.size > node.memory_size()) return runtime::InvalidArgument("--size is larger than the node's memory");
  hw::ModelRunResult r = hw::RunNodeModel(node, t);
  PrintTable(r);
  LL_RETURN_IF_ERROR(WriteJsonIfAsked(a.json, ToJson(r, a)));
  return runtime::Status::Ok();
}

}  // namespace

void AddModelCommand(CLI::App& app, CommandFn& run) {
  auto a = std::make_shared<ModelArgs>();
  CLI::App* cmd = app.add_subcommand("model", "Drive a memory node model (hw_models) with synthetic traffic");
  cmd->add_option("--config", a->config, "node YAML, e.g. hw_models/presets/nodes/optical_io_fixed.yaml")
      ->required();
  cmd->add_option("--pattern", a->pattern, "address pattern")
      ->capture_default_str()
      ->check(CLI::IsMember({"seq", "random", "strided"}));
  cmd->add_option("--op", a->op, "read, write, or mix:F (F = fraction of reads)")->capture_default_str();
  cmd->add_option("--size", a->size, "bytes per transfer")->capture_default_str();
  cmd->add_option("--count", a->count, "transfers")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  cmd->add_option("--depth", a->depth, "transfers outstanding")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--stride", a->stride, "step of the strided pattern")->capture_default_str();
  cmd->add_option("--seed", a->seed, "seed of addresses and the read/write mix")->capture_default_str();
  cmd->add_option("--quantum-ns", a->quantum_ns,
                  "temporal decoupling: how far the traffic may run ahead of the kernel (0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e12));
  cmd->add_option("--json", a->json, "also write the results as JSON to this file");
  cmd->callback([a, &run] { run = [a] { return RunModel(*a); }; });
}

}  // namespace lightloop::testbench
