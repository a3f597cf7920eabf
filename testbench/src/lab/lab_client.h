// SPDX-License-Identifier: Apache-2.0
// `lightloop remote`: the lab service's client. Every call carries the
// token; unary calls have a deadline and a server that does not answer is
// an error naming its address, never a hang.
//
//   LL_ASSIGN_OR_RETURN(auto lab, LabClient::Connect("lab1:7500", token));
//   LL_ASSIGN_OR_RETURN(pb::SubmitReply r, lab->Submit(request));
//   LL_ASSIGN_OR_RETURN(pb::Job last, lab->Watch(r.job_id(), [](const pb::Job& j) { ... }));
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "lightloop/proto/lab.grpc.pb.h"
#include "lightloop/runtime/status.h"

namespace lightloop::testbench::lab {

namespace pb = lightloop::lab;

class LabClient {
 public:
  static runtime::StatusOr<std::unique_ptr<LabClient>> Connect(
      const std::string& server, const std::string& token,
      std::chrono::milliseconds timeout = std::chrono::seconds(10));

  runtime::StatusOr<pb::SubmitReply> Submit(const pb::SubmitRequest& request);
  // Hands each event to `on_event` until the job has ended; returns the last.
  runtime::StatusOr<pb::Job> Watch(const std::string& job_id,
                                   const std::function<void(const pb::Job&)>& on_event);
  runtime::StatusOr<pb::ListTargetsReply> ListTargets();
  runtime::StatusOr<pb::StatusReply> Status(const std::string& job_id);  // empty: every job
  runtime::StatusOr<pb::Job> Cancel(const std::string& job_id);
  // Writes the job's folder into `out_dir`; returns the number of files.
  runtime::StatusOr<size_t> FetchReport(const std::string& job_id, const std::string& out_dir);

 private:
  LabClient() = default;
  // The token, and for unary calls the deadline.
  void Prepare(grpc::ClientContext* ctx, bool deadline) const;
  runtime::Status FromGrpc(const grpc::Status& s, const std::string& rpc) const;

  std::string server_, token_;
  std::chrono::milliseconds timeout_{0};
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Lab::Stub> stub_;
};

// "queued", "running", "done", "failed", "cancelled".
std::string StateName(pb::JobState state);

}  // namespace lightloop::testbench::lab
