// SPDX-License-Identifier: Apache-2.0
#include "lab/lab_service.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "cli/write_file.h"
#include "lab/targets.h"
#include "lightloop/testbench/scenario.h"

namespace lightloop::testbench::lab {
namespace fs = std::filesystem;
namespace rt = lightloop::runtime;
namespace {

constexpr size_t kChunkBytes = 1 << 20;  // well under any client's 4 MiB receive limit
constexpr auto kWatchWake = std::chrono::milliseconds(250);

grpc::Status ToGrpc(const rt::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
}

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

std::string Sha256(std::string_view text) {
  std::string digest(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(),
         reinterpret_cast<unsigned char*>(digest.data()));
  return digest;
}

bool IsTarget(const std::string& t) {
  return t == "local" || t == "nic" || t == "sim" || t == "fpga";
}

bool Blank(const std::string& text) {
  return text.find_first_not_of(" \t\r\n") == std::string::npos;
}

// `p` is `root` or inside it (both canonical).
bool Inside(const fs::path& root, const fs::path& p) {
  auto [r, q] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
  return r == root.end();
}

// The files a FetchReport asks for, relative to the job folder, sorted.
rt::StatusOr<std::vector<std::string>> SelectFiles(const fs::path& root, const pb::FetchReportRequest& req,
                                                   const std::string& job_id) {
  std::vector<std::string> asked(req.paths().begin(), req.paths().end());
  if (asked.empty()) asked.push_back(".");
  std::vector<std::string> files;
  std::error_code ec;
  auto add = [&](const fs::path& file) {
    fs::path real = fs::canonical(file, ec);
    // A symbolic link out of the folder is not the job's to hand out.
    if (!ec && Inside(root, real) && fs::is_regular_file(real, ec)) {
      files.push_back(fs::relative(file, root, ec).generic_string());
    }
  };
  for (const std::string& a : asked) {
    fs::path p = fs::weakly_canonical(root / a, ec);
    if (ec || fs::path(a).is_absolute() || !Inside(root, p)) {
      return rt::InvalidArgument("field 'paths': '" + a + "' is outside the job folder");
    }
    if (!fs::exists(p, ec)) return rt::NotFound("field 'paths': job " + job_id + " has no '" + a + "'");
    if (!fs::is_directory(p, ec)) {
      add(p);
      continue;
    }
    for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->is_regular_file(ec)) add(it->path());
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

// One file in chunks; false when the client has gone.
bool StreamFile(const fs::path& root, const std::string& name, grpc::ServerWriter<pb::FileChunk>* writer) {
  std::ifstream in(root / name, std::ios::binary);
  std::string buf(kChunkBytes, '\0');
  uint64_t offset = 0;
  for (;;) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const size_t n = static_cast<size_t>(in.gcount());
    pb::FileChunk chunk;
    chunk.set_name(name);
    chunk.set_offset(offset);
    chunk.set_data(buf.data(), n);
    chunk.set_last(!in);
    if (!writer->Write(chunk)) return false;
    offset += n;
    if (!in) return true;
  }
}

}  // namespace

void ToProto(const JobSnapshot& s, pb::Job* out) {
  out->set_job_id(s.spec.id);
  out->set_kind(s.spec.kind);
  out->set_target(s.spec.target);
  out->set_name(s.spec.name);
  out->set_state(static_cast<pb::JobState>(static_cast<int>(s.state) + 1));
  pb::Progress* p = out->mutable_progress();
  p->set_requests_done(s.requests_done);
  p->set_requests_total(s.requests_total);
  p->set_run_s(s.run_s);
  p->set_wall_s(s.wall_s);
  p->set_eta_s(s.eta_s);
  p->set_cases_done(s.cases_done);
  out->set_last_line(s.last_line);
  out->set_exit_code(s.exit_code);
  if (s.has_metrics) {
    pb::Metrics* m = out->mutable_metrics();
    m->set_ttft_p50_ms(s.metrics.ttft_p50_ms);
    m->set_ttft_p99_ms(s.metrics.ttft_p99_ms);
    m->set_tpot_p50_ms(s.metrics.tpot_p50_ms);
    m->set_tpot_p99_ms(s.metrics.tpot_p99_ms);
    m->set_throughput_tok_s(s.metrics.throughput_tok_s);
    m->set_tokens_sha256(s.metrics.tokens_sha256);
    m->set_requests(s.metrics.requests);
    m->set_finished(s.metrics.finished);
    m->set_interrupted(s.metrics.interrupted);
  }
  out->set_error(s.error);
  out->set_queued_unix_s(s.queued_unix_s);
  out->set_started_unix_s(s.started_unix_s);
  out->set_ended_unix_s(s.ended_unix_s);
  out->set_dir(s.spec.dir);
}

LabService::LabService(JobQueue* jobs, const std::string& token)
    : jobs_(jobs), token_sha256_(Sha256(token)) {}

// Digests of equal length compared in constant time: the time taken says
// nothing about how much of a guessed token was right, nor its length.
grpc::Status LabService::Authorize(const grpc::ServerContext* ctx) const {
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "no token: send metadata 'authorization: Bearer <token>'");
  }
  std::string_view value(it->second.data(), it->second.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (value.substr(0, kBearer.size()) != kBearer) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "metadata 'authorization' is not 'Bearer <token>'");
  }
  const std::string given = Sha256(value.substr(kBearer.size()));
  if (CRYPTO_memcmp(given.data(), token_sha256_.data(), given.size()) != 0) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong token");
  }
  return grpc::Status::OK;
}

