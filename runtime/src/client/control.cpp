// SPDX-License-Identifier: Apache-2.0
// RemoteMemoryClient: connecting, and the control-plane calls.
#include <rdma/fi_errno.h>

#include "client/client_impl.h"
#include "grpc_status.h"
#include "net_address.h"

namespace lightloop::runtime {
namespace pb = lightloop::memnode::v1;
namespace {

RemoteRegion FromProto(const pb::Region& r) {
  return RemoteRegion{r.region_id(), r.length(), r.key(), r.remote_addr(), r.label()};
}

StatusOr<InfoPtr> FindClientProvider(const std::string& provider, const std::string& host,
                                     uint32_t addr_format) {
  ProviderQuery query{.provider = provider, .node = host, .addr_format = addr_format};
  auto info = FindProvider(query);
  if (info.ok()) return info;
  query.node.clear();  // providers that take no node (shm)
  return FindProvider(query);
}

}  // namespace

void RemoteMemoryClient::Impl::SetDeadline(grpc::ClientContext* ctx) const {
  ctx->set_deadline(std::chrono::system_clock::now() + options.rpc_timeout);
}

Status RemoteMemoryClient::Impl::Rpc(const grpc::Status& s, const std::string& rpc) const {
  return FromGrpc(s, rpc, options.memnode);
}

StatusOr<std::unique_ptr<RemoteMemoryClient>> RemoteMemoryClient::Connect(const Options& options) {
  if (options.depth == 0) return InvalidArgument("depth must be at least 1");
  LL_ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(options.memnode));
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (!options.provider.empty()) {  // an unknown provider is named before any network call
    LL_RETURN_IF_ERROR(FindProvider({.provider = options.provider}).status());
  }
  impl->channel = grpc::CreateChannel(options.memnode, grpc::InsecureChannelCredentials());
  if (!impl->channel->WaitForConnected(std::chrono::system_clock::now() + options.connect_timeout)) {
    return Unavailable("no memnode answers at " + options.memnode + " (waited " +
                       std::to_string(options.connect_timeout.count()) + " ms)");
  }
  impl->stub = pb::Memnode::NewStub(impl->channel);
  grpc::ClientContext ctx;
  impl->SetDeadline(&ctx);
  pb::HelloRequest req;
  req.set_tenant(options.tenant);
  pb::HelloReply hello;
  LL_RETURN_IF_ERROR(impl->Rpc(impl->stub->Hello(&ctx, req, &hello), "Hello"));

  std::string served = CoreProviderName(hello.provider());
  if (!options.provider.empty() && CoreProviderName(options.provider) != served) {
    return FailedPrecondition("memnode " + options.memnode + " serves its pool over '" + hello.provider() +
                              "', not '" + options.provider + "'");
  }
  LL_RETURN_IF_ERROR(impl->OpenDataPlane(hello, hp.host));
  impl->slots.resize(options.depth);
  impl->abandoned.assign(options.depth, false);
  for (size_t i = options.depth; i-- > 0;) impl->free_slots.push_back(i);
  impl->last_completion = WallClock::now();
  return std::unique_ptr<RemoteMemoryClient>(new RemoteMemoryClient(std::move(impl)));
}

Status RemoteMemoryClient::Impl::OpenDataPlane(const pb::HelloReply& hello, const std::string& host) {
  std::string served = CoreProviderName(hello.provider());
  LL_ASSIGN_OR_RETURN(InfoPtr info, FindClientProvider(served, host, hello.addr_format()));
  LL_ASSIGN_OR_RETURN(domain, FabricDomain::Open(std::move(info)));
  LL_ASSIGN_OR_RETURN(ep, RdmEndpoint::Open(*domain, {}));
  for (const std::string& address : hello.fabric_addresses()) {
    LL_ASSIGN_OR_RETURN(fi_addr_t peer, ep->InsertPeer(address));
    peers.push_back(peer);
  }
  if (peers.empty()) {
    LL_ASSIGN_OR_RETURN(fi_addr_t peer, ep->InsertPeer(hello.fabric_address()));
    peers.push_back(peer);
  }
  chunk = domain->max_msg_size();
  if (options.max_chunk != 0) chunk = std::min(chunk, options.max_chunk);
  if (peers.size() > 1 && options.stripe_bytes != 0) chunk = std::min(chunk, options.stripe_bytes);
  return Status::Ok();
}

RemoteMemoryClient::RemoteMemoryClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RemoteMemoryClient::~RemoteMemoryClient() {
  if (impl_->broken.ok()) {
    (void)impl_->DrainAll();
    (void)impl_->FlushTraffic(0);
  }
}

RemoteMemoryClient::Impl::~Impl() {
  ops.clear();  // per-operation registrations close before the endpoint
  buffers.clear();
}

StatusOr<RemoteRegion> RemoteMemoryClient::Impl::Allocate(pb::AllocateRequest req, const std::string& label) {
  LL_RETURN_IF_ERROR(broken);
  req.set_tenant(options.tenant);
  req.set_label(label);
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  pb::Region reply;
  LL_RETURN_IF_ERROR(Rpc(stub->Allocate(&ctx, req, &reply), "Allocate"));
  return FromProto(reply);
}

