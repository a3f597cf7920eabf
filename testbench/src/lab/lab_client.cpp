// SPDX-License-Identifier: Apache-2.0
#include "lab/lab_client.h"

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace lightloop::testbench::lab {
namespace fs = std::filesystem;
namespace rt = lightloop::runtime;
namespace {

// A name the server sent must stay inside the folder we write to.
bool SafeName(const std::string& name) {
  fs::path p(name);
  if (name.empty() || p.is_absolute()) return false;
  for (const fs::path& part : p) {
    if (part == "..") return false;
  }
  return true;
}

}  // namespace

std::string StateName(pb::JobState state) {
  switch (state) {
    case pb::QUEUED: return "queued";
    case pb::RUNNING: return "running";
    case pb::DONE: return "done";
    case pb::FAILED: return "failed";
    case pb::CANCELLED: return "cancelled";
    default: return "unknown";
  }
}

rt::StatusOr<std::unique_ptr<LabClient>> LabClient::Connect(const std::string& server,
                                                            const std::string& token,
                                                            std::chrono::milliseconds timeout) {
  if (server.empty()) return rt::InvalidArgument("--server: give HOST:PORT of a `lightloop serve`");
  std::unique_ptr<LabClient> c(new LabClient());
  c->server_ = server;
  c->token_ = token;
  c->timeout_ = timeout;
  c->channel_ = grpc::CreateChannel(server, grpc::InsecureChannelCredentials());
  if (!c->channel_->WaitForConnected(std::chrono::system_clock::now() + timeout)) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", static_cast<double>(timeout.count()) / 1000.0);
    return rt::Unavailable("lab server " + server + " did not answer within " + seconds +
                           " s (is `lightloop serve` running there?)");
  }
  c->stub_ = pb::Lab::NewStub(c->channel_);
  return c;
}

void LabClient::Prepare(grpc::ClientContext* ctx, bool deadline) const {
  ctx->AddMetadata("authorization", "Bearer " + token_);
  if (deadline) ctx->set_deadline(std::chrono::system_clock::now() + timeout_);
}

rt::Status LabClient::FromGrpc(const grpc::Status& s, const std::string& rpc) const {
  if (s.ok()) return rt::Status::Ok();
  auto code = static_cast<rt::StatusCode>(s.error_code());
  if (s.error_code() > grpc::StatusCode::UNAUTHENTICATED) code = rt::StatusCode::kUnknown;
  std::string text = s.error_message();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
      s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    text = "lab server " + server_ + " did not answer (" + text + ")";
  }
  return rt::Status(code, rpc + ": " + text);
}

rt::StatusOr<pb::SubmitReply> LabClient::Submit(const pb::SubmitRequest& request) {
  grpc::ClientContext ctx;
  Prepare(&ctx, true);
  pb::SubmitReply reply;
  LL_RETURN_IF_ERROR(FromGrpc(stub_->Submit(&ctx, request, &reply), "Submit"));
  return reply;
}

rt::StatusOr<pb::Job> LabClient::Watch(const std::string& job_id,
                                       const std::function<void(const pb::Job&)>& on_event) {
  grpc::ClientContext ctx;
  Prepare(&ctx, false);  // a run takes as long as it takes
  pb::WatchRequest request;
  request.set_job_id(job_id);
  auto reader = stub_->Watch(&ctx, request);
  pb::Job event, last;
  bool any = false;
  while (reader->Read(&event)) {
    on_event(event);
    last = event;
    any = true;
  }
  LL_RETURN_IF_ERROR(FromGrpc(reader->Finish(), "Watch"));
  if (!any) return rt::Internal("Watch: the server sent no event for job " + job_id);
  return last;
}

rt::StatusOr<pb::ListTargetsReply> LabClient::ListTargets() {
  grpc::ClientContext ctx;
  Prepare(&ctx, true);
  pb::ListTargetsReply reply;
  LL_RETURN_IF_ERROR(FromGrpc(stub_->ListTargets(&ctx, pb::ListTargetsRequest(), &reply), "ListTargets"));
  return reply;
}

rt::StatusOr<pb::StatusReply> LabClient::Status(const std::string& job_id) {
  grpc::ClientContext ctx;
  Prepare(&ctx, true);
  pb::StatusRequest request;
  request.set_job_id(job_id);
  pb::StatusReply reply;
  LL_RETURN_IF_ERROR(FromGrpc(stub_->Status(&ctx, request, &reply), "Status"));
  return reply;
}

rt::StatusOr<pb::Job> LabClient::Cancel(const std::string& job_id) {
  grpc::ClientContext ctx;
  Prepare(&ctx, true);
  pb::CancelRequest request;
  request.set_job_id(job_id);
  pb::Job reply;
  LL_RETURN_IF_ERROR(FromGrpc(stub_->Cancel(&ctx, request, &reply), "Cancel"));
  return reply;
}

rt::StatusOr<size_t> LabClient::FetchReport(const std::string& job_id, const std::string& out_dir) {
  grpc::ClientContext ctx;
  Prepare(&ctx, false);  // the folder may be large; a dead server still ends the stream
  pb::FetchReportRequest request;
  request.set_job_id(job_id);
  auto reader = stub_->FetchReport(&ctx, request);
  pb::FileChunk chunk;
  std::ofstream out;
  size_t files = 0;
  auto abandon = [&](rt::Status why) {  // the call must still be finished
    ctx.TryCancel();
    while (reader->Read(&chunk)) {
    }
    (void)reader->Finish();
    return why;
  };
  while (reader->Read(&chunk)) {
    if (!SafeName(chunk.name())) {
      return abandon(
          rt::Status(rt::StatusCode::kDataLoss,
                     "FetchReport: the server sent a file outside the folder: '" + chunk.name() + "'"));
    }
    const fs::path path = fs::path(out_dir) / chunk.name();
    if (chunk.offset() == 0) {
      std::error_code ec;
      fs::create_directories(path.parent_path(), ec);
      out = std::ofstream(path, std::ios::binary | std::ios::trunc);
    }
    out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    if (!out.good()) {
      return abandon(rt::Unavailable("FetchReport: cannot write " + path.string()));
    }
    if (chunk.last()) {
      out.close();
      ++files;
    }
  }
  LL_RETURN_IF_ERROR(FromGrpc(reader->Finish(), "FetchReport"));
  return files;
}

}  // namespace lightloop::testbench::lab
