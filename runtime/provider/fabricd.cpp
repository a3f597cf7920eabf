// SPDX-License-Identifier: Apache-2.0
// The fabric daemon (lightloop/runtime/fabricd.h): one discrete-event queue
// and one set of link and memory models for every process connected to it.
//
// Virtual time is kept conservatively, as SST, SimBricks and Remote-Port do:
// each process has its own clock; its messages carry it. An event (an
// operation to time, a completion to deliver) is ordered by (time, process,
// sequence) and handled only when no running process can still send one that
// orders before it. The link's one-flit latency is the lookahead: an
// operation issued at t starts at t + lookahead, so a process at `now` holds
// back only what comes at now + lookahead or later, and others run ahead of
// it by that much. A process that waits on its CQs does not hold time back
// until something is delivered to it; one that computes (advance) holds it at
// the time it computes to. So the same programs give the same times, however
// the host schedules them. Paced time needs none of this: events are handled
// when the wall clock, slowed by the dilation, reaches them.
#include "lightloop/runtime/fabricd.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <tuple>

#include "lightloop_fi.h"

namespace lightloop::runtime {

std::string DefaultFabricdSocket() {
  if (const char* dir = std::getenv("XDG_RUNTIME_DIR"); dir != nullptr && *dir != '\0') {
    return std::string(dir) + "/lightloop-fabricd.sock";
  }
  return "/tmp/lightloop-fabricd-" + std::to_string(getuid()) + ".sock";
}

}  // namespace lightloop::runtime

namespace lightloop::fi {
namespace {

using Key = std::tuple<uint64_t, uint32_t, uint64_t, uint32_t>;  // (t, process index, seq, sub)

struct MrInfo {
  uint64_t len, access, base;
};

struct Proc {
  int fd = -1;
  uint32_t pid = 0;
  uint32_t index = 0;
  uint64_t now_ps = 0;
  // A process holds time back at its clock from its hello until it says it
  // waits (a CQ read that finds nothing); a memnode, which polls, says so
  // within milliseconds. Until then a second process may still post at 0.
  bool waiting = false;
  uint64_t last_seq = 0;
  uint64_t delivered = 0;                  // virtual time: deliveries sent (kDone, kRecvDone, kCqData)
  std::map<uint32_t, uint32_t> ep_domain;  // ep -> domain
  std::map<std::pair<uint32_t, uint64_t>, MrInfo> mrs;   // (domain, key)
  std::map<uint32_t, uint64_t> mem_free_ps;              // per domain
  std::optional<std::pair<uint64_t, uint64_t>> advance;  // (seq, t) of a call not yet answered
};

enum class EvKind { kStart, kDone, kRecvDone, kCqData };

struct Op {
  WireMsg m;               // the kOp as sent
  uint32_t initiator = 0;  // process index
  bool needs_ack = false, acked = false;
  int prov_err = kNoError;
  uint32_t target = 0;  // process index, 0: none
};

struct Event {
  EvKind kind;
  uint64_t op;  // daemon op id
};

class Daemon {
 public:
  Daemon(const runtime::FabricdOptions& o, Timing timing)
      : o_(o),
        paced_(o.time == "paced"),
        timing_(std::move(timing)),
        lookahead_ps_(paced_ ? 0 : timing_.FlightPs(1)),
        start_ns_(MonotonicNs()) {}
  int Run(int listen_fd);

 private:
  uint64_t PacedNowPs() const {
    return static_cast<uint64_t>(static_cast<double>(MonotonicNs() - start_ns_) * 1000.0 / o_.dilation);
  }
  Proc* ByPid(uint32_t pid) {
    for (auto& [i, p] : procs_) {
      if (p->pid == pid) return p.get();
    }
    return nullptr;
  }
  Proc* ByIndex(uint32_t index) {
    auto it = procs_.find(index);
    return it == procs_.end() ? nullptr : it->second.get();
  }
  void Accept(int listen_fd);
  void Drop(Proc* p);
  bool OnMessage(Proc* p, const WireMsg& m);
  bool Hello(Proc* p, const WireMsg& m);
  void Reply(Proc* p, const WireMsg& m, int err);
  void Post(Proc* p, const WireMsg& m);
  void Enqueue(uint64_t t, uint32_t origin, uint64_t seq, uint32_t sub, EvKind kind, uint64_t op) {
    queue_[{t, origin, seq, sub}] = {kind, op};
  }
  bool Safe(const Key& k) const;
  void Pump();
  void Handle(const Key& k, const Event& e);
  void Start(const Key& k, uint64_t id, Op& op);
  int Validate(const Proc& target, const WireMsg& m, uint32_t domain) const;
  void Deliver(Proc* to, WireMsg m, uint64_t t);
  void AnswerAdvances();
  void ArmTimer();
  bool ExpectTimedOut();

