// SPDX-License-Identifier: Apache-2.0
// The memnode's regions: each a slice of the pool with its own memory
// registration and key, owned by one tenant. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "lightloop/runtime/fabric.h"
#include "memnode/pool_allocator.h"

namespace lightloop::runtime {

struct RegionView {
  uint64_t id = 0;
  uint64_t key = 0;
  uint64_t remote_addr = 0;
  uint64_t length = 0;
  std::string label;
};

struct PoolStats {
  uint64_t capacity = 0;
  uint64_t allocated = 0;
  uint64_t largest_free = 0;
  uint32_t regions = 0;
  uint32_t tenants = 0;
  uint64_t bytes_written = 0;
  uint64_t bytes_read = 0;
};

class RegionTable {
 public:
  // `pool` spans `capacity` bytes and outlives the table; so do `domain` and
  // `bind_to` (the endpoint regions are bound to under FI_MR_ENDPOINT).
  RegionTable(FabricDomain* domain, const RdmEndpoint* bind_to, char* pool, uint64_t capacity);
  ~RegionTable();

  StatusOr<RegionView> Allocate(const std::string& tenant, uint64_t size, const std::string& label);
  Status Free(const std::string& tenant, uint64_t id);
  std::vector<RegionView> List(const std::string& tenant) const;
  PoolStats Stats() const;
  // OK when `tenant` owns region `id`, `key` is its key and
  // [remote_addr, remote_addr+length) lies inside it; else why not.
  Status CheckAccess(const std::string& tenant, uint64_t id, uint64_t key, uint64_t remote_addr,
                     uint64_t length);
  Status AddTraffic(const std::string& tenant, uint64_t id, uint64_t written, uint64_t read);

 private:
  struct Record {
    std::string tenant;
    std::string label;
    uint64_t offset = 0;
    uint64_t length = 0;
    MemoryRegion mr;
  };
  RegionView View(uint64_t id, const Record& r) const;
  // Finds `id` owned by `tenant`, or says why not. Needs mu_.
  StatusOr<Record*> Owned(const std::string& tenant, uint64_t id);
  void Scrub(uint64_t offset, uint64_t len);

  FabricDomain* domain_;
  const RdmEndpoint* bind_to_;
  char* pool_;
  mutable std::mutex mu_;
  PoolAllocator allocator_;             // guarded by mu_
  std::map<uint64_t, Record> regions_;  // guarded by mu_
  uint64_t next_id_ = 1;                // guarded by mu_
  uint64_t bytes_written_ = 0;          // guarded by mu_
  uint64_t bytes_read_ = 0;             // guarded by mu_
};

}  // namespace lightloop::runtime
