// SPDX-License-Identifier: Apache-2.0
// `lightloop suite` end to end: the shipped smoke suite passes and writes
// JUnit XML; a threshold that fails, a case that cannot run (a dead
// memnode) and a golden file that differs each fail the suite with a
// non-zero exit and say so in the XML; a bad suite file is refused, with
// file, line and key, before any case runs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "run_lightloop.h"

namespace lightloop::testbench {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kSource = LIGHTLOOP_SOURCE_DIR;
const std::string kQuickstart = kSource + "/testbench/scenarios/quickstart.yaml";

using SuiteTest = ScratchDirTest;

TEST_F(SuiteTest, TheSmokeSuitePassesAndWritesJUnit) {
  const std::string junit = (dir_ / "smoke.xml").string();
  CommandResult r = Lightloop("suite " + kSource + "/testbench/suites/smoke.yaml --jobs 2 --out " +
                              (dir_ / "out").string() + " --junit " + junit);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("suite smoke: 5 cases, 0 failed"));
  std::string xml = Read(junit);
  EXPECT_THAT(xml, HasSubstr("<testsuite name=\"smoke\" tests=\"5\" failures=\"0\" errors=\"0\""));
  EXPECT_THAT(xml, HasSubstr("<testcase classname=\"smoke\" name=\"board-model\""));
  EXPECT_THAT(xml, HasSubstr("error 0."));  // the board model within 1% of the board
  EXPECT_EQ(xml, Read(dir_ / "out" / "junit.xml"));
  EXPECT_TRUE(fs::exists(dir_ / "out" / "cases" / "quickstart-fpga" / "report.json"));
}

