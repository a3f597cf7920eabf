// SPDX-License-Identifier: Apache-2.0
#include "lightloop/runtime/clock.h"

#include <chrono>
#include <thread>

#include "lightloop/runtime/fi_lightloop.h"

namespace lightloop::runtime {
namespace {

int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Clock::Clock() : wall_origin_ns_(SteadyNs()) {}

Clock Clock::ForDomain(fid_domain* domain) {
  Clock clock;
  fi_lightloop_clock_ops* ops = nullptr;
  if (domain != nullptr &&
      fi_open_ops(&domain->fid, LIGHTLOOP_CLOCK_OPS_NAME, 0, reinterpret_cast<void**>(&ops), nullptr) == 0 &&
      ops != nullptr && ops->size >= sizeof(fi_lightloop_clock_ops)) {
    clock.domain_ = domain;
    clock.ops_ = ops;
  }
  return clock;
}

uint64_t Clock::now_ns() const {
  if (ops_ != nullptr) return ops_->now_ns(&domain_->fid);
  return static_cast<uint64_t>(SteadyNs() - wall_origin_ns_);
}

uint64_t Clock::now_ps() const {
  if (ops_ != nullptr) return ops_->now_ps(&domain_->fid);
  return now_ns() * 1000;
}

void Clock::advance_ns(uint64_t ns) const {
  if (ops_ != nullptr) {
    (void)ops_->advance_ns(&domain_->fid, ns);  // cannot fail: domain_ is the provider's own
    return;
  }
  constexpr uint64_t kSpinBelowNs = 100'000;  // sleeping overshoots by tens of microseconds
  const uint64_t until = now_ns() + ns;
  if (ns > kSpinBelowNs) std::this_thread::sleep_for(std::chrono::nanoseconds(ns - kSpinBelowNs));
  while (now_ns() < until) {
  }
}

}  // namespace lightloop::runtime