StatusOr<RemoteRegion> RemoteMemoryClient::Allocate(uint64_t size, const std::string& label) {
  pb::AllocateRequest req;
  req.set_size_bytes(size);
  return impl_->Allocate(std::move(req), label);
}

StatusOr<RemoteRegion> RemoteMemoryClient::Allocate(const std::string& size_text, const std::string& label) {
  pb::AllocateRequest req;
  req.set_size_text(size_text);
  return impl_->Allocate(std::move(req), label);
}

Status RemoteMemoryClient::Free(const RemoteRegion& region) {
  LL_RETURN_IF_ERROR(impl_->broken);
  (void)impl_->FlushTraffic(region.id);
  pb::FreeRequest req;
  req.set_tenant(impl_->options.tenant);
  req.set_region_id(region.id);
  grpc::ClientContext ctx;
  impl_->SetDeadline(&ctx);
  pb::FreeReply reply;
  return impl_->Rpc(impl_->stub->Free(&ctx, req, &reply), "Free");
}

StatusOr<std::vector<RemoteRegion>> RemoteMemoryClient::List() {
  LL_RETURN_IF_ERROR(impl_->broken);
  pb::ListRequest req;
  req.set_tenant(impl_->options.tenant);
  grpc::ClientContext ctx;
  impl_->SetDeadline(&ctx);
  pb::ListReply reply;
  LL_RETURN_IF_ERROR(impl_->Rpc(impl_->stub->List(&ctx, req, &reply), "List"));
  std::vector<RemoteRegion> out;
  for (const auto& r : reply.regions()) out.push_back(FromProto(r));
  return out;
}

StatusOr<MemnodeStats> RemoteMemoryClient::Stats() {
  LL_RETURN_IF_ERROR(impl_->broken);
  LL_RETURN_IF_ERROR(impl_->FlushTraffic(0));
  pb::StatsRequest req;
  req.set_tenant(impl_->options.tenant);
  grpc::ClientContext ctx;
  impl_->SetDeadline(&ctx);
  pb::StatsReply r;
  LL_RETURN_IF_ERROR(impl_->Rpc(impl_->stub->Stats(&ctx, req, &r), "Stats"));
  return MemnodeStats{r.capacity_bytes(),     r.allocated_bytes(), r.free_bytes(),
                      r.largest_free_bytes(), r.regions(),         r.tenants(),
                      r.bytes_written(),      r.bytes_read(),      r.provider()};
}

Status RemoteMemoryClient::Health() {
  return impl_->CheckAlive();
}

Status RemoteMemoryClient::Impl::CheckAlive() {
  grpc::ClientContext ctx;
  auto limit = std::min<std::chrono::milliseconds>(options.rpc_timeout, std::chrono::milliseconds(1000));
  ctx.set_deadline(std::chrono::system_clock::now() + limit);
  pb::HealthRequest req;
  pb::HealthReply reply;
  return Rpc(stub->Health(&ctx, req, &reply), "Health");
}

Status RemoteMemoryClient::Impl::CheckAccess(const Op& op) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  pb::AccessCheck req;
  req.set_tenant(options.tenant);
  req.set_region_id(op.region);
  req.set_key(op.key);
  req.set_remote_addr(op.raddr);
  req.set_length(op.len);
  pb::AccessReply reply;
  return Rpc(stub->CheckAccess(&ctx, req, &reply), "CheckAccess");
}

// Tells the memnode what this client moved; one-sided RMA is invisible to it.
Status RemoteMemoryClient::Impl::FlushTraffic(uint64_t only_region) {
  Status first;
  for (auto it = unreported.begin(); it != unreported.end();) {
    if (only_region != 0 && it->first != only_region) {
      ++it;
      continue;
    }
    pb::TrafficReport req;
    req.set_tenant(options.tenant);
    req.set_region_id(it->first);
    req.set_bytes_written(it->second.first);
    req.set_bytes_read(it->second.second);
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    pb::TrafficReply reply;
    Status s = Rpc(stub->ReportTraffic(&ctx, req, &reply), "ReportTraffic");
    if (!s.ok() && first.ok()) first = s;
    it = unreported.erase(it);
  }
  return first;
}

std::string RemoteMemoryClient::provider() const {
  return impl_->domain->provider_name();
}
std::string RemoteMemoryClient::mr_mode() const {
  return MrModeString(impl_->domain->mr_mode());
}
const Clock& RemoteMemoryClient::clock() const {
  return impl_->domain->clock();
}
size_t RemoteMemoryClient::endpoints() const {
  return impl_->peers.size();
}
size_t RemoteMemoryClient::chunk_size() const {
  return impl_->chunk;
}
uint64_t RemoteMemoryClient::bytes_written() const {
  return impl_->total_written;
}
uint64_t RemoteMemoryClient::bytes_read() const {
  return impl_->total_read;
}

}  // namespace lightloop::runtime
