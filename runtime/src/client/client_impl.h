// SPDX-License-Identifier: Apache-2.0
// State of a RemoteMemoryClient: the control-plane stub (control.cpp) and
// the data path of chunked, depth-limited RMA operations (transfer.cpp).
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <deque>
#include <map>
#include <unordered_map>
#include <vector>

#include "lightloop/proto/memnode.grpc.pb.h"
#include "lightloop/runtime/fabric.h"
#include "lightloop/runtime/remote_memory.h"

namespace lightloop::runtime {

using WallClock = std::chrono::steady_clock;  // the watchdog: liveness is wall time

struct RemoteMemoryClient::Impl {
  // One RMA on the wire (or queued for it). The provider gets &ctx.
  struct Chunk {
    fi_context2 ctx;
    uint64_t op = 0;
    bool write = false;
    char* local = nullptr;
    void* desc = nullptr;
    fi_addr_t peer = FI_ADDR_UNSPEC;
    uint64_t raddr = 0;
    uint64_t key = 0;
    size_t len = 0;
  };
  struct Op {
    uint64_t region = 0;
    uint64_t key = 0;
    uint64_t raddr = 0;  // RMA address of the first byte
    uint64_t offset = 0;
    bool write = false;
    size_t len = 0;
    size_t chunks_left = 0;
    bool done = false;
    Status status;
    MemoryRegion temp_mr;  // per-operation registration under FI_MR_LOCAL
    WallClock::time_point started;
  };

  Options options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<memnode::v1::Memnode::Stub> stub;
  std::unique_ptr<FabricDomain> domain;
  std::unique_ptr<RdmEndpoint> ep;
  std::vector<fi_addr_t> peers;  // the memnode's endpoints; chunks go round-robin
  size_t next_peer = 0;
  size_t chunk = 0;

  std::vector<Chunk> slots;     // fixed size = depth; the provider holds pointers
  std::vector<bool> abandoned;  // slot's chunk given up on; reusable once it completes
  std::vector<size_t> free_slots;
  std::deque<Chunk> queued;
  std::unordered_map<uint64_t, Op> ops;
  uint64_t next_op = 1;
  size_t in_flight = 0;
  std::map<uintptr_t, MemoryRegion> buffers;  // RegisterBuffer'd, by start address
  std::vector<MemoryRegion> abandoned_mrs;    // may still be in the provider's hands
  Status broken;                              // once set, every call fails with it
  bool suspect_peer = false;                  // a transfer failed as if the memnode were gone
  WallClock::time_point last_completion;
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> unreported;  // region -> (written, read)
  uint64_t total_written = 0;
  uint64_t total_read = 0;

  ~Impl();
  Status OpenDataPlane(const memnode::v1::HelloReply& hello, const std::string& host);
  // control.cpp
  void SetDeadline(grpc::ClientContext* ctx) const;
  Status Rpc(const grpc::Status& s, const std::string& rpc) const;
  Status FlushTraffic(uint64_t only_region);
  Status CheckAlive();
  StatusOr<RemoteRegion> Allocate(memnode::v1::AllocateRequest req, const std::string& label);
  Status CheckAccess(const Op& op);
  // transfer.cpp
  StatusOr<OpHandle> Start(bool write, const RemoteRegion& region, uint64_t offset, char* local, size_t len);
  StatusOr<void*> LocalDesc(Op& op, char* local, size_t len);
  void Issue();
  Status Reap();
  void Complete(Chunk* c, const Status& status);
  void FailAll(const Status& status);
  // Replaces a failed operation's provider error with the memnode's reason.
  void Explain(Op& op);
  // Gives up on `id`: its queued chunks are dropped, its posted ones no
  // longer count against the depth, and Wait returns `status`.
  void Abandon(uint64_t id, const Status& status);
  // Reaps one completion (or error) for the chunk in `slot`.
  void Retire(size_t slot, const Status& status);
  Status Watchdog();
  // One round of progress: post what fits, reap completions, run the
  // watchdog; yields the CPU when nothing completed.
  Status Step();
  // Progress until nothing is queued or in flight; the first failure among
  // the operations still held is returned and all of them are forgotten.
  Status DrainAll();
};

}  // namespace lightloop::runtime
