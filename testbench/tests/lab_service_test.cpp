// SPDX-License-Identifier: Apache-2.0
// The lab service end to end on loopback: a `lightloop serve` child process
// and clients that are either the `lightloop remote` program or a raw gRPC
// stub (to send what the program never would). A run streams to done and
// its report equals a direct `lightloop run`; running and queued jobs are
// cancelled; calls without the token, malformed and oversized requests get
// their precise error and the server keeps serving; several clients queue
// behind the concurrency limit; SIGTERM ends running jobs and the server.
#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <thread>

#include "lab_test_util.h"

namespace lightloop::testbench {
namespace {

TEST(LabService, RunStreamsToDoneAndItsReportEqualsADirectRun) {
  LabServer server(2);
  ASSERT_FALSE(server.address().empty());
  // On sim through the raw stub, while the `remote` program runs on local.
  const std::string sim_id = MustSubmit(server.stub(), Resolved(kQuickstart), "sim");
  fs::path out = TempDir("remote-out");
  CommandResult remote = Lightloop(
      "remote run " + kQuickstart + " --target local --server " + server.address() + " --out " + out.string(),
      "LIGHTLOOP_TOKEN=" + kToken);
  const std::string direct = DirectRunSha("local");
  ASSERT_EQ(direct.size(), 64u);

  EXPECT_EQ(remote.code, 0) << remote.out << server.log();
  EXPECT_NE(remote.out.find("running"), std::string::npos) << remote.out;
  EXPECT_NE(remote.out.find("progress 12/12 requests"), std::string::npos) << remote.out;
  EXPECT_NE(remote.out.find("tokens_sha256 " + direct), std::string::npos) << remote.out;
  nlohmann::json report = nlohmann::json::parse(ReadAll(out / "report.json"), nullptr, false);
  ASSERT_TRUE(report.is_object()) << remote.out;
  EXPECT_EQ(report["tokens_sha256"], direct);
  EXPECT_FALSE(report["interrupted"].get<bool>());
  for (const char* f : {"report.md", "series.csv", "scenario.yaml", "run.log"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }

  std::vector<pb::Job> events = Watch(server.stub(), sim_id);
  ASSERT_FALSE(events.empty());
  const pb::Job& last = events.back();
  EXPECT_EQ(last.state(), pb::DONE) << last.error() << "\n" << server.log();
  EXPECT_EQ(last.exit_code(), 0);
  EXPECT_EQ(last.target(), "sim");
  EXPECT_EQ(last.name(), "quickstart");
  EXPECT_EQ(last.progress().requests_done(), 12u);
  EXPECT_EQ(last.progress().requests_total(), 12u);
  ASSERT_TRUE(last.has_metrics());
  EXPECT_EQ(last.metrics().tokens_sha256(), direct);  // the same tokens on every target
  EXPECT_EQ(last.metrics().finished(), 12u);
  EXPECT_GT(last.metrics().ttft_p50_ms(), 0);
  EXPECT_GE(last.metrics().ttft_p99_ms(), last.metrics().ttft_p50_ms());
  EXPECT_GT(last.metrics().tpot_p50_ms(), 0);
  EXPECT_GT(last.metrics().throughput_tok_s(), 0);
  EXPECT_GT(last.started_unix_s(), 0);
  EXPECT_GE(last.ended_unix_s(), last.started_unix_s());

  grpc::Status s;
  auto files = Fetch(server.stub(), sim_id, {"report.json"}, &s);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(files.size(), 1u);
  nlohmann::json sim = nlohmann::json::parse(files["report.json"], nullptr, false);
  ASSERT_TRUE(sim.is_object());
  EXPECT_EQ(sim["tokens_sha256"], direct);
  EXPECT_TRUE(sim["virtual_time"].get<bool>());
  fs::remove_all(out);
  EXPECT_EQ(server.Stop(), 0) << server.log();
}

TEST(LabService, CancelsQueuedAndRunningJobsAndShutsDownCleanly) {
  LabServer server(1);
  ASSERT_FALSE(server.address().empty());
  fs::path dir = TempDir("cancel");
  const std::string long_yaml = LongScenario(dir);
  ASSERT_FALSE(long_yaml.empty());
  const std::string running = MustSubmit(server.stub(), long_yaml, "local");
  pb::SubmitReply queued;
  ASSERT_TRUE(SubmitRun(server.stub(), Resolved(kQuickstart), "local", &queued).ok());
  EXPECT_EQ(queued.jobs_ahead(), 1u);
  EXPECT_EQ(GetJob(server.stub(), queued.job_id()).state(), pb::QUEUED);

  // A queued job ends at once, and never runs.
  pb::CancelRequest cancel;
  cancel.set_job_id(queued.job_id());
  pb::Job now;
  ASSERT_TRUE(server.stub().Cancel(Ctx().get(), cancel, &now).ok());
  EXPECT_EQ(now.state(), pb::CANCELLED);

  // The running one, once it has made progress, through `lightloop remote cancel`.
  std::vector<pb::Job> events = Watch(server.stub(), running, [](const pb::Job& j) {
    return j.state() == pb::RUNNING && j.progress().requests_done() > 0;
  });
  ASSERT_FALSE(events.empty());
  ASSERT_EQ(events.back().state(), pb::RUNNING) << server.log();
  CommandResult r =
      Lightloop("remote cancel " + running + " --server " + server.address(), "LIGHTLOOP_TOKEN=" + kToken);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("cancelled"), std::string::npos) << r.out;
  pb::Job job = GetJob(server.stub(), running);
  EXPECT_EQ(job.state(), pb::CANCELLED);
  // SIGINT let it write the report of what ran.
  ASSERT_TRUE(job.has_metrics()) << job.last_line() << "\n" << server.log();
  EXPECT_TRUE(job.metrics().interrupted());
  EXPECT_LT(job.metrics().finished(), 200u);
  EXPECT_EQ(GetJob(server.stub(), queued.job_id()).started_unix_s(), 0);  // it never ran
  EXPECT_FALSE(fs::exists(GetJob(server.stub(), queued.job_id()).dir() + "/run.log"));

  // SIGTERM to the server with a job running: it is cancelled, reports, and the server exits 0.
  const std::string last = MustSubmit(server.stub(), long_yaml, "local");
  Watch(server.stub(), last, [](const pb::Job& j) { return j.progress().requests_done() > 0; });
  const std::string last_dir = GetJob(server.stub(), last).dir();
  EXPECT_EQ(server.Stop(), 0) << server.log();
  EXPECT_NE(server.log().find("job " + last + " cancelled"), std::string::npos) << server.log();
  nlohmann::json report = nlohmann::json::parse(ReadAll(last_dir + "/report.json"), nullptr, false);
  ASSERT_TRUE(report.is_object()) << server.log();
  EXPECT_TRUE(report["interrupted"].get<bool>());
  fs::remove_all(dir);
}

// Ctrl-C on `remote run` cancels the job on the server (as `remote cancel`
// does) and still delivers the report of what ran; a second Ctrl-C leaves.
TEST(LabService, CtrlCOnRemoteRunCancelsTheJobAndStillDeliversItsReport) {
  LabServer server(1);
  ASSERT_FALSE(server.address().empty());
  fs::path dir = TempDir("ctrl-c");
  ASSERT_FALSE(LongScenario(dir).empty());  // writes dir/long.yaml
  std::ofstream(dir / "token") << kToken << "\n";
  const fs::path out = dir / "out";
  auto started = ChildProcess::Start({LIGHTLOOP_BIN, "remote", "run", (dir / "long.yaml").string(),
                                      "--target", "local", "--server", server.address(), "--token-file",
                                      (dir / "token").string(), "--out", out.string()});
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  std::unique_ptr<ChildProcess> client = std::move(*started);
  std::string said, id;
  auto collect = [&](const std::string& line) {
    said += line + "\n";
    static const std::regex submitted("^job (j[0-9]+) submitted");
    std::smatch m;
    if (id.empty() && std::regex_search(line, m, submitted)) id = m[1];
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (id.empty() && std::chrono::steady_clock::now() < deadline &&
         client->Poll(std::chrono::milliseconds(100), collect)) {
  }
  ASSERT_FALSE(id.empty()) << said << server.log();
  std::vector<pb::Job> events = Watch(server.stub(), id, [](const pb::Job& j) {
    return j.state() == pb::RUNNING && j.progress().requests_done() > 0;
  });
  ASSERT_FALSE(events.empty());
  ASSERT_EQ(events.back().state(), pb::RUNNING) << server.log();

  client->Interrupt();
  while (std::chrono::steady_clock::now() < deadline &&
         client->Poll(std::chrono::milliseconds(100), collect)) {
  }
  ASSERT_FALSE(client->running()) << "the client did not end 60 s after Ctrl-C\n" << said;
  EXPECT_EQ(client->exit_code(), 1) << said;
  EXPECT_NE(said.find("job " + id + ": Ctrl-C, cancelling it on the server"), std::string::npos) << said;
  EXPECT_NE(said.find("(interrupted)"), std::string::npos) << said;  // the metrics of what ran
  pb::Job job = GetJob(server.stub(), id);
  EXPECT_EQ(job.state(), pb::CANCELLED) << server.log();
  ASSERT_TRUE(job.has_metrics()) << server.log();
  EXPECT_TRUE(job.metrics().interrupted());
  EXPECT_LT(job.metrics().finished(), 200u);
  nlohmann::json report = nlohmann::json::parse(ReadAll(out / "report.json"), nullptr, false);
  ASSERT_TRUE(report.is_object()) << said;
  EXPECT_TRUE(report["interrupted"].get<bool>());

  // Two Ctrl-Cs: the client leaves (exit 130) and the job is cancelled anyway.
  auto second =
      ChildProcess::Start({LIGHTLOOP_BIN, "remote", "run", (dir / "long.yaml").string(), "--target", "local",
                           "--server", server.address(), "--token-file", (dir / "token").string()});
  ASSERT_TRUE(second.ok());
  client = std::move(*second);
  said.clear();
  id.clear();
  const auto deadline2 = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (id.empty() && std::chrono::steady_clock::now() < deadline2 &&
         client->Poll(std::chrono::milliseconds(100), collect)) {
  }
  ASSERT_FALSE(id.empty()) << said;
  Watch(server.stub(), id, [](const pb::Job& j) { return j.state() == pb::RUNNING; });
  client->Interrupt();
  while (said.find("cancelling it on the server") == std::string::npos &&
         client->Poll(std::chrono::milliseconds(100), collect)) {
  }
  client->Interrupt();
  while (client->Poll(std::chrono::milliseconds(100), collect)) {
  }
  EXPECT_EQ(client->exit_code(), 130) << said;
  // "again, leaving" (or, if the job had ended by then, "leaving once the result is out").
  EXPECT_NE(said.find("leaving"), std::string::npos) << said;
  events = Watch(server.stub(), id);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().state(), pb::CANCELLED) << server.log();
  EXPECT_EQ(server.Stop(), 0) << server.log();
  fs::remove_all(dir);
}

// A server restarted on the same --dir knows the jobs of the one before:
// ended ones as they ended (their folders still download), and one that was
// running when that server was killed as failed, saying why.
TEST(LabService, ARestartedServerKnowsTheJobsOfTheOneBefore) {
  fs::path dir = TempDir("history");
  const fs::path jobs = dir / "jobs";
  const std::string long_yaml = LongScenario(dir);
  ASSERT_FALSE(long_yaml.empty());
  std::string done_id, killed_id, sha;
  {
    LabServer first(1, jobs);
    ASSERT_FALSE(first.address().empty());
    done_id = MustSubmit(first.stub(), Resolved(kQuickstart), "local");
    std::vector<pb::Job> events = Watch(first.stub(), done_id);
    ASSERT_FALSE(events.empty());
    ASSERT_EQ(events.back().state(), pb::DONE) << first.log();
    sha = events.back().metrics().tokens_sha256();
    killed_id = MustSubmit(first.stub(), long_yaml, "local");
    Watch(first.stub(), killed_id, [](const pb::Job& j) { return j.progress().requests_done() > 0; });
    first.Kill();
  }
  LabServer second(1, jobs);
  ASSERT_FALSE(second.address().empty());
  EXPECT_NE(second.log().find("2 jobs of an earlier server"), std::string::npos) << second.log();

  pb::Job done = GetJob(second.stub(), done_id);
  EXPECT_EQ(done.state(), pb::DONE);
  EXPECT_EQ(done.exit_code(), 0);
  EXPECT_EQ(done.name(), "quickstart");
  EXPECT_EQ(done.target(), "local");
  ASSERT_TRUE(done.has_metrics());
  EXPECT_EQ(done.metrics().tokens_sha256(), sha);
  EXPECT_EQ(done.metrics().finished(), 12u);
  EXPECT_GT(done.ended_unix_s(), 0);
  grpc::Status s;
  auto files = Fetch(second.stub(), done_id, {"report.json"}, &s);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(files.size(), 1u);
  std::vector<pb::Job> events = Watch(second.stub(), done_id);  // an ended job: one event
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].state(), pb::DONE);

