// SPDX-License-Identifier: Apache-2.0
#include "lightloop/runtime/memnode.h"

#include <grpcpp/grpcpp.h>
#include <rdma/fi_errno.h>
#include <sys/mman.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <thread>

#include "lightloop/runtime/fabric.h"
#include "memnode/region_table.h"
#include "memnode/service.h"
#include "net_address.h"

namespace lightloop::runtime {

struct Memnode::Impl {
  MemnodeOptions options;
  HostPort bound;
  std::string control_address;
  std::unique_ptr<FabricDomain> domain;
  std::vector<std::unique_ptr<RdmEndpoint>> eps;
  char* pool = nullptr;
  std::unique_ptr<RegionTable> table;
  std::unique_ptr<MemnodeService> service;
  std::unique_ptr<grpc::Server> server;
  std::vector<std::thread> progress;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable stopped_cv;
  bool stopped = false;    // guarded by mu
  size_t running = 0;      // progress threads not yet returned; guarded by mu
  bool wedged = false;     // guarded by mu
  Status shutdown_status;  // guarded by mu

  ~Impl();
  Status OpenFabric();
  Status MapPool();
  Status StartServer();
  void ProgressLoop(const std::vector<RdmEndpoint*>& served);
  size_t ProgressThreads() const;
};

namespace {

// The data plane binds where the control plane listens when the provider
// addresses endpoints by IP (tcp, verbs); others (shm) would take the host
// as the endpoint's name, so they get no node.
StatusOr<InfoPtr> FindMemnodeProvider(const std::string& provider, const std::string& host) {
  ProviderQuery query{.provider = provider, .thread_safe = true};
  LL_ASSIGN_OR_RETURN(InfoPtr any, FindProvider(query));
  uint32_t format = any->addr_format;
  bool ip = format == FI_SOCKADDR || format == FI_SOCKADDR_IN || format == FI_SOCKADDR_IN6;
  if (!ip || host == "0.0.0.0" || host == "::") return any;
  query.node = host;
  query.source = true;
  query.provider = CoreProviderName(any->fabric_attr->prov_name);
  query.addr_format = format;
  return FindProvider(query);
}

// Endpoints when MemnodeOptions::endpoints is 0: 2, and on shm up to 8.
// Each shm endpoint brings its own shared-memory region (command queue,
// bounce buffers, the lock a client takes to post to it), and the more there
// are the less a client waits on one: on the 2-core CI guest 1 MiB reads ran
// at 0.80-0.92 of memcpy with 4 endpoints, 0.88-0.99 with 8 and 1.01-1.05
// with 16 (docs/nic-target.md). A region is 16 MiB of /dev/shm of which
// about 5 MiB gets touched, so shm takes no more endpoints than a sixteenth
// of the free /dev/shm pays for (a container's default 64 MiB: one).
constexpr size_t kDefaultEndpoints = 2;
constexpr size_t kMaxShmEndpoints = 8;
constexpr uint64_t kShmRegionBytes = 16ull << 20;

size_t ShmEndpoints() {
  struct statvfs fs {};
  if (statvfs("/dev/shm", &fs) != 0) return kDefaultEndpoints;
  uint64_t budget = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize / 16;
  return std::clamp<size_t>(budget / kShmRegionBytes, 1, kMaxShmEndpoints);
}

}  // namespace

Status Memnode::Impl::OpenFabric() {
  LL_ASSIGN_OR_RETURN(InfoPtr info, FindMemnodeProvider(options.provider, bound.host));
  LL_ASSIGN_OR_RETURN(domain, FabricDomain::Open(std::move(info)));
  size_t count = options.endpoints != 0                          ? options.endpoints
                 : CoreProviderName(domain->provider_name()) == "shm" ? ShmEndpoints()
                                                                      : kDefaultEndpoints;
  if (domain->mr_mode() & FI_MR_ENDPOINT) count = 1;
  for (size_t i = 0; i < count; ++i) {
    LL_ASSIGN_OR_RETURN(auto ep, RdmEndpoint::Open(*domain, {.cq_size = 1024, .cq_wait = true}));
    eps.push_back(std::move(ep));
  }
  return Status::Ok();
}

Status Memnode::Impl::MapPool() {
  if (options.capacity == 0) return InvalidArgument("capacity must be at least one byte");
  void* p = mmap(nullptr, options.capacity, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    return ResourceExhausted("cannot map a pool of " + std::to_string(options.capacity) +
                             " bytes: " + std::strerror(errno));
  }
  pool = static_cast<char*>(p);
  table = std::make_unique<RegionTable>(domain.get(), eps.front().get(), pool, options.capacity);
  return Status::Ok();
}

Status Memnode::Impl::StartServer() {
  MemnodeService::Identity id{domain->provider_name(), {}, domain->info()->addr_format, domain->mr_mode()};
  for (const auto& ep : eps) id.fabric_addresses.push_back(ep->address());
  service = std::make_unique<MemnodeService>(table.get(), std::move(id));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // a second memnode must not share the port
  builder.RegisterService(service.get());
  server = builder.BuildAndStart();
  if (!server || port == 0) {
    server.reset();
    std::string why = ProbeBind(bound);
    return Unavailable("cannot listen on " + options.listen + ": " +
                       (why.empty() ? "gRPC refused the address" : why) +
                       (bound.port != 0 ? " (is another memnode running on this port?)" : ""));
  }
  bound.port = port;
  control_address = (bound.host.find(':') != std::string::npos ? "[" + bound.host + "]" : bound.host) + ":" +
                    std::to_string(port);
  return Status::Ok();
}

// One-sided RMA needs no work from us, but providers with manual data
// progress (tcp;ofi_rxm, shm) only move bytes while someone drives the CQ.
// With a wait fd we block in fi_cq_sread; without one (shm) we poll, and
// since RMA at the target leaves no completion, a poll that took long is
// the sign of work: spin for a while after one, nap between polls otherwise.
// One thread may serve several endpoints (MemnodeOptions::progress_threads):
// it polls their CQs in turn and blocks on none of them.
void Memnode::Impl::ProgressLoop(const std::vector<RdmEndpoint*>& served) {
  using Clock = std::chrono::steady_clock;
  constexpr auto kWorkSign = std::chrono::nanoseconds(150);
  constexpr auto kSpinAfterWork = std::chrono::milliseconds(2);
  constexpr int kWaitMs = 100;
  fi_cq_entry entries[16];
  Clock::time_point last_work = Clock::now();
  // The lightloop provider moves a transfer's bytes when its initiator
  // drives its own CQ: the target has nothing to progress, only error
  // entries to drain now and then. Spinning would take a core from the
  // simulation.
  // The provider the domain runs on (options.provider may be empty and
  // FI_PROVIDER have chosen it).
  const bool target_progress = domain->provider_name() != "lightloop";
  const bool block = served.size() == 1 && served[0]->cq().can_wait();
  while (!stopping.load(std::memory_order_relaxed)) {
    bool worked = false;
    for (RdmEndpoint* ep : served) {
      CompletionQueue& cq = ep->cq();
      Clock::time_point t0 = Clock::now();
      ssize_t n = block ? cq.SRead(entries, 16, kWaitMs) : cq.Read(entries, 16);
      if (n == -FI_EAVAIL) (void)cq.ReadError();  // a failed remote access is the client's to report
      worked = worked || n != -FI_EAGAIN || Clock::now() - t0 >= kWorkSign;
    }
    if (!target_progress) {
      if (!worked) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (block) continue;
    Clock::time_point now = Clock::now();
    if (worked) {
      last_work = now;
    } else if (options.idle_poll.count() > 0 && now - last_work > kSpinAfterWork) {
      std::this_thread::sleep_for(options.idle_poll);
    } else {
      std::this_thread::yield();  // spinning, but a thread with work to do goes first
    }
  }
}

// MemnodeOptions::progress_threads, or when 0: a thread per endpoint where
// the CQ can block (tcp), since a blocked thread costs nothing; where it is
// polled (shm), one per four cores, at least one: a polled thread spins on
// its core while transfers run, and shm's clients share this host. On two
// cores a thread per endpoint left the client a third of its core.
size_t Memnode::Impl::ProgressThreads() const {
  if (options.progress_threads != 0) return options.progress_threads;
  if (eps.front()->cq().can_wait()) return eps.size();
  return std::max<size_t>(1, std::thread::hardware_concurrency() / 4);
}

Memnode::Impl::~Impl() {
  if (wedged) {  // see Shutdown: leave the provider's objects alone
    (void)table.release();
    (void)new std::vector<std::unique_ptr<RdmEndpoint>>(std::move(eps));
    (void)domain.release();
    return;
  }
  table.reset();  // registrations close before the endpoints, endpoints before the domain
  eps.clear();
  domain.reset();
  if (pool != nullptr) munmap(pool, options.capacity);
}

StatusOr<std::unique_ptr<Memnode>> Memnode::Start(const MemnodeOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  LL_ASSIGN_OR_RETURN(impl->bound, ParseHostPort(options.listen));
  if (impl->bound.port != 0) {  // a taken port is the likeliest mistake: say so first
    if (std::string why = ProbeBind(impl->bound); !why.empty()) {
      return Unavailable("cannot listen on " + options.listen + ": " + why +
                         " (is another memnode running on this port?)");
    }
  }
  LL_RETURN_IF_ERROR(impl->OpenFabric());
  LL_RETURN_IF_ERROR(impl->MapPool());
  LL_RETURN_IF_ERROR(impl->StartServer());
  Impl* raw = impl.get();
  const size_t threads = std::min(impl->ProgressThreads(), impl->eps.size());
  std::vector<std::vector<RdmEndpoint*>> served(threads);
  for (size_t i = 0; i < impl->eps.size(); ++i) served[i % threads].push_back(impl->eps[i].get());
  impl->running = threads;
  for (auto& eps : served) {
    impl->progress.emplace_back([raw, eps] {
      raw->ProgressLoop(eps);
      std::lock_guard lock(raw->mu);
      --raw->running;
      raw->stopped_cv.notify_all();
    });
  }
  return std::unique_ptr<Memnode>(new Memnode(std::move(impl)));
}

Memnode::Memnode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Memnode::~Memnode() {
  Shutdown();
}

const std::string& Memnode::control_address() const {
  return impl_->control_address;
}

std::string Memnode::provider() const {
  return impl_->domain->provider_name();
}

std::string Memnode::ReadyLine() const {
  return "memnode ready control=" + impl_->control_address + " provider=" + provider() +
         " capacity=" + std::to_string(impl_->options.capacity) +
         " endpoints=" + std::to_string(impl_->eps.size()) +
         " progress_threads=" + std::to_string(impl_->progress.size()) +
         " mr_mode=" + MrModeString(impl_->domain->mr_mode()) +
         (CoreProviderName(provider()) == "shm" ? std::string(" shm_copy=") + (ChooseShmCopy().cma ? "cma" : "sar")
                                                : "");
}

Status Memnode::Shutdown() {
  constexpr auto kProgressGrace = std::chrono::seconds(5);
  if (impl_->stopping.exchange(true)) {
    Wait();
    return impl_->shutdown_status;
  }
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  impl_->server->Wait();
  std::unique_lock lock(impl_->mu);
  bool done = impl_->stopped_cv.wait_for(lock, kProgressGrace, [this] { return impl_->running == 0; });
  for (std::thread& t : impl_->progress) done ? t.join() : t.detach();
  if (!done) {
    // A thread is stuck inside the provider: closing its objects under it
    // would crash, so they are left to the process's exit.
    impl_->wedged = true;
    impl_->shutdown_status = Internal(std::to_string(impl_->running) +
                                      " progress thread(s) did not leave the provider within 5 s; "
                                      "the data plane is wedged");
  }
  impl_->stopped = true;
  impl_->stopped_cv.notify_all();
  return impl_->shutdown_status;
}

void Memnode::Wait() {
  std::unique_lock lock(impl_->mu);
  impl_->stopped_cv.wait(lock, [this] { return impl_->stopped; });
}

}  // namespace lightloop::runtime
