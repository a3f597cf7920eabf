// SPDX-License-Identifier: Apache-2.0
#include "lightloop/testbench/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "lightloop/runtime/fabric.h"

namespace lightloop::testbench {

namespace rt = lightloop::runtime;

std::string SelfBinary() {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("/proc/self/exe") : p.string();
}

rt::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(std::vector<std::string> argv,
                                                                const std::string& log_path) {
  if (argv.empty()) return rt::InvalidArgument("ChildProcess: no program");
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  if (!log_path.empty()) {
    child->log_fd_ = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (child->log_fd_ < 0) return rt::Unavailable(log_path + ": cannot open: " + std::strerror(errno));
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return rt::Internal(std::string("pipe: ") + std::strerror(errno));
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {  // only async-signal-safe calls from here to exec
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    setpgid(0, 0);  // a terminal's Ctrl-C reaches the parent, which decides
    if (getppid() != parent) _exit(127);
    // A parent that blocks SIGINT/SIGTERM to sigwait for them (`serve`)
    // must not pass that on: exec keeps the mask, and Interrupt() would
    // never reach the child.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return rt::Unavailable("cannot start " + argv[0] + ": " + std::strerror(errno));
  }
  setpgid(pid, pid);  // also from here, so a signal sent at once reaches the group
  child->pid_ = pid;
  child->fd_ = fds[0];
  return child;
}

bool ChildProcess::Poll(std::chrono::milliseconds timeout,
                        const std::function<void(const std::string&)>& on_line) {
  if (fd_ < 0) {
    Reap(true);
    return false;
  }
  pollfd pfd{fd_, POLLIN, 0};
  if (poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return true;
  char buf[4096];
  ssize_t n = read(fd_, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) {  // every writer has gone: the child (and anything it left behind) exited
    if (!partial_.empty() && on_line) on_line(partial_);
    partial_.clear();
    close(fd_);
    fd_ = -1;
    Reap(true);
    return false;
  }
  if (log_fd_ >= 0) (void)!write(log_fd_, buf, static_cast<size_t>(n));
  partial_.append(buf, static_cast<size_t>(n));
  for (size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
    std::string line = partial_.substr(0, nl);
    partial_.erase(0, nl + 1);
    if (on_line) on_line(line);
  }
  return true;
}

void ChildProcess::Reap(bool block) {
  if (pid_ <= 0 || exit_code_ >= 0) return;
  // The shm objects a killed child leaves, removed before it is reaped.
  (void)rt::RemoveShmRegionsOfExitedChild(pid_, block);
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (r < 0) exit_code_ = 127;
}

void ChildProcess::Interrupt() const {
  if (pid_ > 0 && exit_code_ < 0) kill(-pid_, SIGINT);
}

void ChildProcess::Kill() const {
  if (pid_ > 0 && exit_code_ < 0) kill(-pid_, SIGKILL);
}

ChildProcess::~ChildProcess() {
  if (running()) {
    Kill();
    Reap(true);
  }
  if (fd_ >= 0) close(fd_);
  if (log_fd_ >= 0) close(log_fd_);
}

}  // namespace lightloop::testbench