grpc::Status LabService::Submit(grpc::ServerContext* ctx, const pb::SubmitRequest* req,
                                pb::SubmitReply* reply) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  switch (req->job_case()) {
    case pb::SubmitRequest::kRun: return SubmitRun(req->run(), reply);
    case pb::SubmitRequest::kSuite: return SubmitSuite(req->suite(), reply);
    default: return Invalid("field 'job' is not set: give 'run' (a scenario and a target) or 'suite'");
  }
}

// The scenario is written where the run will read it and loaded there, so
// that its errors name the line and column the client sent.
grpc::Status LabService::SubmitRun(const pb::ScenarioJob& run, pb::SubmitReply* reply) {
  if (run.target().empty()) return Invalid("field 'run.target' is empty: give one of local, nic, sim, fpga");
  if (!IsTarget(run.target())) {
    return Invalid("field 'run.target': '" + run.target() + "' is not one of local, nic, sim, fpga");
  }
  if (Blank(run.scenario_yaml())) return Invalid("field 'run.scenario_yaml' is empty");
  rt::StatusOr<JobSpec> spec = jobs_->NewJobDir();
  if (!spec.ok()) return ToGrpc(spec.status());
  const std::string path = spec->dir + "/scenario.yaml";
  rt::Status written = WriteFileAtomically(path, run.scenario_yaml());
  rt::StatusOr<Scenario> scenario = rt::Internal("not loaded");
  if (written.ok()) {
    std::lock_guard lock(validate_mu_);
    scenario = LoadScenario(path);
  }
  if (!written.ok() || !scenario.ok()) {
    std::error_code ec;
    fs::remove_all(spec->dir, ec);  // nothing is left of a refused job
    if (!written.ok()) return ToGrpc(written);
    return Invalid("field 'run.scenario_yaml': " + scenario.status().message());
  }
  spec->kind = "run";
  spec->target = run.target();
  spec->name = scenario->name;
  reply->set_job_id(spec->id);
  reply->set_jobs_ahead(static_cast<uint32_t>(jobs_->Submit(*spec)));
  return grpc::Status::OK;
}

