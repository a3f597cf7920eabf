// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/link/photonic_link_module.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lightloop::hw_models {

using sc_core::SC_NS;
using sc_core::sc_time;

CreditWindow::CreditWindow(int64_t credits, double flit_ns, double round_trip_ns)
    : credits_(static_cast<uint64_t>(credits)),
      flit_ns_(flit_ns),
      round_trip_ns_(round_trip_ns),
      limits_(static_cast<double>(credits) * flit_ns < round_trip_ns),
      free_ns_(-std::numeric_limits<double>::infinity()) {
  runs_.push_back({-std::numeric_limits<double>::infinity(), credits_});  // every credit is in
}

namespace {

// Appends `count` flits from `first_ns` on, one flit time apart, merging them
// into the last run when they continue it.
template <typename Runs>
void AppendRun(Runs& runs, double first_ns, uint64_t count, double flit_ns) {
  constexpr double kSameNs = 1e-4;  // far below the 1 ps time resolution
  if (!runs.empty()) {
    auto& last = runs.back();
    if (std::abs(last.first_ns + static_cast<double>(last.count) * flit_ns - first_ns) < kSameNs) {
      last.count += count;
      return;
    }
  }
  runs.push_back({first_ns, count});
}

}  // namespace

std::vector<CreditWindow::Run> CreditWindow::TakeOldest(uint64_t m, double x0_ns) {
  std::vector<Run> starts;
  for (uint64_t taken = 0; taken < m;) {
    Run& oldest = runs_.front();
    uint64_t n = std::min(oldest.count, m - taken);
    // a_j - j F is the same for a whole run: either all of it is back by
    // x0 + j F, or none of it.
    double first = std::max(oldest.first_ns, x0_ns + static_cast<double>(taken) * flit_ns_);
    AppendRun(starts, first, n, flit_ns_);
    oldest.first_ns += static_cast<double>(n) * flit_ns_;
    oldest.count -= n;
    if (oldest.count == 0) runs_.pop_front();
    taken += n;
  }
  return starts;
}

void CreditWindow::AppendSlots(const std::vector<Run>& starts, uint64_t from, uint64_t to, double shift_ns) {
  uint64_t at = 0;
  for (const Run& r : starts) {
    uint64_t lo = std::max(at, from), hi = std::min(at + r.count, to);
    if (lo < hi) {
      AppendRun(runs_, r.first_ns + static_cast<double>(lo - at) * flit_ns_ + shift_ns, hi - lo, flit_ns_);
    }
    at += r.count;
  }
}

double CreditWindow::StartOf(const std::vector<Run>& starts, uint64_t index) const {
  for (const Run& r : starts) {
    if (index < r.count) return r.first_ns + static_cast<double>(index) * flit_ns_;
    index -= r.count;
  }
  return free_ns_;  // not reached: index < flits in starts
}

// Why the closed form holds. Let a_i be the credit return times of the window,
// oldest first, x0 the first time the transfer may start, F the flit time and
// T the credit round trip. Return times of consecutive flits are at least F
// apart, so a_i - i F never decreases, and flit j < credits of the transfer
// starts at s_j = max(x0 + j F, a_j): the credits back by x0 + j F cost
// nothing, the rest are waited for. From then on flit j waits for the credit
// of flit j - credits of the same transfer; when credits x F < T that credit
// is the later constraint, so s_(q credits + i) = s_i + q T.
double CreditWindow::Send(uint64_t flits, double ready_ns) {
  double x0 = std::max(ready_ns, free_ns_);
  double last = x0 + static_cast<double>(flits - 1) * flit_ns_;
  if (limits_ && flits < credits_) {
    std::vector<Run> starts = TakeOldest(flits, x0);
    last = StartOf(starts, flits - 1);
    AppendSlots(starts, 0, flits, round_trip_ns_);  // behind the credits still out
  } else if (limits_) {
    std::vector<Run> starts = TakeOldest(credits_, x0);  // flits 0 .. credits-1; all credits taken
    uint64_t q = flits / credits_, i = flits % credits_;
    double t = round_trip_ns_;
    last = i > 0 ? StartOf(starts, i - 1) + static_cast<double>(q) * t
                 : StartOf(starts, credits_ - 1) + static_cast<double>(q - 1) * t;
    // The last `credits` flits: i .. credits-1 of lap q-1, then 0 .. i-1 of
    // lap q; flit i' of lap q' returns its credit at starts[i'] + (q'+1) T.
    AppendSlots(starts, i, credits_, static_cast<double>(q) * t);
    AppendSlots(starts, 0, i, static_cast<double>(q + 1) * t);
  }
  free_ns_ = last + flit_ns_;
  return last;
}

