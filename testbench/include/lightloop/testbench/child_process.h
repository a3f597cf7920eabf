// SPDX-License-Identifier: Apache-2.0
// A `lightloop` command in a child process, its output read line by line:
// how sweeps, suites and the lab service run scenarios. A child process
// keeps each run's SystemC kernel, provider and memnode to itself, runs in
// parallel with others, and can be interrupted (it finishes the report of
// what ran) or killed without taking the parent along.
//
//   LL_ASSIGN_OR_RETURN(auto run, ChildProcess::Start({SelfBinary(), "run", "s.yaml", "--out", dir},
//                                                     dir + "/run.log"));
//   while (run->Poll(std::chrono::milliseconds(200), [](const std::string& line) { ... })) {}
//   if (run->exit_code() != 0) ...
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lightloop/runtime/status.h"

namespace lightloop::testbench {

// The running program's own file (so a child runs the same build).
std::string SelfBinary();

class ChildProcess {
 public:
  // Starts argv[0] with argv in its own process group, stdout and stderr
  // into one pipe; every line is also appended to `log_path` when given.
  static runtime::StatusOr<std::unique_ptr<ChildProcess>> Start(std::vector<std::string> argv,
                                                                 const std::string& log_path = "");
  // Kills (SIGKILL to its group) and reaps a child still running.
  ~ChildProcess();

  // Waits up to `timeout` for output and hands each complete line to
  // `on_line`. False once the child has exited and its output is drained.
  bool Poll(std::chrono::milliseconds timeout, const std::function<void(const std::string&)>& on_line);
  // WEXITSTATUS, or 128 + the signal that ended it; -1 while running.
  int exit_code() const { return exit_code_; }
  bool running() const { return exit_code_ < 0; }
  pid_t pid() const { return pid_; }
  // SIGINT to its group: `lightloop run` stops after its step and reports.
  void Interrupt() const;
  void Kill() const;

 private:
  ChildProcess() = default;
  void Reap(bool block);

  pid_t pid_ = -1;
  int fd_ = -1;
  int log_fd_ = -1;
  int exit_code_ = -1;
  std::string partial_;
};

}  // namespace lightloop::testbench
