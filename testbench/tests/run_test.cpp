// SPDX-License-Identifier: Apache-2.0
// `lightloop run` end to end: the quick start's functional model generates
// the same tokens with its KV cache in host memory, behind a memnode over
// shm (nic) and on the simulated fabric (sim); the sim run is in virtual
// time and repeats exactly; the report has what the issue names; bad
// scenarios are refused with file, line and key.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "run_lightloop.h"

namespace lightloop::testbench {
namespace {

namespace fs = std::filesystem;

const std::string kQuickstart = std::string(LIGHTLOOP_SOURCE_DIR) + "/testbench/scenarios/quickstart.yaml";

fs::path Out(const std::string& name) {
  return fs::temp_directory_path() / ("ll-run-" + std::to_string(getpid()) + "-" + name);
}

nlohmann::json RunOn(const std::string& target, const std::string& scenario = kQuickstart) {
  fs::path out = Out(target);
  CommandResult r = Lightloop("run " + scenario + " --quiet --target " + target + " --out " + out.string());
  EXPECT_EQ(r.code, 0) << r.out;
  std::ifstream in(out / "report.json");
  if (!in) return {};
  nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_TRUE(fs::exists(out / "series.csv"));
  EXPECT_TRUE(fs::exists(out / "scenario.yaml"));
  fs::remove_all(out);
  return j;
}

TEST(Run, TokensAreIdenticalOnEveryTarget) {
  nlohmann::json local = RunOn("local"), nic = RunOn("nic"), sim = RunOn("sim"), fpga = RunOn("fpga");
  ASSERT_FALSE(local.empty());
  ASSERT_FALSE(nic.empty());
  ASSERT_FALSE(sim.empty());
  ASSERT_FALSE(fpga.empty());
  EXPECT_EQ(local["requests"], 12);
  EXPECT_EQ(local["finished"], 12);
  EXPECT_EQ(local["tokens_sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(nic["tokens_sha256"], local["tokens_sha256"]);
  // ...and to a run whose KV never leaves the local tier.
  nlohmann::json all_local =
      RunOn("local", std::string(LIGHTLOOP_SOURCE_DIR) + "/testbench/scenarios/quickstart-kv-local.yaml");
  ASSERT_FALSE(all_local.empty());
  EXPECT_EQ(all_local["kv"]["bytes_offloaded"], 0);
  EXPECT_EQ(all_local["scheduler"]["preemptions"], 0);
  EXPECT_EQ(all_local["tokens_sha256"], local["tokens_sha256"]);
  EXPECT_EQ(sim["tokens_sha256"], local["tokens_sha256"]);
  EXPECT_EQ(fpga["tokens_sha256"], local["tokens_sha256"]);
  EXPECT_EQ(fpga["provider"], "lightloop");
  EXPECT_EQ(fpga["board"], "virtual");
  EXPECT_TRUE(fpga["virtual_time"].get<bool>());
  EXPECT_GT(fpga["kv"]["bytes_fetched"].get<uint64_t>(), 0u);
  EXPECT_EQ(nic["provider"].get<std::string>().find("shm") != std::string::npos, true) << nic["provider"];
  EXPECT_EQ(sim["provider"], "lightloop");
  // The quick start's local tier is small: KV really crossed the fabric.
  EXPECT_GT(nic["kv"]["bytes_offloaded"].get<uint64_t>(), 0u);
  EXPECT_GT(sim["kv"]["bytes_fetched"].get<uint64_t>(), 0u);
  EXPECT_GT(sim["scheduler"]["preemptions"].get<uint64_t>(), 0u);
  EXPECT_FALSE(local["virtual_time"].get<bool>());
  EXPECT_TRUE(sim["virtual_time"].get<bool>());
  for (const char* m : {"ttft_ms", "tpot_ms", "e2e_ms"}) {
    for (const char* q : {"p50", "p99", "mean"}) {
      EXPECT_GT(sim["metrics"][m][q].get<double>(), 0) << m << "." << q;
    }
  }
  EXPECT_GT(sim["metrics"]["throughput_tok_s"].get<double>(), 0);
  // The sim target reports the link's energy for the KV it carried; the
  // local one has no link.
  EXPECT_GT(sim["energy_j"]["link"].get<double>(), 0);
  EXPECT_TRUE(local["energy_j"].is_null());
  EXPECT_GT(sim["wall_s"].get<double>(), 0);
}

// scheduler.swap_in: layered with kv.layout: layer_major: preempted
// sequences join the step their fetch starts in and wait layer by layer;
// the tokens are the quick start's on sim and nic, and no sequence sits out
// a step, so the longest gap between two tokens shrinks.
TEST(Run, LayeredSwapInKeepsTheTokens) {
  const std::string layered_yaml =
      std::string(LIGHTLOOP_SOURCE_DIR) + "/testbench/scenarios/quickstart-layered.yaml";
  nlohmann::json ahead = RunOn("sim"), layered = RunOn("sim", layered_yaml), nic = RunOn("nic", layered_yaml);
  ASSERT_FALSE(ahead.empty());
  ASSERT_FALSE(layered.empty());
  ASSERT_FALSE(nic.empty());
  EXPECT_EQ(layered["tokens_sha256"], ahead["tokens_sha256"]);
  EXPECT_EQ(nic["tokens_sha256"], ahead["tokens_sha256"]);
  EXPECT_EQ(ahead["scheduler"]["layered_swap_ins"], 0);
  EXPECT_GT(layered["scheduler"]["layered_swap_ins"].get<uint64_t>(), 0u);
  EXPECT_GT(nic["scheduler"]["layered_swap_ins"].get<uint64_t>(), 0u);
  EXPECT_EQ(layered["scheduler"]["voided_swap_ins"], 0);
  EXPECT_LT(layered["metrics"]["itl_ms"]["max"].get<double>(),
            ahead["metrics"]["itl_ms"]["max"].get<double>());
  // Under layer_major a block takes a remote slot a layer: a remote tier
  // of 201 blocks (not a whole number of 4-layer planes as slots) runs.
  const fs::path odd = Out("odd.yaml");
  std::ofstream(odd) << "include: " << layered_yaml << "\nkv:\n  remote_blocks: 201\n";
  nlohmann::json local = RunOn("local", odd.string());
  fs::remove(odd);
  ASSERT_FALSE(local.empty());
  EXPECT_EQ(local["kv"]["remote_blocks"], 201);
  EXPECT_EQ(local["tokens_sha256"], ahead["tokens_sha256"]);
  // best_effort never waits: layered would void nearly every swap-in.
  const fs::path eager = Out("eager.yaml");
  std::ofstream(eager) << "include: " << layered_yaml << "\nkv:\n  prefetch: best_effort\n";
  CommandResult refused = Lightloop("check " + eager.string());
  fs::remove(eager);
  EXPECT_NE(refused.code, 0);
  EXPECT_NE(refused.out.find("prefetch"), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("use wait_complete or timeout"), std::string::npos) << refused.out;
}

TEST(Run, VirtualTimeRunsRepeatExactly) {
  nlohmann::json a = RunOn("sim"), b = RunOn("sim");
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a["metrics"], b["metrics"]);
  EXPECT_EQ(a["kv"], b["kv"]);
  EXPECT_EQ(a["run_s"], b["run_s"]);
}

// The fpga target's time is the virtual board's cycles: deterministic too.
TEST(Run, FpgaRunsRepeatExactly) {
  nlohmann::json a = RunOn("fpga"), b = RunOn("fpga");
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a["metrics"], b["metrics"]);
  EXPECT_EQ(a["kv"], b["kv"]);
  EXPECT_EQ(a["run_s"], b["run_s"]);
}

TEST(Run, CompareShowsReportsSideBySide) {
  fs::path a = Out("cmp-a"), b = Out("cmp-b");
  ASSERT_EQ(Lightloop("run " + kQuickstart + " --quiet --target local --out " + a.string()).code, 0);
  ASSERT_EQ(Lightloop("run " + kQuickstart + " --quiet --target sim --out " + b.string()).code, 0);
  CommandResult r = Lightloop("compare " + (a / "report.json").string() + " " + (b / "report.json").string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("local"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sim"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("NO"), std::string::npos) << r.out;
  // The relative error of each metric against the first report.
  EXPECT_NE(r.out.find("relative to the first (quickstart on local)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ttft p50"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("%"), std::string::npos) << r.out;
  fs::remove_all(a);
  fs::remove_all(b);
}

// weights.stream: the model's layer weights live in the remote tier and
// every step computes from the streamed copies (the model keeps none); the
// tokens are the quick start's on sim and over shm (nic). On sim the
// fetches count each streamed layer of each step, the pinned layer once,
// and steps wait for weights where the link is slower than the compute.
// Bad weights keys are named with their file.
TEST(Run, StreamedWeightsKeepTheTokens) {
  const std::string yaml = std::string(LIGHTLOOP_SOURCE_DIR) + "/testbench/scenarios/quickstart-weights.yaml";
  nlohmann::json resident = RunOn("sim"), sim = RunOn("sim", yaml), nic = RunOn("nic", yaml);
  ASSERT_FALSE(resident.empty());
  ASSERT_FALSE(sim.empty());
  ASSERT_FALSE(nic.empty());
  EXPECT_FALSE(resident["weights"]["streamed"].get<bool>());
  EXPECT_EQ(sim["tokens_sha256"], resident["tokens_sha256"]);
  EXPECT_EQ(nic["tokens_sha256"], resident["tokens_sha256"]);
  const nlohmann::json& w = sim["weights"];
  ASSERT_TRUE(w["streamed"].get<bool>());
  EXPECT_EQ(w["dtype"], "bf16") << "the quick start's model is bf16: layers travel as bf16";
  const uint64_t layers = sim["model"]["layers"].get<uint64_t>(), steps = sim["steps"].get<uint64_t>();
  // Layer 0 (pinned) once; the others every step; and what the last
  // step sent for ahead (at most buffers - 1 layers).
  const uint64_t fetches = w["fetches"].get<uint64_t>(), every_step = steps * (layers - 1) + 1;
  EXPECT_GE(fetches, every_step);
  EXPECT_LT(fetches, every_step + w["buffers"].get<uint64_t>());
  EXPECT_EQ(w["bytes_fetched"].get<uint64_t>(),
            w["fetches"].get<uint64_t>() * w["layer_bytes"].get<uint64_t>());
  EXPECT_GT(w["stall_ms"].get<double>(), 0);
  EXPECT_GT(sim["run_s"].get<double>(), resident["run_s"].get<double>());
  EXPECT_GT(nic["weights"]["fetches"].get<uint64_t>(), 0u);

  const fs::path bad = Out("weights.yaml");
  auto refused = [&](const std::string& body, const std::string& words) {
    std::ofstream(bad) << body;
    CommandResult r = Lightloop("run " + bad.string() + " --target local --quiet");
    EXPECT_EQ(r.code, 1) << body;
    EXPECT_NE(r.out.find(bad.string() + ":"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(words), std::string::npos) << r.out;
  };
  refused("include: " + yaml + "\nweights: {pinned: \"0,x\"}\n", "'x' is not a layer number");
  refused("include: " + yaml + "\nweights: {pinned: \"9\"}\n", "weights.pinned: layer 9 is not a layer");
  refused("include: " + kQuickstart + "\nweights: {pinned: \"1\"}\n", "applies with stream: true");
  refused("include: " + std::string(LIGHTLOOP_SOURCE_DIR) +
              "/testbench/scenarios/azure-conv-llama70b.yaml\nweights: {stream: true}\n",
          "needs model.mode: functional");
  fs::remove(bad);
}

TEST(Run, BadScenariosNameFileLineAndKey) {
  fs::path dir = Out("bad");
  fs::create_directories(dir);
  std::ifstream in(kQuickstart);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  text.replace(text.find("../../"), 6, std::string(LIGHTLOOP_SOURCE_DIR) + "/");
  auto write = [&](const std::string& name, const std::string& body) {
    std::ofstream(dir / name) << body;
    return (dir / name).string();
  };
  // A misspelled key.
  std::string typo = text;
  typo.replace(typo.find("prefill_chunk"), 13, "prefil_chunk");
  std::string f = write("typo.yaml", typo);
  CommandResult r = Lightloop("run " + f + " --target local");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find(f + ":"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("scheduler.prefil_chunk"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("prefill_chunk"), std::string::npos) << r.out;  // did you mean
  // A value out of range, a missing trace, malformed YAML.
  std::string range = text;
  range.replace(range.find("block_tokens: 16"), 16, "block_tokens: 0");
  r = Lightloop("run " + write("range.yaml", range) + " --target local");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("kv.block_tokens"), std::string::npos) << r.out;
  std::string trace = text;
  trace.replace(trace.find("azure_conv_sample.csv"), 21, "missing.csv");
  r = Lightloop("run " + write("trace.yaml", trace) + " --target local");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("workload.trace"), std::string::npos) << r.out;
  r = Lightloop("run " + write("broken.yaml", "model: {mode: [\n") + " --target local");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("broken.yaml:"), std::string::npos) << r.out;
  // The fpga target names a board it cannot open.
  r = Lightloop("run " + kQuickstart + " --target fpga", "FI_LIGHTLOOP_BOARD=bogus");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("bogus"), std::string::npos) << r.out;
  fs::remove_all(dir);
}

// Ctrl-C: the run stops after its step and still writes the report of
// what finished.
TEST(Run, InterruptReportsWhatFinished) {
  fs::path out = Out("interrupt");
  const std::string scenario =
      std::string(LIGHTLOOP_SOURCE_DIR) + "/testbench/scenarios/azure-conv-llama70b.yaml";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    unsetenv("FI_PROVIDER");
    unsetenv("FI_LIGHTLOOP_CONFIG");
    unsetenv("FI_LIGHTLOOP_BOARD");
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execl(LIGHTLOOP_BIN, LIGHTLOOP_BIN, "run", scenario.c_str(), "--target", "sim", "--quiet", "--out",
          out.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // The whole trace takes tens of seconds; stop it after a few.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  ASSERT_EQ(kill(pid, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::ifstream in(out / "report.json");
  ASSERT_TRUE(in) << "no report after the interrupt";
  nlohmann::json r = nlohmann::json::parse(in);
  EXPECT_TRUE(r["interrupted"].get<bool>());
  EXPECT_EQ(r["requests"], 19366);
  EXPECT_GT(r["finished"].get<uint64_t>(), 0u);
  EXPECT_LT(r["finished"].get<uint64_t>(), 19366u);
  fs::remove_all(out);
}

TEST(Run, TraceOpensAsChromeTraceEvents) {
  fs::path out = Out("trace");
  CommandResult r = Lightloop("run " + kQuickstart + " --quiet --trace --target sim --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream rin(out / "report.json"), tin(out / "trace.json");
  ASSERT_TRUE(tin) << "no trace.json";
  nlohmann::json report = nlohmann::json::parse(rin), trace = nlohmann::json::parse(tin);
  std::map<std::string, uint64_t> by_phase;
  uint64_t steps = 0;
  double fetched_mb = 0;
  for (const nlohmann::json& e : trace["traceEvents"]) {
    ++by_phase[e["ph"].get<std::string>()];
    if (e["name"] == "step") ++steps;
    if (e["name"] == "KV transfer") {
      EXPECT_GT(e["dur"].get<double>(), 0);
      fetched_mb += e["args"]["fetched_MB"].get<double>();
    }
  }
  EXPECT_EQ(steps, report["steps"].get<uint64_t>());
  // The transfers' slices carry every fetched byte that a step waited for.
  EXPECT_GT(fetched_mb, 0);
  EXPECT_LE(fetched_mb, report["kv"]["bytes_fetched"].get<double>() / 1e6 + 1e-9);
  EXPECT_EQ(by_phase["b"], report["finished"].get<uint64_t>());
  EXPECT_EQ(by_phase["e"], report["finished"].get<uint64_t>());
  EXPECT_GT(by_phase["C"], 0u);
  // --trace needs a folder to write into.
  EXPECT_EQ(Lightloop("run " + kQuickstart + " --trace --target local").code, 1);
  fs::remove_all(out);
}

TEST(Run, CheckValidatesWithoutRunning) {
  CommandResult r = Lightloop("check " + kQuickstart);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("12 requests"), std::string::npos) << r.out;
  r = Lightloop("check " + std::string(LIGHTLOOP_SOURCE_DIR) +
                "/testbench/scenarios/azure-conv-llama70b.yaml");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("19366 requests"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("KV block 5242880 bytes"), std::string::npos) << r.out;
  fs::path bad = Out("check.yaml");
  std::ofstream(bad) << "model: {mode: shap}\nworkload: {synthetic: {}}\n";
  r = Lightloop("check " + bad.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find(bad.string() + ":1:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("did you mean 'shape'"), std::string::npos) << r.out;
  fs::remove(bad);
}

TEST(Run, TheScenarioReferenceIsUpToDate) {
  CommandResult r = Lightloop("info --scenario-reference");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* row :
       {"| `kv.block_tokens` | integer | tokens | 16 |", "| `scheduler.preemption` | choice |",
        "| `model.random.layers` | integer |", "| `model.preset` | text |"}) {
    EXPECT_NE(r.out.find(row), std::string::npos) << row;
  }
  std::ifstream in(std::string(LIGHTLOOP_SOURCE_DIR) + "/docs/scenario-reference.md");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(text == r.out)
      << "docs/scenario-reference.md is stale; regenerate it from the repository root:\n"
      << "  build/bin/lightloop info --scenario-reference > docs/scenario-reference.md";
}

TEST(Run, MakeModelWritesALoadableModel) {
  fs::path dir = Out("model");
  CommandResult r =
      Lightloop("make-model --out " + dir.string() + " --layers 2 --hidden 64 --heads 4 --kv-heads 2");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(dir / "config.json"));
  EXPECT_TRUE(fs::exists(dir / "model.safetensors"));
  r = Lightloop("make-model --out " + dir.string() + " --hidden 65 --heads 4");
  EXPECT_EQ(r.code, 1);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lightloop::testbench
