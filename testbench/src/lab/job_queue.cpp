// SPDX-License-Identifier: Apache-2.0
#include "lab/job_queue.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "lightloop/testbench/child_process.h"

namespace lightloop::testbench::lab {
namespace fs = std::filesystem;
namespace rt = lightloop::runtime;
namespace {

constexpr size_t kMaxLine = 1000;  // a line kept for Watch; the log keeps all of it

// `lightloop suite` says "case NAME (TARGET): ok in 1.2 s" (or failed,
// interrupted) as each case ends.
bool CaseEnded(const std::string& line) {
  if (line.rfind("case ", 0) != 0) return false;
  for (const char* end : {"): ok in ", "): failed", "): interrupted"}) {
    if (line.find(end) != std::string::npos) return true;
  }
  return false;
}

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

constexpr const char* kJobFile = "job.json";

nlohmann::json ToJson(const JobSnapshot& s) {
  return {{"id", s.spec.id},
          {"kind", s.spec.kind},
          {"target", s.spec.target},
          {"name", s.spec.name},
          {"suite_path", s.spec.suite_path},
          {"state", JobStateName(s.state)},
          {"exit_code", s.exit_code},
          {"error", s.error},
          {"last_line", s.last_line},
          {"requests_done", s.requests_done},
          {"requests_total", s.requests_total},
          {"cases_done", s.cases_done},
          {"queued_unix_s", s.queued_unix_s},
          {"started_unix_s", s.started_unix_s},
          {"ended_unix_s", s.ended_unix_s}};
}

std::optional<JobState> StateNamed(const std::string& name) {
  for (JobState st :
       {JobState::kQueued, JobState::kRunning, JobState::kDone, JobState::kFailed, JobState::kCancelled}) {
    if (name == JobStateName(st)) return st;
  }
  return std::nullopt;
}

// A job folder's job.json, or nullopt when it has none or it does not parse
// (a folder made by NewJobDir whose Submit never came, or a foreign file).
std::optional<JobSnapshot> FromJson(const fs::path& dir) {
  std::ifstream in(dir / kJobFile);
  if (!in) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  std::optional<JobState> state = StateNamed(j.value("state", ""));
  if (!state || j.value("id", "") != dir.filename().string()) return std::nullopt;
  JobSnapshot s;
  s.spec = JobSpec{.id = j.value("id", ""),
                   .dir = dir.string(),
                   .kind = j.value("kind", ""),
                   .target = j.value("target", ""),
                   .name = j.value("name", ""),
                   .suite_path = j.value("suite_path", "")};
  s.state = *state;
  s.exit_code = j.value("exit_code", -1);
  s.error = j.value("error", "");
  s.last_line = j.value("last_line", "");
  s.requests_done = j.value("requests_done", uint64_t{0});
  s.requests_total = j.value("requests_total", uint64_t{0});
  s.cases_done = j.value("cases_done", uint32_t{0});
  s.queued_unix_s = j.value("queued_unix_s", 0.0);
  s.started_unix_s = j.value("started_unix_s", 0.0);
  s.ended_unix_s = j.value("ended_unix_s", 0.0);
  return s;
}

}  // namespace

bool Ended(JobState s) {
  return s == JobState::kDone || s == JobState::kFailed || s == JobState::kCancelled;
}

const char* JobStateName(JobState s) {
  switch (s) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kDone: return "done";
    case JobState::kFailed: return "failed";
    case JobState::kCancelled: return "cancelled";
  }
  return "?";
}

bool ReadMetrics(const std::string& report_json, JobMetrics* out) {
  std::ifstream in(report_json);
  if (!in) return false;
  nlohmann::json r = nlohmann::json::parse(in, nullptr, false);
  if (r.is_discarded() || !r.is_object() || !r.contains("metrics")) return false;
  const nlohmann::json& m = r["metrics"];
  auto quantile = [&m](const char* metric, const char* q) {
    return m.contains(metric) ? m[metric].value(q, 0.0) : 0.0;
  };
  out->ttft_p50_ms = quantile("ttft_ms", "p50");
  out->ttft_p99_ms = quantile("ttft_ms", "p99");
  out->tpot_p50_ms = quantile("tpot_ms", "p50");
  out->tpot_p99_ms = quantile("tpot_ms", "p99");
  out->throughput_tok_s = m.value("throughput_tok_s", 0.0);
  out->tokens_sha256 = r.value("tokens_sha256", "");
  out->requests = r.value("requests", uint64_t{0});
  out->finished = r.value("finished", uint64_t{0});
  out->interrupted = r.value("interrupted", false);
  return true;
}