  pb::Job killed = GetJob(second.stub(), killed_id);
  EXPECT_EQ(killed.state(), pb::FAILED);
  EXPECT_NE(killed.error().find("the server stopped while this job was running"), std::string::npos)
      << killed.error();
  EXPECT_EQ(killed.name(), "long");

  // New jobs take new ids, after the old ones.
  const std::string next = MustSubmit(second.stub(), Resolved(kQuickstart), "local");
  EXPECT_GT(next, killed_id);
  EXPECT_EQ(Watch(second.stub(), next).back().state(), pb::DONE);
  EXPECT_EQ(second.Stop(), 0) << second.log();
  fs::remove_all(dir);
}

TEST(LabService, EveryCallNeedsTheToken) {
  LabServer server;
  ASSERT_FALSE(server.address().empty());
  const std::string yaml = Resolved(kQuickstart);
  for (const auto& [token, bearer] : std::vector<std::pair<std::string, bool>>{
           {"", true}, {"wrong-token", true}, {kToken + "x", true}, {kToken, false}}) {
    SCOPED_TRACE("token '" + token + "'" + (bearer ? "" : " as Basic"));
    pb::SubmitReply reply;
    pb::SubmitRequest submit;
    submit.mutable_run()->set_scenario_yaml(yaml);
    submit.mutable_run()->set_target("local");
    EXPECT_EQ(server.stub().Submit(Ctx(token, bearer).get(), submit, &reply).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    pb::StatusReply status;
    EXPECT_EQ(server.stub().Status(Ctx(token, bearer).get(), pb::StatusRequest(), &status).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    pb::ListTargetsReply targets;
    EXPECT_EQ(
        server.stub().ListTargets(Ctx(token, bearer).get(), pb::ListTargetsRequest(), &targets).error_code(),
        grpc::StatusCode::UNAUTHENTICATED);
    pb::CancelRequest cancel;
    cancel.set_job_id("j0001");
    pb::Job job;
    EXPECT_EQ(server.stub().Cancel(Ctx(token, bearer).get(), cancel, &job).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    if (bearer) {
      grpc::Status s;
      Watch(server.stub(), "j0001", nullptr, &s, token);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
      Fetch(server.stub(), "j0001", {}, &s, token);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    }
  }
  // Nothing got in.
  pb::StatusReply all;
  ASSERT_TRUE(server.stub().Status(Ctx().get(), pb::StatusRequest(), &all).ok());
  EXPECT_EQ(all.jobs_size(), 0);

  CommandResult bad = Lightloop("remote status --server " + server.address(), "LIGHTLOOP_TOKEN=nope");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("UNAUTHENTICATED"), std::string::npos) << bad.out;
  fs::path token_file = TempDir("token") / "t";
  std::ofstream(token_file) << kToken << "\n";
  CommandResult good =
      Lightloop("remote status --server " + server.address() + " --token-file " + token_file.string());
  EXPECT_EQ(good.code, 0) << good.out;
  EXPECT_NE(good.out.find("no jobs"), std::string::npos) << good.out;
  fs::remove_all(token_file.parent_path());

  // A server without a token does not start (timeout: should it start anyway, the test fails, not hangs).
  const fs::path jobs = TempDir("no-token");
  CommandResult no_token =
      Lightloop("serve --listen 127.0.0.1:0 --dir " + jobs.string(), "-u LIGHTLOOP_TOKEN timeout 20");
  EXPECT_EQ(no_token.code, 1) << no_token.out;
  EXPECT_NE(no_token.out.find("no token"), std::string::npos) << no_token.out;
  fs::remove_all(jobs);
}

void ExpectError(const grpc::Status& s, grpc::StatusCode code, const std::string& says) {
  EXPECT_EQ(s.error_code(), code) << s.error_message();
  EXPECT_NE(s.error_message().find(says), std::string::npos) << s.error_message();
}

TEST(LabService, MalformedRequestsGetPreciseErrorsAndTheServerKeepsServing) {
  LabServer server;
  ASSERT_FALSE(server.address().empty());
  pb::Lab::Stub& stub = server.stub();
  const std::string yaml = Resolved(kQuickstart);
  pb::SubmitReply reply;
  ExpectError(stub.Submit(Ctx().get(), pb::SubmitRequest(), &reply), grpc::StatusCode::INVALID_ARGUMENT,
              "field 'job'");
  ExpectError(SubmitRun(stub, yaml, "gpu", &reply), grpc::StatusCode::INVALID_ARGUMENT,
              "'run.target': 'gpu'");
  ExpectError(SubmitRun(stub, yaml, "", &reply), grpc::StatusCode::INVALID_ARGUMENT, "run.target");
  ExpectError(SubmitRun(stub, "  \n", "local", &reply), grpc::StatusCode::INVALID_ARGUMENT,
              "'run.scenario_yaml' is empty");
  // A misspelled key: the error names it, with its line.
  std::string misspelled = std::regex_replace(yaml, std::regex("max_seqs:"), "max_seqz:");
  ASSERT_NE(misspelled, yaml);
  grpc::Status s = SubmitRun(stub, misspelled, "local", &reply);
  ExpectError(s, grpc::StatusCode::INVALID_ARGUMENT, "max_seqz");
  EXPECT_NE(s.error_message().find("scenario.yaml:"), std::string::npos) << s.error_message();
  ExpectError(SubmitRun(stub, "name: [unclosed", "local", &reply), grpc::StatusCode::INVALID_ARGUMENT,
              "run.scenario_yaml");
  pb::SubmitRequest suite;
  suite.mutable_suite()->set_suite_path("/no/such/suite.yaml");
  ExpectError(stub.Submit(Ctx().get(), suite, &reply), grpc::StatusCode::INVALID_ARGUMENT,
              "suite.suite_path");
  // Over the server's 4 MiB.
  ExpectError(SubmitRun(stub, yaml + "#" + std::string(5 << 20, 'x'), "local", &reply),
              grpc::StatusCode::RESOURCE_EXHAUSTED, "");
  // Bytes that are no SubmitRequest at all.
  grpc::GenericStub generic(server.channel());
  const std::string junk = "\xff\xff\xff\xff garbage";
  grpc::Slice slice(junk);
  grpc::ByteBuffer request(&slice, 1), response;
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;
  grpc::Status junk_status;
  auto ctx = Ctx();
  generic.UnaryCall(ctx.get(), "/lightloop.lab.Lab/Submit", grpc::StubOptions(), &request, &response,
                    [&](grpc::Status st) {
                      std::lock_guard lock(mu);
                      junk_status = st;
                      done = true;
                      done_cv.notify_all();
                    });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(done_cv.wait_for(lock, std::chrono::seconds(30), [&] { return done; }));
  }
  EXPECT_FALSE(junk_status.ok());
  EXPECT_NE(junk_status.error_code(), grpc::StatusCode::UNAVAILABLE) << junk_status.error_message();

  // Unknown and missing job ids.
  pb::StatusRequest status_req;
  status_req.set_job_id("j9999");
  pb::StatusReply status;
  ExpectError(stub.Status(Ctx().get(), status_req, &status), grpc::StatusCode::NOT_FOUND, "j9999");
  pb::CancelRequest cancel;
  pb::Job job;
  ExpectError(stub.Cancel(Ctx().get(), cancel, &job), grpc::StatusCode::INVALID_ARGUMENT, "job_id");
  cancel.set_job_id("j9999");
  ExpectError(stub.Cancel(Ctx().get(), cancel, &job), grpc::StatusCode::NOT_FOUND, "j9999");
  Watch(stub, "j9999", nullptr, &s);
  ExpectError(s, grpc::StatusCode::NOT_FOUND, "j9999");
  Fetch(stub, "j9999", {}, &s);
  ExpectError(s, grpc::StatusCode::NOT_FOUND, "j9999");

  // Nothing was queued, and no folder is left of the refused jobs.
  ASSERT_TRUE(stub.Status(Ctx().get(), pb::StatusRequest(), &status).ok());
  EXPECT_EQ(status.jobs_size(), 0);
  EXPECT_TRUE(!fs::exists(server.jobs_dir()) || fs::is_empty(server.jobs_dir()));

  // Still serving: a good job runs to the end, and its folder is all FetchReport hands out.
  const std::string id = MustSubmit(stub, yaml, "local");
  std::vector<pb::Job> events = Watch(stub, id);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().state(), pb::DONE) << server.log();
  const fs::path job_dir = events.back().dir();
  fs::create_symlink("/etc/passwd", job_dir / "escape");
  for (const char* outside : {"../", "/etc/passwd", "escape", "model/../../j0002"}) {
    Fetch(stub, id, {outside}, &s);
    ExpectError(s, grpc::StatusCode::INVALID_ARGUMENT, "outside the job folder");
  }
  Fetch(stub, id, {"nope.txt"}, &s);
  ExpectError(s, grpc::StatusCode::NOT_FOUND, "nope.txt");
  auto files = Fetch(stub, id, {}, &s);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(files.count("report.json"));
  EXPECT_TRUE(files.count("model/config.json"));
  EXPECT_FALSE(files.count("escape"));
  for (const auto& [name, data] : files) EXPECT_EQ(data, ReadAll(job_dir / name)) << name;
}

