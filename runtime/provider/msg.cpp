// SPDX-License-Identifier: Apache-2.0
// fi_send / fi_recv and their v, msg, data and inject forms. A message is
// matched with the oldest posted receive of the target endpoint when it is
// sent; with none posted it is buffered at the target (reliable delivery)
// until one is. The receive completes when the message has arrived, or when
// it is posted if the message was there first; the send completes when the
// target's ack is back. A message longer than the receive buffer is cut
// and its receive completes in error (FI_ETRUNC, olen = bytes dropped).
#include <unistd.h>

#include "lightloop_fi.h"

namespace lightloop::fi {
namespace {

// Delivers `bytes` into `recv` on `ep` at `t_ps`; with Sim::mu held.
void Deliver(Sim& sim, Ep* ep, const PostedRecv& recv, const Arrived& msg, uint64_t t_ps) {
  std::vector<Segment> dst = Segments(recv.iov.data(), recv.iov.size());
  std::vector<Segment> src{{const_cast<uint8_t*>(msg.bytes.data()), msg.bytes.size()}};
  size_t copied = CopySegments(dst, src);
  Completion c;
  c.entry.op_context = recv.context;
  c.entry.flags = FI_MSG | FI_RECV | (msg.flags & FI_REMOTE_CQ_DATA);
  c.entry.len = copied;
  c.entry.buf = recv.iov.empty() ? nullptr : recv.iov[0].iov_base;
  c.entry.data = msg.data;
  c.src_addr = ep->av != nullptr ? ep->av->Reverse(msg.src_ep) : FI_ADDR_NOTAVAIL;
  if (copied < msg.bytes.size()) {
    c.error = true;
    c.entry.err = FI_ETRUNC;
    c.entry.prov_errno = kTruncated;
    c.entry.olen = msg.bytes.size() - copied;
  }
  if (c.error || !ep->rx_selective || (recv.flags & FI_COMPLETION)) sim.Schedule(t_ps, ep->rx_cq, c);
}

struct SendOp {
  fid_ep* ep;
  const iovec* iov;
  size_t count;
  fi_addr_t peer;
  void* context;
  uint64_t flags;
  uint64_t data;
};

ssize_t PostSend(const SendOp& op) {
  Ep* ep = ToImpl<Ep>(op.ep);
  if (op.count > kIovLimit) return -FI_EINVAL;
  std::vector<Segment> src = Segments(op.iov, op.count);
  const size_t bytes = TotalBytes(src);
  if (bytes > kMaxMsgSize || ((op.flags & FI_INJECT) && bytes > kInjectSize)) return -FI_EMSGSIZE;
  Sim& sim = *Sim::Get();
  std::lock_guard lock(sim.mu);
  if (!ep->enabled) return -FI_EOPBADSTATE;
  uint64_t peer = ep->av->Resolve(op.peer);
  if (peer == 0) return -FI_EINVAL;
  const bool wanted = !(op.flags & FI_INJECT) && (!ep->tx_selective || (op.flags & FI_COMPLETION));
  if (SharedFabric* shared = sim.shared()) {
    shared->Drain(sim);
    return shared->PostOp({ep, WireOp::kSend, src, nullptr, 0, peer, bytes, FI_MSG | FI_SEND,
                           op.flags & FI_REMOTE_CQ_DATA, op.data, op.context, wanted},
                          sim.now_ps());
  }
  Ep* target = PidOf(peer) == static_cast<uint32_t>(getpid()) ? sim.FindEp(EpOf(peer)) : nullptr;
  Sim::Times t = sim.Write(ep, target, bytes, target != nullptr);
  if (target == nullptr) {
    CompleteTx(ep, t.done_ps, op.context, FI_MSG | FI_SEND, 0, FI_EHOSTUNREACH, kNoPeer, true);
    return 0;
  }
  Arrived msg{std::vector<uint8_t>(bytes), GlobalEp(static_cast<uint32_t>(getpid()), ep->id), t.arrival_ps,
              op.flags & FI_REMOTE_CQ_DATA, op.data};
  CopySegments({{msg.bytes.data(), bytes}}, src);
  ArriveMsg(sim, target, std::move(msg), t.arrival_ps);
  CompleteTx(ep, t.done_ps, op.context, FI_MSG | FI_SEND, bytes, 0, 0, wanted);
  return 0;
}

ssize_t PostRecv(fid_ep* ep_fid, const iovec* iov, size_t count, void* context, uint64_t flags) {
  Ep* ep = ToImpl<Ep>(ep_fid);
  if (count > kIovLimit) return -FI_EINVAL;
  Sim& sim = *Sim::Get();
  std::lock_guard lock(sim.mu);
  if (!ep->enabled) return -FI_EOPBADSTATE;
  PostedRecv recv{std::vector<iovec>(iov, iov + count), context, flags};
  if (ep->unexpected.empty()) {
    ep->recvs.push_back(std::move(recv));
    return 0;
  }
  const Arrived& msg = ep->unexpected.front();
  Deliver(sim, ep, recv, msg, std::max(msg.arrival_ps, sim.now_ps()));
  ep->unexpected.pop_front();
  return 0;
}

}  // namespace

void ArriveMsg(Sim& sim, Ep* target, Arrived msg, uint64_t t_ps) {
  if (!target->recvs.empty()) {
    Deliver(sim, target, target->recvs.front(), msg, t_ps);
    target->recvs.pop_front();
  } else {
    target->unexpected.push_back(std::move(msg));
  }
}

namespace {

uint64_t TxFlags(fid_ep* ep) {
  return ToImpl<Ep>(ep)->tx_op_flags;
}

uint64_t RxFlags(fid_ep* ep) {
  return ToImpl<Ep>(ep)->rx_op_flags;
}

ssize_t Recv(fid_ep* ep, void* buf, size_t len, void*, fi_addr_t, void* context) {
  iovec iov{buf, len};
  return PostRecv(ep, &iov, 1, context, RxFlags(ep));
}

ssize_t RecvV(fid_ep* ep, const iovec* iov, void**, size_t count, fi_addr_t, void* context) {
  return PostRecv(ep, iov, count, context, RxFlags(ep));
}

ssize_t RecvMsg(fid_ep* ep, const fi_msg* msg, uint64_t flags) {
  return PostRecv(ep, msg->msg_iov, msg->iov_count, msg->context, flags);
}

ssize_t Send(fid_ep* ep, const void* buf, size_t len, void*, fi_addr_t dst, void* context) {
  iovec iov{const_cast<void*>(buf), len};
  return PostSend({ep, &iov, 1, dst, context, TxFlags(ep), 0});
}

ssize_t SendV(fid_ep* ep, const iovec* iov, void**, size_t count, fi_addr_t dst, void* context) {
  return PostSend({ep, iov, count, dst, context, TxFlags(ep), 0});
}

ssize_t SendMsg(fid_ep* ep, const fi_msg* msg, uint64_t flags) {
  return PostSend({ep, msg->msg_iov, msg->iov_count, msg->addr, msg->context, flags, msg->data});
}

ssize_t Inject(fid_ep* ep, const void* buf, size_t len, fi_addr_t dst) {
  iovec iov{const_cast<void*>(buf), len};
  return PostSend({ep, &iov, 1, dst, nullptr, FI_INJECT, 0});
}

ssize_t SendData(fid_ep* ep, const void* buf, size_t len, void*, uint64_t data, fi_addr_t dst,
                 void* context) {
  iovec iov{const_cast<void*>(buf), len};
  return PostSend({ep, &iov, 1, dst, context, TxFlags(ep) | FI_REMOTE_CQ_DATA, data});
}

ssize_t InjectData(fid_ep* ep, const void* buf, size_t len, uint64_t data, fi_addr_t dst) {
  iovec iov{const_cast<void*>(buf), len};
  return PostSend({ep, &iov, 1, dst, nullptr, FI_INJECT | FI_REMOTE_CQ_DATA, data});
}

}  // namespace

fi_ops_msg gMsgOps = {
    .size = sizeof(fi_ops_msg),
    .recv = Recv,
    .recvv = RecvV,
    .recvmsg = RecvMsg,
    .send = Send,
    .sendv = SendV,
    .sendmsg = SendMsg,
    .inject = Inject,
    .senddata = SendData,
    .injectdata = InjectData,
};

}  // namespace lightloop::fi
