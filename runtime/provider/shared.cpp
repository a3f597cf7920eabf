// SPDX-License-Identifier: Apache-2.0
// The provider's side of a shared fabric (FI_LIGHTLOOP_FABRIC=shared, or an
// unmodified program in auto mode): every operation goes to the fabric
// daemon (`lightloop fabricd`, started on demand), which times it on the one
// model that all processes share and tells the target which bytes to copy.
//
// Data path: the initiator stages a write's or a message's bytes in its own
// segment (/dev/shm, wire.h); the target's receiver thread copies them from
// there into the region (or into the message's buffer) and acks; a read's
// bytes go the other way, into the initiator's segment, and out to the
// caller's buffer when its completion is drained. The receiver thread never
// takes Sim::mu: it copies, acks, answers calls and queues deliveries in an
// inbox that callers drain (with Sim::mu held) when they poll.
#include <dlfcn.h>
#include <fcntl.h>
#include <rdma/providers/fi_log.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <thread>

#include "lightloop/runtime/fabricd.h"
#include "lightloop_fi.h"

extern char** environ;

namespace lightloop::fi {
namespace {

int Connect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// The `lightloop` program beside this library (../bin/lightloop), unless
// FI_LIGHTLOOP_FABRICD names one.
std::string DaemonProgram() {
  if (std::string p = FabricdProgram(); !p.empty()) return p;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&DaemonProgram), &info) == 0 || info.dli_fname == nullptr) return "";
  std::string lib = info.dli_fname;
  std::string dir = lib.substr(0, lib.find_last_of('/') + 1);
  return dir + "../bin/lightloop";
}

// Starts `lightloop fabricd --daemonize` for `socket`; its output goes to
// `<socket>.log`.
bool SpawnDaemon(const std::string& socket, const std::string& config, TimeMode mode, TimingModel timing,
                 double dilation, std::string* error) {
  std::string program = DaemonProgram();
  if (program.empty() || access(program.c_str(), X_OK) != 0) {
    *error = "cannot start the fabric daemon: no program at '" + program +
             "' (set FI_LIGHTLOOP_FABRICD to the lightloop program, or start `lightloop fabricd` by hand)";
    return false;
  }
  std::string log = socket + ".log";
  char dilation_text[32];
  std::snprintf(dilation_text, sizeof(dilation_text), "%.17g", dilation);  // the daemon compares it exactly
  const std::string procs_timeout = std::to_string(ProcsTimeoutParam());
  std::vector<std::string> args = {program,
                                   "fabricd",
                                   "--socket",
                                   socket,
                                   "--config",
                                   config,
                                   "--time",
                                   mode == TimeMode::kVirtual ? "virtual" : "paced",
                                   "--timing",
                                   TimingModelName(timing),
                                   "--dilation",
                                   dilation_text,
                                   "--idle-exit",
                                   "2",
                                   "--expect",
                                   std::to_string(ProcsParam()),
                                   "--expect-timeout",
                                   procs_timeout,
                                   "--daemonize"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, program.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    *error = "cannot start the fabric daemon " + program + ": " + std::strerror(rc);
    return false;
  }
  int status = 0;
  waitpid(pid, &status, 0);  // --daemonize: the first process exits once the daemon is forked off
  return true;
}

int ConnectOrSpawn(const std::string& socket, const std::string& config, TimeMode mode, TimingModel timing,
                   double dilation, std::string* error) {
  if (int fd = Connect(socket); fd >= 0) return fd;
  if (!SpawnDaemon(socket, config, mode, timing, dilation, error)) return -1;
  for (int i = 0; i < 500; ++i) {  // up to 5 s
    if (int fd = Connect(socket); fd >= 0) return fd;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  *error = "the fabric daemon did not come up at " + socket + " (see " + socket + ".log)";
  return -1;
}

}  // namespace

