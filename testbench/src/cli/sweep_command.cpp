// SPDX-License-Identifier: Apache-2.0
// `lightloop sweep`: every point of a scenario's sweep, in parallel child
// processes, resumable, summarized and plotted. `lightloop suite`: a
// regression suite's cases and their thresholds, with JUnit XML.
#include <atomic>
#include <csignal>
#include <iostream>

#include "cli/commands.h"
#include "lightloop/testbench/suite.h"
#include "lightloop/testbench/sweep.h"

namespace lightloop::testbench {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void OnSweepInterrupt(int) {
  g_stop = true;
}

// Ctrl-C or SIGTERM lets the running children write their reports and
// starts no more; progress lines go to stderr.
template <typename Options>
void Interruptible(Options& o) {
  struct sigaction sa {};
  sa.sa_handler = OnSweepInterrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  o.cancelled = [] { return g_stop.load(); };
  o.log = [](const std::string& line) { std::cerr << line << "\n"; };
}

}  // namespace

void AddSweepCommand(CLI::App& app, CommandFn& run) {
  auto scenario = std::make_shared<std::string>();
  auto o = std::make_shared<SweepOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sweep", "Run every point of a scenario's sweep: section (parallel, resumable), with a summary and plots");
  cmd->add_option("scenario", *scenario, "scenario YAML with a sweep: section")->required();
  cmd->add_option("--target", o->target, "local, nic, sim or fpga")
      ->capture_default_str()
      ->check(CLI::IsMember({"local", "nic", "sim", "fpga"}));
  cmd->add_option("--out", o->out, "folder for the points, summary.csv and the plots")->required();
  cmd->add_option("--jobs", o->jobs, "points run at once, each in its own process")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_flag("!--no-plot", o->plot, "skip the PNG plots");
  cmd->callback([scenario, o, &run] {
    run = [scenario, o]() -> runtime::Status {
      Interruptible(*o);
      LL_ASSIGN_OR_RETURN(SweepResult r, RunSweep(*scenario, *o));
      std::cout << r.points << " points: " << r.ran << " ran, " << r.reused << " reused, " << r.failed
                << " failed" << (r.interrupted ? ", interrupted (run it again to finish)" : "") << "\n"
                << "summary: " << r.summary_csv << "\n";
      for (const std::string& png : r.plots) std::cout << "plot: " << png << "\n";
      if (r.interrupted) return runtime::Status(runtime::StatusCode::kCancelled, "interrupted; the points that finished are kept");
      if (r.failed > 0) return runtime::Internal(std::to_string(r.failed) + " points failed; see their run.log");
      return runtime::Status::Ok();
    };
  });
}

void AddSuiteCommand(CLI::App& app, CommandFn& run) {
  auto suite = std::make_shared<std::string>();
  auto o = std::make_shared<SuiteOptions>();
  CLI::App* cmd = app.add_subcommand(
      "suite", "Run a regression suite: scenarios with thresholds; JUnit XML; non-zero exit when any fails");
  cmd->add_option("suite", *suite, "suite YAML (e.g. testbench/suites/smoke.yaml)")->required();
  cmd->add_option("--out", o->out, "folder for the cases' reports, summary.txt and junit.xml")->required();
  cmd->add_option("--junit", o->junit, "also write the JUnit XML here");
  cmd->add_option("--target", o->target, "run every case on this target instead of its own")
      ->check(CLI::IsMember({"local", "nic", "sim", "fpga"}));
  cmd->add_option("--jobs", o->jobs, "cases run at once, each in its own process")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_flag("--update-golden", o->update_golden, "write the golden files from this run instead of checking");
  cmd->callback([suite, o, &run] {
    run = [suite, o]() -> runtime::Status {
      Interruptible(*o);
      LL_ASSIGN_OR_RETURN(SuiteResult r, RunSuite(*suite, *o));
      std::cout << r.summary << "junit: " << o->out << "/junit.xml" << (o->junit.empty() ? "" : " and " + o->junit)
                << "\n";
      if (!r.passed()) {
        return runtime::FailedPrecondition("suite failed: " + std::to_string(r.failed_cases) + " cases under their "
                                           "thresholds, " + std::to_string(r.errors) + " without a report");
      }
      return runtime::Status::Ok();
    };
  });
}

}  // namespace lightloop::testbench
