// SPDX-License-Identifier: Apache-2.0
// The daemon protocol's framing (wire.h): one WireMsg per seqpacket.
#include "wire.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace lightloop::fi {

void WireMsg::SetText(const std::string& s) {
  std::memset(text, 0, sizeof(text));
  std::strncpy(text, s.c_str(), sizeof(text) - 1);
}

bool SendMsg(int fd, const WireMsg& m) {
  for (;;) {
    ssize_t n = ::send(fd, &m, sizeof(m), MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(sizeof(m))) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

bool RecvMsg(int fd, WireMsg* m) {
  for (;;) {
    ssize_t n = ::recv(fd, m, sizeof(*m), 0);
    if (n == static_cast<ssize_t>(sizeof(*m))) return m->version == kWireVersion;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

std::string SegmentName(uint32_t pid) {
  return "/lightloop-fab-" + std::to_string(getuid()) + "-" + std::to_string(pid);
}

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace lightloop::fi
