// SPDX-License-Identifier: Apache-2.0
// The fabric object: opens domains and event queues on the process's one
// simulated fabric.
#include <cstring>

#include "lightloop_fi.h"

namespace lightloop::fi {
namespace {

int FabricClose(fid* f) {
  Fabric* fabric = ToImpl<Fabric>(f);
  std::lock_guard lock(Sim::Get()->mu);
  if (fabric->refs > 0) return -FI_EBUSY;
  delete fabric;
  return 0;
}

fi_ops gFabricFiOps = {
    .size = sizeof(fi_ops),
    .close = FabricClose,
    .bind = NoSysFn<int, fid*, fid*, uint64_t>,
    .control = NoSysFn<int, fid*, int, void*>,
    .ops_open = NoSysFn<int, fid*, const char*, uint64_t, void**, void*>,
    .tostr = NoSysFn<int, const fid*, char*, size_t>,
    .ops_set = NoSysFn<int, fid*, const char*, uint64_t, void*, void*>,
};

fi_ops_fabric gFabricOps = {
    .size = sizeof(fi_ops_fabric),
    .domain = DomainOpen,
    .passive_ep = NoSysFn<int, fid_fabric*, fi_info*, fid_pep**, void*>,
    .eq_open = EqOpen,
    .wait_open = NoSysFn<int, fid_fabric*, fi_wait_attr*, fid_wait**>,
    .trywait = NoSysFn<int, fid_fabric*, fid**, int>,
    .domain2 = NoSysFn<int, fid_fabric*, fi_info*, fid_domain**, uint64_t, void*>,
};

}  // namespace

int FabricOpen(fi_fabric_attr* attr, fid_fabric** out, void* context) {
  if (attr->name != nullptr && std::strcmp(attr->name, kFabricName) != 0) return -FI_ENODATA;
  if (Sim::Get() == nullptr) return -FI_ENODATA;  // the configuration did not load (logged)
  auto* fabric = new Fabric;
  fabric->fid.fid.fclass = FI_CLASS_FABRIC;
  fabric->fid.fid.context = context;
  fabric->fid.fid.ops = &gFabricFiOps;
  fabric->fid.ops = &gFabricOps;
  fabric->fid.api_version = attr->api_version;
  *out = &fabric->fid;
  return 0;
}

}  // namespace lightloop::fi