TEST(LabService, SeveralClientsQueueBehindTheLimit) {
  LabServer server(1);
  ASSERT_FALSE(server.address().empty());
  std::vector<CommandResult> results(3);
  std::vector<std::thread> clients;
  for (size_t i = 0; i < results.size(); ++i) {
    clients.emplace_back([&, i] {
      results[i] = Lightloop("remote run " + kQuickstart + " --target local --server " + server.address(),
                             "LIGHTLOOP_TOKEN=" + kToken);
    });
  }
  for (std::thread& t : clients) t.join();
  std::vector<int> ahead;
  std::string sha;
  for (const CommandResult& r : results) {
    EXPECT_EQ(r.code, 0) << r.out;
    std::smatch m;
    if (std::regex_search(r.out, m, std::regex("\\((\\d+) jobs ahead"))) ahead.push_back(std::stoi(m[1]));
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex("tokens_sha256 ([0-9a-f]{64})"))) << r.out;
    if (sha.empty()) sha = m[1];
    EXPECT_EQ(m[1], sha);
  }
  std::sort(ahead.begin(), ahead.end());
  EXPECT_EQ(ahead, (std::vector<int>{0, 1, 2}));
  // One at a time: no two runs overlapped.
  pb::StatusReply all;
  ASSERT_TRUE(server.stub().Status(Ctx().get(), pb::StatusRequest(), &all).ok());
  ASSERT_EQ(all.jobs_size(), 3);
  std::vector<pb::Job> jobs(all.jobs().begin(), all.jobs().end());
  std::sort(jobs.begin(), jobs.end(),
            [](const pb::Job& a, const pb::Job& b) { return a.started_unix_s() < b.started_unix_s(); });
  for (size_t i = 0; i < jobs.size(); ++i) {
    EXPECT_EQ(jobs[i].state(), pb::DONE);
    if (i > 0) EXPECT_GE(jobs[i].started_unix_s(), jobs[i - 1].ended_unix_s());
  }
}

