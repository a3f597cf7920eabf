// SPDX-License-Identifier: Apache-2.0
#include <rdma/fi_errno.h>

#include "lightloop/runtime/fabric.h"

namespace lightloop::runtime {

MemoryRegion::MemoryRegion(FidPtr<fid_mr> mr, void* addr, size_t len)
    : mr_(std::move(mr)), addr_(addr), len_(len) {}

StatusOr<Fabric> Fabric::Open(const fi_info* info) {
  fid_fabric* raw = nullptr;
  int ret = fi_fabric(info->fabric_attr, &raw, nullptr);
  if (ret) return Status::FromFabric(ret, "fi_fabric");
  Fabric f;
  f.fabric_.reset(raw);
  return f;
}

StatusOr<Domain> Domain::Open(const Fabric& fabric, fi_info* info) {
  fid_domain* raw = nullptr;
  int ret = fi_domain(fabric.get(), info, &raw, nullptr);
  if (ret) return Status::FromFabric(ret, "fi_domain");
  Domain d;
  d.domain_.reset(raw);
  return d;
}

StatusOr<CompletionQueue> CompletionQueue::Open(const Domain& domain, size_t size, bool wait) {
  fi_cq_attr attr{};
  attr.size = size;
  attr.format = FI_CQ_FORMAT_CONTEXT;
  attr.wait_obj = wait ? FI_WAIT_FD : FI_WAIT_NONE;  // a real fd, not a yield loop
  fid_cq* raw = nullptr;
  int ret = fi_cq_open(domain.get(), &attr, &raw, nullptr);
  if (ret && wait) {
    attr.wait_obj = FI_WAIT_NONE;  // provider without wait objects: the caller polls
    wait = false;
    ret = fi_cq_open(domain.get(), &attr, &raw, nullptr);
  }
  if (ret) return Status::FromFabric(ret, "fi_cq_open");
  CompletionQueue cq;
  cq.cq_.reset(raw);
  cq.can_wait_ = wait;
  return cq;
}

StatusOr<fi_cq_err_entry> CompletionQueue::ReadError() {
  fi_cq_err_entry entry{};
  ssize_t ret = fi_cq_readerr(cq_.get(), &entry, 0);
  if (ret < 0) return Status::FromFabric(static_cast<int>(ret), "fi_cq_readerr");
  return entry;
}

std::string CompletionQueue::ErrorText(const fi_cq_err_entry& entry) {
  const char* text = fi_cq_strerror(cq_.get(), entry.prov_errno, entry.err_data, nullptr, 0);
  return text != nullptr ? text : "";
}

StatusOr<AddressVector> AddressVector::Open(const Domain& domain, const fi_info* info) {
  fi_av_attr attr{};
  attr.type = info->domain_attr->av_type != FI_AV_UNSPEC ? info->domain_attr->av_type : FI_AV_TABLE;
  fid_av* raw = nullptr;
  int ret = fi_av_open(domain.get(), &attr, &raw, nullptr);
  if (ret) return Status::FromFabric(ret, "fi_av_open");
  AddressVector av;
  av.av_.reset(raw);
  return av;
}

StatusOr<fi_addr_t> AddressVector::Insert(const std::string& address) {
  fi_addr_t addr = FI_ADDR_UNSPEC;
  int ret = fi_av_insert(av_.get(), address.data(), 1, &addr, 0, nullptr);
  if (ret < 0) return Status::FromFabric(ret, "fi_av_insert");
  if (ret != 1) return InvalidArgument("fi_av_insert: the peer address was not accepted");
  return addr;
}

StatusOr<Endpoint> Endpoint::Open(const Domain& domain, fi_info* info) {
  fid_ep* raw = nullptr;
  int ret = fi_endpoint(domain.get(), info, &raw, nullptr);
  if (ret) return Status::FromFabric(ret, "fi_endpoint");
  Endpoint ep;
  ep.ep_.reset(raw);
  return ep;
}

Status Endpoint::Bind(fid* object, uint64_t flags) {
  int ret = fi_ep_bind(ep_.get(), object, flags);
  return ret ? Status::FromFabric(ret, "fi_ep_bind") : Status::Ok();
}

Status Endpoint::Enable() {
  int ret = fi_enable(ep_.get());
  return ret ? Status::FromFabric(ret, "fi_enable") : Status::Ok();
}

StatusOr<std::string> Endpoint::Name() const {
  size_t len = 0;
  int ret = fi_getname(&ep_->fid, nullptr, &len);
  if (ret != -FI_ETOOSMALL && ret != 0) return Status::FromFabric(ret, "fi_getname");
  std::string name(len, '\0');
  ret = fi_getname(&ep_->fid, name.data(), &len);
  if (ret) return Status::FromFabric(ret, "fi_getname");
  name.resize(len);
  return name;
}

StatusOr<std::unique_ptr<FabricDomain>> FabricDomain::Open(InfoPtr info) {
  if (info->domain_attr->mr_mode & FI_MR_RAW) {
    return Unimplemented("provider " + std::string(info->fabric_attr->prov_name) +
                         " needs FI_MR_RAW keys, which lightloop does not support");
  }
  if (CoreProviderName(info->fabric_attr->prov_name) == "shm") (void)ClearStaleShmRegions();
  std::unique_ptr<FabricDomain> d(new FabricDomain());
  d->info_ = std::move(info);
  d->keygen_.seed(std::random_device{}());
  LL_ASSIGN_OR_RETURN(d->fabric_, Fabric::Open(d->info_.get()));
  LL_ASSIGN_OR_RETURN(d->domain_, Domain::Open(d->fabric_, d->info_.get()));
  d->clock_ = Clock::ForDomain(d->domain_.get());
  return d;
}

StatusOr<MemoryRegion> FabricDomain::RegisterMemory(void* addr, size_t len, uint64_t access,
                                                    const RdmEndpoint* endpoint) {
  constexpr int kKeyAttempts = 8;
  if ((mr_mode() & FI_MR_ENDPOINT) && endpoint == nullptr) {
    return FailedPrecondition("provider " + provider_name() +
                              " binds memory to an endpoint (FI_MR_ENDPOINT)");
  }
  const fi_domain_attr* dom = info_->domain_attr;
  Status last;
  for (int attempt = 0; attempt < kKeyAttempts; ++attempt) {
    uint64_t key = 0;
    if (!(dom->mr_mode & FI_MR_PROV_KEY)) {
      std::lock_guard lock(key_mu_);
      key = keygen_();
      if (dom->mr_key_size < sizeof(uint64_t)) key &= (uint64_t{1} << (8 * dom->mr_key_size)) - 1;
    }
    auto mr = RegisterWithKey(addr, len, access, key, endpoint);
    if (mr.ok() || mr.status().fi_errno() != FI_ENOKEY) return mr;
    last = mr.status();  // that key is taken: draw another
  }
  return last;
}

StatusOr<MemoryRegion> FabricDomain::RegisterWithKey(void* addr, size_t len, uint64_t access, uint64_t key,
                                                     const RdmEndpoint* endpoint) {
  fid_mr* raw = nullptr;
  int ret = fi_mr_reg(domain_.get(), addr, len, access, 0, key, 0, &raw, nullptr);
  if (ret) return Status::FromFabric(ret, "fi_mr_reg");
  FidPtr<fid_mr> mr(raw);
  if (mr_mode() & FI_MR_ENDPOINT) {
    ret = fi_mr_bind(raw, &endpoint->ep()->fid, 0);
    if (ret) return Status::FromFabric(ret, "fi_mr_bind");
    ret = fi_mr_enable(raw);
    if (ret) return Status::FromFabric(ret, "fi_mr_enable");
  }
  return MemoryRegion(std::move(mr), addr, len);
}

uint64_t FabricDomain::RemoteAddress(const MemoryRegion& mr, uint64_t offset) const {
  if (mr_mode() & FI_MR_VIRT_ADDR) return reinterpret_cast<uint64_t>(mr.addr()) + offset;
  return offset;
}

StatusOr<std::unique_ptr<RdmEndpoint>> RdmEndpoint::Open(FabricDomain& domain, const Options& options) {
  std::unique_ptr<RdmEndpoint> rdm(new RdmEndpoint());
  LL_ASSIGN_OR_RETURN(rdm->cq_, CompletionQueue::Open(domain.domain(), options.cq_size, options.cq_wait));
  LL_ASSIGN_OR_RETURN(rdm->av_, AddressVector::Open(domain.domain(), domain.info()));
  LL_ASSIGN_OR_RETURN(rdm->ep_, Endpoint::Open(domain.domain(), domain.mutable_info()));
  LL_RETURN_IF_ERROR(rdm->ep_.Bind(&rdm->av_.get()->fid, 0));
  LL_RETURN_IF_ERROR(rdm->ep_.Bind(&rdm->cq_.get()->fid, FI_TRANSMIT | FI_RECV));
  LL_RETURN_IF_ERROR(rdm->ep_.Enable());
  LL_ASSIGN_OR_RETURN(rdm->address_, rdm->ep_.Name());
  return rdm;
}

}  // namespace lightloop::runtime
