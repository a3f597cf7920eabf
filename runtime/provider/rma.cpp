// SPDX-License-Identifier: Apache-2.0
// fi_write / fi_read and their v, msg, data and inject forms. The target
// region is checked (key registered in the target endpoint's domain, remote
// access flag, bounds) before any byte moves; a refused access becomes an
// error completion (FI_EACCES, prov_errno says which check failed). Bytes
// are copied when the operation is posted; the completion becomes visible
// at the virtual time the link and memory model give (Sim::Write/Read).
// fpga backend: the bytes move by DMA to or from the board's memory when the
// operation is posted, and the completion is due after the board time the
// DMAs took (Sim::OnBoard); a region beyond board memory gets FI_EACCES with
// kBoardRange, a failed DMA FI_EIO with kBoardError.
#include <unistd.h>

#include <cstring>

#include "lightloop_fi.h"

namespace lightloop::fi {
namespace {

struct RmaOp {
  fid_ep* ep;
  bool write;
  const iovec* iov;
  size_t iov_count;
  const fi_rma_iov* rma;
  size_t rma_count;
  fi_addr_t peer;
  void* context;
  uint64_t flags;  // FI_COMPLETION, FI_INJECT, FI_REMOTE_CQ_DATA, ...
  uint64_t data;
};

struct Target {
  Mr* mr;
  uint64_t offset;
  uint64_t len;
};

// The target regions of `rma`, or the reason they cannot be reached.
int ResolveTarget(const Sim& sim, const Ep* target, const RmaOp& op, std::vector<Target>* out) {
  const uint64_t need = op.write ? FI_REMOTE_WRITE : FI_REMOTE_READ;
  for (size_t i = 0; i < op.rma_count; ++i) {
    const fi_rma_iov& r = op.rma[i];
    Mr* mr = sim.FindMr(r.key);
    if (mr == nullptr || mr->domain != target->domain) return kBadKey;
    if (!(mr->access & need)) return kNoAccess;
    if (r.addr < mr->remote_base) return kOutOfBounds;
    uint64_t offset = r.addr - mr->remote_base;
    if (offset > mr->len || r.len > mr->len - offset) return kOutOfBounds;
    out->push_back({mr, offset, r.len});
  }
  return kNoError;
}

// Model memory: the bytes are copied when the operation is posted.
void MoveInHost(const RmaOp& op, const std::vector<Segment>& local, const std::vector<Target>& remote) {
  std::vector<Segment> host;
  for (const Target& t : remote) host.push_back({t.mr->base + t.offset, t.len});
  if (op.write) {
    CopySegments(host, local);
  } else {
    CopySegments(local, host);
  }
}

// fpga backend: one DMA per target region, through a staging copy of the
// local segments; `*ps` is the board time they took.
int MoveOnBoard(BoardMemory& board, const RmaOp& op, const std::vector<Segment>& local,
                const std::vector<Target>& remote, uint64_t bytes, uint64_t* ps) {
  *ps = 0;
  for (const Target& t : remote) {
    if (!t.mr->on_board || !board.InRange(*t.mr, t.offset, t.len)) return kBoardRange;
  }
  std::vector<uint8_t> staging(bytes);
  const std::vector<Segment> flat{{staging.data(), bytes}};
  if (op.write) CopySegments(flat, local);
  uint64_t off = 0;
  for (const Target& t : remote) {
    uint64_t dma_ps = 0;
    const uint64_t addr = t.mr->board_base + t.offset;
    bool ok = op.write ? board.Write(addr, staging.data() + off, t.len, &dma_ps)
                       : board.Read(addr, staging.data() + off, t.len, &dma_ps);
    if (!ok) return kBoardError;
    *ps += dma_ps;
    off += t.len;
  }
  if (!op.write) CopySegments(local, flat);
  return kNoError;
}

int ErrnoOf(int prov_err) {
  switch (prov_err) {
    case kNoPeer: return FI_EHOSTUNREACH;
    case kBoardError: return FI_EIO;
    default: return FI_EACCES;
  }
}

uint64_t RemoteBytes(const RmaOp& op) {
  uint64_t n = 0;
  for (size_t i = 0; i < op.rma_count; ++i) n += op.rma[i].len;
  return n;
}

void NotifyTarget(Sim& sim, Ep* src, Ep* target, uint64_t t_ps, uint64_t len, uint64_t data) {
  Completion c;
  c.entry.flags = FI_RMA | FI_REMOTE_WRITE | FI_REMOTE_CQ_DATA;
  c.entry.len = len;
  c.entry.data = data;
  c.src_addr = target->av != nullptr ? target->av->Reverse(GlobalEp(static_cast<uint32_t>(getpid()), src->id))
                                     : FI_ADDR_NOTAVAIL;
  sim.Schedule(t_ps, target->rx_cq, c);
}

// Moves the bytes (host copy or board DMA) and returns the transfer's times;
// `*prov_err` set if the target refuses it or the board fails it.
Sim::Times Move(Sim& sim, Ep* ep, Ep* target, const RmaOp& op, const std::vector<Segment>& local,
                uint64_t bytes, int* prov_err) {
  std::vector<Target> remote;
  *prov_err = target == nullptr ? kNoPeer : ResolveTarget(sim, target, op, &remote);
  if (*prov_err == kNoError && sim.board() != nullptr) {
    uint64_t dma_ps = 0;
    *prov_err = MoveOnBoard(*sim.board(), op, local, remote, bytes, &dma_ps);
    return sim.OnBoard(dma_ps);
  }
  const bool ok = *prov_err == kNoError;
  if (ok) MoveInHost(op, local, remote);
  const uint64_t addr = ok && !remote.empty() ? remote[0].offset : 0;
  return op.write ? sim.Write(ep, target, bytes, ok, addr) : sim.Read(ep, target, bytes, ok, addr);
}

ssize_t Post(const RmaOp& op) {
  Ep* ep = ToImpl<Ep>(op.ep);
  if (op.iov_count > kIovLimit || op.rma_count > kIovLimit || op.rma_count == 0) return -FI_EINVAL;
  std::vector<Segment> local = Segments(op.iov, op.iov_count);
  const uint64_t bytes = TotalBytes(local);
  if (bytes != RemoteBytes(op)) return -FI_EINVAL;
  if (bytes > kMaxMsgSize) return -FI_EMSGSIZE;
  if ((op.flags & FI_INJECT) && bytes > kInjectSize) return -FI_EMSGSIZE;
  Sim& sim = *Sim::Get();
  std::lock_guard lock(sim.mu);
  if (!ep->enabled) return -FI_EOPBADSTATE;
  uint64_t peer = ep->av->Resolve(op.peer);
  if (peer == 0) return -FI_EINVAL;
  const uint64_t flags = FI_RMA | (op.write ? FI_WRITE : FI_READ);
  const bool wanted = !(op.flags & FI_INJECT) && (!ep->tx_selective || (op.flags & FI_COMPLETION));
  if (SharedFabric* shared = sim.shared()) {
    shared->Drain(sim);
    return shared->PostOp({ep, op.write ? WireOp::kWrite : WireOp::kRead, local, op.rma, op.rma_count, peer,
                           bytes, flags, op.flags & FI_REMOTE_CQ_DATA, op.data, op.context, wanted},
                          sim.now_ps());
  }
  Ep* target = PidOf(peer) == static_cast<uint32_t>(getpid()) ? sim.FindEp(EpOf(peer)) : nullptr;
  int prov_err = kNoError;
  Sim::Times t = Move(sim, ep, target, op, local, bytes, &prov_err);
  if (prov_err != kNoError) {
    CompleteTx(ep, t.done_ps, op.context, flags, 0, ErrnoOf(prov_err), prov_err, true);
    return 0;
  }
  if (op.write && (op.flags & FI_REMOTE_CQ_DATA)) NotifyTarget(sim, ep, target, t.arrival_ps, bytes, op.data);
  CompleteTx(ep, t.done_ps, op.context, flags, bytes, 0, 0, wanted);
  return 0;
}

uint64_t Flags(fid_ep* ep) {
  return ToImpl<Ep>(ep)->tx_op_flags;
}

ssize_t Read(fid_ep* ep, void* buf, size_t len, void*, fi_addr_t src, uint64_t addr, uint64_t key,
             void* ctx) {
  iovec iov{buf, len};
  fi_rma_iov rma{addr, len, key};
  return Post({ep, false, &iov, 1, &rma, 1, src, ctx, Flags(ep), 0});
}

ssize_t ReadV(fid_ep* ep, const iovec* iov, void**, size_t count, fi_addr_t src, uint64_t addr, uint64_t key,
              void* ctx) {
  fi_rma_iov rma{addr, TotalBytes(Segments(iov, count)), key};
  return Post({ep, false, iov, count, &rma, 1, src, ctx, Flags(ep), 0});
}

ssize_t ReadMsg(fid_ep* ep, const fi_msg_rma* msg, uint64_t flags) {
  return Post({ep, false, msg->msg_iov, msg->iov_count, msg->rma_iov, msg->rma_iov_count, msg->addr,
               msg->context, flags, 0});
}

ssize_t Write(fid_ep* ep, const void* buf, size_t len, void*, fi_addr_t dst, uint64_t addr, uint64_t key,
              void* ctx) {
  iovec iov{const_cast<void*>(buf), len};
  fi_rma_iov rma{addr, len, key};
  return Post({ep, true, &iov, 1, &rma, 1, dst, ctx, Flags(ep), 0});
}

ssize_t WriteV(fid_ep* ep, const iovec* iov, void**, size_t count, fi_addr_t dst, uint64_t addr, uint64_t key,
               void* ctx) {
  fi_rma_iov rma{addr, TotalBytes(Segments(iov, count)), key};
  return Post({ep, true, iov, count, &rma, 1, dst, ctx, Flags(ep), 0});
}

ssize_t WriteMsg(fid_ep* ep, const fi_msg_rma* msg, uint64_t flags) {
  return Post({ep, true, msg->msg_iov, msg->iov_count, msg->rma_iov, msg->rma_iov_count, msg->addr,
               msg->context, flags, msg->data});
}

ssize_t Inject(fid_ep* ep, const void* buf, size_t len, fi_addr_t dst, uint64_t addr, uint64_t key) {
  iovec iov{const_cast<void*>(buf), len};
  fi_rma_iov rma{addr, len, key};
  return Post({ep, true, &iov, 1, &rma, 1, dst, nullptr, FI_INJECT, 0});
}

ssize_t WriteData(fid_ep* ep, const void* buf, size_t len, void*, uint64_t data, fi_addr_t dst, uint64_t addr,
                  uint64_t key, void* ctx) {
  iovec iov{const_cast<void*>(buf), len};
  fi_rma_iov rma{addr, len, key};
  return Post({ep, true, &iov, 1, &rma, 1, dst, ctx, Flags(ep) | FI_REMOTE_CQ_DATA, data});
}

ssize_t InjectData(fid_ep* ep, const void* buf, size_t len, uint64_t data, fi_addr_t dst, uint64_t addr,
                   uint64_t key) {
  iovec iov{const_cast<void*>(buf), len};
  fi_rma_iov rma{addr, len, key};
  return Post({ep, true, &iov, 1, &rma, 1, dst, nullptr, FI_INJECT | FI_REMOTE_CQ_DATA, data});
}

}  // namespace

std::vector<Segment> Segments(const iovec* iov, size_t count) {
  std::vector<Segment> out;
  for (size_t i = 0; i < count; ++i) out.push_back({static_cast<uint8_t*>(iov[i].iov_base), iov[i].iov_len});
  return out;
}

size_t TotalBytes(const std::vector<Segment>& s) {
  size_t n = 0;
  for (const Segment& seg : s) n += seg.n;
  return n;
}

size_t CopySegments(const std::vector<Segment>& dst, const std::vector<Segment>& src) {
  size_t di = 0, doff = 0, copied = 0;
  for (const Segment& s : src) {
    size_t soff = 0;
    while (soff < s.n && di < dst.size()) {
      size_t n = std::min(s.n - soff, dst[di].n - doff);
      std::memmove(dst[di].p + doff, s.p + soff, n);
      soff += n, doff += n, copied += n;
      if (doff == dst[di].n) ++di, doff = 0;
    }
  }
  return copied;
}

fi_ops_rma gRmaOps = {
    .size = sizeof(fi_ops_rma),
    .read = Read,
    .readv = ReadV,
    .readmsg = ReadMsg,
    .write = Write,
    .writev = WriteV,
    .writemsg = WriteMsg,
    .inject = Inject,
    .writedata = WriteData,
    .injectdata = InjectData,
};

}  // namespace lightloop::fi
