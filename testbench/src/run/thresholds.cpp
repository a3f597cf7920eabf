// SPDX-License-Identifier: Apache-2.0
#include "lightloop/testbench/thresholds.h"

#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "cli/write_file.h"

namespace lightloop::testbench {
namespace {

namespace fs = std::filesystem;
namespace hw = lightloop::hw_models;
namespace rt = lightloop::runtime;

constexpr double kBig = 1e300;
const hw::TextParam kMetric{"metric", "", "dotted path", "a value of report.json, e.g. metrics.tpot_ms.p99"};
const hw::NumberParam kMin{"min", "", 0, -kBig, kBig, "the metric is at least this"};
const hw::NumberParam kMax{"max", "", 0, -kBig, kBig, "the metric is at most this"};
const hw::TextParam kGolden{"golden", "", "file", "the metric equals this file's text (e.g. tokens_sha256)"};
const hw::TextParam kSameAs{"same_as", "", "case name", "suites: the metric equals that case's"};
const hw::NumberParam kErrPct{"max_error_pct", "%", 0, 0, kBig,
                              "|metric - that case's| / that case's at most this (with vs)"};
const hw::TextParam kVs{"vs", "", "case name", "suites: the measurement a model's error is taken against"};

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

}  // namespace

const nlohmann::json* FindMetric(const nlohmann::json& report, const std::string& metric, std::string* missing) {
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

std::vector<Threshold> ReadThresholds(hw::ConfigReader& r, const std::string& key, bool references) {
  std::vector<Threshold> out;
  for (hw::ConfigReader& t : r.Sequence(key)) {
    Threshold th;
    th.where = t.LocationOf("metric").ToString();
    th.metric = t.Text(kMetric);
    if (th.metric.empty()) t.Fail("metric", "every threshold names a metric of report.json");
    // Optional numbers: read only when given (so the resolved scenario has
    // no made-up bounds), named otherwise so a misspelling finds them.
    for (const auto& [param, slot] : {std::pair{&kMin, &th.min}, std::pair{&kMax, &th.max},
                                      std::pair{&kErrPct, &th.max_error_pct}}) {
      if (t.Has(param->name)) {
        *slot = t.Number(*param);
      } else {
        (void)t.Raw(param->name);
      }
    }
    th.golden = t.Path(kGolden);
    th.same_as = t.Text(kSameAs);
    th.vs = t.Text(kVs);
    t.Finish();  // a misspelled key first: it is why a check looks missing
    if (!references && !(th.same_as.empty() && th.vs.empty())) {
      t.Fail(th.same_as.empty() ? "vs" : "same_as", "names another case: only a suite's thresholds can");
    }
    const int kinds = (th.min || th.max ? 1 : 0) + (th.golden.empty() ? 0 : 1) + (th.same_as.empty() ? 0 : 1) +
                      (th.max_error_pct ? 1 : 0);
    if (kinds != 1) t.Fail("metric", "give one check: min and/or max, golden, same_as, or max_error_pct with vs");
    if (th.max_error_pct.has_value() == th.vs.empty()) t.Fail("vs", "max_error_pct and vs go together");
    out.push_back(th);
  }
  return out;
}

ThresholdCheck Evaluate(const Threshold& th, const nlohmann::json& report,
                        const std::map<std::string, const nlohmann::json*>& reports, bool update_golden) {
  ThresholdCheck c;
  std::string missing;
  const nlohmann::json* v = FindMetric(report, th.metric, &missing);
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
  const nlohmann::json* o = FindMetric(*it->second, th.metric, &missing);
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

}  // namespace lightloop::testbench
