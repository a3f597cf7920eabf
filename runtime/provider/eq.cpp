// SPDX-License-Identifier: Apache-2.0
// Event queues. FI_EP_RDM has no connection events and address vector
// inserts complete at once, so the provider itself posts nothing; the queue
// works (fi_eq_write / fi_eq_read / fi_eq_sread) for programs that open one
// and for their own events.
#include <chrono>
#include <cstring>

#include "lightloop_fi.h"

namespace lightloop::fi {
namespace {

int EqClose(fid* f) {
  Eq* eq = ToImpl<Eq>(f);
  std::lock_guard lock(Sim::Get()->mu);
  --eq->fabric->refs;
  delete eq;
  return 0;
}

fi_ops gEqFiOps = {
    .size = sizeof(fi_ops),
    .close = EqClose,
    .bind = NoSysFn<int, fid*, fid*, uint64_t>,
    .control = NoSysFn<int, fid*, int, void*>,
    .ops_open = NoSysFn<int, fid*, const char*, uint64_t, void**, void*>,
    .tostr = NoSysFn<int, const fid*, char*, size_t>,
    .ops_set = NoSysFn<int, fid*, const char*, uint64_t, void*, void*>,
};

// With Sim::mu held.
ssize_t TakeEvent(Eq* eq, uint32_t* event, void* buf, size_t len, uint64_t flags) {
  if (eq->events.empty()) return -FI_EAGAIN;
  Eq::Event& e = eq->events.front();
  if (len < e.data.size()) return -FI_ETOOSMALL;
  *event = e.type;
  std::memcpy(buf, e.data.data(), e.data.size());
  ssize_t n = static_cast<ssize_t>(e.data.size());
  if (!(flags & FI_PEEK)) eq->events.pop_front();
  return n;
}

ssize_t EqRead(fid_eq* eq_fid, uint32_t* event, void* buf, size_t len, uint64_t flags) {
  std::lock_guard lock(Sim::Get()->mu);
  return TakeEvent(ToImpl<Eq>(eq_fid), event, buf, len, flags);
}

ssize_t EqReadErr(fid_eq*, fi_eq_err_entry*, uint64_t) {
  return -FI_EAGAIN;  // no error events
}

ssize_t EqWrite(fid_eq* eq_fid, uint32_t event, const void* buf, size_t len, uint64_t) {
  Sim* sim = Sim::Get();
  std::lock_guard lock(sim->mu);
  const auto* bytes = static_cast<const uint8_t*>(buf);
  ToImpl<Eq>(eq_fid)->events.push_back({event, std::vector<uint8_t>(bytes, bytes + len)});
  sim->changed.notify_all();
  return static_cast<ssize_t>(len);
}

ssize_t EqSRead(fid_eq* eq_fid, uint32_t* event, void* buf, size_t len, int timeout, uint64_t flags) {
  Sim* sim = Sim::Get();
  Eq* eq = ToImpl<Eq>(eq_fid);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout);
  std::unique_lock lock(sim->mu);
  while (eq->events.empty()) {
    if (timeout < 0) {
      sim->changed.wait(lock);
    } else if (sim->changed.wait_until(lock, deadline) == std::cv_status::timeout) {
      return -FI_EAGAIN;
    }
  }
  return TakeEvent(eq, event, buf, len, flags);
}

const char* EqStrError(fid_eq*, int, const void*, char* buf, size_t len) {
  const char* text = "lightloop: no error";
  if (buf != nullptr && len > 0) {
    std::strncpy(buf, text, len - 1);
    buf[len - 1] = '\0';
  }
  return text;
}

fi_ops_eq gEqOps = {
    .size = sizeof(fi_ops_eq),
    .read = EqRead,
    .readerr = EqReadErr,
    .write = EqWrite,
    .sread = EqSRead,
    .strerror = EqStrError,
};

}  // namespace

int EqOpen(fid_fabric* fabric_fid, fi_eq_attr* attr, fid_eq** out, void* context) {
  if (attr != nullptr && attr->wait_obj != FI_WAIT_NONE && attr->wait_obj != FI_WAIT_UNSPEC &&
      attr->wait_obj != FI_WAIT_YIELD) {
    return -FI_ENOSYS;
  }
  auto* eq = new Eq;
  eq->fabric = ToImpl<Fabric>(fabric_fid);
  eq->fid.fid.fclass = FI_CLASS_EQ;
  eq->fid.fid.context = context;
  eq->fid.fid.ops = &gEqFiOps;
  eq->fid.ops = &gEqOps;
  std::lock_guard lock(Sim::Get()->mu);
  ++eq->fabric->refs;
  *out = &eq->fid;
  return 0;
}

}  // namespace lightloop::fi
