// SPDX-License-Identifier: Apache-2.0
// RAII wrappers over the libfabric objects lightloop uses: fabric, domain,
// completion queue, address vector, FI_EP_RDM endpoint and memory region.
// Every failure comes back as a Status that names the libfabric call.
//
//   LL_ASSIGN_OR_RETURN(InfoPtr info, FindProvider({.provider = "tcp"}));
//   LL_ASSIGN_OR_RETURN(auto domain, FabricDomain::Open(std::move(info)));
//   LL_ASSIGN_OR_RETURN(auto ep, RdmEndpoint::Open(*domain, {}));
//   LL_ASSIGN_OR_RETURN(MemoryRegion mr,
//                       domain->RegisterMemory(buf, len, FI_REMOTE_READ | FI_REMOTE_WRITE));
//   LL_ASSIGN_OR_RETURN(fi_addr_t peer, ep->InsertPeer(peer_name));
//   fi_write(ep->ep(), buf, len, mr.desc(), peer, raddr, key, &ctx);
//
// The MR mode bits the provider asks for (FI_MR_LOCAL, FI_MR_VIRT_ADDR,
// FI_MR_PROV_KEY, FI_MR_ALLOCATED, FI_MR_ENDPOINT) are read from the fi_info
// that the provider returned; callers ask FabricDomain rather than assume.
#pragma once

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <sys/types.h>

#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "lightloop/runtime/clock.h"
#include "lightloop/runtime/status.h"

namespace lightloop::runtime {

struct InfoDeleter {
  void operator()(fi_info* info) const { fi_freeinfo(info); }
};
using InfoPtr = std::unique_ptr<fi_info, InfoDeleter>;

template <typename T>
struct FidCloser {
  void operator()(T* obj) const {
    if (obj != nullptr) fi_close(&obj->fid);
  }
};
template <typename T>
using FidPtr = std::unique_ptr<T, FidCloser<T>>;

// What to ask libfabric for. The capabilities are always FI_EP_RDM with RMA.
struct ProviderQuery {
  std::string provider;  // "tcp", "shm", "verbs", ...; empty: FI_PROVIDER or libfabric's first
  std::string node;      // with `source`: the local address to bind; else a peer to reach
  std::string service;
  bool source = false;
  uint32_t addr_format = FI_FORMAT_UNSPEC;
  bool thread_safe = false;  // FI_THREAD_SAFE instead of FI_THREAD_DOMAIN
};

// The first fi_info matching `query`. An unknown or unsuitable provider gives
// NOT_FOUND with the list of providers that do offer FI_EP_RDM with RMA here.
StatusOr<InfoPtr> FindProvider(const ProviderQuery& query);
// Core provider names (e.g. "shm", "tcp") offering FI_EP_RDM with RMA.
std::vector<std::string> AvailableProviders();
// "tcp;ofi_rxm" -> "tcp".
std::string CoreProviderName(const std::string& prov_name);
// The MR mode bits as text, e.g. "FI_MR_LOCAL|FI_MR_VIRT_ADDR" ("none" if 0).
std::string MrModeString(uint64_t mr_mode);

// How the shm provider moves large transfers in this process: CMA (the peer
// copies across address spaces with process_vm_readv/writev) or SAR (both
// sides copy through shared bounce buffers; FI_SHM_DISABLE_CMA=1). Decided
// once, before libfabric starts: FindProvider asks when the query names shm.
// A user's FI_SHM_DISABLE_CMA is kept; otherwise a probe of about 50 ms
// times a 1 MiB process_vm_readv against memcpy and turns CMA off when it is
// the slower by more than half (PreferSar). See docs/nic-target.md.
struct ShmCopyChoice {
  bool cma = true;         // false: FI_SHM_DISABLE_CMA is on (SAR)
  bool probed = false;     // the figures below were measured
  double cma_gbps = 0;     // probe: process_vm_readv of 1 MiB blocks
  double memcpy_gbps = 0;  // probe: memcpy of the same blocks
  std::string why;         // one line for logs and benchmark reports
};
const ShmCopyChoice& ChooseShmCopy();
// The probe's rule: SAR when CMA moves less than half of what memcpy does.
bool PreferSar(double cma_gbps, double memcpy_gbps);

// The shm provider names an endpoint's shared memory "<pid>:<uid>:<index>"
// and a killed process leaves those objects behind; a later process given
// the same pid then fails fi_enable with EBUSY. RemoveShmRegionsOf unlinks
// a pid's objects (call it only while that pid cannot be reused: for a
// zombie child before it is reaped); ClearStaleShmRegions does so for this
// process's own pid, once, before its first shm endpoint (FindProvider and
// FabricDomain::Open call it). Both return how many they removed.
size_t RemoveShmRegionsOf(pid_t pid);
size_t ClearStaleShmRegions();
// For a parent about to reap child `pid`: once the child has exited (waiting
// for that when `block`) and while it is a zombie, removes its objects.
// The caller reaps it afterwards, as before. Returns how many it removed.
size_t RemoveShmRegionsOfExitedChild(pid_t pid, bool block);

// One registration. Movable, closes on destruction.
class MemoryRegion {
 public:
  MemoryRegion() = default;
  MemoryRegion(FidPtr<fid_mr> mr, void* addr, size_t len);
  uint64_t key() const { return fi_mr_key(mr_.get()); }
  void* desc() const { return mr_ ? fi_mr_desc(mr_.get()) : nullptr; }
  void* addr() const { return addr_; }
  size_t length() const { return len_; }
  explicit operator bool() const { return mr_ != nullptr; }

