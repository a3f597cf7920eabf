// SPDX-License-Identifier: Apache-2.0
#include "lightloop/testbench/suite.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/write_file.h"
#include "lightloop/hw_models/config/config_reader.h"
#include "lightloop/testbench/batch.h"
#include "lightloop/testbench/scenario.h"
#include "lightloop/testbench/thresholds.h"

namespace lightloop::testbench {
namespace {

namespace fs = std::filesystem;
namespace hw = lightloop::hw_models;
namespace rt = lightloop::runtime;

const hw::TextParam kSuiteName{"name", "", "text", "the suite's name (the JUnit testsuite)"};
const hw::ChoiceParam kTarget{"target", {"local", "nic", "sim", "fpga"}, "sim", "where the case runs"};
const hw::TextParam kCaseName{"name", "", "text", "the case's name (unique; the JUnit testcase)"};
const hw::TextParam kScenario{"scenario", "", "file", "the scenario it runs (relative to the suite)"};
struct Case {
  std::string name, scenario, target;
  std::vector<Threshold> thresholds;  // the scenario's, then the case's own
  size_t inherited = 0;
};



struct Suite {
  std::string name;
  std::vector<Case> cases;
};

Suite Load(const std::string& path, const std::string& target_override) {
  hw::ComposeOptions co;
  hw::ConfigReader top = hw::ConfigReader::Compose(path, co);
  Suite suite;
  suite.name = top.Text(kSuiteName);
  if (suite.name.empty()) suite.name = fs::path(path).stem().string();
  const std::string default_target = top.Choice(kTarget);
  std::vector<hw::ConfigReader> cases = top.Sequence("cases");
  if (cases.empty()) top.Fail("cases", "a suite needs at least one case");
  std::map<std::string, bool> names;
  for (hw::ConfigReader& c : cases) {
    Case k;
    k.name = c.Text(kCaseName);
    if (k.name.empty()) c.Fail("name", "every case needs a name");
    if (k.name.find_first_of("/\\ ") != std::string::npos) c.Fail("name", "no spaces or slashes (it names a folder)");
    if (names.count(k.name)) c.Fail("name", "'" + k.name + "' names two cases");
    names[k.name] = true;
    k.scenario = c.Path(kScenario);
    if (k.scenario.empty()) c.Fail("scenario", "every case needs a scenario");
    rt::StatusOr<Scenario> s = LoadScenario(k.scenario);
    if (!s.ok()) c.Fail("scenario", std::string(s.status().message()));
    k.target = c.Has("target") ? c.Choice(kTarget) : default_target;
    if (!target_override.empty()) k.target = target_override;
    k.thresholds = ReadThresholds(c, "thresholds", true);
    // ...after the scenario's own, which every run of it checks.
    k.thresholds.insert(k.thresholds.begin(), s->thresholds.begin(), s->thresholds.end());
    k.inherited = s->thresholds.size();
    c.Finish();
    suite.cases.push_back(std::move(k));
  }
  // Case references, once every name is known.
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<hw::ConfigReader> ts = cases[i].Sequence("thresholds");
    for (size_t j = 0; j < ts.size(); ++j) {
      const Threshold& th = suite.cases[i].thresholds[suite.cases[i].inherited + j];
      for (const auto& [key, other] : {std::pair{"same_as", th.same_as}, std::pair{"vs", th.vs}}) {
        if (!other.empty() && !names.count(other)) ts[j].Fail(key, "no case named '" + other + "'");
      }
    }
  }
  top.Finish();
  return suite;
}

std::string Xml(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += ch;
    }
  }
  return out;
}

std::string Tail(const fs::path& file, size_t bytes) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

}  // namespace

