// SPDX-License-Identifier: Apache-2.0
// `lightloop run`: a scenario on one target; `lightloop check`: validate one
// without running it; `lightloop compare`: reports
// side by side; `lightloop make-model`: a small random Llama in safetensors.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "lightloop/testbench/run.h"
#include "lightloop/testbench/scenario.h"
#include "lightloop/workloads/llama.h"

namespace lightloop::testbench {
namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void OnInterrupt(int) {
  g_interrupted = true;
}

struct RunArgs {
  std::string scenario;
  std::string target = "sim";
  std::string out;
  std::string json;
  bool quiet = false;
  bool trace = false;
  double progress_every_s = 5;  // not a terminal: a progress line this often
};

runtime::Status Run(const RunArgs& a) {
  LL_ASSIGN_OR_RETURN(Scenario s, LoadScenario(a.scenario));
  RunOptions o{.target = a.target, .out = a.out, .trace = a.trace};
  if (a.trace && a.out.empty())
    return runtime::InvalidArgument("--trace writes trace.json into --out; give --out");
  // Ctrl-C: the run stops after its step and reports what finished.
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigaction(SIGINT, &sa, nullptr);
  o.cancelled = [] { return g_interrupted.load(); };
  const bool tty = isatty(STDERR_FILENO) != 0;
  if (!a.quiet) {
    auto start = std::chrono::steady_clock::now();
    auto last_line = start;
    const auto every = std::chrono::duration<double>(a.progress_every_s);
    o.progress = [tty, start, last_line, every](uint64_t done, uint64_t total, double run_s) mutable {
      auto now = std::chrono::steady_clock::now();
      double wall = std::chrono::duration<double>(now - start).count();
      double eta = done > 0 ? wall * static_cast<double>(total - done) / static_cast<double>(done) : 0;
      if (tty) {
        int width = 30, filled = total ? static_cast<int>(width * done / total) : width;
        std::fprintf(stderr, "\r[%-*s] %llu/%llu requests  run %.1f s  wall %.1f s  eta %.0f s ", width,
                     std::string(static_cast<size_t>(filled), '#').c_str(),
                     static_cast<unsigned long long>(done), static_cast<unsigned long long>(total), run_s,
                     wall, eta);
        if (done == total) std::fprintf(stderr, "\n");
      } else if (now - last_line >= every || done == total) {
        last_line = now;
        std::fprintf(stderr, "progress %llu/%llu requests, run %.1f s, wall %.1f s, eta %.0f s\n",
                     static_cast<unsigned long long>(done), static_cast<unsigned long long>(total), run_s,
                     wall, eta);
      }
    };
  }
  LL_ASSIGN_OR_RETURN(nlohmann::json report, RunScenario(s, o));
  std::cout << CompareTable({report});
  if (report.contains("headline")) {
    for (const auto& [k, v] : report["headline"].items()) std::cout << k << " = " << v.dump() << "\n";
  }
  size_t failed = 0;
  if (report.contains("thresholds")) {
    for (const nlohmann::json& c : report["thresholds"]) {
      const bool ok = c["passed"].get<bool>();
      failed += ok ? 0 : 1;
      std::cout << (ok ? "ok    " : "FAIL  ") << c["check"].get<std::string>() << ": " << c["detail"].get<std::string>()
                << "\n";
    }
  }
  if (report["interrupted"].get<bool>()) std::cout << "interrupted: the report covers what finished\n";
  if (!a.out.empty()) std::cout << "wrote " << a.out << "/report.json\n";
  LL_RETURN_IF_ERROR(WriteJsonIfAsked(a.json, report));
  if (failed > 0) {
    return runtime::FailedPrecondition(std::to_string(failed) + " of " + std::to_string(report["thresholds"].size()) +
                                       " thresholds failed (the report is written)");
  }
  return runtime::Status::Ok();
}

runtime::Status Compare(const std::vector<std::string>& files) {
  std::vector<nlohmann::json> reports;
  for (const std::string& f : files) {
    std::ifstream in(f);
    if (!in) return runtime::NotFound(f + ": cannot open");
    nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.contains("metrics") || !j.contains("tokens_sha256")) {
      return runtime::InvalidArgument(f + ": not a lightloop run report (report.json)");
    }
    reports.push_back(std::move(j));
  }
  std::cout << CompareTable(reports);
  return runtime::Status::Ok();
}

}  // namespace

