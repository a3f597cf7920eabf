// SPDX-License-Identifier: Apache-2.0
// Completion queues. Reading is what drives virtual time: a read finds the
// completions whose time has come. A read that finds none only looks; the
// next one that finds none is waiting, and if completions of its own CQ are
// pending it moves the clock to the next pending completion of the fabric
// (progress is manual; Sim::Progress). So a program that drains a CQ until
// -FI_EAGAIN and then posts more work does so at the time of the drain, and
// one that polls in a loop lets time pass; a read after advance_ns (the
// caller computed) only looks again, so polling between pieces of compute
// lets transfers overlap the compute instead of moving the clock. An error entry at the head makes
// fi_cq_read return -FI_EAVAIL until fi_cq_readerr takes it. fi_cq_sread
// (always waiting) needs a wait object (FI_WAIT_UNSPEC or FI_WAIT_YIELD); it
// waits in wall time while nothing is pending for its CQ.
#include <chrono>
#include <cstring>

#include "lightloop_fi.h"

namespace lightloop::fi {
namespace {

size_t EntrySize(fi_cq_format format) {
  switch (format) {
    case FI_CQ_FORMAT_UNSPEC:
    case FI_CQ_FORMAT_CONTEXT: return sizeof(fi_cq_entry);
    case FI_CQ_FORMAT_MSG: return sizeof(fi_cq_msg_entry);
    case FI_CQ_FORMAT_DATA: return sizeof(fi_cq_data_entry);
    case FI_CQ_FORMAT_TAGGED: return sizeof(fi_cq_tagged_entry);
  }
  return 0;
}

const char* ProvErrorText(int prov_errno) {
  switch (prov_errno) {
    case kBadKey: return "lightloop: no memory region with this key at the target endpoint's domain";
    case kNoAccess: return "lightloop: the target memory region was not registered for this remote access";
    case kOutOfBounds: return "lightloop: the access falls outside the target memory region";
    case kNoPeer: return "lightloop: the destination endpoint does not exist (closed?)";
    case kTruncated: return "lightloop: the message was longer than the posted receive buffer";
    case kCanceled: return "lightloop: the operation was canceled";
    default: return "lightloop: no error";
  }
}

int CqClose(fid* f) {
  Cq* cq = ToImpl<Cq>(f);
  Sim* sim = Sim::Get();
  std::lock_guard lock(sim->mu);
  if (cq->refs > 0) return -FI_EBUSY;
  sim->ForgetCq(cq);
  --cq->domain->refs;
  delete cq;
  return 0;
}

fi_ops gCqFiOps = {
    .size = sizeof(fi_ops),
    .close = CqClose,
    .bind = NoSysFn<int, fid*, fid*, uint64_t>,
    .control = NoSysFn<int, fid*, int, void*>,
    .ops_open = NoSysFn<int, fid*, const char*, uint64_t, void**, void*>,
    .tostr = NoSysFn<int, const fid*, char*, size_t>,
    .ops_set = NoSysFn<int, fid*, const char*, uint64_t, void*, void*>,
};

// Copies up to `count` ready entries in the CQ's format; with `sim->mu` held.
ssize_t TakeReady(Cq* cq, void* buf, size_t count, fi_addr_t* src_addr) {
  if (cq->ready.empty()) return -FI_EAGAIN;
  if (cq->ready.front().error) return -FI_EAVAIL;
  size_t n = 0;
  auto* out = static_cast<uint8_t*>(buf);
  while (n < count && !cq->ready.empty() && !cq->ready.front().error) {
    const Completion& c = cq->ready.front();
    fi_cq_tagged_entry e{c.entry.op_context, c.entry.flags, c.entry.len, c.entry.buf, c.entry.data, 0};
    std::memcpy(out + n * cq->entry_size, &e, cq->entry_size);
    if (src_addr != nullptr) src_addr[n] = c.src_addr;
    cq->ready.pop_front();
    ++n;
  }
  return static_cast<ssize_t>(n);
}

ssize_t CqReadFrom(fid_cq* cq_fid, void* buf, size_t count, fi_addr_t* src_addr) {
  Cq* cq = ToImpl<Cq>(cq_fid);
  Sim* sim = Sim::Get();
  std::lock_guard lock(sim->mu);
  // Two empty reads in a row wait, unless the caller computed in between
  // (advance_ns): polling between pieces of compute must not move time.
  sim->Progress(cq, cq->looked && cq->looked_epoch == sim->compute_epoch);
  ssize_t n = TakeReady(cq, buf, count, src_addr);
  cq->looked = n == -FI_EAGAIN;
  cq->looked_epoch = sim->compute_epoch;
  return n;
}

ssize_t CqRead(fid_cq* cq, void* buf, size_t count) {
  return CqReadFrom(cq, buf, count, nullptr);
}

ssize_t CqReadErr(fid_cq* cq_fid, fi_cq_err_entry* buf, uint64_t) {
  Cq* cq = ToImpl<Cq>(cq_fid);
  std::lock_guard lock(Sim::Get()->mu);
  if (cq->ready.empty() || !cq->ready.front().error) return -FI_EAGAIN;
  void* user_err_data = buf->err_data;  // an input since API 1.5: keep it
  *buf = cq->ready.front().entry;
  buf->err_data = user_err_data;
  buf->err_data_size = 0;
  cq->ready.pop_front();
  return 1;
}

ssize_t CqSReadFrom(fid_cq* cq_fid, void* buf, size_t count, fi_addr_t* src_addr, const void*, int timeout) {
  Cq* cq = ToImpl<Cq>(cq_fid);
  if (cq->wait_obj == FI_WAIT_NONE) return -FI_ENOSYS;
  Sim* sim = Sim::Get();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout);
  std::unique_lock lock(sim->mu);
  for (;;) {
    sim->Progress(cq, true);
    if (!cq->ready.empty()) return TakeReady(cq, buf, count, src_addr);
    if (sim->shared() != nullptr) {  // deliveries come from the receiver thread: look again shortly
      auto next = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
      if (timeout >= 0 && next > deadline) next = deadline;
      sim->changed.wait_until(lock, next);
      if (timeout >= 0 && std::chrono::steady_clock::now() >= deadline) return -FI_EAGAIN;
      continue;
    }
    if (cq->pending > 0) continue;  // the clock moved on; look again
    if (timeout < 0) {
      sim->changed.wait(lock);
    } else if (sim->changed.wait_until(lock, deadline) == std::cv_status::timeout) {
      return -FI_EAGAIN;
    }
  }
}

ssize_t CqSRead(fid_cq* cq, void* buf, size_t count, const void* cond, int timeout) {
  return CqSReadFrom(cq, buf, count, nullptr, cond, timeout);
}

int CqSignal(fid_cq*) {
  std::lock_guard lock(Sim::Get()->mu);
  Sim::Get()->changed.notify_all();
  return 0;
}

const char* CqStrError(fid_cq*, int prov_errno, const void*, char* buf, size_t len) {
  const char* text = ProvErrorText(prov_errno);
  if (buf != nullptr && len > 0) {
    std::strncpy(buf, text, len - 1);
    buf[len - 1] = '\0';
  }
  return text;
}

fi_ops_cq gCqOps = {
    .size = sizeof(fi_ops_cq),
    .read = CqRead,
    .readfrom = CqReadFrom,
    .readerr = CqReadErr,
    .sread = CqSRead,
    .sreadfrom = CqSReadFrom,
    .signal = CqSignal,
    .strerror = CqStrError,
};

}  // namespace