rt::StatusOr<SuiteResult> RunSuite(const std::string& path, const SuiteOptions& o) {
  if (o.out.empty()) return rt::InvalidArgument("--out: a suite needs a folder for its cases' reports");
  Suite suite;
  try {
    suite = Load(path, o.target);
  } catch (const hw::ConfigError& e) {
    return rt::InvalidArgument(e.what());
  }
  std::vector<BatchRun> runs;
  for (const Case& c : suite.cases) {
    runs.push_back({"case " + c.name + " (" + c.target + ")", c.scenario, c.target,
                    (fs::path(o.out) / "cases" / c.name).string()});
  }
  SuiteResult result;
  result.cases = suite.cases.size();
  std::vector<BatchResult> done =
      RunBatch(runs, {.jobs = o.jobs, .cancelled = o.cancelled, .log = o.log}, &result.interrupted);
  std::map<std::string, const nlohmann::json*> reports;
  for (size_t i = 0; i < suite.cases.size(); ++i) {
    reports[suite.cases[i].name] = done[i].status == "ok" ? &done[i].report : nullptr;
  }

  std::ostringstream summary, cases_xml;
  double total_s = 0;
  size_t junit_failures = 0;
  for (size_t i = 0; i < suite.cases.size(); ++i) {
    const Case& c = suite.cases[i];
    const BatchResult& r = done[i];
    total_s += r.seconds;
    cases_xml << "    <testcase classname=\"" << Xml(suite.name) << "\" name=\"" << Xml(c.name) << "\" time=\""
              << std::fixed << std::setprecision(3) << r.seconds << "\">\n";
    if (r.status != "ok") {
      ++result.errors;
      const std::string why = r.status == "skipped" ? "not run (interrupted)"
                              : r.status == "interrupted"
                                  ? "interrupted before it finished"
                                  : "did not finish (exit " + std::to_string(r.exit_code) + "); see " + runs[i].out +
                                        "/run.log";
      summary << "ERROR " << c.name << " (" << c.target << "): " << why << "\n";
      cases_xml << "      <error message=\"" << Xml(why) << "\">" << Xml(Tail(fs::path(runs[i].out) / "run.log", 4000))
                << "</error>\n    </testcase>\n";
      continue;
    }
    std::vector<ThresholdCheck> checks;
    for (const Threshold& th : c.thresholds) checks.push_back(Evaluate(th, r.report, reports, o.update_golden));
    size_t failed = 0;
    std::ostringstream failures, passes;
    for (const ThresholdCheck& k : checks) {
      ++result.checks;
      (k.passed ? passes : failures) << (k.passed ? "  ok    " : "  FAIL  ") << k.what << ": " << k.detail << "\n";
      if (!k.passed) ++failed;
    }
    result.failed_checks += failed;
    if (failed > 0) ++result.failed_cases;
    summary << (failed ? "FAIL  " : "PASS  ") << c.name << " (" << c.target << ", " << std::fixed << std::setprecision(1)
            << r.seconds << " s): " << checks.size() - failed << "/" << checks.size() << " thresholds\n"
            << failures.str() << passes.str();
    if (failed > 0) {
      ++junit_failures;
      cases_xml << "      <failure type=\"threshold\" message=\"" << failed << " of " << checks.size()
                << " thresholds failed\">" << Xml(failures.str()) << "</failure>\n";
    }
    cases_xml << "      <system-out>" << Xml(failures.str() + passes.str()) << "</system-out>\n    </testcase>\n";
  }
  summary << "suite " << suite.name << ": " << result.cases << " cases, " << result.failed_cases << " failed, "
          << result.errors << " did not run to a report; " << result.checks - result.failed_checks << " of "
          << result.checks << " thresholds passed" << (result.interrupted ? " (interrupted)" : "") << "\n";
  result.summary = summary.str();

  std::ostringstream xml;
  xml << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<testsuites name=\"lightloop\" tests=\"" << result.cases << "\" failures=\"" << junit_failures
      << "\" errors=\"" << result.errors << "\" time=\"" << std::fixed << std::setprecision(3) << total_s << "\">\n"
      << "  <testsuite name=\"" << Xml(suite.name) << "\" tests=\"" << result.cases << "\" failures=\""
      << junit_failures << "\" errors=\"" << result.errors << "\" time=\"" << total_s << "\">\n"
      << cases_xml.str() << "  </testsuite>\n</testsuites>\n";
  LL_RETURN_IF_ERROR(WriteFileAtomically((fs::path(o.out) / "junit.xml").string(), xml.str()));
  if (!o.junit.empty()) LL_RETURN_IF_ERROR(WriteFileAtomically(o.junit, xml.str()));
  LL_RETURN_IF_ERROR(WriteFileAtomically((fs::path(o.out) / "summary.txt").string(), result.summary));
  return result;
}

}  // namespace lightloop::testbench