void AddRunCommand(CLI::App& app, CommandFn& run) {
  auto a = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Run a scenario (an LLM inference workload) on one target");
  cmd->add_option("scenario", a->scenario, "scenario YAML (e.g. testbench/scenarios/quickstart.yaml)")
      ->required();
  cmd->add_option("--target", a->target,
                  "local (host memory), nic (memnode over a NIC), sim (virtual time), fpga")
      ->check(CLI::IsMember({"local", "nic", "sim", "fpga"}));
  cmd->add_option("--out", a->out, "folder for report.json, series.csv and the scenario");
  cmd->add_option("--json", a->json, "also write the report here");
  cmd->add_flag("--quiet", a->quiet, "no progress output");
  cmd->add_option("--progress-every", a->progress_every_s,
                  "seconds between progress lines when stderr is not a terminal")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  cmd->add_flag("--trace", a->trace, "also write trace.json (Chrome trace events; open it in Perfetto)");
  cmd->callback([a, &run] { run = [a] { return Run(*a); }; });

  auto checked = std::make_shared<std::string>();
  auto resolved = std::make_shared<bool>(false);
  CLI::App* chk =
      app.add_subcommand("check", "Validate a scenario (keys, values, files it names) without running it");
  chk->add_option("scenario", *checked, "scenario YAML")->required();
  chk->add_flag("--resolved", *resolved,
                "print the scenario resolved (fragments merged, every key with its value) instead of a summary");
  chk->callback([checked, resolved, &run] {
    run = [checked, resolved]() -> runtime::Status {
      LL_ASSIGN_OR_RETURN(Scenario s, LoadScenario(*checked));
      LL_ASSIGN_OR_RETURN(std::string summary, CheckScenario(s));
      std::cout << (*resolved ? s.resolved_yaml : summary);
      return runtime::Status::Ok();
    };
  });

  auto files = std::make_shared<std::vector<std::string>>();
  CLI::App* cmp = app.add_subcommand("compare", "Put run reports side by side");
  cmp->add_option("reports", *files, "report.json files")->required();
  cmp->callback([files, &run] { run = [files] { return Compare(*files); }; });

  auto spec = std::make_shared<workloads::RandomModelSpec>();
  auto dir = std::make_shared<std::string>();
  CLI::App* mk = app.add_subcommand("make-model", "Write a small Llama with random weights (safetensors)");
  mk->add_option("--out", *dir, "folder for config.json and model.safetensors")->required();
  mk->add_option("--layers", spec->layers, "decoder layers")->capture_default_str();
  mk->add_option("--hidden", spec->hidden_size, "hidden size")->capture_default_str();
  mk->add_option("--heads", spec->heads, "attention heads")->capture_default_str();
  mk->add_option("--kv-heads", spec->kv_heads, "KV heads")->capture_default_str();
  mk->add_option("--intermediate", spec->intermediate_size, "MLP size")->capture_default_str();
  mk->add_option("--vocab", spec->vocab_size, "vocabulary")->capture_default_str();
  mk->add_option("--seed", spec->seed, "seed of the weights")->capture_default_str();
  mk->callback([spec, dir, &run] {
    run = [spec, dir] {
      if (spec->heads <= 0 || spec->hidden_size % spec->heads != 0) {
        return runtime::InvalidArgument("--hidden must be a multiple of --heads");
      }
      spec->head_dim = spec->hidden_size / spec->heads;
      LL_RETURN_IF_ERROR(workloads::WriteRandomModel(*dir, *spec));
      std::cout << "wrote " << *dir << "/config.json and " << *dir << "/model.safetensors\n";
      return runtime::Status::Ok();
    };
  });
}

}  // namespace lightloop::testbench
