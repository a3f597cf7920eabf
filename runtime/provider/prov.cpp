// SPDX-License-Identifier: Apache-2.0
// The provider's entry point (fi_prov_ini), its parameter and fi_getinfo:
// one fi_info, FI_EP_RDM with FI_MSG and FI_RMA, narrowed by the hints;
// anything the hints ask for that the provider cannot do gives -FI_ENODATA.
#include <rdma/providers/fi_log.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "lightloop/rtl_bridge/tlm/rtl_link.h"
#include "lightloop/runtime/fabricd.h"
#include "lightloop_fi.h"

#ifndef LIGHTLOOP_DEFAULT_NODE_CONFIG
#error "LIGHTLOOP_DEFAULT_NODE_CONFIG must name the default node preset"
#endif

namespace lightloop::fi {
namespace {

constexpr uint64_t kTxOpFlags =
    FI_COMPLETION | FI_INJECT_COMPLETE | FI_TRANSMIT_COMPLETE | FI_DELIVERY_COMPLETE;
constexpr uint64_t kRxOpFlags = FI_COMPLETION;
constexpr uint64_t kMsgOrder = FI_ORDER_SAS;

void Cleanup() {}

// The fi_info the provider offers before any hint narrows it.
fi_info* BaseInfo() {
  fi_info* info = fi_allocinfo();
  if (info == nullptr) return nullptr;
  info->caps = kCaps;
  info->addr_format = FI_ADDR_STR;
  info->ep_attr->type = FI_EP_RDM;
  info->ep_attr->protocol = FI_PROTO_UNSPEC;
  info->ep_attr->max_msg_size = kMaxMsgSize;
  info->ep_attr->tx_ctx_cnt = 1;
  info->ep_attr->rx_ctx_cnt = 1;
  info->tx_attr->caps = kCaps;
  info->tx_attr->msg_order = kMsgOrder;
  info->tx_attr->inject_size = kInjectSize;
  info->tx_attr->size = kQueueSize;
  info->tx_attr->iov_limit = kIovLimit;
  info->tx_attr->rma_iov_limit = kIovLimit;
  info->rx_attr->caps = kCaps;
  info->rx_attr->msg_order = kMsgOrder;
  info->rx_attr->size = kQueueSize;
  info->rx_attr->iov_limit = kIovLimit;
  fi_domain_attr* d = info->domain_attr;
  d->name = strdup(kDomainName);
  d->threading = FI_THREAD_SAFE;
  d->control_progress = FI_PROGRESS_MANUAL;
  d->data_progress = FI_PROGRESS_MANUAL;
  d->resource_mgmt = FI_RM_ENABLED;
  d->av_type = FI_AV_UNSPEC;
  d->mr_mode = kMrModes;
  d->mr_key_size = sizeof(uint64_t);
  d->cq_data_size = sizeof(uint64_t);
  d->cq_cnt = 1024;
  d->ep_cnt = 1024;
  d->tx_ctx_cnt = d->rx_ctx_cnt = 1;
  d->max_ep_tx_ctx = d->max_ep_rx_ctx = 1;
  d->mr_iov_limit = 1;
  d->mr_cnt = 1 << 16;
  d->caps = FI_LOCAL_COMM;
  info->fabric_attr->name = strdup(kFabricName);
  info->fabric_attr->prov_version = kProviderVersion;
  return info;
}

bool NameMismatch(const char* wanted, const char* ours) {
  return wanted != nullptr && std::strcmp(wanted, ours) != 0;
}

// The MR modes to work in, or -1 if the application's cannot be met. The
// provider needs none, so any set works; it keeps the ones it can use.
int64_t NegotiateMrMode(const fi_domain_attr* hints) {
  if (hints == nullptr) return static_cast<int64_t>(kMrModes);
  if (hints->mr_mode == FI_MR_BASIC) return static_cast<int64_t>(kMrModes);
  if (hints->mr_mode == FI_MR_SCALABLE || hints->mr_mode == FI_MR_UNSPEC) return 0;
  return static_cast<int64_t>(hints->mr_mode & kMrModes);
}

bool DomainFits(const fi_domain_attr* h) {
  if (h == nullptr) return true;
  if (NameMismatch(h->name, kDomainName)) return false;
  if (h->control_progress == FI_PROGRESS_AUTO || h->data_progress == FI_PROGRESS_AUTO) return false;
  if (h->av_type != FI_AV_UNSPEC && h->av_type != FI_AV_TABLE && h->av_type != FI_AV_MAP) return false;
  if (h->caps & ~uint64_t{FI_LOCAL_COMM}) return false;
  if (h->cq_data_size > sizeof(uint64_t) || h->mr_key_size > sizeof(uint64_t)) return false;
  return true;
}

bool HintsFit(const fi_info* h) {
  if (h->caps & ~kCaps) return false;  // FI_TAGGED, FI_ATOMIC, FI_REMOTE_COMM, ...
  if (h->addr_format != FI_FORMAT_UNSPEC && h->addr_format != FI_ADDR_STR) return false;
  if (h->ep_attr != nullptr) {
    if (h->ep_attr->type != FI_EP_UNSPEC && h->ep_attr->type != FI_EP_RDM) return false;
    if (h->ep_attr->max_msg_size > kMaxMsgSize) return false;
  }
  if (h->tx_attr != nullptr) {
    if (h->tx_attr->caps & ~kCaps) return false;
    if (h->tx_attr->op_flags & ~kTxOpFlags) return false;
    if (h->tx_attr->inject_size > kInjectSize) return false;
    if (h->tx_attr->msg_order & ~kMsgOrder) return false;
  }
  if (h->rx_attr != nullptr) {
    if (h->rx_attr->caps & ~kCaps) return false;
    if (h->rx_attr->op_flags & ~kRxOpFlags) return false;
    if (h->rx_attr->msg_order & ~kMsgOrder) return false;
  }
  if (h->fabric_attr != nullptr && NameMismatch(h->fabric_attr->name, kFabricName)) return false;
  return DomainFits(h->domain_attr);
}

// Copies what the application asked for into the offer: caps it named (or
// all), its op flags, threading level and AV type.
void Narrow(fi_info* info, const fi_info* h, uint64_t mr_mode) {
  info->domain_attr->mr_mode = mr_mode;
  if (h == nullptr) return;
  if (h->caps != 0) info->caps = info->tx_attr->caps = info->rx_attr->caps = h->caps | FI_LOCAL_COMM;
  if (h->tx_attr != nullptr) info->tx_attr->op_flags = h->tx_attr->op_flags;
  if (h->rx_attr != nullptr) info->rx_attr->op_flags = h->rx_attr->op_flags;
  if (const fi_domain_attr* d = h->domain_attr) {
    if (d->threading != FI_THREAD_UNSPEC) info->domain_attr->threading = d->threading;
    if (d->av_type != FI_AV_UNSPEC) info->domain_attr->av_type = d->av_type;
    if (d->resource_mgmt != FI_RM_UNSPEC) info->domain_attr->resource_mgmt = d->resource_mgmt;
  }
}

int GetInfo(uint32_t version, const char* node, const char* service, uint64_t flags, const fi_info* hints,
            fi_info** info) {
  (void)node, (void)service, (void)flags;  // one in-process fabric: every name reaches it
  *info = nullptr;
  if (FI_VERSION_LT(version, FI_VERSION(1, 5))) return -FI_ENODATA;
  if (hints != nullptr && !HintsFit(hints)) return -FI_ENODATA;
  int64_t mr_mode = NegotiateMrMode(hints ? hints->domain_attr : nullptr);
  if (Sim::Get() == nullptr) return -FI_ENODATA;  // the configuration did not load (logged)
  fi_info* out = BaseInfo();
  if (out == nullptr) return -FI_ENOMEM;
  Narrow(out, hints, static_cast<uint64_t>(mr_mode));
  *info = out;
  return 0;
}

}  // namespace

fi_provider gProvider = {
    .version = kProviderVersion,
    .fi_version = kApiVersion,
    .context = {},
    .name = "lightloop",
    .getinfo = GetInfo,
    .fabric = FabricOpen,
    .cleanup = Cleanup,
};

namespace {

// A provider parameter's value, or `fallback` when it is unset or empty.
std::string StrParam(const char* name, const char* fallback) {
  char* value = nullptr;
  if (fi_param_get_str(&gProvider, name, &value) == FI_SUCCESS && value != nullptr && *value != '\0') {
    return value;
  }
  return fallback;
}

// A parameter that must be a positive number (all of its text), or
// `fallback` when it is unset or is not one.
double PositiveParam(const char* name, double fallback) {
  std::string v = StrParam(name, "");
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  return end != v.c_str() && *end == '\0' && d > 0 ? d : fallback;
}

}  // namespace

std::string NodeConfigPath() {
  return StrParam("config", LIGHTLOOP_DEFAULT_NODE_CONFIG);
}

std::string FabricParam() {
  return StrParam("fabric", "auto");
}

std::string TimingParam() {
  return StrParam("timing", "tlm");
}

std::string TimeParam() {
  return StrParam("time", "");
}

double DilationParam() {
  return PositiveParam("dilation", 1000.0);
}

std::string FabricdSocket() {
  return StrParam("fabricd_socket", runtime::DefaultFabricdSocket().c_str());
}

int64_t ProcsParam() {
  const double n = PositiveParam("procs", 0);
  return n <= 1e6 && n == std::floor(n) ? static_cast<int64_t>(n) : 0;  // a whole number of processes
}

double ProcsTimeoutParam() {
  return PositiveParam("procs_timeout", 30.0);
}

std::string FabricdProgram() {
  return StrParam("fabricd", "");
}

std::string BoardSpec() {
  return StrParam("board", "");
}

}  // namespace lightloop::fi