  runtime::FabricdOptions o_;
  bool debug_ = std::getenv("LIGHTLOOP_FABRICD_DEBUG") != nullptr;  // every message and event to stderr
  bool paced_;
  Timing timing_;
  // Virtual time: the link's one-way latency of one flit, the least time
  // between an operation's issue and anything it does to another process.
  uint64_t lookahead_ps_;
  int64_t hellos_ = 0;  // processes that have joined so far (virtual time starts at o_.expect)
  uint64_t first_hello_ns_ = 0;
  uint64_t start_ns_;
  int epoll_ = -1, timer_ = -1;
  std::map<uint32_t, std::unique_ptr<Proc>> procs_;  // by index
  std::map<int, uint32_t> by_fd_;
  uint32_t next_index_ = 1;
  std::map<Key, Event> queue_;
  Key horizon_{0, 0, 0, 0};  // the last event handled
  std::map<uint64_t, Op> ops_;
  uint64_t next_op_ = 1;
  std::map<uint64_t, LinkState> links_;  // by GlobalEp of the initiator
};

bool Daemon::Hello(Proc* p, const WireMsg& m) {
  const TimeMode mine = paced_ ? TimeMode::kPaced : TimeMode::kVirtual;
  std::string problem;
  if (m.time_mode != static_cast<uint32_t>(mine)) {
    problem = std::string("this fabric daemon runs in ") + (paced_ ? "paced" : "virtual") +
              " time and the process asks for " + (paced_ ? "virtual" : "paced");
  } else if (m.timing_model != static_cast<uint32_t>(timing_.model())) {
    problem = std::string("this fabric daemon times transfers with ") + TimingModelName(timing_.model()) +
              " and the process asks for " + TimingModelName(static_cast<TimingModel>(m.timing_model));
  } else if (paced_ && m.dilation != o_.dilation) {
    problem = "this fabric daemon runs paced time at dilation " + std::to_string(o_.dilation) +
              " and the process asks for " + std::to_string(m.dilation);
  } else if (std::string(m.text) != o_.config_path) {
    problem = "this fabric daemon runs " + o_.config_path + " and the process asks for " + m.text;
  }
  if (!problem.empty()) {
    WireMsg e = WireMsg::Of(WireType::kError);
    e.SetText(problem + " (set FI_LIGHTLOOP_FABRICD_SOCKET to use another daemon)");
    SendMsg(p->fd, e);
    std::fprintf(stderr, "fabricd: refused pid %u: %s\n", m.pid, problem.c_str());
    return false;
  }
  p->pid = m.pid;
  if (hellos_++ == 0) first_hello_ns_ = MonotonicNs();
  WireMsg ok = WireMsg::Of(WireType::kHelloOk);
  ok.start_ns = start_ns_;
  ok.dilation = o_.dilation;
  ok.ep = p->index;
  return SendMsg(p->fd, ok);
}

void Daemon::Reply(Proc* p, const WireMsg& m, int err) {
  WireMsg r = WireMsg::Of(WireType::kReply);
  r.seq = m.seq;
  r.err = err;
  SendMsg(p->fd, r);
}

void Daemon::Post(Proc* p, const WireMsg& m) {
  uint64_t t = m.t_ps;  // the issue time
  if (paced_) {
    t = PacedNowPs();
  } else {
    t = std::max(t, p->now_ps);
    p->now_ps = t;
    p->waiting = false;
    p->last_seq = m.token;
    if (Key k{t + lookahead_ps_, p->index, m.token, 0}; k <= horizon_) {  // came late: clamp
      t = std::get<0>(horizon_) + 1 - std::min(std::get<0>(horizon_) + 1, lookahead_ps_);
    }
  }
  uint64_t id = next_op_++;
  ops_[id] = Op{m, p->index};
  ops_[id].m.t_ps = t;
  // Started a lookahead after its issue: nothing of it reaches another
  // process sooner, and every process's operations shift alike, so the
  // model still sees them in issue order.
  Enqueue(t + lookahead_ps_, p->index, m.token, 0, EvKind::kStart, id);
}

bool Daemon::OnMessage(Proc* p, const WireMsg& m) {
  if (debug_) {
    std::fprintf(stderr, "fabricd: from %u (pid %u, now %llu%s): type %u token %llu t %llu\n", p->index,
                 p->pid, static_cast<unsigned long long>(p->now_ps), p->waiting ? ", waiting" : "",
                 static_cast<unsigned>(m.type), static_cast<unsigned long long>(m.token),
                 static_cast<unsigned long long>(m.t_ps));
  }
  if (p->pid == 0 && m.type != WireType::kHello) return false;
  switch (m.type) {
    case WireType::kHello: return Hello(p, m);
    case WireType::kEpOpen:
      p->ep_domain[m.ep] = m.domain;
      Reply(p, m, 0);
      break;
    case WireType::kEpClose: p->ep_domain.erase(m.ep); break;
    case WireType::kMrReg: {
      auto [it, fresh] = p->mrs.try_emplace({m.domain, m.key}, MrInfo{m.len, m.access, m.addr});
      Reply(p, m, fresh ? 0 : -FI_ENOKEY);
      break;
    }
    case WireType::kMrClose:
      p->mrs.erase({m.domain, m.key});
      Reply(p, m, 0);
      break;
    case WireType::kOp: Post(p, m); break;
    case WireType::kWait:
      // Sent before the process saw what was delivered since: it is about
      // to act on that, so it does not wait (it says so again if it does).
      if (m.seq < p->delivered) break;
      p->now_ps = std::max(p->now_ps, m.t_ps);
      p->waiting = true;
      break;
    case WireType::kAdvance:
      if (paced_) {
        WireMsg s = WireMsg::Of(WireType::kSynced);
        s.seq = m.seq;
        SendMsg(p->fd, s);
        break;
      }
      p->now_ps = std::max(p->now_ps, m.t_ps);
      p->waiting = false;
      p->advance = {{m.seq, m.t_ps}};
      break;
    case WireType::kAck: {
      auto it = ops_.find(m.token);
      if (it != ops_.end()) {
        it->second.acked = true;
        if (m.prov_err != kNoError) it->second.prov_err = m.prov_err;
      }
      break;
    }
    default: return false;
  }
  return true;
}

// An event may be handled once no running process can post one before it:
// a process at `now` starts operations at now + lookahead at the earliest.
bool Daemon::Safe(const Key& k) const {
  for (const auto& [index, p] : procs_) {
    if (p->pid == 0 || p->waiting) continue;
    if (k >= Key{p->now_ps + lookahead_ps_, p->index, p->last_seq + 1, 0}) return false;
  }
  return true;
}

int Daemon::Validate(const Proc& target, const WireMsg& m, uint32_t domain) const {
  const uint64_t need = m.op == WireOp::kWrite ? FI_REMOTE_WRITE : FI_REMOTE_READ;
  for (uint32_t i = 0; i < m.rma_count && i < kWireIovMax; ++i) {
    const fi_rma_iov& r = m.rma[i];
    auto it = target.mrs.find({domain, r.key});
    if (it == target.mrs.end()) return kBadKey;
    const MrInfo& mr = it->second;
    if (!(mr.access & need)) return kNoAccess;
    if (r.addr < mr.base || r.addr - mr.base > mr.len || r.len > mr.len - (r.addr - mr.base))
      return kOutOfBounds;
  }
  return kNoError;
}

void Daemon::Start(const Key& k, uint64_t id, Op& op) {
  const WireMsg& m = op.m;
  const uint64_t t = m.t_ps;  // issued then; started (k) a lookahead later
  Proc* init = ByIndex(op.initiator);
  Proc* target = ByPid(PidOf(m.peer));
  auto ep = target != nullptr ? target->ep_domain.find(EpOf(m.peer)) : decltype(target->ep_domain.end()){};
  const bool reachable = target != nullptr && ep != target->ep_domain.end();
  const uint32_t domain = reachable ? ep->second : 0;
  op.prov_err = !reachable ? kNoPeer : (m.op == WireOp::kSend ? kNoError : Validate(*target, m, domain));
  const bool ok = op.prov_err == kNoError;
  LinkState& link = links_[GlobalEp(init->pid, m.ep)];
  uint64_t* mem = reachable ? &target->mem_free_ps[domain] : nullptr;
  uint64_t addr = 0;  // where in its region an RMA starts (the TLM memory's address)
  if (ok && m.op != WireOp::kSend && m.rma_count > 0) {
    addr = m.rma[0].addr - target->mrs.at({domain, m.rma[0].key}).base;
  }
  TransferTimes times = m.op == WireOp::kRead ? timing_.Read(t, link, mem, m.len, ok, addr)
                                              : timing_.Write(t, link, mem, m.len,
                                                              m.op == WireOp::kSend ? reachable : ok, addr);
  // Causality: nothing is delivered sooner than the lookahead (a model
  // faster than its link's closed form is held to it).
  times.arrival_ps = std::max(times.arrival_ps, std::get<0>(k));
  times.done_ps = std::max(times.done_ps, std::get<0>(k));
  const uint32_t origin = std::get<1>(k);
  const uint64_t seq = std::get<2>(k);
  if (ok) {
    op.target = target->index;
    op.needs_ack = true;
    WireMsg c = WireMsg::Of(m.op == WireOp::kWrite  ? WireType::kCopyIn
                            : m.op == WireOp::kRead ? WireType::kCopyOut
                                                    : WireType::kMsgIn);
    c.token = id;
    c.pid = init->pid;
    c.slot = m.slot;
    c.domain = domain;
    c.len = m.len;
    c.ep = EpOf(m.peer);
    c.peer = GlobalEp(init->pid, m.ep);
    c.flags = m.flags;
    c.data = m.data;
    c.rma_count = m.rma_count;
    std::memcpy(c.rma, m.rma, sizeof(c.rma));
    SendMsg(target->fd, c);
    if (m.op == WireOp::kSend) Enqueue(times.arrival_ps, origin, seq, 1, EvKind::kRecvDone, c.token);
    if (m.op == WireOp::kWrite && (m.flags & FI_REMOTE_CQ_DATA)) {
      Enqueue(times.arrival_ps, origin, seq, 1, EvKind::kCqData, c.token);
    }
    Enqueue(times.done_ps, origin, seq, 2, EvKind::kDone, c.token);
    return;
  }
  Enqueue(times.done_ps, origin, seq, 2, EvKind::kDone, id);
}

void Daemon::Deliver(Proc* to, WireMsg m, uint64_t t) {
  m.t_ps = t;
  if (!paced_) {
    to->now_ps = std::max(to->now_ps, t);
    to->waiting = false;  // it will look at what it got; it says when it waits again
    ++to->delivered;
  }
  SendMsg(to->fd, m);
}

void Daemon::Handle(const Key& k, const Event& e) {
  if (debug_) {
    std::fprintf(stderr, "fabricd: event %d op %llu at %llu (from %u, seq %llu)\n", static_cast<int>(e.kind),
                 static_cast<unsigned long long>(e.op), static_cast<unsigned long long>(std::get<0>(k)),
                 std::get<1>(k), static_cast<unsigned long long>(std::get<2>(k)));
  }
  auto it = ops_.find(e.op);
  if (it == ops_.end()) return;
  Op& op = it->second;
  const uint64_t t = std::get<0>(k);
  Proc* init = ByIndex(op.initiator);
  Proc* target = ByIndex(op.target);
  switch (e.kind) {
    case EvKind::kStart:
      if (init != nullptr) Start(k, e.op, op);
      if (init == nullptr) ops_.erase(it);
      return;
    case EvKind::kRecvDone:
    case EvKind::kCqData: {
      if (target == nullptr) return;
      WireMsg d = WireMsg::Of(e.kind == EvKind::kRecvDone ? WireType::kRecvDone : WireType::kCqData);
      d.token = e.op;
      d.ep = EpOf(op.m.peer);
      d.peer = GlobalEp(init != nullptr ? init->pid : 0, op.m.ep);
      d.len = op.m.len;
      d.data = op.m.data;
      Deliver(target, d, t);
      return;
    }
    case EvKind::kDone: {
      if (init != nullptr) {
        WireMsg d = WireMsg::Of(WireType::kDone);
        d.token = op.m.token;
        d.prov_err = op.prov_err;
        Deliver(init, d, t);
      }
      ops_.erase(it);
      return;
    }
  }
}

void Daemon::Pump() {
  while (!queue_.empty()) {
    auto it = queue_.begin();
    const Key k = it->first;
    if (paced_ ? std::get<0>(k) > PacedNowPs() : (hellos_ < o_.expect || !Safe(k))) break;
    if (it->second.kind == EvKind::kDone) {
      auto op = ops_.find(it->second.op);
      if (op != ops_.end() && op->second.needs_ack && !op->second.acked) {
        if (ByIndex(op->second.target) != nullptr) break;  // the target is still copying
        op->second.prov_err = kNoPeer;
      }
    }
    Event e = it->second;
    queue_.erase(it);
    horizon_ = k;
    Handle(k, e);
  }
  AnswerAdvances();
  ArmTimer();
}

void Daemon::AnswerAdvances() {
  for (auto& [index, p] : procs_) {
    if (!p->advance) continue;
    auto [seq, t] = *p->advance;
    if (!queue_.empty() && std::get<0>(queue_.begin()->first) <= t) continue;
    WireMsg s = WireMsg::Of(WireType::kSynced);
    s.seq = seq;
    s.t_ps = t;
    SendMsg(p->fd, s);
    p->advance.reset();
  }
}

void Daemon::ArmTimer() {
  itimerspec its{};
  if (paced_ && !queue_.empty()) {
    uint64_t due = std::get<0>(queue_.begin()->first), now = PacedNowPs();
    uint64_t wall_ns =
        due > now ? static_cast<uint64_t>(static_cast<double>(due - now) / 1000.0 * o_.dilation) : 0;
    wall_ns = std::max<uint64_t>(wall_ns, 1);
    its.it_value.tv_sec = static_cast<time_t>(wall_ns / 1000000000ull);
    its.it_value.tv_nsec = static_cast<long>(wall_ns % 1000000000ull);
  }
  timerfd_settime(timer_, 0, &its, nullptr);
}

void Daemon::Accept(int listen_fd) {
  int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return;
  int buf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
  auto p = std::make_unique<Proc>();
  p->fd = fd;
  p->index = next_index_++;
  by_fd_[fd] = p->index;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  procs_[p->index] = std::move(p);
}

void Daemon::Drop(Proc* p) {
  epoll_ctl(epoll_, EPOLL_CTL_DEL, p->fd, nullptr);
  ::close(p->fd);
  by_fd_.erase(p->fd);
  if (p->pid != 0) shm_unlink(SegmentName(p->pid).c_str());
  procs_.erase(p->index);  // its operations' targets see kNoPeer; deliveries to it are dropped
}

// Virtual time waits for o_.expect processes (FI_LIGHTLOOP_PROCS); if they
// have not all joined o_.expect_timeout_s after the first, the ones that
// did are told why and the daemon exits: an error, not a run that hangs.
bool Daemon::ExpectTimedOut() {
  if (paced_ || hellos_ == 0 || hellos_ >= o_.expect) return false;
  if (static_cast<double>(MonotonicNs() - first_hello_ns_) / 1e9 < o_.expect_timeout_s) return false;
  const std::string why = "only " + std::to_string(hellos_) + " of the " + std::to_string(o_.expect) +
                          " processes that FI_LIGHTLOOP_PROCS names joined the fabric within " +
                          std::to_string(static_cast<int>(o_.expect_timeout_s)) + " s";
  std::fprintf(stderr, "fabricd: %s; stopping\n", why.c_str());
  WireMsg e = WireMsg::Of(WireType::kError);
  e.SetText(why);
  for (auto& [index, p] : procs_) SendMsg(p->fd, e);
  return true;
}

int Daemon::Run(int listen_fd) {
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  timer_ = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  int sig = signalfd(-1, &mask, SFD_CLOEXEC);
  for (int fd : {listen_fd, timer_, sig}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  }
  uint64_t idle_since = MonotonicNs();
  for (;;) {
    if (ExpectTimedOut()) return 1;
    int timeout = hellos_ > 0 && hellos_ < o_.expect ? 100 : -1;
    if (o_.idle_exit_s > 0 && procs_.empty()) {
      double left = o_.idle_exit_s - static_cast<double>(MonotonicNs() - idle_since) / 1e9;
      if (left <= 0) return 0;
      timeout = static_cast<int>(left * 1000) + 1;
    }
    epoll_event evs[64];
    int n = epoll_wait(epoll_, evs, 64, timeout);
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == sig) return 0;
      if (fd == listen_fd) {
        Accept(listen_fd);
      } else if (fd == timer_) {
        uint64_t ticks;
        (void)!read(timer_, &ticks, sizeof(ticks));
      } else if (auto it = by_fd_.find(fd); it != by_fd_.end()) {
        Proc* p = ByIndex(it->second);
        WireMsg m;
        if (!RecvMsg(fd, &m) || !OnMessage(p, m)) Drop(p);
      }
    }
    if (procs_.empty()) {
      idle_since = std::min(idle_since, MonotonicNs());
    } else {
      idle_since = MonotonicNs();
    }
    Pump();
  }
}