JobQueue::JobQueue(Options options) : options_(std::move(options)) {
  if (options_.binary.empty()) options_.binary = SelfBinary();
  Restore();
  for (int i = 0; i < std::max(1, options_.max_concurrent); ++i) workers_.emplace_back([this] { Worker(); });
}

JobQueue::~JobQueue() {
  Shutdown();
}

rt::StatusOr<JobSpec> JobQueue::NewJobDir() {
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec) return rt::Unavailable("cannot create the jobs folder " + options_.dir + ": " + ec.message());
  std::lock_guard lock(mu_);
  // Folders of an earlier server in the same --dir are kept: skip their ids.
  for (;; ++next_id_) {
    char id[32];
    std::snprintf(id, sizeof id, "j%04llu", static_cast<unsigned long long>(next_id_));
    fs::path dir = fs::absolute(fs::path(options_.dir) / id);
    if (fs::create_directory(dir, ec)) {
      ++next_id_;
      return JobSpec{.id = id, .dir = dir.string()};
    }
    if (ec) return rt::Unavailable("cannot create " + dir.string() + ": " + ec.message());
  }
}

size_t JobQueue::Submit(const JobSpec& spec) {
  auto job = std::make_unique<Job>();
  job->s.spec = spec;
  job->s.queued_unix_s = UnixNow();
  std::lock_guard lock(mu_);
  const size_t ahead = queue_.size() + running_;
  Job* raw = job.get();
  jobs_[spec.id] = std::move(job);
  if (stopping_) {  // submitted while shutting down: it will never run
    raw->s.state = JobState::kCancelled;
    raw->s.error = "the server is shutting down";
    raw->s.ended_unix_s = UnixNow();
  } else {
    queue_.push_back(raw);
  }
  Changed(*raw);
  return ahead;
}

rt::StatusOr<JobSnapshot> JobQueue::Get(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return rt::NotFound("field 'job_id': no job '" + id + "' on this server");
  return it->second->s;
}

std::vector<JobSnapshot> JobQueue::List() const {
  std::lock_guard lock(mu_);
  std::vector<JobSnapshot> all;
  for (const auto& [id, job] : jobs_) all.push_back(job->s);
  return all;
}

rt::StatusOr<JobSnapshot> JobQueue::Cancel(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return rt::NotFound("field 'job_id': no job '" + id + "' on this server");
  Job& job = *it->second;
  if (job.s.state == JobState::kQueued) {
    std::erase(queue_, &job);
    job.s.state = JobState::kCancelled;
    job.s.ended_unix_s = UnixNow();
    Changed(job);
  } else if (job.s.state == JobState::kRunning && !job.cancel_requested) {
    job.cancel_requested = true;  // the worker interrupts its child
    job.s.last_line = "cancel requested";
    Changed(job);
  }
  return job.s;
}

rt::StatusOr<JobSnapshot> JobQueue::WaitChange(const std::string& id, uint64_t seen_version,
                                               std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return rt::NotFound("field 'job_id': no job '" + id + "' on this server");
  const Job& job = *it->second;  // jobs are never erased
  changed_.wait_for(lock, timeout, [&] { return job.s.version > seen_version; });
  return job.s;
}

void JobQueue::Shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (Job* job : queue_) {
      job->s.state = JobState::kCancelled;
      job->s.error = "the server shut down";
      job->s.ended_unix_s = UnixNow();
      Changed(*job);
    }
    queue_.clear();
    for (auto& [id, job] : jobs_) {
      if (job->s.state == JobState::kRunning) job->cancel_requested = true;
    }
    changed_.notify_all();
  }
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
}

void JobQueue::Changed(Job& job) {
  ++job.s.version;
  Record(job);
  changed_.notify_all();
}

void JobQueue::Record(Job& job) {
  if (job.recorded == job.s.state) return;  // progress lines are not worth a write each
  const fs::path file = fs::path(job.s.spec.dir) / kJobFile;
  const fs::path tmp = fs::path(job.s.spec.dir) / (std::string(kJobFile) + ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << ToJson(job.s).dump(2) << "\n";
    if (!out.good()) {
      std::cerr << "lab: cannot write " << tmp.string() << "; job " << job.s.spec.id
                << " will be unknown to a later server" << std::endl;
      return;
    }
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) {
    std::cerr << "lab: cannot write " << file.string() << ": " << ec.message() << std::endl;
    return;
  }
  job.recorded = job.s.state;
}

