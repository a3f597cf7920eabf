// SPDX-License-Identifier: Apache-2.0
// The lab service tests' tools: a `lightloop serve` child process on a
// free loopback port (LabServer), and thin wrappers of the raw gRPC calls
// that carry the token and a deadline.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "lightloop/proto/lab.grpc.pb.h"
#include "lightloop/testbench/child_process.h"
#include "lightloop/testbench/scenario.h"
#include "run_lightloop.h"

namespace lightloop::testbench {

namespace fs = std::filesystem;
namespace pb = lightloop::lab;

inline const std::string kQuickstart =
    std::string(LIGHTLOOP_SOURCE_DIR) + "/testbench/scenarios/quickstart.yaml";
inline const std::string kToken = "lab-test-token-0123456789";

inline fs::path TempDir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("ll-lab-" + std::to_string(getpid()) + "-" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

inline std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::string Resolved(const std::string& scenario) {
  auto s = LoadScenario(scenario);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? s->resolved_yaml : "";
}

// The quick start with more and longer requests: runs long enough to cancel.
inline std::string LongScenario(const fs::path& dir) {
  fs::path p = dir / "long.yaml";
  std::ofstream(p) << "include: " << kQuickstart << "\nname: long\n"
                   << "workload: {max_requests: 200, max_output_tokens: 200}\n";
  return Resolved(p.string());
}

// `lightloop serve` on a free loopback port, its output kept for failures.
class LabServer {
 public:
  // `jobs`: the job folders' folder (--dir), when not one of its own.
  explicit LabServer(int max_concurrent = 1, const fs::path& jobs = {})
      : dir_(TempDir("server-" + std::to_string(++count_))), jobs_(jobs.empty() ? dir_ / "jobs" : jobs) {
    // As run_lightloop.h does: the environment must not pick the target.
    for (const char* v : {"FI_PROVIDER", "FI_LIGHTLOOP_CONFIG", "FI_LIGHTLOOP_BOARD"}) unsetenv(v);
    std::ofstream(dir_ / "token") << kToken << "\n";
    auto child =
        ChildProcess::Start({LIGHTLOOP_BIN, "serve", "--listen", "127.0.0.1:0", "--token-file",
                             (dir_ / "token").string(), "--dir", jobs_dir().string(), "--max-concurrent",
                             std::to_string(max_concurrent), "--cancel-grace", "5"});
    EXPECT_TRUE(child.ok()) << child.status().ToString();
    if (!child.ok()) return;
    child_ = std::move(*child);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (address_.empty() && std::chrono::steady_clock::now() < deadline &&
           child_->Poll(std::chrono::milliseconds(100), [this](const std::string& line) { OnLine(line); })) {
    }
    EXPECT_FALSE(address_.empty()) << "no ready line; it printed:\n" << log();
    drain_ = std::thread([this] {
      while (child_->Poll(std::chrono::milliseconds(100), [this](const std::string& l) { OnLine(l); })) {
      }
    });
    channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    stub_ = pb::Lab::NewStub(channel_);
  }
  ~LabServer() {
    Stop();
    fs::remove_all(dir_);
  }

  // SIGKILL: the server gets no chance to record anything.
  void Kill() {
    if (child_ == nullptr || !drain_.joinable()) return;
    kill(child_->pid(), SIGKILL);
    drain_.join();
  }

  // SIGTERM, then its exit code.
  int Stop() {
    if (child_ == nullptr) return -1;
    if (drain_.joinable()) {
      kill(child_->pid(), SIGTERM);
      drain_.join();
    }
    return child_->exit_code();
  }

  const std::string& address() const { return address_; }
  pb::Lab::Stub& stub() { return *stub_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  fs::path jobs_dir() const { return jobs_; }
  std::string log() const {
    std::lock_guard lock(mu_);
    return log_;
  }

 private:
  void OnLine(const std::string& line) {
    std::lock_guard lock(mu_);
    log_ += line + "\n";
    const std::string ready = "serve ready listen=";
    if (line.rfind(ready, 0) == 0)
      address_ = line.substr(ready.size(), line.find(' ', ready.size()) - ready.size());
  }

  static inline int count_ = 0;
  fs::path dir_, jobs_;
  std::unique_ptr<ChildProcess> child_;
  std::thread drain_;
  mutable std::mutex mu_;
  std::string log_;      // guarded by mu_
  std::string address_;  // written before drain_ starts
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Lab::Stub> stub_;
};

// A call's context: the token (none when empty), and a deadline so that a
// broken server fails the test instead of hanging it.
inline std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = kToken, bool bearer = true) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", (bearer ? "Bearer " : "Basic ") + token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(90));
  return ctx;
}

inline grpc::Status SubmitRun(pb::Lab::Stub& stub, const std::string& yaml, const std::string& target,
                              pb::SubmitReply* reply, const std::string& token = kToken) {
  pb::SubmitRequest req;
  req.mutable_run()->set_scenario_yaml(yaml);
  req.mutable_run()->set_target(target);
  return stub.Submit(Ctx(token).get(), req, reply);
}

inline std::string MustSubmit(pb::Lab::Stub& stub, const std::string& yaml, const std::string& target) {
  pb::SubmitReply reply;
  grpc::Status s = SubmitRun(stub, yaml, target, &reply);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return reply.job_id();
}

// Every event of the job until it ends; `until` stops early when it returns true.
inline std::vector<pb::Job> Watch(pb::Lab::Stub& stub, const std::string& id,
                                  const std::function<bool(const pb::Job&)>& until = nullptr,
                                  grpc::Status* status = nullptr, const std::string& token = kToken) {
  auto ctx = Ctx(token);
  pb::WatchRequest req;
  req.set_job_id(id);
  auto reader = stub.Watch(ctx.get(), req);
  std::vector<pb::Job> events;
  pb::Job job;
  while (reader->Read(&job)) {
    events.push_back(job);
    if (until && until(job)) {
      ctx->TryCancel();
      while (reader->Read(&job)) {
      }
      break;
    }
  }
  grpc::Status s = reader->Finish();
  if (status != nullptr) *status = s;
  return events;
}

inline pb::Job GetJob(pb::Lab::Stub& stub, const std::string& id) {
  pb::StatusRequest req;
  req.set_job_id(id);
  pb::StatusReply reply;
  grpc::Status s = stub.Status(Ctx().get(), req, &reply);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return reply.jobs_size() == 1 ? reply.jobs(0) : pb::Job();
}

// The files FetchReport streams, by name.
inline std::map<std::string, std::string> Fetch(pb::Lab::Stub& stub, const std::string& id,
                                                const std::vector<std::string>& paths, grpc::Status* status,
                                                const std::string& token = kToken) {
  auto ctx = Ctx(token);
  pb::FetchReportRequest req;
  req.set_job_id(id);
  for (const std::string& p : paths) req.add_paths(p);
  auto reader = stub.FetchReport(ctx.get(), req);
  std::map<std::string, std::string> files;
  pb::FileChunk chunk;
  while (reader->Read(&chunk)) {
    EXPECT_EQ(chunk.offset(), files[chunk.name()].size()) << chunk.name();
    files[chunk.name()] += chunk.data();
  }
  *status = reader->Finish();
  return files;
}

inline std::string DirectRunSha(const std::string& target) {
  fs::path out = TempDir("direct-" + target);
  CommandResult r =
      Lightloop("run " + kQuickstart + " --quiet --target " + target + " --out " + out.string());
  EXPECT_EQ(r.code, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(ReadAll(out / "report.json"), nullptr, false);
  fs::remove_all(out);
  return j.is_object() ? j.value("tokens_sha256", "") : "";
}

}  // namespace lightloop::testbench