extern "C" {

FI_EXT_INI {
  lightloop::rtl_bridge::RegisterRtlLink();  // node files may name `impl: rtl` links
  // Every parameter is a string (FI_LIGHTLOOP_<NAME>); `fi_info -e` lists them with these texts.
  const std::pair<const char*, std::string> params[] = {
      {"config", std::string("hw_models node file (YAML) the simulated fabric is built from (default: ") +
                     LIGHTLOOP_DEFAULT_NODE_CONFIG + ")"},
      {"board",
       "fpga backend: the board whose memory holds every remotely accessible region and whose DMA engine "
       "moves RMA data (virtual[,memory=<file>], pcie:<BAR file>[,dma=...]; default: none, the node "
       "model's memory)"},
      {"fabric",
       "where the simulated fabric runs: process (this process only), shared (every process through the "
       "fabric daemon, lightloop fabricd, started on demand) or auto (default: in-process for programs "
       "that open the lightloop clock ops, shared for any other)"},
      {"timing",
       "where transfer times come from: tlm (default: the node's SystemC TLM-2.0 link, switch and memory "
       "modules) or closed_form (the models' closed forms, each endpoint on a link of its own)"},
      {"time",
       "shared fabric's time: virtual (deterministic, moves when processes wait or advance) or paced "
       "(follows the wall clock slowed by FI_LIGHTLOOP_DILATION); default: virtual for programs that open "
       "the clock ops, paced for any other"},
      {"procs",
       "shared fabric, virtual time: how many processes take part (a memnode and its clients); the daemon "
       "this process starts holds time at 0 until all have joined, so that runs with several clients are "
       "deterministic (default 0: no wait)"},
      {"procs_timeout",
       "with FI_LIGHTLOOP_PROCS: seconds after the first process joined by which all must have (default "
       "30); then every process's operations fail with the reason"},
      {"dilation", "paced time: wall seconds per simulated second (default 1000)"},
      {"fabricd_socket",
       "the fabric daemon's socket (default: " + lightloop::runtime::DefaultFabricdSocket() + ")"},
      {"fabricd", "the program that runs the fabric daemon (default: ../bin/lightloop beside this library)"},
  };
  for (const auto& [name, doc] : params) {
    fi_param_define(&lightloop::fi::gProvider, name, FI_PARAM_STRING, "%s", doc.c_str());
  }
  return &lightloop::fi::gProvider;
}

// libsystemc, which hw_models links, refers to sc_main from its own main();
// a program that loads this provider has none. The provider drives its
// SystemC models with sc_start from its own calls (timing_tlm.cpp), never
// through libsystemc's main(), so this one only satisfies the loader.
__attribute__((weak, visibility("default"))) int sc_main(int, char**) {
  return 1;
}

}  // extern "C"
