// SPDX-License-Identifier: Apache-2.0
// How the shm provider moves large transfers in this process: CMA or SAR.
//
// libfabric's shm provider moves a large RMA one of two ways. With CMA the
// peer's progress thread copies straight between the two address spaces with
// process_vm_readv/writev: one copy, but the kernel pins the other side's
// pages on every call. With CMA off it segments the transfer through shared
// bounce buffers (SAR): two copies, pipelined, one in each process. Which is
// faster depends on the machine: on a guest whose page-table work is costly
// (the 2-core VMs lightloop's CI runs on) a 1 MiB process_vm_readv moves about
// a quarter of what memcpy does, so CMA writes ran at 0.3-0.4 of memcpy while
// SAR reads ran at 0.7-0.9. So before libfabric starts, a short probe times
// process_vm_readv on this process against memcpy, and when CMA is the slower
// by more than half, FI_SHM_DISABLE_CMA=1 is set for this process and the
// processes it starts. A user's own FI_SHM_DISABLE_CMA is always kept.
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>

#include "lightloop/runtime/fabric.h"

namespace lightloop::runtime {
namespace {

constexpr size_t kBlock = 1 << 20;       // the transfer size that matters for bandwidth
constexpr size_t kWorkingSet = 8 << 20;  // past the L2 of the machines we run on
constexpr int kRounds = 3;               // best of, against a neighbour's burst
constexpr auto kRoundTime = std::chrono::milliseconds(8);

std::atomic<bool> gFabricStarted{false};

// Best GB/s over kRounds of `copy(dst, src)` cycling over the working set;
// 0 if a copy fails.
template <typename Copy>
double BestGbps(char* dst, const char* src, Copy copy) {
  using Clock = std::chrono::steady_clock;
  double best = 0;
  for (int round = 0; round < kRounds; ++round) {
    size_t bytes = 0;
    auto start = Clock::now();
    Clock::duration spent{};
    while ((spent = Clock::now() - start) < kRoundTime) {
      for (size_t off = 0; off < kWorkingSet; off += kBlock) {
        if (!copy(dst + off, src + off)) return 0;
        bytes += kBlock;
      }
    }
    best = std::max(best, static_cast<double>(bytes) / std::chrono::duration<double>(spent).count() / 1e9);
  }
  return best;
}

ShmCopyChoice Probe() {
  ShmCopyChoice c;
  auto src = std::make_unique<char[]>(kWorkingSet);
  auto dst = std::make_unique<char[]>(kWorkingSet);
  std::memset(src.get(), 0x5a, kWorkingSet);
  std::memset(dst.get(), 0, kWorkingSet);
  const pid_t self = getpid();
  c.memcpy_gbps = BestGbps(dst.get(), src.get(), [](char* d, const char* s) {
    std::memcpy(d, s, kBlock);
    return true;
  });
  c.cma_gbps = BestGbps(dst.get(), src.get(), [self](char* d, const char* s) {
    iovec local{d, kBlock}, remote{const_cast<char*>(s), kBlock};
    return process_vm_readv(self, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(kBlock);
  });
  c.probed = true;
  return c;
}

ShmCopyChoice Decide() {
  if (const char* user = std::getenv("FI_SHM_DISABLE_CMA"); user != nullptr) {
    ShmCopyChoice c;
    std::string v = user;
    std::string lower = v;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    c.cma = !(lower == "1" || lower == "on" || lower == "true" || lower == "yes");  // libfabric's booleans
    c.why = "FI_SHM_DISABLE_CMA=" + v + " from the environment";
    return c;
  }
  if (gFabricStarted.load()) {
    ShmCopyChoice c;
    c.why = "libfabric had started before shm was asked for; its default (CMA where available) stands";
    return c;
  }
  ShmCopyChoice c = Probe();
  std::ostringstream why;
  why.precision(3);
  c.cma = !PreferSar(c.cma_gbps, c.memcpy_gbps);
  why << "probe: 1 MiB process_vm_readv " << c.cma_gbps << " GB/s, memcpy " << c.memcpy_gbps << " GB/s";
  if (!c.cma) {
    setenv("FI_SHM_DISABLE_CMA", "1", 0);  // read by the shm provider when libfabric starts
    why << "; FI_SHM_DISABLE_CMA=1 set";
  }
  c.why = why.str();
  return c;
}

}  // namespace

bool PreferSar(double cma_gbps, double memcpy_gbps) {
  return cma_gbps < 0.5 * memcpy_gbps;
}

const ShmCopyChoice& ChooseShmCopy() {
  static std::once_flag once;
  static ShmCopyChoice choice;
  std::call_once(once, [] { choice = Decide(); });
  return choice;
}

void NoteFabricStarted() {
  gFabricStarted.store(true);
}

}  // namespace lightloop::runtime