 private:
  FidPtr<fid_mr> mr_;
  void* addr_ = nullptr;
  size_t len_ = 0;
};

class Fabric {
 public:
  static StatusOr<Fabric> Open(const fi_info* info);
  fid_fabric* get() const { return fabric_.get(); }

 private:
  FidPtr<fid_fabric> fabric_;
};

class Domain {
 public:
  static StatusOr<Domain> Open(const Fabric& fabric, fi_info* info);
  fid_domain* get() const { return domain_.get(); }

 private:
  FidPtr<fid_domain> domain_;
};

class CompletionQueue {
 public:
  // `wait`: ask for a wait fd so SRead can block; falls back to none.
  static StatusOr<CompletionQueue> Open(const Domain& domain, size_t size, bool wait);
  fid_cq* get() const { return cq_.get(); }
  bool can_wait() const { return can_wait_; }
  // Up to `count` entries; returns how many, 0 when none (-FI_EAVAIL: see ReadError).
  ssize_t Read(fi_cq_entry* entries, size_t count) { return fi_cq_read(cq_.get(), entries, count); }
  ssize_t SRead(fi_cq_entry* entries, size_t count, int timeout_ms) {
    return fi_cq_sread(cq_.get(), entries, count, nullptr, timeout_ms);
  }
  // The next error entry; its op_context says which operation failed.
  StatusOr<fi_cq_err_entry> ReadError();
  std::string ErrorText(const fi_cq_err_entry& entry);

 private:
  FidPtr<fid_cq> cq_;
  bool can_wait_ = false;
};

class AddressVector {
 public:
  static StatusOr<AddressVector> Open(const Domain& domain, const fi_info* info);
  fid_av* get() const { return av_.get(); }
  StatusOr<fi_addr_t> Insert(const std::string& address);

 private:
  FidPtr<fid_av> av_;
};

class Endpoint {
 public:
  static StatusOr<Endpoint> Open(const Domain& domain, fi_info* info);
  fid_ep* get() const { return ep_.get(); }
  Status Bind(fid* object, uint64_t flags);
  Status Enable();
  StatusOr<std::string> Name() const;

 private:
  FidPtr<fid_ep> ep_;
};

class RdmEndpoint;

// The fabric and domain opened from one fi_info: what endpoints share, and
// where memory is registered. Endpoints and memory regions it hands out must
// be destroyed before it.
class FabricDomain {
 public:
  static StatusOr<std::unique_ptr<FabricDomain>> Open(InfoPtr info);

  const fi_info* info() const { return info_.get(); }
  fi_info* mutable_info() { return info_.get(); }
  const Domain& domain() const { return domain_; }
  uint64_t mr_mode() const { return info_->domain_attr->mr_mode; }
  size_t max_msg_size() const { return info_->ep_attr->max_msg_size; }
  std::string provider_name() const { return info_->fabric_attr->prov_name; }
  // The provider's virtual clock if it publishes one (the sim target), the
  // wall clock otherwise; see clock.h.
  const Clock& clock() const { return clock_; }

  // Registers [addr, addr+len). Unless the provider chooses keys
  // (FI_MR_PROV_KEY), the key is drawn at random, so that a peer cannot guess
  // another region's key. Under FI_MR_ENDPOINT the region is bound to
  // `endpoint` (required then) and enabled.
  StatusOr<MemoryRegion> RegisterMemory(void* addr, size_t len, uint64_t access,
                                        const RdmEndpoint* endpoint = nullptr);
  // The address a peer uses for byte `offset` of `mr`: the virtual address
  // under FI_MR_VIRT_ADDR, the offset from the region's start otherwise.
  uint64_t RemoteAddress(const MemoryRegion& mr, uint64_t offset) const;

 private:
  FabricDomain() = default;
  StatusOr<MemoryRegion> RegisterWithKey(void* addr, size_t len, uint64_t access, uint64_t key,
                                         const RdmEndpoint* endpoint);

  InfoPtr info_;
  Fabric fabric_;
  Domain domain_;
  Clock clock_;
  std::mutex key_mu_;
  std::mt19937_64 keygen_;  // guarded by key_mu_
};

// One FI_EP_RDM endpoint with its own completion queue and address vector,
// on a FabricDomain that outlives it.
class RdmEndpoint {
 public:
  struct Options {
    size_t cq_size = 1024;
    bool cq_wait = false;
  };
  static StatusOr<std::unique_ptr<RdmEndpoint>> Open(FabricDomain& domain, const Options& options);

  fid_ep* ep() const { return ep_.get(); }
  CompletionQueue& cq() { return cq_; }
  const std::string& address() const { return address_; }
  StatusOr<fi_addr_t> InsertPeer(const std::string& address) { return av_.Insert(address); }

 private:
  RdmEndpoint() = default;

  CompletionQueue cq_;
  AddressVector av_;
  Endpoint ep_;
  std::string address_;
};

}  // namespace lightloop::runtime
