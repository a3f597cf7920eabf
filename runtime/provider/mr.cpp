// SPDX-License-Identifier: Apache-2.0
// Memory registration. A region is one contiguous buffer with its access
// flags and key; remote operations name it by key and address, and the
// endpoints check key, domain, access and bounds before moving a byte.
//   FI_MR_PROV_KEY negotiated: keys are handed out by the provider (sequential,
//     process-wide); otherwise the requested key, -FI_ENOKEY if taken.
//   FI_MR_VIRT_ADDR negotiated: a peer addresses byte i as buf + i; otherwise
//     as `offset` + i (the offset passed to fi_mr_reg, usually 0).
// Local buffers need no registration (no FI_MR_LOCAL): desc is ignored.
// fpga backend: a region with remote access moves into board memory while it
// is registered (BoardMemory::Attach/Detach).
#include "lightloop_fi.h"

namespace lightloop::fi {
namespace {

constexpr uint64_t kAccess = FI_READ | FI_WRITE | FI_SEND | FI_RECV | FI_REMOTE_READ | FI_REMOTE_WRITE;

int MrClose(fid* f) {
  Mr* mr = ToImpl<Mr>(f);
  Sim* sim = Sim::Get();
  std::lock_guard lock(sim->mu);
  if (sim->shared() != nullptr) sim->shared()->CloseMr(mr->domain->id, mr->fid.key);
  sim->RemoveMr(mr);
  if (sim->board() != nullptr) sim->board()->Detach(mr);
  --mr->domain->refs;
  delete mr;
  return 0;
}

int MrControl(fid*, int command, void*) {
  return command == FI_ENABLE ? 0 : -FI_ENOSYS;
}

fi_ops gMrFiOps = {
    .size = sizeof(fi_ops),
    .close = MrClose,
    .bind = NoSysFn<int, fid*, fid*, uint64_t>,
    .control = MrControl,
    .ops_open = NoSysFn<int, fid*, const char*, uint64_t, void**, void*>,
    .tostr = NoSysFn<int, const fid*, char*, size_t>,
    .ops_set = NoSysFn<int, fid*, const char*, uint64_t, void*, void*>,
};

int Register(fid* domain_fid, const void* buf, size_t len, uint64_t access, uint64_t offset,
             uint64_t requested_key, uint64_t flags, fid_mr** out, void* context) {
  if (domain_fid == nullptr || domain_fid->fclass != FI_CLASS_DOMAIN) return -FI_EINVAL;
  if (flags != 0 || (access & ~kAccess)) return -FI_EBADFLAGS;
  if (buf == nullptr && len != 0) return -FI_EINVAL;
  Domain* domain = ToImpl<Domain>(domain_fid);
  auto* mr = new Mr;
  mr->domain = domain;
  mr->base = static_cast<uint8_t*>(const_cast<void*>(buf));
  mr->len = len;
  mr->access = access;
  mr->remote_base = (domain->mr_mode & FI_MR_VIRT_ADDR) ? reinterpret_cast<uint64_t>(buf) : offset;
  mr->fid.fid.fclass = FI_CLASS_MR;
  mr->fid.fid.context = context;
  mr->fid.fid.ops = &gMrFiOps;
  mr->fid.mem_desc = mr;
  Sim* sim = Sim::Get();
  std::lock_guard lock(sim->mu);
  if (int ret = sim->AddMr(mr, requested_key, domain->mr_mode & FI_MR_PROV_KEY); ret != 0) {
    delete mr;
    return ret;
  }
  if (sim->shared() != nullptr) {
    if (int ret = sim->shared()->RegMr(domain->id, *mr); ret != 0) {
      sim->RemoveMr(mr);
      delete mr;
      return ret;
    }
  }
  if (sim->board() != nullptr && (access & (FI_REMOTE_READ | FI_REMOTE_WRITE))) sim->board()->Attach(mr);
  ++domain->refs;
  *out = &mr->fid;
  return 0;
}

int RegisterV(fid* domain, const iovec* iov, size_t count, uint64_t access, uint64_t offset, uint64_t key,
              uint64_t flags, fid_mr** out, void* context) {
  if (count != 1) return -FI_EINVAL;  // mr_iov_limit is 1
  return Register(domain, iov[0].iov_base, iov[0].iov_len, access, offset, key, flags, out, context);
}

int RegisterAttr(fid* domain, const fi_mr_attr* attr, uint64_t flags, fid_mr** out) {
  if (attr == nullptr || attr->iface != FI_HMEM_SYSTEM) return -FI_EINVAL;
  return RegisterV(domain, attr->mr_iov, attr->iov_count, attr->access, attr->offset, attr->requested_key,
                   flags, out, attr->context);
}

}  // namespace

fi_ops_mr gMrOps = {
    .size = sizeof(fi_ops_mr),
    .reg = Register,
    .regv = RegisterV,
    .regattr = RegisterAttr,
};

}  // namespace lightloop::fi
