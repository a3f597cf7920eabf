// SPDX-License-Identifier: Apache-2.0
#include "lightloop/runtime/memnode_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "lightloop/runtime/fabric.h"

namespace lightloop::runtime {
namespace {

// Reaps the child once it has exited. Before that, while it is a zombie and
// its pid cannot be reused, removes the shm objects it left if it was killed.
int WaitExit(pid_t pid, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    (void)RemoveShmRegionsOfExitedChild(pid, /*block=*/false);
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) return -2;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

StatusOr<std::unique_ptr<MemnodeProcess>> MemnodeProcess::Spawn(const Options& options) {
  std::string binary = options.binary.empty() ? "/proc/self/exe" : options.binary;
  std::vector<std::string> args{
      binary,       "memnode",        "--listen",    options.listen,
      "--capacity", options.capacity, "--endpoints", std::to_string(options.endpoints)};
  if (!options.provider.empty()) {
    args.push_back("--provider");
    args.push_back(options.provider);
  }
  // The child inherits this process's shm copy choice (FI_SHM_DISABLE_CMA)
  // instead of probing again: both ends of a transfer then agree.
  if (CoreProviderName(options.provider) == "shm") (void)ChooseShmCopy();
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + std::strerror(errno));
  std::unique_ptr<MemnodeProcess> proc(new MemnodeProcess());
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {                      // only async-signal-safe calls from here to exec
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // a killed parent takes its memnode along
    // Its own process group: a terminal's Ctrl-C goes to the program that
    // started it (which finishes its work, then stops the memnode), not
    // to the memnode under its feet.
    setpgid(0, 0);
    if (getppid() != parent) _exit(127);
    dup2(fds[1], STDOUT_FILENO);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(fds[1]);
  proc->stdout_fd_ = fds[0];
  if (pid < 0) return Unavailable("cannot start " + binary + ": " + std::strerror(errno));
  proc->pid_ = pid;
  LL_RETURN_IF_ERROR(proc->AwaitReady(options.ready_timeout));
  return proc;
}

Status MemnodeProcess::AwaitReady(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string buf;
  for (;;) {
    size_t nl = buf.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (line.rfind("memnode ready", 0) == 0) {
        ready_line_ = line;
        size_t at = line.find("control=");
        control_ = line.substr(at + 8, line.find(' ', at) - at - 8);
        return Status::Ok();
      }
      output_ += line + "\n";
      continue;
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return DeadlineExceeded("memnode did not get ready within " + std::to_string(timeout.count()) + " ms");
    pollfd pfd{stdout_fd_, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[512];
    ssize_t n = read(stdout_fd_, chunk, sizeof chunk);
    if (n <= 0) {
      int code = WaitExit(pid_, std::chrono::milliseconds(2000));
      pid_ = -1;
      return Unavailable("memnode exited (status " + std::to_string(code) +
                         ") before it was ready; see its error above" +
                         (output_.empty() ? std::string() : "; it printed: " + output_));
    }
    buf.append(chunk, static_cast<size_t>(n));
  }
}

void MemnodeProcess::Signal(int signal) const {
  if (pid_ > 0) kill(pid_, signal);
}

StatusOr<int> MemnodeProcess::Stop() {
  if (pid_ <= 0) return FailedPrecondition("memnode process is not running");
  kill(pid_, SIGTERM);
  int code = WaitExit(pid_, std::chrono::milliseconds(5000));
  if (code == -2) {
    kill(pid_, SIGKILL);
    code = WaitExit(pid_, std::chrono::milliseconds(5000));
    pid_ = -1;
    return DeadlineExceeded("memnode did not exit within 5 s of SIGTERM; killed");
  }
  pid_ = -1;
  return code;
}

MemnodeProcess::~MemnodeProcess() {
  if (pid_ > 0) (void)Stop();
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

}  // namespace lightloop::runtime
