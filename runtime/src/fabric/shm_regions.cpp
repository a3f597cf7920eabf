// SPDX-License-Identifier: Apache-2.0
// Stale shm provider regions: what a killed process leaves in /dev/shm.
//
// libfabric's shm provider backs each enabled endpoint with a POSIX shared
// memory object named "<pid>:<uid>:<index>" and unlinks it when the endpoint
// closes. A process that is killed (SIGKILL, a crash) leaves its objects
// behind. That is harmless until the kernel hands the same pid to a new
// process: its first shm endpoint then finds an object under its own name
// whose recorded owner, the pid, is alive -- the new process itself -- and
// fi_enable fails with EBUSY. On a CI machine that runs hundreds of short
// processes, pid reuse is routine. Two defences:
//   - before its first shm endpoint, a process removes every object under its
//     own pid: none of them can be its own yet (ClearStaleShmRegions);
//   - a parent that reaps a child removes the child's objects while the child
//     is a zombie, so its pid cannot have been reused (RemoveShmRegionsOf).
#include <dirent.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>

#include "lightloop/runtime/fabric.h"

namespace lightloop::runtime {
namespace {

constexpr const char* kShmDir = "/dev/shm";

bool AllDigits(const char* s) {
  if (*s == '\0') return false;
  for (; *s != '\0'; ++s)
    if (*s < '0' || *s > '9') return false;
  return true;
}

}  // namespace

size_t RemoveShmRegionsOf(pid_t pid) {
  if (pid <= 0) return 0;
  const std::string prefix = std::to_string(pid) + ":" + std::to_string(getuid()) + ":";
  DIR* dir = opendir(kShmDir);
  if (dir == nullptr) return 0;
  size_t removed = 0;
  while (const dirent* e = readdir(dir)) {
    if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) != 0 || !AllDigits(e->d_name + prefix.size()))
      continue;
    if (shm_unlink(e->d_name) == 0) ++removed;
  }
  closedir(dir);
  return removed;
}

size_t RemoveShmRegionsOfExitedChild(pid_t pid, bool block) {
  siginfo_t info{};
  int w;
  do {
    w = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT | (block ? 0 : WNOHANG));
  } while (w < 0 && errno == EINTR);
  return w == 0 && info.si_pid == pid ? RemoveShmRegionsOf(pid) : 0;
}

size_t ClearStaleShmRegions() {
  static std::once_flag once;
  static size_t removed = 0;
  std::call_once(once, [] { removed = RemoveShmRegionsOf(getpid()); });
  return removed;
}

}  // namespace lightloop::runtime
