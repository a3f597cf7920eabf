// SPDX-License-Identifier: Apache-2.0
// The domain: where CQs, AVs, endpoints and memory regions are opened, and
// the one place the virtual clock is published (fi_open_ops with
// LIGHTLOOP_CLOCK_OPS_NAME, see lightloop/runtime/fi_lightloop.h).
#include <cstring>

#include "lightloop/runtime/fi_lightloop.h"
#include "lightloop_fi.h"

namespace lightloop::fi {
namespace {

int DomainClose(fid* f) {
  Domain* domain = ToImpl<Domain>(f);
  std::lock_guard lock(Sim::Get()->mu);
  if (domain->refs > 0) return -FI_EBUSY;
  --domain->fabric->refs;
  delete domain;
  return 0;
}

int DomainBind(fid*, fid* bfid, uint64_t) {
  return bfid->fclass == FI_CLASS_EQ ? 0 : -FI_EINVAL;  // no asynchronous MR events to report
}

int DomainOpsOpen(fid*, const char* name, uint64_t, void** ops, void*);

fi_ops gDomainFiOps = {
    .size = sizeof(fi_ops),
    .close = DomainClose,
    .bind = DomainBind,
    .control = NoSysFn<int, fid*, int, void*>,
    .ops_open = DomainOpsOpen,
    .tostr = NoSysFn<int, const fid*, char*, size_t>,
    .ops_set = NoSysFn<int, fid*, const char*, uint64_t, void*, void*>,
};

bool IsDomain(const fid* f) {
  return f != nullptr && f->fclass == FI_CLASS_DOMAIN && f->ops == &gDomainFiOps;
}

uint64_t ClockNowPs(fid* f) {
  if (!IsDomain(f)) return 0;
  Sim* sim = Sim::Get();
  std::lock_guard lock(sim->mu);
  if (SharedFabric* shared = sim->shared()) shared->Drain(*sim);
  return sim->now_ps();
}

uint64_t ClockNowNs(fid* f) {
  return ClockNowPs(f) / 1000;
}

int ClockAdvanceNs(fid* f, uint64_t ns) {
  if (!IsDomain(f)) return -FI_EINVAL;
  Sim* sim = Sim::Get();
  std::lock_guard lock(sim->mu);
  const uint64_t until = sim->now_ps() + ns * 1000;
  if (SharedFabric* shared = sim->shared()) {
    if (int ret = shared->Advance(until); ret != 0) return ret;
    shared->Drain(*sim);
  }
  sim->AdvanceTo(until);
  ++sim->compute_epoch;
  return 0;
}

fi_lightloop_clock_ops gClockOps = {
    .size = sizeof(fi_lightloop_clock_ops),
    .now_ns = ClockNowNs,
    .advance_ns = ClockAdvanceNs,
    .now_ps = ClockNowPs,
};

int DomainOpsOpen(fid*, const char* name, uint64_t, void** ops, void*) {
  if (name == nullptr || std::strcmp(name, LIGHTLOOP_CLOCK_OPS_NAME) != 0) return -FI_ENOSYS;
  Sim* sim = Sim::Get();
  {
    std::lock_guard lock(sim->mu);
    // A board that runs by itself (pcie:, uio:) keeps wall-clock time: no
    // virtual clock to offer, callers time with their own clock.
    if (sim->board() != nullptr && !sim->board()->virtual_time()) return -FI_ENOSYS;
    sim->clock_opened = true;  // a program that knows virtual time: see Sim::DecideMode
  }
  *ops = &gClockOps;
  return 0;
}

fi_ops_domain gDomainOps = {
    .size = sizeof(fi_ops_domain),
    .av_open = AvOpen,
    .cq_open = CqOpen,
    .endpoint = EpOpen,
    .scalable_ep = NoSysFn<int, fid_domain*, fi_info*, fid_ep**, void*>,
    .cntr_open = NoSysFn<int, fid_domain*, fi_cntr_attr*, fid_cntr**, void*>,
    .poll_open = NoSysFn<int, fid_domain*, fi_poll_attr*, fid_poll**>,
    .stx_ctx = NoSysFn<int, fid_domain*, fi_tx_attr*, fid_stx**, void*>,
    .srx_ctx = NoSysFn<int, fid_domain*, fi_rx_attr*, fid_ep**, void*>,
    .query_atomic = NoSysFn<int, fid_domain*, fi_datatype, fi_op, fi_atomic_attr*, uint64_t>,
    .query_collective = NoSysFn<int, fid_domain*, fi_collective_op, fi_collective_attr*, uint64_t>,
    .endpoint2 = NoSysFn<int, fid_domain*, fi_info*, fid_ep**, uint64_t, void*>,
};

uint64_t DomainMrMode(const fi_info* info) {
  uint64_t mode = info->domain_attr != nullptr ? info->domain_attr->mr_mode : kMrModes;
  if (mode == FI_MR_BASIC) return kMrModes;
  return mode & kMrModes;  // FI_MR_SCALABLE and FI_MR_UNSPEC: none
}

}  // namespace

int DomainOpen(fid_fabric* fabric_fid, fi_info* info, fid_domain** out, void* context) {
  if (info == nullptr || info->domain_attr == nullptr) return -FI_EINVAL;
  if (info->domain_attr->name != nullptr && std::strcmp(info->domain_attr->name, kDomainName) != 0) {
    return -FI_EINVAL;
  }
  auto* domain = new Domain;
  domain->fabric = ToImpl<Fabric>(fabric_fid);
  domain->mr_mode = DomainMrMode(info);
  domain->fid.fid.fclass = FI_CLASS_DOMAIN;
  domain->fid.fid.context = context;
  domain->fid.fid.ops = &gDomainFiOps;
  domain->fid.ops = &gDomainOps;
  domain->fid.mr = &gMrOps;
  std::lock_guard lock(Sim::Get()->mu);
  domain->id = Sim::Get()->next_domain++;
  ++domain->fabric->refs;
  *out = &domain->fid;
  return 0;
}

}  // namespace lightloop::fi
