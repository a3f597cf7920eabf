// SPDX-License-Identifier: Apache-2.0
// Scenario composition, the report folder and `lightloop sweep`, end to end
// through the CLI: a composed scenario is saved resolved and re-runs to the
// same result; a sweep runs every point in parallel, writes its summary and
// plots, resumes without re-running finished points, re-runs only what
// changed or was interrupted, and refuses bad values before running any.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lightloop/testbench/child_process.h"
#include "run_lightloop.h"

namespace lightloop::testbench {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kScenarios = std::string(LIGHTLOOP_SOURCE_DIR) + "/testbench/scenarios/";

using SweepTest = ScratchDirTest;

TEST_F(SweepTest, AComposedScenarioIsSavedResolvedAndReRunsToTheSameTokens) {
  std::string s = Write("composed.yaml", "include: " + kScenarios +
                                             "quickstart.yaml\nname: composed\nkv:\n"
                                             "  local_blocks: 32\n");
  CommandResult r = Lightloop("run " + s + " --target local --quiet --out " + (dir_ / "a").string());
  ASSERT_EQ(r.code, 0) << r.out;
  std::string resolved = Read(dir_ / "a" / "scenario.yaml");
  EXPECT_THAT(resolved, HasSubstr("local_blocks: 32"));
  EXPECT_THAT(resolved, HasSubstr("max_seqs: 8"));           // from the fragment
  EXPECT_THAT(resolved, HasSubstr("high_watermark: 0.95"));  // a default, written out
  EXPECT_THAT(resolved, HasSubstr("trace: /"));              // paths absolute
  EXPECT_THAT(resolved, ::testing::Not(HasSubstr("include")));
  nlohmann::json a = Report(dir_ / "a");
  EXPECT_EQ(a["resolved_scenario"], resolved);
  EXPECT_EQ(a["kv"]["local_blocks"], 32);
  EXPECT_TRUE(a["versions"].contains("libfabric"));
  // report.md has the run's figures.
  std::string md = Read(dir_ / "a" / "report.md");
  EXPECT_THAT(md, HasSubstr("# composed on local"));
  EXPECT_THAT(md, HasSubstr("| ttft |"));
  EXPECT_THAT(md, HasSubstr(a["tokens_sha256"].get<std::string>().substr(0, 16)));

  r = Lightloop("run " + (dir_ / "a" / "scenario.yaml").string() + " --target local --quiet --out " +
                (dir_ / "b").string());
  ASSERT_EQ(r.code, 0) << r.out;
  nlohmann::json b = Report(dir_ / "b");
  EXPECT_EQ(b["tokens_sha256"], a["tokens_sha256"]);
  EXPECT_EQ(b["kv"]["local_blocks"], 32);
}

TEST_F(SweepTest, ANodeWrittenInTheScenarioIncludesPresetsAndReRunsExactlyOnSim) {
  std::string s =
      Write("node.yaml", "include: " + kScenarios +
                             "quickstart.yaml\ntargets:\n  sim:\n    node:\n      include: "
                             "[links/optical_io_16x32g.yaml, memory/ddr5_4800.yaml]\n"
                             "      rails: 2\n      link: {fibre_m: 100}\nreport: {sample_every_ms: 0.02}\n");
  CommandResult r = Lightloop("run " + s + " --target sim --quiet --out " + (dir_ / "a").string());
  ASSERT_EQ(r.code, 0) << r.out;
  std::string node = Read(dir_ / "a" / "node.yaml");
  EXPECT_THAT(node, HasSubstr("fibre_m: 100"));             // the override
  EXPECT_THAT(node, HasSubstr("gbps_per_wavelength: 32"));  // the preset's
  EXPECT_THAT(node, HasSubstr("standard: ddr5"));
  EXPECT_THAT(Read(dir_ / "a" / "scenario.yaml"), HasSubstr("fibre_m: 100"));
  // The time series samples every 20 us of virtual time, with the link's utilization.
  std::istringstream series(Read(dir_ / "a" / "series.csv"));
  std::string line;
  std::getline(series, line);
  EXPECT_EQ(line.substr(line.rfind(',') + 1), "link_utilization");
  int rows = 0;
  double busiest = 0;
  while (std::getline(series, line)) {
    ++rows;
    double u = std::stod(line.substr(line.rfind(',') + 1));
    EXPECT_LE(u, 1.0001) << line;
    busiest = std::max(busiest, u);
  }
  EXPECT_GT(rows, 10);
  EXPECT_GT(busiest, 0);
  r = Lightloop("run " + (dir_ / "a" / "scenario.yaml").string() + " --target sim --quiet --out " +
                (dir_ / "b").string());
  ASSERT_EQ(r.code, 0) << r.out;
  nlohmann::json a = Report(dir_ / "a"), b = Report(dir_ / "b");
  EXPECT_EQ(a["metrics"], b["metrics"]);  // virtual time: the same numbers
  EXPECT_EQ(a["tokens_sha256"], b["tokens_sha256"]);
  // Both config and node is ambiguous.
  std::string both = Write("both.yaml", "include: " + s + "\ntargets: {sim: {config: " + node + "}}\n");
  r = Lightloop("check " + both);
  EXPECT_NE(r.code, 0);
}

TEST_F(SweepTest, TheScenarioNamesEachTargetsMemnodesAndBoard) {
  // nic: two memnodes started for the run, the remote tier striped across them.
  std::string two =
      Write("two.yaml", "include: " + kScenarios + "quickstart.yaml\ntargets: {nic: {memnodes: 2}}\n");
  CommandResult r = Lightloop("run " + two + " --target nic --quiet --out " + (dir_ / "two").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(Report(dir_ / "two")["tokens_sha256"],
            Read(std::string(LIGHTLOOP_SOURCE_DIR) + "/testbench/suites/golden/quickstart.tokens_sha256")
                .substr(0, 64));
  // The same scenario on sim: the model's one memory node, the same tokens.
  r = Lightloop("run " + two + " --target sim --quiet --out " + (dir_ / "sim").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(Report(dir_ / "sim")["tokens_sha256"], Report(dir_ / "two")["tokens_sha256"]);
  // fpga: the board backend, from the scenario.
  std::string board =
      Write("board.yaml", "include: " + kScenarios + "quickstart.yaml\ntargets: {fpga: {board: virtual}}\n");
  r = Lightloop("run " + board + " --target fpga --quiet --out " + (dir_ / "board").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(Report(dir_ / "board")["board"], "virtual");
  std::string bad =
      Write("bad.yaml", "include: " + kScenarios + "quickstart.yaml\ntargets: {fpga: {board: pci:/x}}\n");
  r = Lightloop("check " + bad);
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("bad.yaml:2:18: key 'targets.fpga.board'"));
}

TEST_F(SweepTest, RunsEveryPointSummarizesAndResumes) {
  std::string s =
      Write("sweep.yaml", "include: " + kScenarios +
                              "quickstart.yaml\nsweep:\n  cartesian:\n    kv.local_blocks: [24, 48]\n"
                              "  zip:\n    scheduler.max_seqs: [4, 8]\n"
                              "    scheduler.max_batch_tokens: [128, 256]\n");
  const std::string out = (dir_ / "sw").string();
  CommandResult r = Lightloop("sweep " + s + " --target local --jobs 2 --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("4 points: 4 ran, 0 reused, 0 failed"));
  std::istringstream csv(Read(fs::path(out) / "summary.csv"));
  std::string header, line;
  std::getline(csv, header);
  EXPECT_THAT(header,
              HasSubstr("point,kv.local_blocks,scheduler.max_seqs,scheduler.max_batch_tokens,status"));
  int rows = 0;
  while (std::getline(csv, line)) {
    ++rows;
    EXPECT_THAT(line, HasSubstr(",ok,")) << line;
  }
  EXPECT_EQ(rows, 4);
  // Each point ran what it says, and greedy decoding gives the same tokens whatever the schedule.
  nlohmann::json first = Report(fs::path(out) / "points" / "000");
  nlohmann::json last = Report(fs::path(out) / "points" / "003");
  EXPECT_EQ(first["kv"]["local_blocks"], 24);
  EXPECT_EQ(last["kv"]["local_blocks"], 48);
  EXPECT_THAT(last["resolved_scenario"].get<std::string>(), HasSubstr("max_batch_tokens: 256"));
  EXPECT_EQ(first["tokens_sha256"], last["tokens_sha256"]);
  EXPECT_GT(first["kv"]["bytes_offloaded"].get<double>(), last["kv"]["bytes_offloaded"].get<double>());
  for (const char* png : {"latency.png", "throughput.png"}) {
    std::string bytes = Read(fs::path(out) / png);
    ASSERT_GT(bytes.size(), 1000u) << png;
    EXPECT_EQ(bytes.substr(1, 3), "PNG") << png;
  }

  // Again: nothing to do.
  r = Lightloop("sweep " + s + " --target local --jobs 2 --no-plot --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("4 points: 0 ran, 4 reused"));
  // A lost report and an interrupted one run again; the rest are kept.
  fs::remove(fs::path(out) / "points" / "001" / "report.json");
  nlohmann::json interrupted = Report(fs::path(out) / "points" / "002");
  interrupted["interrupted"] = true;
  std::ofstream(fs::path(out) / "points" / "002" / "report.json") << interrupted.dump();
  r = Lightloop("sweep " + s + " --target local --jobs 2 --no-plot --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("4 points: 2 ran, 2 reused"));
  EXPECT_FALSE(Report(fs::path(out) / "points" / "002")["interrupted"].get<bool>());
  // A changed value re-runs only the points it touches.
  std::string changed = Read(s);
  changed.replace(changed.find("[24, 48]"), 8, "[24, 64]");
  std::ofstream(s) << changed;
  r = Lightloop("sweep " + s + " --target local --jobs 2 --no-plot --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("4 points: 2 ran, 2 reused"));
  EXPECT_EQ(Report(fs::path(out) / "points" / "003")["kv"]["local_blocks"], 64);
}

// sweep-kv-path.yaml on sim: every combination of swap_in, layout and
// write_back runs, and all eight give the quick start's tokens; the
// layered points swap in within their step, the after_prefill ones write
// prompts back, and those write more than the ones that only evict.
TEST_F(SweepTest, TheKvPathChoicesKeepTheTokens) {
  const std::string out = (dir_ / "kv-path").string();
  CommandResult r =
      Lightloop("sweep " + kScenarios + "sweep-kv-path.yaml --target sim --jobs 2 --no-plot --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("8 points: 8 ran, 0 reused, 0 failed"));
  nlohmann::json first = Report(fs::path(out) / "points" / "000");
  for (int p = 0; p < 8; ++p) {
    char name[8];
    std::snprintf(name, sizeof name, "%03d", p);
    nlohmann::json point = Report(fs::path(out) / "points" / name);
    SCOPED_TRACE(point["resolved_scenario"].get<std::string>());
    EXPECT_EQ(point["tokens_sha256"], first["tokens_sha256"]);
    const bool layered = p >= 4, after_prefill = p % 2 == 1;
    EXPECT_EQ(point["scheduler"]["layered_swap_ins"].get<uint64_t>() > 0, layered);
    EXPECT_EQ(point["scheduler"]["prefill_write_backs"].get<uint64_t>() > 0, after_prefill);
    if (after_prefill) {
      nlohmann::json evict_only =
          Report(fs::path(out) / "points" / (std::string(name, 2) + std::to_string(p - 1)));
      EXPECT_GT(point["kv"]["bytes_offloaded"].get<double>(),
                evict_only["kv"]["bytes_offloaded"].get<double>());
    }
  }
}

TEST_F(SweepTest, CtrlCKeepsWhatFinishedAndTheNextRunCompletesTheRest) {
  std::string s = Write("sweep.yaml", "include: " + kScenarios +
                                          "quickstart.yaml\nsweep:\n  cartesian:\n"
                                          "    kv.local_blocks: [24, 28, 32, 40, 48, 64]\n");
  const std::string out = (dir_ / "sw").string();
  auto child =
      ChildProcess::Start({LIGHTLOOP_BIN, "sweep", s, "--target", "local", "--no-plot", "--out", out});
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  std::string said;
  bool interrupted = false;
  while ((*child)->Poll(std::chrono::milliseconds(100), [&](const std::string& line) {
    said += line + "\n";
    if (!interrupted && line.find("point 1 [") != std::string::npos &&
        line.find("started") != std::string::npos) {
      interrupted = true;
      kill((*child)->pid(), SIGINT);  // as a terminal's Ctrl-C reaches the sweep
    }
  })) {
  }
  ASSERT_TRUE(interrupted) << said;
  EXPECT_NE((*child)->exit_code(), 0) << said;
  EXPECT_THAT(said, HasSubstr("interrupted (run it again to finish)"));
  std::string summary = Read(fs::path(out) / "summary.csv");
  EXPECT_THAT(summary, HasSubstr("0,24,ok,"));
  EXPECT_THAT(summary, HasSubstr("5,64,skipped,"));
  // Point 1 may have finished before the interrupt reached it (a loaded
  // machine): whatever finished is kept, exactly, and the rest run.
  size_t finished = 0;
  for (size_t at = 0; (at = summary.find(",ok,", at)) != std::string::npos; ++at) ++finished;
  ASSERT_GE(finished, 1u);
  CommandResult r = Lightloop("sweep " + s + " --target local --no-plot --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("6 points: " + std::to_string(6 - finished) + " ran, " +
                               std::to_string(finished) + " reused"));
}

TEST_F(SweepTest, BadValuesAreRefusedBeforeAnyPointRuns) {
  std::string s =
      Write("bad.yaml", "include: " + kScenarios +
                            "quickstart.yaml\nsweep:\n  cartesian:\n    kv.local_blocks: [24, -3]\n");
  const std::string out = (dir_ / "bad").string();
  CommandResult r = Lightloop("sweep " + s + " --target local --out " + out);
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("bad.yaml:4:27"));  // the -3
  EXPECT_THAT(r.out, HasSubstr("kv.local_blocks"));
  EXPECT_FALSE(fs::exists(fs::path(out) / "points"));

  s = Write("typo.yaml",
            "include: " + kScenarios + "quickstart.yaml\nsweep:\n  cartesian:\n    kv.local_blokcs: [24]\n");
  r = Lightloop("sweep " + s + " --target local --out " + out);
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("typo.yaml:4:"));
  EXPECT_THAT(r.out, HasSubstr("did you mean 'local_blocks'"));

  s = Write("zip.yaml", "include: " + kScenarios +
                            "quickstart.yaml\nsweep:\n  zip:\n    kv.local_blocks: [24, 32]\n"
                            "    scheduler.max_seqs: [4]\n");
  r = Lightloop("sweep " + s + " --target local --out " + out);
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("zipped lists step together"));

  s = Write("none.yaml", "include: " + kScenarios + "quickstart.yaml\n");
  r = Lightloop("sweep " + s + " --target local --out " + out);
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("no sweep: section"));
}

}  // namespace
}  // namespace lightloop::testbench
