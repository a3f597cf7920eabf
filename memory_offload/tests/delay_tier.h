// SPDX-License-Identifier: Apache-2.0
// Test support: a remote tier with a latency on a test clock.
#pragma once

#include <algorithm>
#include <functional>
#include <map>

#include "lightloop/memory_offload/remote_tier.h"

namespace lightloop::memory_offload {

// A remote tier whose transfers take `latency_ns` on a test clock; each
// poll lets `poll_ns` pass, as a spinning caller would. A read's bytes land
// when it completes, as a NIC's would.
class DelayTier : public RemoteTier {
 public:
  DelayTier(uint64_t slots, uint64_t slot_bytes, uint64_t* clock, uint64_t latency_ns, uint64_t poll_ns)
      : host_(slots, slot_bytes), clock_(clock), latency_(latency_ns), poll_(poll_ns) {}
  uint64_t slots() const override { return host_.slots(); }
  uint64_t slot_bytes() const override { return host_.slot_bytes(); }
  StatusOr<Ticket> Write(uint64_t first, uint64_t count, const void* src) override {
    LL_RETURN_IF_ERROR(host_.Write(first, count, src).status());
    return Track({});
  }
  StatusOr<Ticket> Read(uint64_t first, uint64_t count, void* dst) override {
    if (first + count > host_.slots()) return runtime::OutOfRange("past the end");
    return Track([this, first, count, dst] { (void)host_.Read(first, count, dst); });
  }
  Status Wait(Ticket t) override {
    *clock_ = std::max(*clock_, ops_.at(t.id).done);
    Land(t.id);
    return Status::Ok();
  }
  StatusOr<bool> Test(Ticket t) override {
    *clock_ += poll_;
    if (*clock_ < ops_.at(t.id).done) return false;
    Land(t.id);
    return true;
  }

 private:
  struct Op {
    uint64_t done;
    std::function<void()> land;
  };
  Ticket Track(std::function<void()> land) {
    ops_[next_] = {*clock_ + latency_, std::move(land)};
    return Ticket{next_++};
  }
  void Land(uint64_t id) {
    Op& op = ops_.at(id);
    if (op.land) op.land();
    op.land = nullptr;
  }
  HostTier host_;
  uint64_t* clock_;
  uint64_t latency_, poll_;
  uint64_t next_ = 1;
  std::map<uint64_t, Op> ops_;
};

}  // namespace lightloop::memory_offload