int CqOpen(fid_domain* domain_fid, fi_cq_attr* attr, fid_cq** out, void* context) {
  if (attr == nullptr || EntrySize(attr->format) == 0) return -FI_ENOSYS;
  if (attr->wait_obj != FI_WAIT_NONE && attr->wait_obj != FI_WAIT_UNSPEC && attr->wait_obj != FI_WAIT_YIELD) {
    return -FI_ENOSYS;  // no file descriptors or wait sets: nothing happens outside a read
  }
  if (attr->flags & FI_AFFINITY) return -FI_EBADFLAGS;
  auto* cq = new Cq;
  cq->domain = ToImpl<Domain>(domain_fid);
  cq->format = attr->format == FI_CQ_FORMAT_UNSPEC ? FI_CQ_FORMAT_CONTEXT : attr->format;
  cq->entry_size = EntrySize(cq->format);
  cq->wait_obj = attr->wait_obj;
  cq->fid.fid.fclass = FI_CLASS_CQ;
  cq->fid.fid.context = context;
  cq->fid.fid.ops = &gCqFiOps;
  cq->fid.ops = &gCqOps;
  std::lock_guard lock(Sim::Get()->mu);
  ++cq->domain->refs;
  *out = &cq->fid;
  return 0;
}

}  // namespace lightloop::fi
