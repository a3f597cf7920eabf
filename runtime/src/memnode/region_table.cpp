// SPDX-License-Identifier: Apache-2.0
#include "memnode/region_table.h"

#include <rdma/fi_errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "lightloop/runtime/size.h"

namespace lightloop::runtime {
namespace {
constexpr uint64_t kRegionAlignment = 4096;
}  // namespace

RegionTable::RegionTable(FabricDomain* domain, const RdmEndpoint* bind_to, char* pool, uint64_t capacity)
    : domain_(domain), bind_to_(bind_to), pool_(pool), allocator_(capacity, kRegionAlignment) {}

RegionTable::~RegionTable() {
  std::lock_guard lock(mu_);
  regions_.clear();  // closes every registration before the endpoint goes
}

StatusOr<RegionView> RegionTable::Allocate(const std::string& tenant, uint64_t size,
                                           const std::string& label) {
  if (size == 0) return InvalidArgument("field 'size': a region must hold at least one byte");
  std::lock_guard lock(mu_);
  std::optional<uint64_t> offset = allocator_.Allocate(size);
  if (!offset) {
    return ResourceExhausted("cannot allocate " + std::to_string(size) +
                             " bytes: " + std::to_string(allocator_.capacity() - allocator_.used()) + " of " +
                             std::to_string(allocator_.capacity()) + " bytes free, largest free range " +
                             std::to_string(allocator_.LargestFree()));
  }
  auto mr = domain_->RegisterMemory(pool_ + *offset, size, FI_REMOTE_READ | FI_REMOTE_WRITE, bind_to_);
  if (!mr.ok()) {
    allocator_.Release(*offset, size);
    return mr.status();
  }
  uint64_t id = next_id_++;
  Record& rec = regions_[id];
  rec = Record{tenant, label, *offset, size, std::move(mr).value()};
  return View(id, rec);
}

StatusOr<RegionTable::Record*> RegionTable::Owned(const std::string& tenant, uint64_t id) {
  auto it = regions_.find(id);
  if (it == regions_.end()) return NotFound("region " + std::to_string(id) + " does not exist");
  if (it->second.tenant != tenant) {
    return PermissionDenied("region " + std::to_string(id) + " belongs to another tenant");
  }
  return &it->second;
}

Status RegionTable::Free(const std::string& tenant, uint64_t id) {
  std::lock_guard lock(mu_);
  LL_ASSIGN_OR_RETURN(Record * rec, Owned(tenant, id));
  rec->mr = MemoryRegion();  // deregister first: no RMA can land while we scrub
  Scrub(rec->offset, rec->length);
  allocator_.Release(rec->offset, rec->length);
  regions_.erase(id);
  return Status::Ok();
}

// Zeroes a freed range so the next tenant never sees this one's bytes; whole
// pages go back to the kernel.
void RegionTable::Scrub(uint64_t offset, uint64_t len) {
  uint64_t span = allocator_.RoundUp(len);
  static const uint64_t kPage = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (offset % kPage == 0 && span % kPage == 0 && madvise(pool_ + offset, span, MADV_DONTNEED) == 0) {
    return;
  }
  std::memset(pool_ + offset, 0, span);
}

std::vector<RegionView> RegionTable::List(const std::string& tenant) const {
  std::lock_guard lock(mu_);
  std::vector<RegionView> out;
  for (const auto& [id, rec] : regions_) {
    if (rec.tenant == tenant) out.push_back(View(id, rec));
  }
  return out;
}

PoolStats RegionTable::Stats() const {
  std::lock_guard lock(mu_);
  std::set<std::string> tenants;
  for (const auto& [id, rec] : regions_) tenants.insert(rec.tenant);
  return PoolStats{allocator_.capacity(),
                   allocator_.used(),
                   allocator_.LargestFree(),
                   static_cast<uint32_t>(regions_.size()),
                   static_cast<uint32_t>(tenants.size()),
                   bytes_written_,
                   bytes_read_};
}

Status RegionTable::AddTraffic(const std::string& tenant, uint64_t id, uint64_t written, uint64_t read) {
  std::lock_guard lock(mu_);
  LL_ASSIGN_OR_RETURN(Record * rec, Owned(tenant, id));
  (void)rec;
  bytes_written_ += written;
  bytes_read_ += read;
  return Status::Ok();
}

Status RegionTable::CheckAccess(const std::string& tenant, uint64_t id, uint64_t key, uint64_t remote_addr,
                                uint64_t length) {
  std::lock_guard lock(mu_);
  LL_ASSIGN_OR_RETURN(Record * rec, Owned(tenant, id));
  std::string name = "region " + std::to_string(id);
  if (key != rec->mr.key()) return PermissionDenied("the key is not " + name + "'s key");
  uint64_t base = domain_->RemoteAddress(rec->mr, 0);
  if (remote_addr < base || remote_addr - base > rec->length || length > rec->length - (remote_addr - base)) {
    return OutOfRange("bytes [" + std::to_string(remote_addr) + ", +" + std::to_string(length) +
                      ") are outside " + name + " ([" + std::to_string(base) + ", +" +
                      std::to_string(rec->length) + "))");
  }
  return Status::Ok();
}

RegionView RegionTable::View(uint64_t id, const Record& r) const {
  return RegionView{id, r.mr.key(), domain_->RemoteAddress(r.mr, 0), r.length, r.label};
}

}  // namespace lightloop::runtime
