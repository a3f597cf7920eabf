// SPDX-License-Identifier: Apache-2.0
// Client of a lightloop memory node: allocates regions over the gRPC control
// plane and moves bytes with asynchronous one-sided RMA over libfabric.
// Nothing here names a target: the provider (tcp, shm, verbs, lightloop ...)
// comes from the options, FI_PROVIDER, or the memnode itself.
//
//   RemoteMemoryClient::Options opts{.memnode = "127.0.0.1:7400", .tenant = "kv"};
//   LL_ASSIGN_OR_RETURN(auto client, RemoteMemoryClient::Connect(opts));
//   LL_ASSIGN_OR_RETURN(RemoteRegion region, client->Allocate(64 << 20));
//   LL_ASSIGN_OR_RETURN(OpHandle w, client->Write(region, 0, src.data(), src.size()));
//   LL_ASSIGN_OR_RETURN(OpHandle r, client->Read(region, 0, dst.data(), dst.size()));
//   LL_RETURN_IF_ERROR(client->Wait(w));
//   LL_RETURN_IF_ERROR(client->Wait(r));
//
// Operations larger than the provider's max_msg_size (or Options::max_chunk)
// are split into chunks; at most Options::depth chunks are on the wire at
// once and the rest wait in order. A source or destination buffer must stay
// valid until its operation completes. One thread at a time per client.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lightloop/runtime/clock.h"
#include "lightloop/runtime/status.h"

namespace lightloop::runtime {

// A region of a memnode's pool as the client sees it.
struct RemoteRegion {
  uint64_t id = 0;
  uint64_t length = 0;
  uint64_t key = 0;
  uint64_t remote_addr = 0;  // RMA address of byte 0
  std::string label;
};

struct MemnodeStats {
  uint64_t capacity_bytes = 0;
  uint64_t allocated_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t largest_free_bytes = 0;
  uint32_t regions = 0;
  uint32_t tenants = 0;
  uint64_t bytes_written = 0;
  uint64_t bytes_read = 0;
  std::string provider;
};

// Identifies one asynchronous operation until Wait() or Test() reports it done.
struct OpHandle {
  uint64_t id = 0;
};

class RemoteMemoryClient {
 public:
  struct Options {
    std::string memnode = "127.0.0.1:7400";  // control-plane address
    std::string tenant = "default";
    std::string provider;  // empty: the memnode's provider
    size_t depth = 16;     // chunks in flight at once
    size_t max_chunk = 0;  // 0: the provider's max_msg_size
    // With a memnode of several endpoints, transfers are cut into stripes of
    // this size, dealt round-robin to the endpoints (0: whole chunks).
    size_t stripe_bytes = size_t{1} << 20;
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds rpc_timeout{5000};
    // With chunks in flight and no completion for this long, the client
    // asks the memnode whether it is alive; a dead one fails every operation.
    std::chrono::milliseconds stall_timeout{1000};
    // An operation that has not completed after this long fails.
    std::chrono::milliseconds op_timeout{60000};
  };

  static StatusOr<std::unique_ptr<RemoteMemoryClient>> Connect(const Options& options);
  ~RemoteMemoryClient();

  StatusOr<RemoteRegion> Allocate(uint64_t size, const std::string& label = "");
  // Same, with a size as text ("64MiB"); the memnode parses and checks it.
  StatusOr<RemoteRegion> Allocate(const std::string& size_text, const std::string& label = "");
  Status Free(const RemoteRegion& region);
  StatusOr<std::vector<RemoteRegion>> List();
  StatusOr<MemnodeStats> Stats();
  Status Health();

  // Registers a local buffer once for many operations. Without it, providers
  // that need local registration (FI_MR_LOCAL) get one per operation.
  Status RegisterBuffer(void* addr, size_t len);
  Status UnregisterBuffer(void* addr);

  // Starts a transfer of `len` bytes at `offset` into `region`. Fails at once
  // (OUT_OF_RANGE) when the range is outside the region.
  StatusOr<OpHandle> Write(const RemoteRegion& region, uint64_t offset, const void* src, size_t len);
  StatusOr<OpHandle> Read(const RemoteRegion& region, uint64_t offset, void* dst, size_t len);
  // Drives progress until `op` is done; returns its outcome, once.
  Status Wait(OpHandle op);
  // True when `op` is done (then Wait returns at once). Takes one step of
  // progress first when it is not.
  StatusOr<bool> Test(OpHandle op);
  // True when `op` is done, without a step of progress: after one Progress,
  // the state of many operations. (On the sim target a second step with
  // nothing new is a wait; testing op by op would take one per operation.)
  StatusOr<bool> Done(OpHandle op) const;
  // Waits for every outstanding operation; the first failure is returned.
  Status WaitAll();
  // Issues queued chunks and reaps completions without blocking.
  Status Progress();

  // The provider in use ("tcp;ofi_rxm"), its MR modes and its chunk size.
  std::string provider() const;
  std::string mr_mode() const;
  size_t chunk_size() const;
  // The memnode's data-plane endpoints this client stripes across.
  size_t endpoints() const;
  // The data plane's clock: virtual on the sim target (the lightloop
  // provider), the wall clock otherwise. Valid while the client lives.
  const Clock& clock() const;
  // Bytes moved by completed operations since Connect.
  uint64_t bytes_written() const;
  uint64_t bytes_read() const;

  struct Impl;

 private:
  explicit RemoteMemoryClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lightloop::runtime
