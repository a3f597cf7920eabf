// SPDX-License-Identifier: Apache-2.0
// `lightloop serve`: the lab service on a gRPC server, with its job queue.
//
//   LL_ASSIGN_OR_RETURN(auto server, LabServer::Start({.listen = "127.0.0.1:7500", .token = token,
//                                                      .dir = "lab-jobs"}));
//   std::cout << "serve ready listen=" << server->address() << std::endl;
//   ... server->Shutdown();
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "lightloop/runtime/status.h"

namespace lightloop::testbench::lab {

struct ServeOptions {
  std::string listen = "127.0.0.1:7500";  // port 0: any free port
  std::string token;                      // required
  std::string dir = "lightloop-lab";      // a folder per job under it
  int max_concurrent = 1;
  std::chrono::milliseconds cancel_grace{10000};
  uint64_t max_message_bytes = 4 << 20;  // larger requests: RESOURCE_EXHAUSTED
};

class LabServer {
 public:
  static runtime::StatusOr<std::unique_ptr<LabServer>> Start(const ServeOptions& options);
  ~LabServer();
  // HOST:PORT it listens on (the bound port when asked for port 0).
  const std::string& address() const;
  // Cancels queued and running jobs, waits for them to end, then stops
  // serving (calls still open get a moment to finish).
  void Shutdown();

 private:
  struct Impl;
  explicit LabServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A token from `token_file` (trailing whitespace dropped), else from the
// LIGHTLOOP_TOKEN environment variable; an error when neither has one.
runtime::StatusOr<std::string> ReadToken(const std::string& token_file);

}  // namespace lightloop::testbench::lab
