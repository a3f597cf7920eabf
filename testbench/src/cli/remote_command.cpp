// SPDX-License-Identifier: Apache-2.0
// `lightloop remote run|suite|status|cancel|targets`: the client of a lab
// server (`lightloop serve`). Progress goes to stderr, results to stdout.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "lab/lab_client.h"
#include "lab/lab_server.h"
#include "lightloop/testbench/scenario.h"

namespace lightloop::testbench {
namespace {

namespace pb = lightloop::lab;

struct RemoteArgs {
  std::string server;
  std::string token_file;
  double timeout_s = 10;
  std::string scenario;  // run
  std::string target = "sim";
  std::string suite;  // suite: a path on the server
  std::string out;
  std::string job_id;  // status, cancel
};

runtime::StatusOr<std::unique_ptr<lab::LabClient>> Connect(const RemoteArgs& a) {
  LL_ASSIGN_OR_RETURN(std::string token, lab::ReadToken(a.token_file));
  return lab::LabClient::Connect(a.server, token,
                                 std::chrono::milliseconds(static_cast<int64_t>(a.timeout_s * 1000)));
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// One line a person can read: id, kind, target, state, progress, name.
std::string JobLine(const pb::Job& j) {
  std::string line = j.job_id() + "  " + j.kind() + "  " + (j.target().empty() ? "-" : j.target()) + "  " +
                     lab::StateName(j.state());
  const pb::Progress& p = j.progress();
  if (p.requests_total() > 0) {
    line += "  " + std::to_string(p.requests_done()) + "/" + std::to_string(p.requests_total()) + " requests";
  }
  if (j.kind() == "suite") line += "  " + std::to_string(p.cases_done()) + " cases ended";
  if (j.exit_code() >= 0) line += "  exit " + std::to_string(j.exit_code());
  return line + "  " + j.name();
}

void PrintResult(const pb::Job& j) {
  std::cout << "job " << JobLine(j) << "\n";
  if (!j.error().empty()) std::cout << "  error: " << j.error() << "\n";
  if (!j.has_metrics()) return;
  const pb::Metrics& m = j.metrics();
  std::cout << "  requests " << m.finished() << "/" << m.requests()
            << (m.interrupted() ? " (interrupted)" : "") << "\n  TTFT p50 " << Fixed(m.ttft_p50_ms(), 3)
            << " ms, p99 " << Fixed(m.ttft_p99_ms(), 3) << " ms\n  TPOT p50 " << Fixed(m.tpot_p50_ms(), 3)
            << " ms, p99 " << Fixed(m.tpot_p99_ms(), 3) << " ms\n  throughput "
            << Fixed(m.throughput_tok_s(), 1) << " tokens/s\n  tokens_sha256 " << m.tokens_sha256() << "\n";
}

// Ctrl-C and SIGTERM while a job is followed cancel it on the server.
// BlockStopSignals must run before the first gRPC call: the signals are then
// blocked in every thread (gRPC starts its own) and taken only by the
// watcher's sigtimedwait. The first signal asks the server to cancel the job,
// and the client keeps following it, so the report of what ran still arrives
// (and `--out` still gets the folder); a second one leaves at once.
sigset_t StopSignals() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  return stop;
}

void BlockStopSignals() {
  const sigset_t stop = StopSignals();
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
}

class CancelOnSignal {
 public:
  CancelOnSignal(lab::LabClient& lab, std::string id) : lab_(lab), id_(std::move(id)) {
    thread_ = std::thread([this] { Watch(); });
  }
  ~CancelOnSignal() {
    done_ = true;
    thread_.join();
  }
  // The job has ended: a signal from here on no longer leaves at once but
  // once the result is printed and the folder downloaded (never a file cut
  // half-written); LeaveIfAsked then exits 130.
  void JobEnded() { job_ended_ = true; }
  void LeaveIfAsked() const {
    if (!leave_) return;
    std::cout.flush();
    std::_Exit(130);
  }