PhotonicLinkModule::PhotonicLinkModule(sc_core::sc_module_name name, const PhotonicLinkParams& params)
    : sc_module(name),
      target("target"),
      initiator("initiator"),
      closed_form_(params),
      one_way_(closed_form_.TransferLatencyNs(0) - closed_form_.SerializationNs(0), SC_NS),
      warmup_(params.warmup_us, sc_core::SC_US),
      credits_{{params.credits, closed_form_.FlitNs(), closed_form_.CreditRoundTripNs()},
               {params.credits, closed_form_.FlitNs(), closed_form_.CreditRoundTripNs()}},
      down_(!params.initially_up),
      flit_error_p_(closed_form_.FlitErrorProbability()),
      gbps_(params.gbps_per_wavelength),
      flit_ns_(closed_form_.FlitNs()),
      payload_per_flit_(static_cast<uint64_t>(params.flit_bytes - params.header_bytes)),
      replay_flits_(static_cast<uint64_t>(closed_form_.ReplayFlits())),
      rng_(static_cast<uint64_t>(params.seed)),
      next_error_(flit_error_p_ > 0 ? std::min(flit_error_p_, 1.0) : 0.5) {
  target.register_b_transport(this, &PhotonicLinkModule::b_transport);
}

uint64_t PhotonicLinkModule::DrawErrors(uint64_t flits) {
  if (flit_error_p_ <= 0) return 0;
  uint64_t errors = 0;
  for (uint64_t pos = next_error_(rng_); pos < flits; pos += 1 + next_error_(rng_)) ++errors;
  return errors;
}

sc_time PhotonicLinkModule::CreditStall(int direction, uint64_t flits, sc_time start) {
  CreditWindow& window = credits_[direction];
  if (!window.limits()) return sc_core::SC_ZERO_TIME;
  double start_ns = start.to_seconds() * 1e9;
  double flit_ns = closed_form_.FlitNs();
  double last_start = window.Send(flits, start_ns);
  double stall_ns = last_start + flit_ns - (start_ns + static_cast<double>(flits) * flit_ns);
  if (stall_ns < 1e-6) return sc_core::SC_ZERO_TIME;  // rounding, not a stall
  sc_time stall(stall_ns, SC_NS);
  credit_stall_ += stall;
  return stall;
}

sc_time PhotonicLinkModule::Cross(int direction, uint64_t bytes, sc_time ready) {
  sc_time start = ready > free_at_[direction] ? ready : free_at_[direction];
  const double flit_ns = flit_ns_;
  // Whole flits; a request or an acknowledgement is one flit.
  const uint64_t flits = bytes == 0 ? 1 : (bytes + payload_per_flit_ - 1) / payload_per_flit_;
  const double wire_ns = static_cast<double>(flits) * flit_ns;
  uint64_t errors = DrawErrors(flits);
  uint64_t replayed = errors * replay_flits_;
  flits_sent_ += flits + replayed;
  flits_replayed_ += replayed;
  flit_errors_ += errors;
  sc_time wire(wire_ns + static_cast<double>(replayed) * flit_ns, SC_NS);
  free_at_[direction] = start + wire + CreditStall(direction, flits + replayed, start);
  busy_total_[direction] += wire;
  return free_at_[direction] + one_way_;
}

sc_time PhotonicLinkModule::WhenUp(sc_time ready) {
  while (down_) sc_core::wait(powered_up_);
  return ready > up_from_ ? ready : up_from_;
}

void PhotonicLinkModule::b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
  bool write = trans.is_write();
  uint64_t len = trans.get_data_length();
  sc_time arrive = Cross(0, write ? len : 0, WhenUp(sc_core::sc_time_stamp() + delay));
  delay = arrive - sc_core::sc_time_stamp();
  initiator->b_transport(trans, delay);
  if (trans.is_response_error()) return;  // the far end refused: no data comes back
  sc_time done = Cross(1, write ? 0 : len, WhenUp(sc_core::sc_time_stamp() + delay));
  delay = done - sc_core::sc_time_stamp();
  payload_bytes_ += len;
}

void PhotonicLinkModule::PowerDown() {
  down_ = true;
}

void PhotonicLinkModule::PowerUp() {
  PowerUpAt(sc_core::sc_time_stamp());
}

void PhotonicLinkModule::PowerUpAt(sc_time at) {
  if (!down_) return;
  down_ = false;
  sc_time now = sc_core::sc_time_stamp();
  up_from_ = (at > now ? at : now) + warmup_;
  if (sc_core::sc_is_running()) powered_up_.notify(sc_core::SC_ZERO_TIME);  // wakes waiting transfers
}

bool PhotonicLinkModule::up() const {
  return !down_ && sc_core::sc_time_stamp() >= up_from_;
}

LinkCounters PhotonicLinkModule::counters() const {
  LinkCounters c;
  c.payload_bytes = payload_bytes_;
  c.flit_errors = flit_errors_;
  c.flits_replayed = flits_replayed_;
  c.busy_s = std::max(busy_total_[0], busy_total_[1]).to_seconds();
  c.joules = joules();
  return c;
}

double PhotonicLinkModule::joules() const {
  double line_bits_per_flit = closed_form_.FlitNs() * static_cast<double>(closed_form_.lanes()) * gbps_;
  return static_cast<double>(flits_sent_) * line_bits_per_flit * closed_form_.PjPerBit() * 1e-12;
}

}  // namespace lightloop::hw_models
