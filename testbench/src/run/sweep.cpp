// SPDX-License-Identifier: Apache-2.0
#include "lightloop/testbench/sweep.h"

#include <cstdio>
#include <deque>
#include <vector>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/write_file.h"
#include "lightloop/testbench/batch.h"
#include "lightloop/testbench/child_process.h"
#include "lightloop/testbench/scenario.h"

namespace lightloop::testbench {
namespace {

namespace fs = std::filesystem;
namespace rt = lightloop::runtime;

// The resolved scenario without its comment lines (they name the file it
// was loaded from, which differs between the sweep and the point's copy).
std::string Body(const std::string& yaml) {
  std::istringstream in(yaml);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind('#', 0) != 0) out += line + "\n";
  }
  return out;
}

struct Point {
  size_t index = 0;
  SweepPoint sweep;
  Scenario scenario;
  fs::path dir;
  std::string status = "pending";  // ok | reused | failed | interrupted | skipped
  nlohmann::json report;
  std::string error;
};

// A finished report of the same resolved scenario, if the point has one.
bool Reusable(Point& p) {
  std::ifstream in(p.dir / "report.json");
  if (!in) return false;
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || j.value("interrupted", true) || !j.contains("resolved_scenario")) return false;
  if (Body(j["resolved_scenario"].get<std::string>()) != Body(p.scenario.resolved_yaml)) return false;
  p.report = std::move(j);
  return true;
}

std::string Csv(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string q = "\"";
  for (char c : text) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string Summary(const std::vector<Point>& points, const std::vector<std::string>& keys) {
  std::ostringstream csv;
  csv << "point";
  for (const std::string& k : keys) csv << ',' << Csv(k);
  csv << ",status,ttft_p50_ms,ttft_p99_ms,tpot_p50_ms,tpot_p99_ms,e2e_p50_ms,e2e_p99_ms,throughput_tok_s,"
         "goodput_req_s,kv_mb_offloaded,kv_mb_fetched,link_utilization,run_s,wall_s,tokens_sha256\n";
  csv << std::setprecision(6);
  for (const Point& p : points) {
    csv << p.index;
    for (const std::string& k : keys) {
      std::string v;
      for (const auto& o : p.sweep.overrides)
        if (o.key == k) v = o.value.IsScalar() ? o.value.Scalar() : YAML::Dump(o.value);
      csv << ',' << Csv(v);
    }
    csv << ',' << p.status;
    const nlohmann::json& r = p.report;
    if (!r.is_object() || !r.contains("metrics")) {
      csv << std::string(15, ',') << "\n";
      continue;
    }
    const nlohmann::json& m = r["metrics"];
    const nlohmann::json& link = r["link"];
    csv << ',' << m["ttft_ms"]["p50"].get<double>() << ',' << m["ttft_ms"]["p99"].get<double>() << ','
        << m["tpot_ms"]["p50"].get<double>() << ',' << m["tpot_ms"]["p99"].get<double>() << ','
        << m["e2e_ms"]["p50"].get<double>() << ',' << m["e2e_ms"]["p99"].get<double>() << ','
        << m["throughput_tok_s"].get<double>() << ',' << m["goodput_req_s"].get<double>() << ','
        << r["kv"]["bytes_offloaded"].get<double>() / 1e6 << ',' << r["kv"]["bytes_fetched"].get<double>() / 1e6
        << ',' << (link.is_object() ? link["utilization"].get<double>() : 0.0) << ','
        << r["run_s"].get<double>() << ',' << r["wall_s"].get<double>() << ','
        << r["tokens_sha256"].get<std::string>() << "\n";
  }
  return csv.str();
}

}  // namespace

