// SPDX-License-Identifier: Apache-2.0
#include "lightloop/testbench/suite.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "lightloop/hw_models/config/config_reader.h"
#include "lightloop/testbench/batch.h"
#include "lightloop/testbench/scenario.h"

namespace lightloop::testbench {
namespace {

namespace fs = std::filesystem;
namespace hw = lightloop::hw_models;
namespace rt = lightloop::runtime;

constexpr double kBig = 1e300;
const hw::TextParam kSuiteName{"name", "", "text", "the suite's name (the JUnit testsuite)"};
const hw::ChoiceParam kTarget{"target", {"local", "nic", "sim", "fpga"}, "sim", "where the case runs"};
const hw::TextParam kCaseName{"name", "", "text", "the case's name (unique; the JUnit testcase)"};
const hw::TextParam kScenario{"scenario", "", "file", "the scenario it runs (relative to the suite)"};
const hw::TextParam kMetric{"metric", "", "dotted path", "a value of report.json, e.g. metrics.tpot_ms.p99"};
const hw::NumberParam kMin{"min", "", 0, -kBig, kBig, "the metric is at least this"};
const hw::NumberParam kMax{"max", "", 0, -kBig, kBig, "the metric is at most this"};
const hw::TextParam kGolden{"golden", "", "file", "the metric equals this file's text (e.g. tokens_sha256)"};
const hw::TextParam kSameAs{"same_as", "", "case name", "the metric equals that case's"};
const hw::NumberParam kErrPct{"max_error_pct", "%", 0, 0, kBig,
                              "|metric - that case's| / that case's at most this (with vs)"};
const hw::TextParam kVs{"vs", "", "case name", "the measurement a model's error is taken against"};

struct Threshold {
  std::string metric;
  std::optional<double> min, max, max_error_pct;
  std::string golden, same_as, vs;
  std::string where;  // file:line, for messages
};

struct Case {
  std::string name, scenario, target;
  std::vector<Threshold> thresholds;
};

struct Check {
  std::string what;
  bool passed = false;
  std::string detail;
};

std::string AbsoluteFrom(const hw::ConfigReader& r, const std::string& key, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute()) return p;
  return (fs::absolute(r.LocationOf(key).file).parent_path() / p).lexically_normal().string();
}

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
    k.scenario = AbsoluteFrom(c, kScenario.name, c.Text(kScenario));
    if (k.scenario.empty()) c.Fail("scenario", "every case needs a scenario");
    rt::StatusOr<Scenario> s = LoadScenario(k.scenario);
    if (!s.ok()) c.Fail("scenario", std::string(s.status().message()));
    k.target = c.Has("target") ? c.Choice(kTarget) : default_target;
    if (!target_override.empty()) k.target = target_override;
    for (hw::ConfigReader& t : c.Sequence("thresholds")) {
      Threshold th;
      th.where = t.LocationOf("metric").ToString();
      th.metric = t.Text(kMetric);
      if (th.metric.empty()) t.Fail("metric", "every threshold names a metric of report.json");
      // Read even when absent, so a misspelling finds its "did you mean".
      const double min = t.Number(kMin), max = t.Number(kMax), err = t.Number(kErrPct);
      if (t.Has("min")) th.min = min;
      if (t.Has("max")) th.max = max;
      if (t.Has("max_error_pct")) th.max_error_pct = err;
      th.golden = AbsoluteFrom(t, kGolden.name, t.Text(kGolden));
      th.same_as = t.Text(kSameAs);
      th.vs = t.Text(kVs);
      t.Finish();  // a misspelled key first: it is why a check looks missing
      const int kinds = (th.min || th.max ? 1 : 0) + (th.golden.empty() ? 0 : 1) + (th.same_as.empty() ? 0 : 1) +
                        (th.max_error_pct ? 1 : 0);
      if (kinds != 1) {
        t.Fail("metric", "give one check: min and/or max, golden, same_as, or max_error_pct with vs");
      }
      if (th.max_error_pct.has_value() == th.vs.empty()) t.Fail("vs", "max_error_pct and vs go together");
      k.thresholds.push_back(th);
    }
    c.Finish();
    suite.cases.push_back(std::move(k));
  }
  // Case references, once every name is known.
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<hw::ConfigReader> ts = cases[i].Sequence("thresholds");
    for (size_t j = 0; j < ts.size(); ++j) {
      const Threshold& th = suite.cases[i].thresholds[j];
      for (const auto& [key, other] : {std::pair{"same_as", th.same_as}, std::pair{"vs", th.vs}}) {
        if (!other.empty() && !names.count(other)) ts[j].Fail(key, "no case named '" + other + "'");
      }
    }
  }
  top.Finish();
  return suite;
}