TEST(LabService, RunsSuitesThatAreOnTheServersMachine) {
  LabServer server;
  ASSERT_FALSE(server.address().empty());
  // A suite whose threshold fails: the job fails with the suite's exit code.
  fs::path dir = TempDir("suite");
  std::ofstream(dir / "failing.yaml")
      << "name: failing\ntarget: local\ncases:\n  - name: qs\n    scenario: " << kQuickstart
      << "\n    thresholds:\n      - {metric: finished, min: 13}\n";
  pb::SubmitRequest req;
  req.mutable_suite()->set_suite_path((dir / "failing.yaml").string());
  pb::SubmitReply reply;
  ASSERT_TRUE(server.stub().Submit(Ctx().get(), req, &reply).ok());
  // The smoke suite through the `remote` program, queued behind it.
  fs::path out = dir / "out";
  CommandResult r =
      Lightloop("remote suite " + std::string(LIGHTLOOP_SOURCE_DIR) +
                    "/testbench/suites/smoke.yaml --server " + server.address() + " --out " + out.string(),
                "LIGHTLOOP_TOKEN=" + kToken);
  EXPECT_EQ(r.code, 0) << r.out << server.log();
  EXPECT_NE(r.out.find("suite  -  done  5 cases ended  exit 0"), std::string::npos) << r.out;
  EXPECT_NE(ReadAll(out / "junit.xml").find("quickstart-sim"), std::string::npos);
  EXPECT_TRUE(fs::exists(out / "summary.txt"));

  pb::Job failing = GetJob(server.stub(), reply.job_id());
  EXPECT_EQ(failing.state(), pb::FAILED);
  EXPECT_EQ(failing.kind(), "suite");
  EXPECT_EQ(failing.exit_code(), 1);
  EXPECT_EQ(failing.progress().cases_done(), 1u);
  EXPECT_NE(failing.error().find("exited with status 1"), std::string::npos) << failing.error();
  fs::remove_all(dir);
}