grpc::Status LabService::SubmitSuite(const pb::SuiteJob& suite, pb::SubmitReply* reply) {
  if (suite.suite_path().empty()) return Invalid("field 'suite.suite_path' is empty");
  std::error_code ec;
  fs::path path = fs::absolute(suite.suite_path(), ec);
  if (ec || !fs::is_regular_file(path, ec)) {
    return Invalid("field 'suite.suite_path': no file '" + suite.suite_path() + "' on the server");
  }
  rt::StatusOr<JobSpec> spec = jobs_->NewJobDir();
  if (!spec.ok()) return ToGrpc(spec.status());
  spec->kind = "suite";
  spec->name = path.string();
  spec->suite_path = path.string();
  reply->set_job_id(spec->id);
  reply->set_jobs_ahead(static_cast<uint32_t>(jobs_->Submit(*spec)));
  return grpc::Status::OK;
}

grpc::Status LabService::Watch(grpc::ServerContext* ctx, const pb::WatchRequest* req,
                               grpc::ServerWriter<pb::Job>* writer) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (req->job_id().empty()) return Invalid("field 'job_id' is empty");
  uint64_t seen = 0;
  for (;;) {
    rt::StatusOr<JobSnapshot> job = jobs_->WaitChange(req->job_id(), seen, kWatchWake);
    if (!job.ok()) return ToGrpc(job.status());
    if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
    if (job->version > seen) {
      pb::Job event;
      ToProto(*job, &event);
      if (!writer->Write(event)) return grpc::Status::CANCELLED;  // the client has gone
      seen = job->version;
    }
    if (Ended(job->state)) return grpc::Status::OK;
    if (stopping_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down");
  }
}

grpc::Status LabService::ListTargets(grpc::ServerContext* ctx, const pb::ListTargetsRequest*,
                                     pb::ListTargetsReply* reply) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  for (const TargetHealth& t : CheckTargets()) {
    pb::Target* out = reply->add_targets();
    out->set_name(t.name);
    out->set_healthy(t.healthy);
    out->set_detail(t.detail);
    for (const std::string& p : t.providers) out->add_providers(p);
  }
  reply->set_version(LIGHTLOOP_VERSION);
  return grpc::Status::OK;
}

grpc::Status LabService::Status(grpc::ServerContext* ctx, const pb::StatusRequest* req,
                                pb::StatusReply* reply) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (req->job_id().empty()) {
    for (const JobSnapshot& job : jobs_->List()) ToProto(job, reply->add_jobs());
    return grpc::Status::OK;
  }
  rt::StatusOr<JobSnapshot> job = jobs_->Get(req->job_id());
  if (!job.ok()) return ToGrpc(job.status());
  ToProto(*job, reply->add_jobs());
  return grpc::Status::OK;
}

grpc::Status LabService::Cancel(grpc::ServerContext* ctx, const pb::CancelRequest* req, pb::Job* reply) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (req->job_id().empty()) return Invalid("field 'job_id' is empty");
  rt::StatusOr<JobSnapshot> job = jobs_->Cancel(req->job_id());
  if (!job.ok()) return ToGrpc(job.status());
  ToProto(*job, reply);
  return grpc::Status::OK;
}

grpc::Status LabService::FetchReport(grpc::ServerContext* ctx, const pb::FetchReportRequest* req,
                                     grpc::ServerWriter<pb::FileChunk>* writer) {
  if (grpc::Status s = Authorize(ctx); !s.ok()) return s;
  if (req->job_id().empty()) return Invalid("field 'job_id' is empty");
  rt::StatusOr<JobSnapshot> job = jobs_->Get(req->job_id());
  if (!job.ok()) return ToGrpc(job.status());
  std::error_code ec;
  const fs::path root = fs::canonical(job->spec.dir, ec);
  if (ec) return grpc::Status(grpc::StatusCode::NOT_FOUND, "job " + job->spec.id + ": its folder is gone");
  rt::StatusOr<std::vector<std::string>> files = SelectFiles(root, *req, job->spec.id);
  if (!files.ok()) return ToGrpc(files.status());
  for (const std::string& name : *files) {
    if (ctx->IsCancelled() || !StreamFile(root, name, writer)) return grpc::Status::CANCELLED;
  }
  return grpc::Status::OK;
}

}  // namespace lightloop::testbench::lab