void JobQueue::Restore() {
  std::error_code ec;
  if (!fs::is_directory(options_.dir, ec)) return;
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(options_.dir, ec)) {
    if (e.is_directory(ec)) dirs.push_back(fs::absolute(e.path()));
  }
  std::lock_guard lock(mu_);
  for (const fs::path& dir : dirs) {
    std::optional<JobSnapshot> s = FromJson(dir);
    if (!s) continue;
    auto job = std::make_unique<Job>();
    job->s = std::move(*s);
    job->recorded = job->s.state;
    job->s.version = 1;          // Watch sends what it has seen change: the restored state once
    if (!Ended(job->s.state)) {  // that server stopped (or was killed) first
      job->s.error = std::string("the server stopped while this job was ") + JobStateName(job->s.state) +
                     "; its folder keeps what it wrote";
      job->s.state = JobState::kFailed;
      job->s.ended_unix_s = UnixNow();  // when this server learned it: the real end is unknown
    }
    job->s.has_metrics = ReadMetrics(dir.string() + "/report.json", &job->s.metrics);
    Record(*job);
    jobs_[job->s.spec.id] = std::move(job);
  }
  if (!jobs_.empty()) {
    std::cout << "lab: " << jobs_.size() << " jobs of an earlier server in " << options_.dir << std::endl;
  }
}

void JobQueue::Worker() {
  std::unique_lock lock(mu_);
  for (;;) {
    changed_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    Job* job = queue_.front();
    queue_.pop_front();
    job->s.state = JobState::kRunning;
    job->s.started_unix_s = UnixNow();
    ++running_;
    Changed(*job);
    lock.unlock();
    // This thread owns the child until it has ended: the child gets SIGTERM
    // when the thread that started it exits (PR_SET_PDEATHSIG).
    RunJob(*job);
    lock.lock();
    --running_;
  }
}

std::vector<std::string> JobQueue::Argv(const JobSpec& spec) const {
  if (spec.kind == "suite") {
    return {options_.binary, "suite", spec.suite_path, "--out", spec.dir, "--junit", spec.dir + "/junit.xml"};
  }
  char every[32];
  std::snprintf(every, sizeof every, "%g", options_.progress_every_s);
  return {options_.binary, "run",    spec.dir + "/scenario.yaml", "--target", spec.target,
          "--out",         spec.dir, "--progress-every",          every};
}

void JobQueue::RunJob(Job& job) {
  auto child = ChildProcess::Start(Argv(job.s.spec), job.s.spec.dir + "/run.log");
  if (!child.ok()) {
    Finish(job, -1, child.status().ToString());
    return;
  }
  std::cout << "job " << job.s.spec.id << " running (pid " << (*child)->pid() << ")" << std::endl;
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> interrupted;
  bool killed = false;
  while ((*child)->Poll(std::chrono::milliseconds(200), [&](const std::string& l) { OnLine(job, l); })) {
    bool cancel;
    {
      std::lock_guard lock(mu_);
      cancel = job.cancel_requested;
    }
    if (cancel && !interrupted) {
      (*child)->Interrupt();
      interrupted = Clock::now();
    } else if (interrupted && !killed && Clock::now() - *interrupted > options_.cancel_grace) {
      (*child)->Kill();  // it did not stop within the grace period
      killed = true;
    }
  }
  Finish(job, (*child)->exit_code(), killed ? "killed after the cancel grace period" : "");
}

void JobQueue::OnLine(Job& job, const std::string& line) {
  unsigned long long done = 0, total = 0;
  double run_s = 0, wall_s = 0, eta_s = 0;
  std::lock_guard lock(mu_);
  JobSnapshot& s = job.s;
  if (std::sscanf(line.c_str(), "progress %llu/%llu requests, run %lf s, wall %lf s, eta %lf s", &done,
                  &total, &run_s, &wall_s, &eta_s) == 5) {
    s.requests_done = done;
    s.requests_total = total;
    s.run_s = run_s;
    s.wall_s = wall_s;
    s.eta_s = eta_s;
  } else if (CaseEnded(line)) {
    ++s.cases_done;
  }
  s.last_line = line.substr(0, kMaxLine);
  Changed(job);
}

void JobQueue::Finish(Job& job, int exit_code, const std::string& error) {
  JobMetrics metrics;
  const bool has_metrics = ReadMetrics(job.s.spec.dir + "/report.json", &metrics);
  std::lock_guard lock(mu_);
  JobSnapshot& s = job.s;
  s.exit_code = exit_code;
  s.has_metrics = has_metrics;
  s.metrics = metrics;
  s.ended_unix_s = UnixNow();
  s.error = error;
  if (job.cancel_requested) {
    s.state = JobState::kCancelled;
  } else if (exit_code == 0) {
    s.state = JobState::kDone;
  } else {
    s.state = JobState::kFailed;
    if (s.error.empty()) {
      s.error = "exited with status " + std::to_string(exit_code) + "; its last line: " + s.last_line;
    }
  }
  std::cout << "job " << s.spec.id << " " << JobStateName(s.state) << " (exit " << exit_code << ")"
            << std::endl;
  Changed(job);
}

}  // namespace lightloop::testbench::lab