TEST_F(SuiteTest, FailingThresholdsDeadPeersAndGoldenMismatchesFailTheSuite) {
  Write("golden.txt", "not-the-tokens\n");
  std::string dead = Write("dead.yaml", "include: " + kQuickstart + "\ntargets: {nic: {memnode: \"127.0.0.1:1\"}}\n");
  std::string suite = Write("s.yaml", "name: partner\ncases:\n"
                                      "  - name: tight\n    scenario: " + kQuickstart + "\n    target: local\n"
                                      "    thresholds:\n"
                                      "      - {metric: finished, min: 12}\n"
                                      "      - {metric: metrics.ttft_ms.p50, max: 0.000001}\n"
                                      "      - {metric: tokens_sha256, golden: golden.txt}\n"
                                      "      - {metric: metrics.tpot.p99, max: 1}\n"
                                      "  - name: dead-memnode\n    scenario: " + dead + "\n    target: nic\n");
  CommandResult r = Lightloop("suite " + suite + " --jobs 2 --out " + (dir_ / "out").string());
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("FAIL  tight (local"));
  EXPECT_THAT(r.out, HasSubstr("1/4 thresholds"));
  EXPECT_THAT(r.out, HasSubstr("report.json has no 'metrics.tpot' (metrics has: e2e_ms, goodput_req_s"));
  EXPECT_THAT(r.out, HasSubstr("golden not-the-tokens"));
  EXPECT_THAT(r.out, HasSubstr("ERROR dead-memnode (nic): did not finish"));
  std::string xml = Read(dir_ / "out" / "junit.xml");
  EXPECT_THAT(xml, HasSubstr("tests=\"2\" failures=\"1\" errors=\"1\""));
  EXPECT_THAT(xml, HasSubstr("<failure type=\"threshold\" message=\"3 of 4 thresholds failed\">"));
  EXPECT_THAT(xml, HasSubstr("no memnode answers at 127.0.0.1:1"));  // the case's log, in <error>

  // --update-golden writes the golden file; then the same check passes.
  std::string golden_only = Write("g.yaml", "cases:\n  - name: g\n    scenario: " + kQuickstart +
                                                "\n    target: local\n    thresholds:\n"
                                                "      - {metric: tokens_sha256, golden: golden.txt}\n");
  r = Lightloop("suite " + golden_only + " --update-golden --out " + (dir_ / "g1").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(Read(dir_ / "golden.txt"), Read(kSource + "/testbench/suites/golden/quickstart.tokens_sha256"));
  r = Lightloop("suite " + golden_only + " --out " + (dir_ / "g2").string());
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST_F(SuiteTest, AScenariosThresholdsAreCheckedByEveryRunAndBySuites) {
  std::string scenario = Write("t.yaml", "include: " + kQuickstart +
                                             "\nthresholds:\n  - {metric: finished, min: 12}\n"
                                             "  - {metric: metrics.ttft_ms.p50, max: 0.000001}\n"
                                             "report:\n  metrics: [metrics.ttft_ms.p99, kv.nope]\n");
  CommandResult r = Lightloop("run " + scenario + " --target local --quiet --out " + (dir_ / "run").string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("1 of 2 thresholds failed"));
  EXPECT_THAT(r.out, HasSubstr("FAIL  metrics.ttft_ms.p50 <= 1e-06"));
  EXPECT_THAT(r.out, HasSubstr("metrics.ttft_ms.p99 = "));
  std::ifstream in(dir_ / "run" / "report.json");
  nlohmann::json report = nlohmann::json::parse(in);  // written all the same
  ASSERT_EQ(report["thresholds"].size(), 2u);
  EXPECT_TRUE(report["thresholds"][0]["passed"].get<bool>());
  EXPECT_FALSE(report["thresholds"][1]["passed"].get<bool>());
  EXPECT_EQ(report["headline"]["metrics.ttft_ms.p99"], report["metrics"]["ttft_ms"]["p99"]);
  EXPECT_THAT(report["headline"]["kv.nope"].get<std::string>(), HasSubstr("report.json has no 'kv.nope'"));
  EXPECT_THAT(Read(dir_ / "run" / "report.md"), HasSubstr("**FAIL**: metrics.ttft_ms.p50"));
  // The resolved scenario keeps them as written (no made-up bounds) and loads.
  std::string resolved = Read(dir_ / "run" / "scenario.yaml");
  EXPECT_THAT(resolved, HasSubstr("metric: metrics.ttft_ms.p50"));
  EXPECT_EQ(resolved.find("min: 0"), std::string::npos) << resolved;
  EXPECT_EQ(Lightloop("check " + (dir_ / "run" / "scenario.yaml").string()).code, 0);

  // A suite's case checks its scenario's thresholds before its own.
  std::string suite = Write("s.yaml", "cases:\n  - name: t\n    scenario: t.yaml\n    target: local\n"
                                      "    thresholds: [{metric: finished, max: 12}]\n");
  r = Lightloop("suite " + suite + " --out " + (dir_ / "suite").string());
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("FAIL  t (local"));
  EXPECT_THAT(r.out, HasSubstr("2/3 thresholds"));

  // Other cases exist only in suites.
  std::string bad = Write("b.yaml", "include: " + kQuickstart + "\nthresholds: [{metric: finished, same_as: x}]\n");
  r = Lightloop("check " + bad);
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("b.yaml:2:"));
  EXPECT_THAT(r.out, HasSubstr("only a suite's thresholds can"));
}

TEST_F(SuiteTest, BadSuitesAreRefusedBeforeAnyCaseRuns) {
  auto refused = [&](const std::string& text, const std::string& expect) {
    std::string suite = Write("bad.yaml", text);
    CommandResult r = Lightloop("suite " + suite + " --out " + (dir_ / "out").string());
    EXPECT_NE(r.code, 0) << text;
    EXPECT_THAT(r.out, HasSubstr(expect)) << text;
    EXPECT_FALSE(fs::exists(dir_ / "out" / "cases")) << text;
  };
  const std::string head = "cases:\n  - name: a\n    scenario: " + kQuickstart + "\n";
  refused(head + "    thresholds:\n      - {metric: finished, mni: 1}\n",
          "bad.yaml:5:28: key 'cases[0].thresholds[0].mni': unknown key (did you mean 'min'?)");
  refused(head + "    thresholds:\n      - {metric: finished, same_as: b}\n", "no case named 'b'");
  refused(head + "    thresholds:\n      - {metric: finished, min: 1, golden: x}\n", "give one check");
  refused(head + "    thresholds:\n      - {metric: finished, max_error_pct: 5}\n", "max_error_pct and vs go together");
  refused(head + "    target: gpu\n", "'gpu' is not one of: local, nic, sim, fpga");
  refused("cases:\n  - name: a\n    scenario: nowhere.yaml\n", "bad.yaml:3:5: key 'cases[0].scenario'");
  refused(head + head.substr(7), "'a' names two cases");
  refused("cases: []\n", "at least one case");
}

}  // namespace
}  // namespace lightloop::testbench
