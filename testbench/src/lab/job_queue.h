// SPDX-License-Identifier: Apache-2.0
// The lab service's jobs: a queue drained by `max_concurrent` workers, each
// running one job at a time as a child `lightloop run` or `lightloop suite`
// (SystemC elaborates once per process, so no run happens in the server).
// Knows nothing of gRPC: the service turns snapshots into messages.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lightloop/runtime/status.h"

namespace lightloop::testbench::lab {

enum class JobState { kQueued, kRunning, kDone, kFailed, kCancelled };

bool Ended(JobState s);
const char* JobStateName(JobState s);  // "queued", "running", ...

struct JobMetrics {
  double ttft_p50_ms = 0, ttft_p99_ms = 0, tpot_p50_ms = 0, tpot_p99_ms = 0, throughput_tok_s = 0;
  std::string tokens_sha256;
  uint64_t requests = 0, finished = 0;
  bool interrupted = false;
};

// What a job runs; `dir` is its folder (from NewJobDir), holding scenario.yaml for a run.
struct JobSpec {
  std::string id, dir;
  std::string kind;    // run | suite
  std::string target;  // run
  std::string name;    // scenario name or suite path
  std::string suite_path;
};

// A copy of a job's state, taken under the queue's lock.
struct JobSnapshot {
  JobSpec spec;
  JobState state = JobState::kQueued;
  uint64_t requests_done = 0, requests_total = 0;
  double run_s = 0, wall_s = 0, eta_s = 0;
  uint32_t cases_done = 0;
  std::string last_line;
  int exit_code = -1;
  bool has_metrics = false;
  JobMetrics metrics;
  std::string error;
  double queued_unix_s = 0, started_unix_s = 0, ended_unix_s = 0;
  uint64_t version = 0;  // grows with every change
};

class JobQueue {
 public:
  struct Options {
    std::string dir;  // job folders go here
    int max_concurrent = 1;
    std::chrono::milliseconds cancel_grace{10000};  // SIGINT to SIGKILL
    std::string binary;                             // the lightloop to run; empty: this one
    double progress_every_s = 0.5;
  };
  // Jobs of an earlier server in the same `dir` are known again, from the
  // job.json each job folder keeps (see Record): ended ones as they ended,
  // and one that was queued or running when that server stopped as failed.
  explicit JobQueue(Options options);
  ~JobQueue();  // Shutdown()

  // A fresh job id and its (created) folder.
  runtime::StatusOr<JobSpec> NewJobDir();
  // Queues a job whose folder NewJobDir made. Returns the jobs ahead of it.
  size_t Submit(const JobSpec& spec);
  runtime::StatusOr<JobSnapshot> Get(const std::string& id) const;
  std::vector<JobSnapshot> List() const;
  // A queued job ends now; a running one is interrupted (see Options::cancel_grace).
  runtime::StatusOr<JobSnapshot> Cancel(const std::string& id);
  // Waits up to `timeout` for job `id` to pass `seen_version`, then returns it.
  runtime::StatusOr<JobSnapshot> WaitChange(const std::string& id, uint64_t seen_version,
                                            std::chrono::milliseconds timeout) const;
  // Cancels every job, waits for the running ones to end and stops the workers.
  void Shutdown();

 private:
  struct Job {
    JobSnapshot s;
    bool cancel_requested = false;
    std::optional<JobState> recorded;  // the state job.json holds
  };
  void Worker();
  void RunJob(Job& job);
  std::vector<std::string> Argv(const JobSpec& spec) const;
  void OnLine(Job& job, const std::string& line);
  void Finish(Job& job, int exit_code, const std::string& error);
  void Changed(Job& job);  // with mu_ held
  // Writes the job's state to <dir>/job.json (atomically) when it changed.
  void Record(Job& job);  // with mu_ held
  void Restore();         // from the job.json files in options_.dir

  Options options_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;           // any job changed, or the queue did
  std::map<std::string, std::unique_ptr<Job>> jobs_;  // guarded by mu_
  std::deque<Job*> queue_;                            // guarded by mu_
  uint64_t next_id_ = 1;                              // guarded by mu_
  size_t running_ = 0;                                // guarded by mu_
  bool stopping_ = false;                             // guarded by mu_
  std::vector<std::thread> workers_;
};

// Reads report.json's headline; false when there is none (yet).
bool ReadMetrics(const std::string& report_json, JobMetrics* out);

}  // namespace lightloop::testbench::lab