// The value at a dotted path of a report, or null.
const nlohmann::json* Find(const nlohmann::json& report, const std::string& metric, std::string* missing) {
  const nlohmann::json* at = &report;
  std::stringstream parts(metric);
  std::string so_far;
  for (std::string part; std::getline(parts, part, '.');) {
    if (!at->is_object() || !at->contains(part)) {
      std::string keys;
      if (at->is_object())
        for (const auto& [k, v] : at->items()) keys += (keys.empty() ? "" : ", ") + k;
      *missing = "report.json has no '" + (so_far.empty() ? part : so_far + "." + part) + "'" +
                 (keys.empty() ? "" : " (" + (so_far.empty() ? std::string("top level") : so_far) + " has: " + keys + ")");
      return nullptr;
    }
    at = &(*at)[part];
    so_far += (so_far.empty() ? "" : ".") + part;
  }
  return at;
}

std::string Text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  std::ostringstream out;
  if (v.is_number()) {
    out << std::setprecision(6) << v.get<double>();
    return out.str();
  }
  return v.dump();
}

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

Check Evaluate(const Threshold& th, const nlohmann::json& report,
               const std::map<std::string, const nlohmann::json*>& reports, bool update_golden) {
  Check c;
  std::string missing;
  const nlohmann::json* v = Find(report, th.metric, &missing);
  auto describe = [&]() {
    std::ostringstream d;
    d << th.metric;
    if (th.min) d << " >= " << *th.min;
    if (th.min && th.max) d << " and";
    if (th.max) d << " <= " << *th.max;
    if (!th.golden.empty()) d << " == golden " << th.golden;
    if (!th.same_as.empty()) d << " == " << th.same_as << "'s";
    if (th.max_error_pct) d << " within " << *th.max_error_pct << "% of " << th.vs << "'s";
    return d.str();
  };
  c.what = describe();
  if (v == nullptr) {
    c.detail = missing + " [" + th.where + "]";
    return c;
  }
  if (th.min || th.max) {
    if (!v->is_number()) {
      c.detail = th.metric + " is " + Text(*v) + ", not a number [" + th.where + "]";
      return c;
    }
    const double x = v->get<double>();
    c.passed = (!th.min || x >= *th.min) && (!th.max || x <= *th.max);
    c.detail = th.metric + " = " + Text(*v);
    return c;
  }
  if (!th.golden.empty()) {
    if (update_golden) {
      std::error_code ec;
      fs::create_directories(fs::path(th.golden).parent_path(), ec);
      rt::Status s = WriteFileAtomically(th.golden, Text(*v) + "\n");
      c.passed = s.ok();
      c.detail = s.ok() ? "wrote " + th.golden : std::string(s.message());
      return c;
    }
    std::ifstream in(th.golden);
    if (!in) {
      c.detail = "no golden file " + th.golden + " (--update-golden writes it) [" + th.where + "]";
      return c;
    }
    std::stringstream text;
    text << in.rdbuf();
    c.passed = Trim(text.str()) == Text(*v);
    c.detail = th.metric + " = " + Text(*v) + (c.passed ? "" : ", golden " + Trim(text.str()));
    return c;
  }
  const std::string other_name = th.same_as.empty() ? th.vs : th.same_as;
  auto it = reports.find(other_name);
  if (it == reports.end() || it->second == nullptr) {
    c.detail = "case " + other_name + " has no report to compare with";
    return c;
  }
  const nlohmann::json* o = Find(*it->second, th.metric, &missing);
  if (o == nullptr) {
    c.detail = other_name + ": " + missing;
    return c;
  }
  if (!th.same_as.empty()) {
    c.passed = *v == *o;
    c.detail = th.metric + " = " + Text(*v) + (c.passed ? "" : ", " + other_name + "'s " + Text(*o));
    return c;
  }
  if (!v->is_number() || !o->is_number() || o->get<double>() == 0) {
    c.detail = "a relative error needs numbers, the reference non-zero: " + Text(*v) + " vs " + Text(*o);
    return c;
  }
  const double err = 100 * std::fabs(v->get<double>() - o->get<double>()) / std::fabs(o->get<double>());
  c.passed = err <= *th.max_error_pct;
  std::ostringstream d;
  d << th.metric << " = " << Text(*v) << " vs " << other_name << "'s " << Text(*o) << ": error " << std::fixed
    << std::setprecision(2) << err << "%";
  c.detail = d.str();
  return c;
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
    std::vector<Check> checks;
    for (const Threshold& th : c.thresholds) checks.push_back(Evaluate(th, r.report, reports, o.update_golden));
    size_t failed = 0;
    std::ostringstream failures, passes;
    for (const Check& k : checks) {
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