 private:
  void Watch() {
    const sigset_t stop = StopSignals();
    const timespec tick{0, 100'000'000};
    int seen = 0;
    while (!done_) {
      const int sig = sigtimedwait(&stop, nullptr, &tick);
      if (sig < 0) continue;
      const char* name = sig == SIGINT ? "Ctrl-C" : "SIGTERM";
      if (job_ended_) {
        std::cerr << "job " << id_ << ": " << name << ", leaving once the result is out" << std::endl;
        leave_ = true;
      } else if (++seen > 1) {
        std::cerr << "job " << id_ << ": " << name << " again, leaving; the server cancels the job anyway"
                  << std::endl;
        std::_Exit(130);
      } else {
        std::cerr << "job " << id_ << ": " << name
                  << ", cancelling it on the server; waiting for the report of what ran (again to leave now)"
                  << std::endl;
        auto now = lab_.Cancel(id_);
        if (!now.ok())
          std::cerr << "job " << id_ << ": cancel failed: " << now.status().ToString() << std::endl;
      }
    }
  }

  lab::LabClient& lab_;
  const std::string id_;
  std::atomic<bool> done_{false}, job_ended_{false}, leave_{false};
  std::thread thread_;
};

// Streams the job's progress to stderr until it ends, prints the result,
// fetches the folder into `out` (also of a failed or cancelled job: the
// report of what ran), and fails unless the job is done.
runtime::Status Follow(lab::LabClient& lab, const std::string& id, const std::string& out) {
  pb::JobState state = pb::JOB_STATE_UNSPECIFIED;
  std::string line;
  auto print = [&](const pb::Job& j) {
    if (j.state() != state) std::cerr << "job " << id << " " << lab::StateName(j.state()) << std::endl;
    if (!j.last_line().empty() && j.last_line() != line) {
      std::cerr << "[" << id << "] " << j.last_line() << std::endl;
    }
    state = j.state();
    line = j.last_line();
  };
  CancelOnSignal cancel_on_signal(lab, id);
  runtime::StatusOr<pb::Job> watched = lab.Watch(id, print);
  cancel_on_signal.JobEnded();
  LL_ASSIGN_OR_RETURN(pb::Job last, std::move(watched));
  PrintResult(last);
  if (!out.empty()) {
    auto files = lab.FetchReport(id, out);
    if (!files.ok()) return files.status().WithContext("job " + id + ": downloading its folder into " + out);
    std::cout << "wrote " << *files << " files to " << out << std::endl;
  }
  cancel_on_signal.LeaveIfAsked();
  if (last.state() != pb::DONE) {
    return runtime::Status(runtime::StatusCode::kAborted, "job " + id + " " + lab::StateName(last.state()));
  }
  return runtime::Status::Ok();
}

runtime::Status Submit(const RemoteArgs& a, const pb::SubmitRequest& request) {
  BlockStopSignals();
  LL_ASSIGN_OR_RETURN(auto lab, Connect(a));
  LL_ASSIGN_OR_RETURN(pb::SubmitReply reply, lab->Submit(request));
  std::cerr << "job " << reply.job_id() << " submitted to " << a.server << " (" << reply.jobs_ahead()
            << " jobs ahead of it)" << std::endl;
  return Follow(*lab, reply.job_id(), a.out);
}

runtime::Status RemoteRun(const RemoteArgs& a) {
  // Resolved here, so the server gets one flat YAML (fragments merged,
  // paths absolute) and a bad scenario never leaves this machine.
  LL_ASSIGN_OR_RETURN(Scenario s, LoadScenario(a.scenario));
  pb::SubmitRequest request;
  request.mutable_run()->set_scenario_yaml(s.resolved_yaml);
  request.mutable_run()->set_target(a.target);
  return Submit(a, request);
}

runtime::Status RemoteSuite(const RemoteArgs& a) {
  pb::SubmitRequest request;
  request.mutable_suite()->set_suite_path(a.suite);
  return Submit(a, request);
}

runtime::Status RemoteStatus(const RemoteArgs& a) {
  LL_ASSIGN_OR_RETURN(auto lab, Connect(a));
  LL_ASSIGN_OR_RETURN(pb::StatusReply reply, lab->Status(a.job_id));
  if (!a.job_id.empty()) {
    PrintResult(reply.jobs(0));
    return runtime::Status::Ok();
  }
  if (reply.jobs().empty()) std::cout << "no jobs\n";
  for (const pb::Job& j : reply.jobs()) std::cout << JobLine(j) << "\n";
  return runtime::Status::Ok();
}

runtime::Status RemoteCancel(const RemoteArgs& a) {
  LL_ASSIGN_OR_RETURN(auto lab, Connect(a));
  LL_ASSIGN_OR_RETURN(pb::Job now, lab->Cancel(a.job_id));
  std::cerr << "job " << a.job_id << ": cancel requested (" << lab::StateName(now.state()) << ")"
            << std::endl;
  LL_ASSIGN_OR_RETURN(pb::Job last, lab->Watch(a.job_id, [](const pb::Job&) {}));
  PrintResult(last);
  return runtime::Status::Ok();
}

runtime::Status RemoteTargets(const RemoteArgs& a) {
  LL_ASSIGN_OR_RETURN(auto lab, Connect(a));
  LL_ASSIGN_OR_RETURN(pb::ListTargetsReply reply, lab->ListTargets());
  std::cout << "lab server " << a.server << " (lightloop " << reply.version() << ")\n";
  for (const pb::Target& t : reply.targets()) {
    std::cout << "  " << t.name() << (t.name().size() < 5 ? std::string(5 - t.name().size(), ' ') : "")
              << "  " << (t.healthy() ? "ok      " : "broken  ") << t.detail() << "\n";
  }
  return runtime::Status::Ok();
}

void AddConnectionFlags(CLI::App* cmd, RemoteArgs& a) {
  cmd->add_option("--server", a.server, "HOST:PORT of a `lightloop serve`")->required();
  cmd->add_option("--token-file", a.token_file, "file holding the server's token (else LIGHTLOOP_TOKEN)");
  cmd->add_option("--timeout", a.timeout_s, "seconds to wait for the server to answer a call")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
}

}  // namespace

void AddRemoteCommand(CLI::App& app, CommandFn& run) {
  auto a = std::make_shared<RemoteArgs>();
  CLI::App* remote =
      app.add_subcommand("remote", "Run scenarios and suites on a lab server (`lightloop serve`)");
  remote->require_subcommand(1);

  CLI::App* r = remote->add_subcommand("run",
                                       "Run a scenario on the server, stream its progress, print its metrics "
                                       "(Ctrl-C cancels the job and still prints what ran)");
  r->add_option("scenario", a->scenario, "scenario YAML (resolved here; the files it names must exist there)")
      ->required();
  r->add_option("--target", a->target, "local, nic, sim or fpga (on the server)")
      ->capture_default_str()
      ->check(CLI::IsMember({"local", "nic", "sim", "fpga"}));
  r->add_option("--out", a->out, "also download the job's report folder here");
  AddConnectionFlags(r, *a);
  r->callback([a, &run] { run = [a] { return RemoteRun(*a); }; });

  CLI::App* s =
      remote->add_subcommand("suite", "Run a suite file that is on the server's machine (Ctrl-C cancels it)");
  s->add_option("suite", a->suite, "path of the suite YAML on the server")->required();
  s->add_option("--out", a->out, "also download the job's folder (reports, junit.xml) here");
  AddConnectionFlags(s, *a);
  s->callback([a, &run] { run = [a] { return RemoteSuite(*a); }; });

  CLI::App* st = remote->add_subcommand("status", "Every job on the server, or one");
  st->add_option("job", a->job_id, "job id (e.g. j0001)");
  AddConnectionFlags(st, *a);
  st->callback([a, &run] { run = [a] { return RemoteStatus(*a); }; });

  CLI::App* c = remote->add_subcommand("cancel", "Cancel a job and wait until it has ended");
  c->add_option("job", a->job_id, "job id")->required();
  AddConnectionFlags(c, *a);
  c->callback([a, &run] { run = [a] { return RemoteCancel(*a); }; });

  CLI::App* t = remote->add_subcommand("targets", "The server's targets and their health");
  AddConnectionFlags(t, *a);
  t->callback([a, &run] { run = [a] { return RemoteTargets(*a); }; });
}

}  // namespace lightloop::testbench