// Staging segments of processes that are gone: a process killed while its
// daemon was down too leaves one in /dev/shm (its touched pages stay in
// memory). A new daemon removes those of this user whose process has exited.
void RemoveStaleSegments() {
  const std::string prefix = SegmentName(0).substr(1, SegmentName(0).size() - 2);  // "lightloop-fab-<uid>-"
  DIR* dir = opendir("/dev/shm");
  if (dir == nullptr) return;
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name.rfind(prefix, 0) != 0) continue;
    char* end = nullptr;
    long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) shm_unlink(("/" + name).c_str());
  }
  closedir(dir);
}

int Listen(const std::string& path, std::string* error) {
  int probe = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    *error = "socket path too long: " + path;
    return -1;
  }
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    ::close(probe);
    *error = "a fabric daemon already serves " + path;
    return -1;
  }
  ::close(probe);
  ::unlink(path.c_str());  // a socket left by a daemon that died
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 64) != 0) {
    *error = "cannot listen on " + path + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  chmod(path.c_str(), 0600);
  return fd;
}

}  // namespace
}  // namespace lightloop::fi

namespace lightloop::runtime {

int RunFabricd(const FabricdOptions& options) {
  FabricdOptions o = options;
  if (o.socket_path.empty()) o.socket_path = DefaultFabricdSocket();
  if (o.time != "virtual" && o.time != "paced") {
    std::fprintf(stderr, "fabricd: --time must be virtual or paced, not '%s'\n", o.time.c_str());
    return 2;
  }
  if (!(o.dilation > 0)) {
    std::fprintf(stderr, "fabricd: --dilation must be positive\n");
    return 2;
  }
  fi::TimingModel model;
  if (!fi::ParseTimingModel(o.timing, &model)) {
    std::fprintf(stderr, "fabricd: --timing must be tlm or closed_form, not '%s'\n", o.timing.c_str());
    return 2;
  }
  std::unique_ptr<fi::Timing> timing;
  try {
    timing = std::make_unique<fi::Timing>(hw_models::ReadNode(o.config_path), model);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fabricd: %s\n", e.what());
    return 1;
  }
  std::string error;
  int fd = fi::Listen(o.socket_path, &error);
  if (fd < 0) {
    std::fprintf(stderr, "fabricd: %s\n", error.c_str());
    return 1;
  }
  fi::RemoveStaleSegments();
  // Listening already: ready before a --daemonize fork, so that whoever
  // started it reads the line as soon as the first process has exited.
  std::printf("fabricd ready on %s (%s time%s, %s timing, %s)\n", o.socket_path.c_str(), o.time.c_str(),
              o.time == "paced" ? (", dilation " + std::to_string(o.dilation)).c_str() : "",
              fi::TimingModelName(model), o.config_path.c_str());
  std::fflush(stdout);
  if (o.daemonize) {
    pid_t child = fork();
    if (child < 0) return 1;
    if (child > 0) _exit(0);  // the caller waits for this one; the daemon goes on in the child
    setsid();
  }
  fi::Daemon daemon(o, std::move(*timing));
  int rc = daemon.Run(fd);
  ::close(fd);
  ::unlink(o.socket_path.c_str());
  return rc;
}

}  // namespace lightloop::runtime