std::unique_ptr<SharedFabric> SharedFabric::Connect(const std::string& config, TimeMode mode,
                                                    TimingModel timing, double dilation, std::string* error) {
  std::string socket = FabricdSocket();
  int fd = ConnectOrSpawn(socket, config, mode, timing, dilation, error);
  if (fd < 0) return nullptr;
  std::unique_ptr<SharedFabric> f(new SharedFabric(fd, mode));
  if (!f->MapSegment(error)) return nullptr;
  WireMsg hello = WireMsg::Of(WireType::kHello);
  hello.pid = static_cast<uint32_t>(getpid());
  hello.time_mode = static_cast<uint32_t>(mode);
  hello.timing_model = static_cast<uint32_t>(timing);
  hello.dilation = dilation;
  hello.SetText(config);
  if (!SendMsg(fd, hello)) {
    *error = "the fabric daemon at " + socket + " closed the connection";
    return nullptr;
  }
  WireMsg reply;
  if (!RecvMsg(fd, &reply) || reply.type != WireType::kHelloOk) {
    *error = reply.type == WireType::kError ? std::string(reply.text)
                                            : "the fabric daemon at " + socket + " did not answer";
    return nullptr;
  }
  f->start_ns_ = reply.start_ns;
  f->dilation_ = reply.dilation;
  f->receiver_ = std::thread([p = f.get()] { p->Receive(); });
  return f;
}

SharedFabric::SharedFabric(int fd, TimeMode mode) : fd_(fd), mode_(mode) {}

SharedFabric::~SharedFabric() {
  ::shutdown(fd_, SHUT_RDWR);
  if (receiver_.joinable()) receiver_.join();
  ::close(fd_);
  if (seg_ != nullptr) munmap(seg_, kSegmentBytes);
  shm_unlink(SegmentName(static_cast<uint32_t>(getpid())).c_str());
  for (auto& [pid, p] : peers_) munmap(p, kSegmentBytes);
}

bool SharedFabric::MapSegment(std::string* error) {
  std::string name = SegmentName(static_cast<uint32_t>(getpid()));
  shm_unlink(name.c_str());  // a segment left by an earlier process with this pid
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(kSegmentBytes)) != 0) {
    *error = "cannot create the staging segment /dev/shm" + name + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return false;
  }
  void* p = mmap(nullptr, kSegmentBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) {
    *error = "cannot map the staging segment /dev/shm" + name + ": " + std::strerror(errno);
    return false;
  }
  seg_ = static_cast<uint8_t*>(p);
  // The daemon removes it when this process disconnects; this covers a
  // daemon that is gone by then (the fabric itself lives until exit).
  std::atexit([] { shm_unlink(SegmentName(static_cast<uint32_t>(getpid())).c_str()); });
  return true;
}

