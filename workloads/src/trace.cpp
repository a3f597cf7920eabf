// SPDX-License-Identifier: Apache-2.0
#include "lightloop/workloads/trace.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>

namespace lightloop::workloads {
namespace {

namespace rt = lightloop::runtime;

rt::Status LineError(const std::string& path, uint64_t line, const std::string& what) {
  return rt::InvalidArgument(path + ":" + std::to_string(line) + ": " + what);
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "2023-11-16 18:15:46.6805900" -> seconds since the Unix epoch.
bool ParseAzureTime(const std::string& text, double* seconds) {
  int y, mo, d, h, mi;
  double s;
  if (std::sscanf(text.c_str(), "%d-%d-%d %d:%d:%lf", &y, &mo, &d, &h, &mi, &s) != 6) return false;
  std::chrono::year_month_day date{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                   std::chrono::day{static_cast<unsigned>(d)}};
  if (!date.ok() || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s >= 61) return false;
  double days = static_cast<double>(std::chrono::sys_days{date}.time_since_epoch().count());
  *seconds = days * 86400 + h * 3600 + mi * 60 + s;
  return true;
}

bool ParseCount(const std::string& text, uint32_t* out) {
  char* end = nullptr;
  unsigned long v = std::strtoul(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || v > 100000000) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// Calls `parse(line, number)` for every non-empty line (CR stripped); a
// parse that returns a request adds it.
template <typename Parse>
rt::StatusOr<std::vector<Request>> ReadLines(std::istream& in, Parse parse) {
  std::vector<Request> out;
  std::string line;
  uint64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    LL_ASSIGN_OR_RETURN(std::optional<Request> r, parse(line, n));
    if (r) out.push_back(std::move(*r));
  }
  return out;
}

rt::StatusOr<std::optional<Request>> AzureRow(const std::string& path, const std::string& line, uint64_t n) {
  if (n == 1) {
    if (line != "TIMESTAMP,ContextTokens,GeneratedTokens") {
      return LineError(path, n,
                       "expected the header TIMESTAMP,ContextTokens,GeneratedTokens, found '" + line + "'");
    }
    return std::optional<Request>();
  }
  std::stringstream fields(line);
  std::string ts, ctx, gen, extra;
  if (!std::getline(fields, ts, ',') || !std::getline(fields, ctx, ',') || !std::getline(fields, gen, ',') ||
      std::getline(fields, extra, ',')) {
    return LineError(path, n, "expected 3 comma-separated fields");
  }
  Request r;
  if (!ParseAzureTime(ts, &r.arrival_s))
    return LineError(path, n, "TIMESTAMP '" + ts + "' is not YYYY-MM-DD HH:MM:SS.f");
  if (!ParseCount(ctx, &r.input_tokens))
    return LineError(path, n, "ContextTokens '" + ctx + "' is not a count");
  if (!ParseCount(gen, &r.output_tokens))
    return LineError(path, n, "GeneratedTokens '" + gen + "' is not a count");
  return std::optional<Request>(std::move(r));
}

rt::StatusOr<std::optional<Request>> MooncakeRow(const std::string& path, const std::string& line,
                                                 uint64_t n) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return LineError(path, n, "not a JSON object");
  for (const char* key : {"timestamp", "input_length", "output_length"}) {
    if (!j.contains(key) || !j[key].is_number() || j[key].get<double>() < 0) {
      return LineError(path, n, std::string("key '") + key + "' must be a number >= 0");
    }
  }
  Request r;
  r.arrival_s = j["timestamp"].get<double>() / 1000.0;
  r.input_tokens = j["input_length"].get<uint32_t>();
  r.output_tokens = j["output_length"].get<uint32_t>();
  if (j.contains("hash_ids")) {
    if (!j["hash_ids"].is_array()) return LineError(path, n, "key 'hash_ids' must be a list of block ids");
    for (const auto& h : j["hash_ids"]) {
      if (!h.is_number_unsigned()) return LineError(path, n, "key 'hash_ids' must hold unsigned integers");
      r.hash_ids.push_back(h.get<uint64_t>());
    }
  }
  return std::optional<Request>(std::move(r));
}

}  // namespace

rt::StatusOr<std::vector<Request>> ReadTrace(const std::string& path, const TraceOptions& o) {
  if (!(o.time_scale > 0) || !(o.sample > 0 && o.sample <= 1) || !(o.window_end_s > o.window_start_s)) {
    return rt::InvalidArgument(path +
                               ": time_scale must be > 0, sample in (0, 1], window_end_s > window_start_s");
  }
  std::ifstream in(path);
  if (!in) return rt::NotFound(path + ": cannot open the trace");
  std::vector<Request> raw;
  if (EndsWith(path, ".csv")) {
    LL_ASSIGN_OR_RETURN(
        raw, ReadLines(in, [&](const std::string& l, uint64_t n) { return AzureRow(path, l, n); }));
  } else if (EndsWith(path, ".jsonl")) {
    LL_ASSIGN_OR_RETURN(
        raw, ReadLines(in, [&](const std::string& l, uint64_t n) { return MooncakeRow(path, l, n); }));
  } else {
    return rt::InvalidArgument(path + ": a trace is .csv (Azure) or .jsonl (Mooncake)");
  }
  std::vector<Request> out;
  if (raw.empty()) return out;
  const double first = raw.front().arrival_s;
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> coin(0, 1);
  for (uint64_t i = 0; i < raw.size(); ++i) {
    Request& r = raw[i];
    r.id = i;
    double t = r.arrival_s - first;
    if (t < 0)
      return rt::InvalidArgument(path + ": request " + std::to_string(i) + " arrives before the first");
    if (t < o.window_start_s || t >= o.window_end_s) continue;
    if (o.sample < 1 && coin(rng) >= o.sample) continue;
    r.arrival_s = (t - o.window_start_s) * o.time_scale;
    out.push_back(std::move(r));
    if (o.max_requests > 0 && out.size() >= o.max_requests) break;
  }
  return out;
}

TraceSummary Summarize(const std::vector<Request>& rs) {
  TraceSummary s;
  s.requests = rs.size();
  if (rs.empty()) return s;
  s.span_s = rs.back().arrival_s - rs.front().arrival_s;
  for (const Request& r : rs) {
    s.mean_input += r.input_tokens;
    s.mean_output += r.output_tokens;
  }
  s.mean_input /= static_cast<double>(rs.size());
  s.mean_output /= static_cast<double>(rs.size());
  return s;
}

}  // namespace lightloop::workloads
