// SPDX-License-Identifier: Apache-2.0
#include "lightloop/testbench/batch.h"

#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <memory>
#include <sstream>

#include "lightloop/testbench/child_process.h"

namespace lightloop::testbench {

namespace fs = std::filesystem;

std::vector<BatchResult> RunBatch(const std::vector<BatchRun>& runs, const BatchOptions& o,
                                  bool* interrupted) {
  std::vector<BatchResult> results(runs.size());
  auto say = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  struct Running {
    size_t index;
    std::unique_ptr<ChildProcess> child;
    std::chrono::steady_clock::time_point start;
  };
  std::deque<size_t> queue;
  for (size_t i = 0; i < runs.size(); ++i) queue.push_back(i);
  std::vector<Running> running;
  bool stopping = false;
  const std::string self = SelfBinary();
  while (!queue.empty() || !running.empty()) {
    if (!stopping && o.cancelled && o.cancelled()) {
      stopping = true;
      if (interrupted != nullptr) *interrupted = true;
      say("interrupted: the running ones finish their reports; no new ones start");
      for (Running& r : running) r.child->Interrupt();
      queue.clear();
    }
    while (!stopping && !queue.empty() && static_cast<int>(running.size()) < std::max(o.jobs, 1)) {
      const size_t i = queue.front();
      queue.pop_front();
      const BatchRun& run = runs[i];
      std::error_code ec;
      fs::create_directories(run.out, ec);
      fs::remove(fs::path(run.out) / "run.log", ec);
      fs::remove(fs::path(run.out) / "report.json", ec);  // what this run writes, and nothing older
      std::vector<std::string> argv{self, "run", run.scenario, "--target", run.target, "--out", run.out, "--quiet"};
      auto child = ChildProcess::Start(argv, (fs::path(run.out) / "run.log").string());
      if (!child.ok()) {
        results[i].status = "failed";
        say(run.label + ": failed to start: " + std::string(child.status().message()));
        continue;
      }
      say(run.label + ": started");
      running.push_back({i, std::move(*child), std::chrono::steady_clock::now()});
    }
    for (size_t k = 0; k < running.size();) {
      Running& r = running[k];
      if (r.child->Poll(std::chrono::milliseconds(running.size() > 1 ? 20 : 100), nullptr)) {
        ++k;
        continue;
      }
      BatchResult& res = results[r.index];
      res.exit_code = r.child->exit_code();
      res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - r.start).count();
      std::ifstream in(fs::path(runs[r.index].out) / "report.json");
      nlohmann::json j = in ? nlohmann::json::parse(in, nullptr, false) : nlohmann::json();
      // A report this run wrote (older ones were removed) is its result, also
      // when the run exits non-zero because a threshold of its scenario failed.
      if (j.is_object() && j.contains("metrics")) {
        res.report = std::move(j);
        res.status = res.report.value("interrupted", false) ? "interrupted" : "ok";
      } else {
        res.status = "failed";
      }
      std::ostringstream line;
      line << runs[r.index].label << ": " << res.status << " in " << std::fixed << std::setprecision(1)
           << res.seconds << " s";
      if (res.status == "failed") {
        line << " (exit " << res.exit_code << "; see " << (fs::path(runs[r.index].out) / "run.log").string()
             << ")";
      }
      say(line.str());
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }
  return results;
}

}  // namespace lightloop::testbench