rt::StatusOr<SweepResult> RunSweep(const std::string& path, const SweepOptions& o) {
  if (o.out.empty()) return rt::InvalidArgument("--out: a sweep needs a folder for its points");
  if (o.jobs < 1) return rt::InvalidArgument("--jobs: at least 1");
  LL_ASSIGN_OR_RETURN(Scenario base, LoadScenario(path));
  if (base.sweep.empty()) return rt::InvalidArgument(path + ": no sweep: section (lightloop run runs one point)");
  LL_ASSIGN_OR_RETURN(std::vector<SweepPoint> expanded, ExpandSweep(base));
  std::vector<std::string> keys;
  for (const auto& group : {base.sweep.cartesian, base.sweep.zip})
    for (const SweepAxis& a : group) keys.push_back(a.key);

  // Every point loads before any runs: a bad value fails the sweep up front.
  std::vector<Point> points(expanded.size());
  for (size_t i = 0; i < expanded.size(); ++i) {
    Point& p = points[i];
    p.index = i;
    p.sweep = expanded[i];
    rt::StatusOr<Scenario> s = LoadScenario(path, p.sweep.overrides);
    if (!s.ok()) {
      return rt::InvalidArgument("sweep point " + std::to_string(i) + " (" + p.sweep.label +
                                 "): " + std::string(s.status().message()));
    }
    p.scenario = std::move(*s);
    char name[16];
    std::snprintf(name, sizeof name, "%03zu", i);
    p.dir = fs::path(o.out) / "points" / name;
  }

  SweepResult result;
  result.points = points.size();
  std::deque<Point*> queue;
  for (Point& p : points) {
    std::error_code ec;
    fs::create_directories(p.dir, ec);
    if (ec) return rt::Unavailable(p.dir.string() + ": cannot create: " + ec.message());
    if (Reusable(p)) {
      p.status = "reused";
      ++result.reused;
      continue;
    }
    LL_RETURN_IF_ERROR(WriteFileAtomically((p.dir / "scenario.yaml").string(), p.scenario.resolved_yaml));
    queue.push_back(&p);
  }
  auto say = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  say("sweep of " + std::to_string(points.size()) + " points: " + std::to_string(result.reused) +
      " already done, " + std::to_string(queue.size()) + " to run on " + o.target + ", " +
      std::to_string(o.jobs) + " at a time");

  std::vector<BatchRun> runs;
  for (Point* p : queue) {
    runs.push_back({"point " + std::to_string(p->index) + " [" + p->sweep.label + "]",
                    (p->dir / "scenario.yaml").string(), o.target, p->dir.string()});
  }
  std::vector<BatchResult> done =
      RunBatch(runs, {.jobs = o.jobs, .cancelled = o.cancelled, .log = o.log}, &result.interrupted);
  for (size_t i = 0; i < done.size(); ++i) {
    Point& p = *queue[i];
    p.status = done[i].status;
    p.report = std::move(done[i].report);
    if (p.status == "ok" || p.status == "interrupted") ++result.ran;
    if (p.status == "failed") ++result.failed;
  }

  result.summary_csv = (fs::path(o.out) / "summary.csv").string();
  LL_RETURN_IF_ERROR(WriteFileAtomically(result.summary_csv, Summary(points, keys)));
  LL_RETURN_IF_ERROR(WriteFileAtomically((fs::path(o.out) / "scenario.yaml").string(), base.resolved_yaml));
  const fs::path script = fs::path(LIGHTLOOP_SOURCE_DIR) / "scripts" / "plot-sweep.sh";
  if (o.plot && fs::exists(script) && std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    std::vector<std::string> argv{"/bin/sh", script.string(), o.out};
    LL_ASSIGN_OR_RETURN(std::unique_ptr<ChildProcess> plot, ChildProcess::Start(argv));
    std::string output;
    while (plot->Poll(std::chrono::milliseconds(200), [&](const std::string& l) { output += l + "\n"; })) {
    }
    if (plot->exit_code() != 0) {
      say("plot failed (" + script.string() + "): " + output);
    } else {
      for (const char* png : {"latency.png", "throughput.png"}) {
        if (fs::exists(fs::path(o.out) / png)) result.plots.push_back((fs::path(o.out) / png).string());
      }
    }
  }
  return result;
}

}  // namespace lightloop::testbench
