// SPDX-License-Identifier: Apache-2.0
// The clock the runtime measures and waits with: the provider's virtual
// clock when the domain publishes one (the `lightloop` provider's
// "lightloop_clock_v1" ops, fi_lightloop.h), the wall clock
// (std::chrono::steady_clock) otherwise. Code above the runtime times itself
// with it and so reports virtual time on the sim target, wall time on a NIC.
//
//   const Clock& clock = client->clock();          // or FabricDomain::clock()
//   uint64_t t0 = clock.now_ps();
//   ... post a transfer, wait for it ...
//   double us = (clock.now_ps() - t0) / 1e6;        // virtual on sim, wall elsewhere
//   clock.advance_ns(5000);                         // 5 us of compute
//
// A Clock refers to the domain it was opened on and must not outlive it.
#pragma once

#include <rdma/fi_domain.h>

#include <cstdint>

struct fi_lightloop_clock_ops;

namespace lightloop::runtime {

class Clock {
 public:
  // The wall clock: steady_clock, nanoseconds since this Clock was made.
  Clock();
  // The virtual clock of `domain` if its provider offers the lightloop clock
  // ops, the wall clock otherwise. `domain` must outlive the Clock.
  static Clock ForDomain(fid_domain* domain);

  bool is_virtual() const { return ops_ != nullptr; }
  // "virtual" or "wall".
  const char* kind() const { return is_virtual() ? "virtual" : "wall"; }
  // Nanoseconds since an arbitrary origin fixed for this clock (virtual:
  // since the simulated fabric was created).
  uint64_t now_ns() const;
  // The same in picoseconds: exact in virtual time, now_ns() x 1000 on the wall.
  uint64_t now_ps() const;
  // Lets `ns` pass, as if the caller computed for that long. Virtual: the
  // simulation moves on by exactly `ns` and transfers in flight go on (it
  // does not wait in wall time). Wall: returns once `ns` have passed. After
  // it, now_ns() has grown by at least `ns` (virtual: by exactly `ns`).
  void advance_ns(uint64_t ns) const;

 private:
  fid_domain* domain_ = nullptr;
  fi_lightloop_clock_ops* ops_ = nullptr;  // null: the wall clock
  int64_t wall_origin_ns_ = 0;
};

}  // namespace lightloop::runtime
