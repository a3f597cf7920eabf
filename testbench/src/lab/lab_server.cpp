// SPDX-License-Identifier: Apache-2.0
#include "lab/lab_server.h"

#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "lab/job_queue.h"
#include "lab/lab_service.h"

namespace lightloop::testbench::lab {
namespace rt = lightloop::runtime;

struct LabServer::Impl {
  std::unique_ptr<JobQueue> jobs;
  std::unique_ptr<LabService> service;
  std::unique_ptr<grpc::Server> server;
  std::string address;
  bool stopped = false;
};

LabServer::LabServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LabServer::~LabServer() {
  Shutdown();
}

const std::string& LabServer::address() const {
  return impl_->address;
}

rt::StatusOr<std::unique_ptr<LabServer>> LabServer::Start(const ServeOptions& o) {
  if (o.token.empty()) return rt::InvalidArgument("no token: give --token-file FILE or set LIGHTLOOP_TOKEN");
  if (o.max_concurrent < 1) return rt::InvalidArgument("--max-concurrent must be at least 1");
  auto impl = std::make_unique<Impl>();
  impl->jobs = std::make_unique<JobQueue>(
      JobQueue::Options{.dir = o.dir, .max_concurrent = o.max_concurrent, .cancel_grace = o.cancel_grace});
  impl->service = std::make_unique<LabService>(impl->jobs.get(), o.token);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(o.listen, grpc::InsecureServerCredentials(), &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // a second server must not share the port
  builder.SetMaxReceiveMessageSize(static_cast<int>(o.max_message_bytes));
  builder.RegisterService(impl->service.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server || port == 0) {
    return rt::Unavailable("cannot listen on " + o.listen + " (in use, or not an address of this machine)");
  }
  impl->address = o.listen.substr(0, o.listen.rfind(':')) + ":" + std::to_string(port);
  return std::unique_ptr<LabServer>(new LabServer(std::move(impl)));
}

void LabServer::Shutdown() {
  if (impl_ == nullptr || impl_->stopped) return;
  impl_->stopped = true;
  impl_->jobs->Shutdown();  // open Watch streams see their jobs end
  impl_->service->Stop();
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  impl_->server->Wait();
}

rt::StatusOr<std::string> ReadToken(const std::string& token_file) {
  std::string token;
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in) return rt::NotFound("--token-file " + token_file + ": cannot open");
    std::stringstream text;
    text << in.rdbuf();
    token = text.str();
    token.erase(token.find_last_not_of(" \t\r\n") + 1);
    if (token.empty()) return rt::InvalidArgument("--token-file " + token_file + " is empty");
    return token;
  }
  if (const char* env = std::getenv("LIGHTLOOP_TOKEN"); env != nullptr && *env != '\0')
    return std::string(env);
  return rt::InvalidArgument("no token: give --token-file FILE or set LIGHTLOOP_TOKEN");
}

}  // namespace lightloop::testbench::lab
