// SPDX-License-Identifier: Apache-2.0
// The gRPC side of the lab service: checks the token and the fields, then
// asks the JobQueue. Every handler starts with Authorize(); a bad request
// gets its error and changes nothing.
#pragma once

#include <atomic>
#include <mutex>
#include <string>

#include "lab/job_queue.h"
#include "lightloop/proto/lab.grpc.pb.h"

namespace lightloop::testbench::lab {

namespace pb = lightloop::lab;

class LabService final : public pb::Lab::Service {
 public:
  LabService(JobQueue* jobs, const std::string& token);

  grpc::Status Submit(grpc::ServerContext*, const pb::SubmitRequest*, pb::SubmitReply*) override;
  grpc::Status Watch(grpc::ServerContext*, const pb::WatchRequest*, grpc::ServerWriter<pb::Job>*) override;
  grpc::Status ListTargets(grpc::ServerContext*, const pb::ListTargetsRequest*,
                           pb::ListTargetsReply*) override;
  grpc::Status Status(grpc::ServerContext*, const pb::StatusRequest*, pb::StatusReply*) override;
  grpc::Status Cancel(grpc::ServerContext*, const pb::CancelRequest*, pb::Job*) override;
  grpc::Status FetchReport(grpc::ServerContext*, const pb::FetchReportRequest*,
                           grpc::ServerWriter<pb::FileChunk>*) override;

  // Watch streams still open end (UNAVAILABLE) at their next wake-up.
  void Stop() { stopping_ = true; }

 private:
  grpc::Status Authorize(const grpc::ServerContext* ctx) const;
  grpc::Status SubmitRun(const pb::ScenarioJob& run, pb::SubmitReply* reply);
  grpc::Status SubmitSuite(const pb::SuiteJob& suite, pb::SubmitReply* reply);

  JobQueue* jobs_;
  std::string token_sha256_;  // the token itself is not kept
  std::atomic<bool> stopping_{false};
  std::mutex validate_mu_;  // LoadScenario, one at a time
};

// A snapshot as its message.
void ToProto(const JobSnapshot& s, pb::Job* out);

}  // namespace lightloop::testbench::lab