TEST(LabService, ListsTargetsWithTheirHealth) {
  LabServer server;
  ASSERT_FALSE(server.address().empty());
  pb::ListTargetsReply reply;
  ASSERT_TRUE(server.stub().ListTargets(Ctx().get(), pb::ListTargetsRequest(), &reply).ok());
  std::vector<std::string> names;
  for (const pb::Target& t : reply.targets()) {
    names.push_back(t.name());
    EXPECT_TRUE(t.healthy()) << t.name() << ": " << t.detail();  // this build has every target
  }
  EXPECT_EQ(names, (std::vector<std::string>{"local", "nic", "sim", "fpga"}));
  const pb::Target& nic = reply.targets(1);
  EXPECT_NE(std::find(nic.providers().begin(), nic.providers().end(), "shm"), nic.providers().end())
      << nic.detail();
  EXPECT_NE(reply.targets(3).detail().find("virtual board"), std::string::npos);
  CommandResult r = Lightloop("remote targets --server " + server.address(), "LIGHTLOOP_TOKEN=" + kToken);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("liblightloop-fi.so"), std::string::npos) << r.out;
}

TEST(LabService, AnUnreachableServerIsAnErrorNamingItNotAHang) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);  // a port nobody listens on
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string where = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  close(fd);
  const auto t0 = std::chrono::steady_clock::now();
  CommandResult r = Lightloop("remote status --timeout 2 --server " + where, "LIGHTLOOP_TOKEN=" + kToken);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("lab server " + where + " did not answer"), std::string::npos) << r.out;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

}  // namespace
}  // namespace lightloop::testbench
