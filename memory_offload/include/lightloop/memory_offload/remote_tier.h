// SPDX-License-Identifier: Apache-2.0
// The remote tier of the KV cache: fixed-size slots in disaggregated memory,
// written and read in runs of consecutive slots so that many small blocks
// travel as one large transfer. Two implementations:
//   - MemnodeTier: regions in one or more memnodes, reached with the
//     runtime's RemoteMemoryClient (any target: nic, sim, fpga); slots are
//     striped across the memnodes `stripe_slots` at a time;
//   - HostTier: host memory in this process (a DRAM tier below the
//     accelerator's memory, and the reference in property tests).
//
//   LL_ASSIGN_OR_RETURN(auto tier, MemnodeTier::Create({client.get()}, slot_bytes, 4096));
//   LL_ASSIGN_OR_RETURN(Ticket t, tier->Write(first_slot, count, staging));
//   LL_RETURN_IF_ERROR(tier->Wait(t));
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "lightloop/runtime/remote_memory.h"
#include "lightloop/runtime/status.h"

namespace lightloop::memory_offload {

using runtime::Status;
using runtime::StatusOr;

struct Ticket {
  uint64_t id = 0;
};

class RemoteTier {
 public:
  virtual ~RemoteTier() = default;
  virtual uint64_t slots() const = 0;
  virtual uint64_t slot_bytes() const = 0;
  // Starts moving `count` consecutive slots from `first`; the buffer holds
  // count * slot_bytes() bytes and must stay valid until Wait.
  virtual StatusOr<Ticket> Write(uint64_t first, uint64_t count, const void* src) = 0;
  virtual StatusOr<Ticket> Read(uint64_t first, uint64_t count, void* dst) = 0;
  virtual Status Wait(Ticket ticket) = 0;
  // True when Wait would return at once; drives progress, never blocks.
  virtual StatusOr<bool> Test(Ticket ticket) = 0;
  // The same without moving anything: after one Progress, the state of many
  // tickets. Testing each would take a step of progress each, and on the
  // sim target a second step with nothing new is a wait.
  virtual StatusOr<bool> Done(Ticket ticket) = 0;
  // Moves queued transfers along without blocking (call it while computing).
  virtual Status Progress() { return Status::Ok(); }
  // Registers local memory that transfers will use, once, where the
  // provider wants local registration.
  virtual Status RegisterLocal(void* addr, size_t len) {
    (void)addr;
    (void)len;
    return Status::Ok();
  }
};

class HostTier : public RemoteTier {
 public:
  // The slots are mapped, not allocated: untouched ones cost no memory, so
  // a tier of real size works in shape mode.
  HostTier(uint64_t slots, uint64_t slot_bytes);
  ~HostTier() override;
  HostTier(const HostTier&) = delete;
  HostTier& operator=(const HostTier&) = delete;
  uint64_t slots() const override { return slots_; }
  uint64_t slot_bytes() const override { return slot_bytes_; }
  StatusOr<Ticket> Write(uint64_t first, uint64_t count, const void* src) override;
  StatusOr<Ticket> Read(uint64_t first, uint64_t count, void* dst) override;
  Status Wait(Ticket) override { return Status::Ok(); }
  StatusOr<bool> Test(Ticket) override { return true; }
  StatusOr<bool> Done(Ticket) override { return true; }
  // The stored bytes, e.g. to check what was offloaded.
  std::span<unsigned char> bytes() { return {data_, data_ ? slots_ * slot_bytes_ : 0}; }

 private:
  Status Check(uint64_t first, uint64_t count) const;
  uint64_t slots_, slot_bytes_;
  unsigned char* data_ = nullptr;  // null: the mapping failed
};

// Shape mode: `slots` slots of real size over the fewer real ones of
// `inner`, so a remote tier of hundreds of GiB needs a pool of a few slots.
// A run of at most inner->slots() slots stays one transfer of its real size
// (placed where it fits: first % (real - count + 1)); a longer one goes in
// pieces of inner->slots(). Contents alias; sizes and timing do not.
class AliasTier : public RemoteTier {
 public:
  AliasTier(std::unique_ptr<RemoteTier> inner, uint64_t slots);
  uint64_t slots() const override { return slots_; }
  uint64_t slot_bytes() const override { return inner_->slot_bytes(); }
  StatusOr<Ticket> Write(uint64_t first, uint64_t count, const void* src) override;
  StatusOr<Ticket> Read(uint64_t first, uint64_t count, void* dst) override;
  Status Wait(Ticket ticket) override;
  StatusOr<bool> Test(Ticket ticket) override;
  StatusOr<bool> Done(Ticket ticket) override;
  Status Progress() override { return inner_->Progress(); }
  Status RegisterLocal(void* addr, size_t len) override { return inner_->RegisterLocal(addr, len); }

 private:
  StatusOr<Ticket> Split(bool write, uint64_t first, uint64_t count, unsigned char* buf);
  std::unique_ptr<RemoteTier> inner_;
  uint64_t slots_;
  uint64_t next_ = 1;
  std::unordered_map<uint64_t, std::vector<Ticket>> pending_;
};

class MemnodeTier : public RemoteTier {
 public:
  // Allocates one region of ceil(slots / clients) slots on each client's
  // memnode. The clients must outlive the tier.
  static StatusOr<std::unique_ptr<MemnodeTier>> Create(std::vector<runtime::RemoteMemoryClient*> clients,
                                                       uint64_t slot_bytes, uint64_t slots,
                                                       uint64_t stripe_slots = 16);
  ~MemnodeTier() override;
  uint64_t slots() const override { return slots_; }
  uint64_t slot_bytes() const override { return slot_bytes_; }
  StatusOr<Ticket> Write(uint64_t first, uint64_t count, const void* src) override;
  StatusOr<Ticket> Read(uint64_t first, uint64_t count, void* dst) override;
  Status Wait(Ticket ticket) override;
  StatusOr<bool> Test(Ticket ticket) override;
  StatusOr<bool> Done(Ticket ticket) override;
  Status Progress() override;
  Status RegisterLocal(void* addr, size_t len) override;
  const std::vector<runtime::RemoteRegion>& regions() const { return regions_; }

 private:
  MemnodeTier() = default;
  StatusOr<Ticket> Start(bool write, uint64_t first, uint64_t count, unsigned char* buf);

  std::vector<runtime::RemoteMemoryClient*> clients_;
  std::vector<runtime::RemoteRegion> regions_;
  uint64_t slots_ = 0, slot_bytes_ = 0, stripe_ = 16;
  uint64_t next_ticket_ = 1;
  std::vector<void*> registered_;
  // A ticket's operations: (client index, handle).
  std::vector<std::pair<uint64_t, std::vector<std::pair<size_t, runtime::OpHandle>>>> pending_;
};

}  // namespace lightloop::memory_offload