uint8_t* SharedFabric::PeerSegment(uint32_t pid) {
  if (pid == static_cast<uint32_t>(getpid())) return seg_;
  auto it = peers_.find(pid);
  if (it != peers_.end()) return it->second;
  int fd = shm_open(SegmentName(pid).c_str(), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  void* p = mmap(nullptr, kSegmentBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return nullptr;
  return peers_[pid] = static_cast<uint8_t*>(p);
}

uint64_t SharedFabric::PacedNowPs() const {
  double wall = static_cast<double>(MonotonicNs() - start_ns_);
  return static_cast<uint64_t>(wall * 1000.0 / dilation_);
}

WireMsg SharedFabric::Call(WireMsg m) {
  std::unique_lock lock(call_mu_);
  m.seq = ++next_call_;
  const uint64_t seq = m.seq;
  if (dead_ || !SendMsg(fd_, m)) {
    WireMsg err = WireMsg::Of(WireType::kReply);
    err.err = -FI_EIO;
    return err;
  }
  call_cv_.wait(lock, [&] { return dead_ || replies_.count(seq) > 0; });
  auto it = replies_.find(seq);
  if (it == replies_.end()) {
    WireMsg err = WireMsg::Of(WireType::kReply);
    err.err = -FI_EIO;
    return err;
  }
  WireMsg r = it->second;
  replies_.erase(it);
  return r;
}

bool SharedFabric::Send(const WireMsg& m) {
  std::lock_guard lock(send_mu_);
  return SendMsg(fd_, m);
}

int SharedFabric::OpenEp(uint32_t ep, uint32_t domain) {
  WireMsg m = WireMsg::Of(WireType::kEpOpen);
  m.ep = ep;
  m.domain = domain;
  return Call(m).err;
}

void SharedFabric::CloseEp(uint32_t ep) {
  WireMsg m = WireMsg::Of(WireType::kEpClose);
  m.ep = ep;
  Send(m);
}

int SharedFabric::RegMr(uint32_t domain, const Mr& mr) {
  {
    std::lock_guard lock(mr_mu_);
    mrs_[{domain, mr.fid.key}] = {mr.base, mr.len, mr.remote_base};
  }
  WireMsg m = WireMsg::Of(WireType::kMrReg);
  m.domain = domain;
  m.key = mr.fid.key;
  m.len = mr.len;
  m.access = mr.access;
  m.addr = mr.remote_base;
  int err = Call(m).err;
  if (err != 0) {
    std::lock_guard lock(mr_mu_);
    mrs_.erase({domain, mr.fid.key});
  }
  return err;
}

void SharedFabric::CloseMr(uint32_t domain, uint64_t key) {
  WireMsg m = WireMsg::Of(WireType::kMrClose);
  m.domain = domain;
  m.key = key;
  Call(m);
  std::lock_guard lock(mr_mu_);
  mrs_.erase({domain, key});
}

ssize_t SharedFabric::PostOp(const SharedOp& op, uint64_t now_ps) {
  if (dead_) return -FI_EIO;
  const uint64_t slot_len = std::max<uint64_t>(op.len, 1);
  std::optional<uint64_t> reserved = alloc_.Allocate(slot_len);
  if (!reserved) return -FI_EAGAIN;  // staging full: completions free it
  const uint64_t slot = *reserved;
  if (op.op != WireOp::kRead) CopySegments({{seg_ + slot, op.len}}, op.local);
  WireMsg m = WireMsg::Of(WireType::kOp);
  m.token = ++next_token_;
  m.op = op.op;
  m.ep = op.ep->id;
  m.peer = op.peer;
  m.len = op.len;
  m.slot = slot;
  m.flags = op.remote_flags;
  m.data = op.data;
  m.t_ps = now_ps;
  m.rma_count = static_cast<uint32_t>(op.rma_count);
  for (size_t i = 0; i < op.rma_count; ++i) m.rma[i] = op.rma[i];
  pending_[m.token] = {op.ep->id, op.op, op.local, slot, slot_len, op.context, op.flags, op.len, op.wanted};
  told_wait_ = false;
  if (!Send(m)) {
    pending_.erase(m.token);
    alloc_.Release(slot, slot_len);
    return -FI_EIO;
  }
  return 0;
}

void SharedFabric::Wait(uint64_t now_ps) {
  if (mode_ != TimeMode::kVirtual || told_wait_) return;
  WireMsg m = WireMsg::Of(WireType::kWait);
  m.t_ps = now_ps;
  m.seq = applied_;  // the daemon ignores a wait that crossed a delivery
  told_wait_ = Send(m);
}

int SharedFabric::Advance(uint64_t t_ps) {
  if (mode_ == TimeMode::kPaced) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(static_cast<uint64_t>(
        static_cast<double>(t_ps - std::min(t_ps, PacedNowPs())) / 1000.0 * dilation_)));
    return 0;
  }
  told_wait_ = false;
  WireMsg m = WireMsg::Of(WireType::kAdvance);
  m.t_ps = t_ps;
  return Call(m).err;
}

}  // namespace lightloop::fi
