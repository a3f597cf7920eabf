// SPDX-License-Identifier: Apache-2.0
// Addresses and the address vector. An endpoint's address is the string
// "fi_lightloop://<pid>/<endpoint id>" (FI_ADDR_STR), NUL-padded to kAddrLen
// bytes so that fi_av_insert can take several packed one after another.
// FI_AV_TABLE hands out indices 0, 1, ...; FI_AV_MAP hands out
// GlobalEp(pid, endpoint id). An address of another process is accepted on a
// shared fabric (the daemon's) only; in-process it is refused.
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "lightloop_fi.h"

namespace lightloop::fi {
namespace {

constexpr char kScheme[] = "fi_lightloop://";

int AvClose(fid* f) {
  Av* av = ToImpl<Av>(f);
  std::lock_guard lock(Sim::Get()->mu);
  if (av->refs > 0) return -FI_EBUSY;
  --av->domain->refs;
  delete av;
  return 0;
}

int AvBind(fid*, fid* bfid, uint64_t) {
  return bfid->fclass == FI_CLASS_EQ ? 0 : -FI_EINVAL;  // inserts complete synchronously
}

fi_ops gAvFiOps = {
    .size = sizeof(fi_ops),
    .close = AvClose,
    .bind = AvBind,
    .control = NoSysFn<int, fid*, int, void*>,
    .ops_open = NoSysFn<int, fid*, const char*, uint64_t, void**, void*>,
    .tostr = NoSysFn<int, const fid*, char*, size_t>,
    .ops_set = NoSysFn<int, fid*, const char*, uint64_t, void*, void*>,
};

int AvInsert(fid_av* av_fid, const void* addr, size_t count, fi_addr_t* fi_addr, uint64_t flags, void*) {
  if (flags & ~uint64_t{FI_MORE}) return -FI_EBADFLAGS;
  Av* av = ToImpl<Av>(av_fid);
  Sim* sim = Sim::Get();
  std::lock_guard lock(sim->mu);
  int inserted = 0;
  for (size_t i = 0; i < count; ++i) {
    uint64_t id = ParseAddress(static_cast<const char*>(addr) + i * kAddrLen);
    if (id != 0 && PidOf(id) != static_cast<uint32_t>(getpid())) {
      if (int ret = sim->DecideMode(/*foreign_peer=*/true); ret != 0) return ret;
      if (sim->shared() == nullptr) id = 0;  // in-process: only this process's endpoints
    }
    fi_addr_t out = FI_ADDR_NOTAVAIL;
    if (id != 0) {
      if (av->type == FI_AV_MAP) {
        out = id;
      } else {
        out = av->table.size();
        av->table.push_back(id);
      }
      ++inserted;
    }
    if (fi_addr != nullptr) fi_addr[i] = out;
  }
  return inserted;
}

int AvRemove(fid_av* av_fid, fi_addr_t* fi_addr, size_t count, uint64_t) {
  Av* av = ToImpl<Av>(av_fid);
  std::lock_guard lock(Sim::Get()->mu);
  for (size_t i = 0; i < count; ++i) {
    if (av->type == FI_AV_TABLE && fi_addr[i] < av->table.size()) av->table[fi_addr[i]] = 0;
  }
  return 0;
}

int AvLookup(fid_av* av_fid, fi_addr_t fi_addr, void* addr, size_t* addrlen) {
  Av* av = ToImpl<Av>(av_fid);
  uint64_t id;
  {
    std::lock_guard lock(Sim::Get()->mu);
    id = av->Resolve(fi_addr);
  }
  if (id == 0) return -FI_EINVAL;
  char name[kAddrLen];
  FormatGlobalAddress(id, name);
  size_t room = *addrlen;
  *addrlen = kAddrLen;
  std::memcpy(addr, name, std::min(room, kAddrLen));
  return room < kAddrLen ? -FI_ETOOSMALL : 0;
}

const char* AvStraddr(fid_av*, const void* addr, char* buf, size_t* len) {
  size_t n = strnlen(static_cast<const char*>(addr), kAddrLen);
  if (*len > 0) {
    size_t copy = std::min(n, *len - 1);
    std::memcpy(buf, addr, copy);
    buf[copy] = '\0';
  }
  *len = n + 1;
  return buf;
}

fi_ops_av gAvOps = {
    .size = sizeof(fi_ops_av),
    .insert = AvInsert,
    .insertsvc = NoSysFn<int, fid_av*, const char*, const char*, fi_addr_t*, uint64_t, void*>,
    .insertsym = NoSysFn<int, fid_av*, const char*, size_t, const char*, size_t, fi_addr_t*, uint64_t, void*>,
    .remove = AvRemove,
    .lookup = AvLookup,
    .straddr = AvStraddr,
    .av_set = NoSysFn<int, fid_av*, fi_av_set_attr*, fid_av_set**, void*>,
};

}  // namespace

uint64_t Av::Resolve(fi_addr_t addr) const {
  if (addr == FI_ADDR_UNSPEC || addr == FI_ADDR_NOTAVAIL) return 0;
  if (type == FI_AV_MAP) return addr;
  return addr < table.size() ? table[addr] : 0;
}

fi_addr_t Av::Reverse(uint64_t ep_id) const {
  if (type == FI_AV_MAP) return ep_id;
  for (size_t i = 0; i < table.size(); ++i) {
    if (table[i] == ep_id) return i;
  }
  return FI_ADDR_NOTAVAIL;
}

void FormatGlobalAddress(uint64_t id, char* out) {
  std::memset(out, 0, kAddrLen);
  std::snprintf(out, kAddrLen, "%s%08x/%08x", kScheme, static_cast<unsigned>(PidOf(id)),
                static_cast<unsigned>(EpOf(id)));
}

void FormatAddress(uint32_t id, char* out) {
  FormatGlobalAddress(GlobalEp(static_cast<uint32_t>(getpid()), id), out);
}

uint64_t ParseAddress(const void* addr) {
  char text[kAddrLen + 1] = {};
  std::memcpy(text, addr, kAddrLen);
  unsigned pid = 0, id = 0;
  char tail = 0;
  if (std::strncmp(text, kScheme, sizeof(kScheme) - 1) != 0) return 0;
  if (std::sscanf(text + sizeof(kScheme) - 1, "%8x/%8x%c", &pid, &id, &tail) != 2) return 0;
  return pid != 0 && id != 0 ? GlobalEp(pid, id) : 0;
}

int AvOpen(fid_domain* domain_fid, fi_av_attr* attr, fid_av** out, void* context) {
  if (attr == nullptr) return -FI_EINVAL;
  if (attr->type != FI_AV_UNSPEC && attr->type != FI_AV_TABLE && attr->type != FI_AV_MAP) return -FI_EINVAL;
  if (attr->flags & (FI_EVENT | FI_READ | FI_SYMMETRIC)) return -FI_EBADFLAGS;
  if (attr->name != nullptr) return -FI_ENOSYS;  // no shared AVs
  auto* av = new Av;
  av->domain = ToImpl<Domain>(domain_fid);
  av->type = attr->type == FI_AV_MAP ? FI_AV_MAP : FI_AV_TABLE;
  av->fid.fid.fclass = FI_CLASS_AV;
  av->fid.fid.context = context;
  av->fid.fid.ops = &gAvFiOps;
  av->fid.ops = &gAvOps;
  std::lock_guard lock(Sim::Get()->mu);
  ++av->domain->refs;
  *out = &av->fid;
  return 0;
}

}  // namespace lightloop::fi
