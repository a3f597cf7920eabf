// SPDX-License-Identifier: Apache-2.0
#include "memnode/service.h"

#include "grpc_status.h"
#include "lightloop/runtime/size.h"

namespace lightloop::runtime {
namespace pb = lightloop::memnode::v1;
namespace {

Status CheckTenant(const std::string& tenant) {
  if (tenant.empty()) return PermissionDenied("field 'tenant' is empty: every call needs a tenant token");
  return Status::Ok();
}

StatusOr<uint64_t> RequestedSize(const pb::AllocateRequest& req) {
  switch (req.size_case()) {
    case pb::AllocateRequest::kSizeBytes:
      if (req.size_bytes() == 0) return InvalidArgument("field 'size_bytes' is 0");
      return req.size_bytes();
    case pb::AllocateRequest::kSizeText: {
      auto size = ParseSize(req.size_text());
      if (!size.ok()) return size.status().WithContext("field 'size_text'");
      if (*size == 0) return InvalidArgument("field 'size_text' is 0 bytes");
      return size;
    }
    default: return InvalidArgument("field 'size_bytes' or 'size_text' is required");
  }
}

}  // namespace

MemnodeService::MemnodeService(RegionTable* table, Identity identity)
    : table_(table), id_(std::move(identity)) {}

double MemnodeService::Uptime() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

void MemnodeService::Fill(const RegionView& view, pb::Region* out) const {
  out->set_region_id(view.id);
  out->set_fabric_address(id_.fabric_addresses.front());
  out->set_key(view.key);
  out->set_remote_addr(view.remote_addr);
  out->set_length(view.length);
  out->set_label(view.label);
}

grpc::Status MemnodeService::Hello(grpc::ServerContext*, const pb::HelloRequest* req, pb::HelloReply* reply) {
  if (Status s = CheckTenant(req->tenant()); !s.ok()) return ToGrpc(s);
  reply->set_provider(id_.provider);
  reply->set_fabric_address(id_.fabric_addresses.front());
  for (const std::string& a : id_.fabric_addresses) reply->add_fabric_addresses(a);
  reply->set_addr_format(id_.addr_format);
  reply->set_mr_mode(id_.mr_mode);
  reply->set_version(LIGHTLOOP_VERSION);
  reply->set_capacity_bytes(table_->Stats().capacity);
  return grpc::Status::OK;
}

grpc::Status MemnodeService::Allocate(grpc::ServerContext*, const pb::AllocateRequest* req,
                                      pb::Region* reply) {
  if (Status s = CheckTenant(req->tenant()); !s.ok()) return ToGrpc(s);
  StatusOr<uint64_t> size = RequestedSize(*req);
  if (!size.ok()) return ToGrpc(size.status());
  StatusOr<RegionView> view = table_->Allocate(req->tenant(), *size, req->label());
  if (!view.ok()) return ToGrpc(view.status());
  Fill(*view, reply);
  return grpc::Status::OK;
}

grpc::Status MemnodeService::Free(grpc::ServerContext*, const pb::FreeRequest* req, pb::FreeReply*) {
  if (Status s = CheckTenant(req->tenant()); !s.ok()) return ToGrpc(s);
  return ToGrpc(table_->Free(req->tenant(), req->region_id()));
}

grpc::Status MemnodeService::List(grpc::ServerContext*, const pb::ListRequest* req, pb::ListReply* reply) {
  if (Status s = CheckTenant(req->tenant()); !s.ok()) return ToGrpc(s);
  for (const RegionView& view : table_->List(req->tenant())) Fill(view, reply->add_regions());
  return grpc::Status::OK;
}

grpc::Status MemnodeService::Stats(grpc::ServerContext*, const pb::StatsRequest* req, pb::StatsReply* reply) {
  if (Status s = CheckTenant(req->tenant()); !s.ok()) return ToGrpc(s);
  PoolStats st = table_->Stats();
  reply->set_capacity_bytes(st.capacity);
  reply->set_allocated_bytes(st.allocated);
  reply->set_free_bytes(st.capacity - st.allocated);
  reply->set_largest_free_bytes(st.largest_free);
  reply->set_regions(st.regions);
  reply->set_tenants(st.tenants);
  reply->set_bytes_written(st.bytes_written);
  reply->set_bytes_read(st.bytes_read);
  reply->set_provider(id_.provider);
  reply->set_uptime_s(Uptime());
  return grpc::Status::OK;
}

grpc::Status MemnodeService::Health(grpc::ServerContext*, const pb::HealthRequest*, pb::HealthReply* reply) {
  reply->set_serving(true);
  reply->set_provider(id_.provider);
  reply->set_uptime_s(Uptime());
  return grpc::Status::OK;
}

grpc::Status MemnodeService::ReportTraffic(grpc::ServerContext*, const pb::TrafficReport* req,
                                           pb::TrafficReply*) {
  if (Status s = CheckTenant(req->tenant()); !s.ok()) return ToGrpc(s);
  return ToGrpc(table_->AddTraffic(req->tenant(), req->region_id(), req->bytes_written(), req->bytes_read()));
}

grpc::Status MemnodeService::CheckAccess(grpc::ServerContext*, const pb::AccessCheck* req, pb::AccessReply*) {
  if (Status s = CheckTenant(req->tenant()); !s.ok()) return ToGrpc(s);
  return ToGrpc(
      table_->CheckAccess(req->tenant(), req->region_id(), req->key(), req->remote_addr(), req->length()));
}

}  // namespace lightloop::runtime
