// SPDX-License-Identifier: Apache-2.0
// Test support: a remote tier with a latency on a test clock.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <vector>

#include "lightloop/memory_offload/remote_tier.h"

namespace lightloop::memory_offload {

// A remote tier whose transfers take `latency_ns` on a test clock; each
// poll (Progress, Test) lets `poll_ns` pass, as a spinning caller would;
// Done only looks. A read's bytes land
// when it completes, as a NIC's would. With `ns_per_byte`, transfers also
// share one link, in the order they were posted: a transfer occupies it for
// its bytes times `ns_per_byte`, then takes `latency_ns` more to complete.
// Every transfer is logged.
class DelayTier : public RemoteTier {
 public:
  struct Transfer {
    bool write;
    uint64_t first, count;  // slots
  };
  DelayTier(uint64_t slots, uint64_t slot_bytes, uint64_t* clock, uint64_t latency_ns, uint64_t poll_ns,
            uint64_t ns_per_byte = 0)
      : host_(slots, slot_bytes),
        clock_(clock),
        latency_(latency_ns),
        poll_(poll_ns),
        ns_per_byte_(ns_per_byte) {}
  uint64_t slots() const override { return host_.slots(); }
  uint64_t slot_bytes() const override { return host_.slot_bytes(); }
  StatusOr<Ticket> Write(uint64_t first, uint64_t count, const void* src) override {
    LL_RETURN_IF_ERROR(host_.Write(first, count, src).status());
    transfers_.push_back({true, first, count});
    return Track(count, {});
  }
  StatusOr<Ticket> Read(uint64_t first, uint64_t count, void* dst) override {
    if (first + count > host_.slots()) return runtime::OutOfRange("past the end");
    transfers_.push_back({false, first, count});
    return Track(count, [this, first, count, dst] {
      (void)host_.Read(first, count, dst);
      ++reads_landed_;
    });
  }
  Status Wait(Ticket t) override {
    *clock_ = std::max(*clock_, ops_.at(t.id).done);
    Land(t.id);
    return Status::Ok();
  }
  StatusOr<bool> Test(Ticket t) override {
    LL_RETURN_IF_ERROR(Progress());
    return Done(t);
  }
  StatusOr<bool> Done(Ticket t) override {
    if (*clock_ < ops_.at(t.id).done) return false;
    Land(t.id);
    return true;
  }
  Status Progress() override {
    *clock_ += poll_;
    return Status::Ok();
  }
  const std::vector<Transfer>& transfers() const { return transfers_; }
  uint64_t reads_landed() const { return reads_landed_; }
  std::span<unsigned char> bytes() { return host_.bytes(); }

 private:
  struct Op {
    uint64_t done;
    std::function<void()> land;
  };
  Ticket Track(uint64_t count, std::function<void()> land) {
    const uint64_t start = std::max(*clock_, link_free_);
    link_free_ = start + count * host_.slot_bytes() * ns_per_byte_;
    ops_[next_] = {link_free_ + latency_, std::move(land)};
    return Ticket{next_++};
  }
  void Land(uint64_t id) {
    Op& op = ops_.at(id);
    if (op.land) op.land();
    op.land = nullptr;
  }
  HostTier host_;
  uint64_t* clock_;
  uint64_t latency_, poll_, ns_per_byte_;
  uint64_t link_free_ = 0;
  uint64_t next_ = 1;
  uint64_t reads_landed_ = 0;
  std::vector<Transfer> transfers_;
  std::map<uint64_t, Op> ops_;
};

}  // namespace lightloop::memory_offload
