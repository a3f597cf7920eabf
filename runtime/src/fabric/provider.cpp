// SPDX-License-Identifier: Apache-2.0
// Provider discovery: hints for FI_EP_RDM with RMA, and a useful error when
// the named provider is missing or cannot do it.
#include <rdma/fi_errno.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "lightloop/runtime/fabric.h"

namespace lightloop::runtime {

void NoteFabricStarted();  // shm_copy.cpp

namespace {

constexpr uint64_t kCaps = FI_RMA | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
// The MR modes lightloop knows how to honour; the provider picks among them.
constexpr uint64_t kMrModes =
    FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY | FI_MR_ENDPOINT | FI_MR_MMU_NOTIFY;
constexpr uint32_t kApiVersion = FI_VERSION(1, 17);

InfoPtr MakeHints(const ProviderQuery& query) {
  InfoPtr hints(fi_allocinfo());
  hints->caps = kCaps;
  // A write completes once it is in the target's memory, not when it left:
  // an access the target refuses (bad key, out of bounds) then fails here.
  hints->tx_attr->op_flags = FI_DELIVERY_COMPLETE;
  hints->mode = FI_CONTEXT | FI_CONTEXT2;
  hints->ep_attr->type = FI_EP_RDM;
  hints->domain_attr->mr_mode = kMrModes;
  hints->domain_attr->threading = query.thread_safe ? FI_THREAD_SAFE : FI_THREAD_DOMAIN;
  hints->addr_format = query.addr_format;
  if (!query.provider.empty()) hints->fabric_attr->prov_name = strdup(query.provider.c_str());
  return hints;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

// Every fi_getinfo here first notes that libfabric has started: settings read
// from the environment at its start (FI_SHM_DISABLE_CMA) are fixed from then.
int GetInfo(const char* node, const char* service, uint64_t flags, fi_info* hints, fi_info** list) {
  NoteFabricStarted();
  return fi_getinfo(kApiVersion, node, service, flags, hints, list);
}

bool NamesShm(const ProviderQuery& query) {
  const char* env = std::getenv("FI_PROVIDER");
  std::string name = !query.provider.empty() ? query.provider : env != nullptr ? env : "";
  return CoreProviderName(name) == "shm";
}

}  // namespace

std::string CoreProviderName(const std::string& prov_name) {
  return prov_name.substr(0, prov_name.find(';'));
}

std::vector<std::string> AvailableProviders() {
  InfoPtr hints = MakeHints({});
  fi_info* list = nullptr;
  std::vector<std::string> names;
  if (GetInfo(nullptr, nullptr, 0, hints.get(), &list) != 0) return names;
  InfoPtr owner(list);
  for (fi_info* cur = list; cur != nullptr; cur = cur->next) {
    std::string name = CoreProviderName(cur->fabric_attr->prov_name);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

StatusOr<InfoPtr> FindProvider(const ProviderQuery& query) {
  InfoPtr hints = MakeHints(query);
  fi_info* list = nullptr;
  const char* node = query.node.empty() ? nullptr : query.node.c_str();
  const char* service = query.service.empty() ? nullptr : query.service.c_str();
  if (NamesShm(query)) {
    (void)ChooseShmCopy();
    (void)ClearStaleShmRegions();
  }
  int ret = GetInfo(node, service, query.source ? FI_SOURCE : 0, hints.get(), &list);
  if (ret == -FI_ENODATA || (ret == 0 && list == nullptr)) {
    const char* env = std::getenv("FI_PROVIDER");
    std::string wanted = query.provider.empty() ? "any provider" : "provider '" + query.provider + "'";
    std::string filter = env != nullptr ? std::string(" (FI_PROVIDER=") + env + " filters the list)" : "";
    return NotFound("no libfabric " + wanted + " offers FI_EP_RDM with RMA" +
                    (node ? std::string(" at ") + node : "") + filter +
                    "; available here: " + JoinNames(AvailableProviders()));
  }
  if (ret != 0) return Status::FromFabric(ret, "fi_getinfo");
  InfoPtr owner(list);
  // Keep the first match only.
  InfoPtr first(fi_dupinfo(list));
  if (!first) return ResourceExhausted("fi_dupinfo failed");
  return first;
}

std::string MrModeString(uint64_t mr_mode) {
  static constexpr std::pair<uint64_t, const char*> kBits[] = {
      {FI_MR_LOCAL, "FI_MR_LOCAL"},         {FI_MR_RAW, "FI_MR_RAW"},
      {FI_MR_VIRT_ADDR, "FI_MR_VIRT_ADDR"}, {FI_MR_ALLOCATED, "FI_MR_ALLOCATED"},
      {FI_MR_PROV_KEY, "FI_MR_PROV_KEY"},   {FI_MR_MMU_NOTIFY, "FI_MR_MMU_NOTIFY"},
      {FI_MR_RMA_EVENT, "FI_MR_RMA_EVENT"}, {FI_MR_ENDPOINT, "FI_MR_ENDPOINT"},
      {FI_MR_HMEM, "FI_MR_HMEM"},
  };
  std::string out;
  for (const auto& [bit, name] : kBits) {
    if (mr_mode & bit) out += (out.empty() ? "" : "|") + std::string(name);
  }
  return out.empty() ? "none" : out;
}

}  // namespace lightloop::runtime
