// SPDX-License-Identifier: Apache-2.0
// Private to the lightloop provider and `lightloop fabricd`: the messages
// between a process's provider and the fabric daemon that runs the shared
// simulated fabric (docs/targets.md, "Several processes, one fabric").
//
// One AF_UNIX SOCK_SEQPACKET connection per process; every message is one
// fixed-size WireMsg. Data never crosses the socket: each process owns a
// staging segment in /dev/shm (SegmentName) that its peers map, and the
// daemon tells the target which bytes of which segment to copy.
//
//   WireMsg m = WireMsg::Of(WireType::kOp);
//   m.t_ps = now;  ...
//   SendMsg(fd, m);
#pragma once

#include <rdma/fi_rma.h>

#include <cstdint>
#include <string>

namespace lightloop::fi {

inline constexpr uint32_t kWireVersion = 2;
inline constexpr size_t kWireIovMax = 8;
inline constexpr uint64_t kSegmentBytes = uint64_t{2} << 30;  // sparse: pages exist once touched

enum class WireType : uint32_t {
  // process -> daemon
  kHello = 1,  // pid, text: config path; time_mode, timing_model, dilation. Reply kHelloOk or kError.
  kEpOpen,     // ep, domain. Reply kReply.
  kEpClose,    // ep
  kMrReg,      // domain, key, len, access, addr (remote base). Reply kReply.
  kMrClose,    // domain, key. Reply kReply.
  kOp,         // an RMA or message operation: token, op, src ep, peer, rma, len, slot, flags, data, t_ps
  kWait,     // the process waits for a delivery (virtual time); t_ps: its clock; seq: deliveries it has seen
  kAdvance,  // the process computed until t_ps. Reply kSynced once everything due by then is delivered.
  kAck,      // token: the target copied the bytes of kCopyIn / kCopyOut / kMsgIn; err
  // daemon -> process
  kHelloOk,   // proc index, start_ns (CLOCK_MONOTONIC of paced time zero)
  kReply,     // seq, err
  kError,     // text
  kCopyIn,    // token, peer pid (its segment), slot, domain, rma: copy segment -> regions
  kCopyOut,   // token, peer pid (its segment), slot, domain, rma: copy regions -> segment
  kMsgIn,     // token, peer pid (its segment), slot, len, ep (local destination), src ep, flags, data
  kDone,      // token, err, prov_err, t_ps: the initiator's completion
  kRecvDone,  // token, ep, t_ps: the message of kMsgIn has arrived
  kCqData,    // ep, src ep, len, data, t_ps: remote CQ data of a write
  kSynced,    // seq, t_ps
};

enum class WireOp : uint32_t { kWrite = 1, kRead, kSend };

// Time modes of a shared fabric.
enum class TimeMode : uint32_t { kVirtual = 1, kPaced };

struct WireMsg {
  WireType type{};
  uint32_t version = kWireVersion;
  uint64_t seq = 0;    // request id of a call that waits for a reply
  uint64_t token = 0;  // operation id (the initiator's for kOp/kDone, the daemon's for kAck)
  uint64_t t_ps = 0;
  uint32_t pid = 0;     // kHello: the sender; copies: the process whose segment holds the bytes
  uint32_t ep = 0;      // local endpoint id (source of kOp, destination of deliveries)
  uint32_t domain = 0;  // domain id within its process
  WireOp op{};
  uint64_t peer = 0;  // kOp: destination (pid << 32 | ep); deliveries: source likewise
  uint64_t len = 0;
  uint64_t slot = 0;  // offset in the staging segment
  uint64_t flags = 0;
  uint64_t data = 0;
  uint64_t key = 0, access = 0, addr = 0;  // kMrReg
  int32_t err = 0, prov_err = 0;
  uint32_t time_mode = 0;
  uint32_t timing_model = 0;  // kHello: TimingModel
  uint32_t rma_count = 0;
  double dilation = 0;
  uint64_t start_ns = 0;
  fi_rma_iov rma[kWireIovMax]{};
  char text[256]{};

  static WireMsg Of(WireType type) {
    WireMsg m;
    m.type = type;
    return m;
  }
  void SetText(const std::string& s);
};

// Whole-message send and receive; false on a closed or broken connection.
bool SendMsg(int fd, const WireMsg& m);
bool RecvMsg(int fd, WireMsg* m);

// The /dev/shm name of process `pid`'s staging segment.
std::string SegmentName(uint32_t pid);

inline uint64_t GlobalEp(uint32_t pid, uint32_t ep) {
  return (uint64_t{pid} << 32) | ep;
}
inline uint32_t PidOf(uint64_t global_ep) {
  return static_cast<uint32_t>(global_ep >> 32);
}
inline uint32_t EpOf(uint64_t global_ep) {
  return static_cast<uint32_t>(global_ep);
}

uint64_t MonotonicNs();

}  // namespace lightloop::fi
