// SPDX-License-Identifier: Apache-2.0
// The FI_EP_RDM endpoint: binding to an AV and CQs, enabling, its name, and
// the ops tables. The data transfers themselves are in rma.cpp and msg.cpp.
#include <rdma/fi_tagged.h>

#include <cstring>

#include "lightloop_fi.h"

namespace lightloop::fi {
namespace {

constexpr uint64_t kCqBindFlags = FI_TRANSMIT | FI_RECV | FI_SELECTIVE_COMPLETION;

int EpClose(fid* f) {
  Ep* ep = ToImpl<Ep>(f);
  Sim* sim = Sim::Get();
  std::lock_guard lock(sim->mu);
  if (sim->shared() != nullptr) sim->shared()->CloseEp(ep->id);
  sim->RemoveEp(ep);
  if (ep->av != nullptr) --ep->av->refs;
  if (ep->tx_cq != nullptr) --ep->tx_cq->refs;
  if (ep->rx_cq != nullptr) --ep->rx_cq->refs;
  --ep->domain->refs;
  delete ep;
  return 0;
}

int BindCq(Ep* ep, Cq* cq, uint64_t flags) {
  if (flags & ~kCqBindFlags) return -FI_EBADFLAGS;
  if (((flags & FI_TRANSMIT) && ep->tx_cq) || ((flags & FI_RECV) && ep->rx_cq)) return -FI_EINVAL;
  bool selective = flags & FI_SELECTIVE_COMPLETION;
  if (flags & FI_TRANSMIT) {
    ep->tx_cq = cq;
    ep->tx_selective = selective;
    ++cq->refs;
  }
  if (flags & FI_RECV) {
    ep->rx_cq = cq;
    ep->rx_selective = selective;
    ++cq->refs;
  }
  return 0;
}

int EpBind(fid* f, fid* bfid, uint64_t flags) {
  Ep* ep = ToImpl<Ep>(f);
  std::lock_guard lock(Sim::Get()->mu);
  if (ep->enabled) return -FI_EOPBADSTATE;
  switch (bfid->fclass) {
    case FI_CLASS_AV:
      if (ep->av != nullptr) return -FI_EINVAL;
      ep->av = ToImpl<Av>(bfid);
      ++ep->av->refs;
      return 0;
    case FI_CLASS_CQ: return BindCq(ep, ToImpl<Cq>(bfid), flags);
    case FI_CLASS_EQ: return 0;  // no events for FI_EP_RDM
    case FI_CLASS_CNTR: return -FI_ENOSYS;
    default: return -FI_EINVAL;
  }
}

int EpControl(fid* f, int command, void*) {
  if (command != FI_ENABLE) return -FI_ENOSYS;
  Ep* ep = ToImpl<Ep>(f);
  Sim* sim = Sim::Get();
  std::lock_guard lock(sim->mu);
  if (ep->av == nullptr) return -FI_ENOAV;
  if (ep->tx_cq == nullptr && ep->rx_cq == nullptr) return -FI_ENOCQ;
  if (int ret = sim->DecideMode(); ret != 0) return ret;
  ep->enabled = true;
  return 0;
}

ssize_t EpCancel(fid* f, void* context) {
  Ep* ep = ToImpl<Ep>(f);
  Sim* sim = Sim::Get();
  std::lock_guard lock(sim->mu);
  for (auto it = ep->recvs.begin(); it != ep->recvs.end(); ++it) {
    if (it->context != context) continue;
    Completion c;
    c.error = true;
    c.entry.op_context = context;
    c.entry.flags = FI_MSG | FI_RECV;
    c.entry.err = FI_ECANCELED;
    c.entry.prov_errno = kCanceled;
    ep->recvs.erase(it);
    sim->Schedule(sim->now_ps(), ep->rx_cq, c);
    return 0;
  }
  return -FI_ENOENT;
}

ssize_t EpSizeLeft(fid_ep*) {
  return static_cast<ssize_t>(kQueueSize);
}

int EpGetName(fid* f, void* addr, size_t* addrlen) {
  if (f->fclass != FI_CLASS_EP) return -FI_EINVAL;
  char name[kAddrLen];
  FormatAddress(ToImpl<Ep>(f)->id, name);
  size_t room = *addrlen;
  *addrlen = kAddrLen;
  if (room < kAddrLen) return -FI_ETOOSMALL;
  std::memcpy(addr, name, kAddrLen);
  return 0;
}

fi_ops gEpFiOps = {
    .size = sizeof(fi_ops),
    .close = EpClose,
    .bind = EpBind,
    .control = EpControl,
    .ops_open = NoSysFn<int, fid*, const char*, uint64_t, void**, void*>,
    .tostr = NoSysFn<int, const fid*, char*, size_t>,
    .ops_set = NoSysFn<int, fid*, const char*, uint64_t, void*, void*>,
};

fi_ops_ep gEpOps = {
    .size = sizeof(fi_ops_ep),
    .cancel = EpCancel,
    .getopt = NoSysFn<int, fid*, int, int, void*, size_t*>,
    .setopt = NoSysFn<int, fid*, int, int, const void*, size_t>,
    .tx_ctx = NoSysFn<int, fid_ep*, int, fi_tx_attr*, fid_ep**, void*>,
    .rx_ctx = NoSysFn<int, fid_ep*, int, fi_rx_attr*, fid_ep**, void*>,
    .rx_size_left = EpSizeLeft,
    .tx_size_left = EpSizeLeft,
};

fi_ops_cm gCmOps = {
    .size = sizeof(fi_ops_cm),
    .setname = NoSysFn<int, fid*, void*, size_t>,
    .getname = EpGetName,
    .getpeer = NoSysFn<int, fid_ep*, void*, size_t*>,
    .connect = NoSysFn<int, fid_ep*, const void*, const void*, size_t>,
    .listen = NoSysFn<int, fid_pep*>,
    .accept = NoSysFn<int, fid_ep*, const void*, size_t>,
    .reject = NoSysFn<int, fid_pep*, fid*, const void*, size_t>,
    .shutdown = NoSysFn<int, fid_ep*, uint64_t>,
    .join = NoSysFn<int, fid_ep*, const void*, uint64_t, fid_mc**, void*>,
};

// FI_TAGGED is refused in fi_getinfo; a program that calls the tagged API
// anyway gets -FI_ENOSYS rather than a null function pointer.
fi_ops_tagged gTaggedOps = {
    .size = sizeof(fi_ops_tagged),
    .recv = NoSysFn<ssize_t, fid_ep*, void*, size_t, void*, fi_addr_t, uint64_t, uint64_t, void*>,
    .recvv = NoSysFn<ssize_t, fid_ep*, const iovec*, void**, size_t, fi_addr_t, uint64_t, uint64_t, void*>,
    .recvmsg = NoSysFn<ssize_t, fid_ep*, const fi_msg_tagged*, uint64_t>,
    .send = NoSysFn<ssize_t, fid_ep*, const void*, size_t, void*, fi_addr_t, uint64_t, void*>,
    .sendv = NoSysFn<ssize_t, fid_ep*, const iovec*, void**, size_t, fi_addr_t, uint64_t, void*>,
    .sendmsg = NoSysFn<ssize_t, fid_ep*, const fi_msg_tagged*, uint64_t>,
    .inject = NoSysFn<ssize_t, fid_ep*, const void*, size_t, fi_addr_t, uint64_t>,
    .senddata = NoSysFn<ssize_t, fid_ep*, const void*, size_t, void*, uint64_t, fi_addr_t, uint64_t, void*>,
    .injectdata = NoSysFn<ssize_t, fid_ep*, const void*, size_t, uint64_t, fi_addr_t, uint64_t>,
};

}  // namespace

void CompleteTx(Ep* ep, uint64_t t_ps, void* context, uint64_t flags, size_t len, int err, int prov_err,
                bool wanted) {
  if (err == 0 && !wanted) return;
  Completion c;
  c.error = err != 0;
  c.entry.op_context = context;
  c.entry.flags = flags;
  c.entry.len = err != 0 ? 0 : len;
  c.entry.err = err;
  c.entry.prov_errno = prov_err;
  Sim::Get()->Schedule(t_ps, ep->tx_cq, c);
}

int EpOpen(fid_domain* domain_fid, fi_info* info, fid_ep** out, void* context) {
  if (info != nullptr && info->ep_attr != nullptr && info->ep_attr->type != FI_EP_RDM &&
      info->ep_attr->type != FI_EP_UNSPEC) {
    return -FI_EINVAL;
  }
  if (info != nullptr && (info->caps & ~kCaps)) return -FI_EINVAL;
  auto* ep = new Ep;
  ep->domain = ToImpl<Domain>(domain_fid);
  if (info != nullptr && info->tx_attr != nullptr) ep->tx_op_flags = info->tx_attr->op_flags;
  if (info != nullptr && info->rx_attr != nullptr) ep->rx_op_flags = info->rx_attr->op_flags;
  ep->fid.fid.fclass = FI_CLASS_EP;
  ep->fid.fid.context = context;
  ep->fid.fid.ops = &gEpFiOps;
  ep->fid.ops = &gEpOps;
  ep->fid.cm = &gCmOps;
  ep->fid.msg = &gMsgOps;
  ep->fid.rma = &gRmaOps;
  ep->fid.tagged = &gTaggedOps;
  Sim* sim = Sim::Get();
  std::lock_guard lock(sim->mu);
  ep->id = sim->AddEp(ep);
  if (sim->shared() != nullptr) {
    if (int ret = sim->shared()->OpenEp(ep->id, ep->domain->id); ret != 0) {
      sim->RemoveEp(ep);
      delete ep;
      return ret;
    }
  }
  ++ep->domain->refs;
  *out = &ep->fid;
  return 0;
}

}  // namespace lightloop::fi
