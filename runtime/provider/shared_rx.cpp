// SPDX-License-Identifier: Apache-2.0
// A shared fabric's receiving side (shared.cpp has the sending side): the
// receiver thread, which copies the bytes the daemon names and queues
// deliveries, and Drain, which turns queued deliveries into completions.
#include <rdma/providers/fi_log.h>

#include <cstdio>
#include <cstring>

#include "lightloop_fi.h"

namespace lightloop::fi {

int SharedFabric::Copy(const WireMsg& m) {
  uint8_t* seg = PeerSegment(m.pid);
  if (seg == nullptr) return kNoPeer;
  std::lock_guard lock(mr_mu_);
  uint64_t off = m.slot;
  for (uint32_t i = 0; i < m.rma_count && i < kWireIovMax; ++i) {
    const fi_rma_iov& r = m.rma[i];
    auto it = mrs_.find({m.domain, r.key});
    if (it == mrs_.end()) return kBadKey;  // closed since the daemon checked it
    const MrInfo& mr = it->second;
    if (r.addr < mr.remote_base || r.addr - mr.remote_base > mr.len ||
        r.len > mr.len - (r.addr - mr.remote_base)) {
      return kOutOfBounds;
    }
    if (off + r.len > kSegmentBytes) return kOutOfBounds;
    uint8_t* region = mr.base + (r.addr - mr.remote_base);
    if (m.type == WireType::kCopyIn) {
      std::memcpy(region, seg + off, r.len);
    } else {
      std::memcpy(seg + off, region, r.len);
    }
    off += r.len;
  }
  return kNoError;
}

void SharedFabric::Ack(uint64_t token, int prov_err) {
  WireMsg a = WireMsg::Of(WireType::kAck);
  a.token = token;
  a.prov_err = prov_err;
  Send(a);
}

void SharedFabric::Queue(Delivery d) {
  std::lock_guard lock(inbox_mu_);
  inbox_.push_back(std::move(d));
}

void SharedFabric::Receive() {
  WireMsg m;
  while (RecvMsg(fd_, &m)) {
    switch (m.type) {
      case WireType::kReply:
      case WireType::kSynced: {
        std::lock_guard lock(call_mu_);
        replies_[m.seq] = m;
        call_cv_.notify_all();
        break;
      }
      case WireType::kCopyIn:
      case WireType::kCopyOut: Ack(m.token, Copy(m)); break;
      case WireType::kMsgIn: {
        uint8_t* seg = PeerSegment(m.pid);
        Delivery d{m, {}};
        if (seg != nullptr && m.slot + m.len <= kSegmentBytes)
          d.bytes.assign(seg + m.slot, seg + m.slot + m.len);
        Ack(m.token, seg != nullptr ? kNoError : kNoPeer);
        Queue(std::move(d));
        break;
      }
      case WireType::kDone:
      case WireType::kRecvDone:
      case WireType::kCqData: Queue({m, {}}); break;
      case WireType::kError:  // unmissable: the connection closes next and every operation fails
        std::fprintf(stderr, "lightloop provider: the fabric daemon stopped: %s\n", m.text);
        break;
      default: break;
    }
    Sim::Get()->changed.notify_all();
  }
  {
    std::lock_guard lock(call_mu_);
    dead_ = true;
    call_cv_.notify_all();
  }
  FI_WARN(&gProvider, FI_LOG_FABRIC, "the fabric daemon closed the connection; operations in flight fail\n");
  Sim::Get()->changed.notify_all();
}

void SharedFabric::Complete(Sim& sim, uint64_t token, int prov_err, uint64_t t_ps) {
  auto it = pending_.find(token);
  if (it == pending_.end()) return;
  PendingOp p = std::move(it->second);
  pending_.erase(it);
  if (p.op == WireOp::kRead && prov_err == kNoError) CopySegments(p.local, {{seg_ + p.slot, p.len}});
  alloc_.Release(p.slot, p.slot_len);
  Ep* ep = sim.FindEp(p.ep);
  if (ep == nullptr) return;
  int err = prov_err == kNoError ? 0 : (prov_err == kNoPeer ? FI_EHOSTUNREACH : FI_EACCES);
  CompleteTx(ep, t_ps, p.context, p.flags, p.len, err, prov_err, p.wanted);
}

void SharedFabric::Apply(Sim& sim, Delivery& d) {
  const WireMsg& m = d.m;
  switch (m.type) {
    case WireType::kDone: Complete(sim, m.token, m.prov_err, m.t_ps); break;
    case WireType::kMsgIn: {
      Arrived a{std::move(d.bytes), m.peer, 0, m.flags & FI_REMOTE_CQ_DATA, m.data};
      arrived_[m.token] = {m.ep, std::move(a)};
      break;
    }
    case WireType::kRecvDone: {
      auto it = arrived_.find(m.token);
      if (it == arrived_.end()) break;
      Ep* ep = sim.FindEp(it->second.first);
      it->second.second.arrival_ps = m.t_ps;
      if (ep != nullptr) ArriveMsg(sim, ep, std::move(it->second.second), m.t_ps);
      arrived_.erase(it);
      break;
    }
    case WireType::kCqData: {
      Ep* ep = sim.FindEp(m.ep);
      if (ep == nullptr) break;
      Completion c;
      c.entry.flags = FI_RMA | FI_REMOTE_WRITE | FI_REMOTE_CQ_DATA;
      c.entry.len = m.len;
      c.entry.data = m.data;
      c.src_addr = ep->av != nullptr ? ep->av->Reverse(m.peer) : FI_ADDR_NOTAVAIL;
      sim.Schedule(m.t_ps, ep->rx_cq, c);
      break;
    }
    default: break;
  }
}

void SharedFabric::Drain(Sim& sim) {
  std::deque<Delivery> batch;
  {
    std::lock_guard lock(inbox_mu_);
    batch.swap(inbox_);
  }
  uint64_t t = sim.now_ps();
  for (Delivery& d : batch) {
    t = std::max(t, d.m.t_ps);
    if (d.m.type == WireType::kDone || d.m.type == WireType::kRecvDone || d.m.type == WireType::kCqData) {
      ++applied_;
    }
    Apply(sim, d);
  }
  if (!batch.empty()) told_wait_ = false;
  if (dead_) {
    while (!pending_.empty()) Complete(sim, pending_.begin()->first, kNoPeer, t);
  }
  if (mode_ == TimeMode::kPaced) t = std::max(t, PacedNowPs());
  sim.AdvanceTo(t);
}

}  // namespace lightloop::fi
