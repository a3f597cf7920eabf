// SPDX-License-Identifier: Apache-2.0
// A memnode in a child process: `lightloop memnode ...` started, waited for
// until it prints its "memnode ready" line, and stopped on destruction. The
// transport benchmark and the two-process tests use it.
//
//   MemnodeProcess::Options opts{.binary = "build/bin/lightloop", .provider = "shm"};
//   LL_ASSIGN_OR_RETURN(auto node, MemnodeProcess::Spawn(opts));
//   client_options.memnode = node->control_address();
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "lightloop/runtime/status.h"

namespace lightloop::runtime {

class MemnodeProcess {
 public:
  struct Options {
    std::string binary;    // the lightloop program; empty: /proc/self/exe
    std::string provider;  // passed as --provider when set
    std::string listen = "127.0.0.1:0";
    std::string capacity = "1GiB";
    size_t endpoints = 0;  // 0: the memnode's default (MemnodeOptions::endpoints)
    std::chrono::milliseconds ready_timeout{20000};
  };

  static StatusOr<std::unique_ptr<MemnodeProcess>> Spawn(const Options& options);
  // SIGTERM, then SIGKILL if it has not exited after 5 s.
  ~MemnodeProcess();

  const std::string& control_address() const { return control_; }
  const std::string& ready_line() const { return ready_line_; }
  pid_t pid() const { return pid_; }
  // Sends `signal`; the destructor still reaps the process.
  void Signal(int signal) const;
  // SIGTERM and wait; the exit status as from waitpid's WEXITSTATUS (or 128+signal).
  StatusOr<int> Stop();

 private:
  MemnodeProcess() = default;
  Status AwaitReady(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string control_;
  std::string ready_line_;
  std::string output_;  // what the child printed before "memnode ready"
};

}  // namespace lightloop::runtime
