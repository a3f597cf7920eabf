// SPDX-License-Identifier: Apache-2.0
// The photonic WDM link as a loosely-timed TLM-2.0 module: a target socket
// facing the requester and an initiator socket facing the far end (a memory
// or a switch). Full duplex: the request direction carries write data (or a
// one-flit read request), the response direction read data (or a one-flit
// write acknowledgement). Each direction is busy while it serializes, so
// transfers that overlap in annotated time queue behind each other; an idle
// link gives exactly the closed form of LinkClosedForm. Flits that arrive
// corrupted (drawn from the BER with a seeded generator) are caught by the
// CRC and cost a go-back-N replay of ReplayFlits() flits.
//
// Credit flow control: the receiver at each end buffers `credits` flits, and
// a flit may not start before the credit of the flit `credits` places ahead
// of it has come back (CreditRoundTripNs() after that flit started). When
// credits x flit time is shorter than that round trip, the link stalls and
// saturates at LinkClosedForm::CreditLimitedGBps(); CreditWindow computes the
// stalls of a whole transfer in closed form, without a step per flit.
//
// Link state: the link is up at start (or down, with `initially_up: false`).
// While it is down a transfer waits, in simulated time, until it is powered
// up, and after a power-up at t it carries traffic from t + warmup_us (laser
// and ring lock). b_transport therefore may wait: call it from a thread.
//
//   PhotonicLinkModule link("link", params);
//   requester.socket.bind(link.target);
//   link.initiator.bind(memory.target);
//   link.PowerDown();                                       // from a thread, at some time
//   link.PowerUpAt(sc_core::sc_time(5, sc_core::SC_US));  // traffic again from 5 us + warm-up
#pragma once

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <deque>
#include <random>
#include <systemc>
#include <tlm>
#include <vector>

#include "lightloop/hw_models/link/link_registry.h"
#include "lightloop/hw_models/link/photonic_link.h"

namespace lightloop::hw_models {

// Credit flow control of one direction of a link, in closed form. Flit k may
// start no earlier than the end of flit k-1 and than the return of the credit
// of flit k-credits (round_trip_ns after that flit started). The window keeps
// the credit return times of the last `credits` flits as runs of back-to-back
// flits, so a transfer costs a step per run, not per flit. Times are in ns.
//
//   CreditWindow window(8, 4.0, 514.0);
//   double last_start = window.Send(265, 0.0);  // 265 flits ready at 0 ns
class CreditWindow {
 public:
  CreditWindow(int64_t credits, double flit_ns, double round_trip_ns);

  // True when the credits can hold the link back: credits x flit < round trip.
  bool limits() const { return limits_; }
  // Sends `flits` (at least 1) ready at `ready_ns`, after every flit sent
  // before; returns when the last of them starts.
  double Send(uint64_t flits, double ready_ns);

 private:
  struct Run {
    double first_ns;  // time of its first flit; the others follow one flit time apart
    uint64_t count;
  };
  // Takes the oldest `m` credits and returns the start times of `m` flits
  // that use them, none starting before x0_ns + i x flit.
  std::vector<Run> TakeOldest(uint64_t m, double x0_ns);
  // Puts slots [from, to) of `starts` at the back of the window, `shift_ns` later.
  void AppendSlots(const std::vector<Run>& starts, uint64_t from, uint64_t to, double shift_ns);
  double StartOf(const std::vector<Run>& starts, uint64_t index) const;

  uint64_t credits_;
  double flit_ns_;
  double round_trip_ns_;
  bool limits_;
  double free_ns_;        // end of the last flit sent
  std::deque<Run> runs_;  // oldest credit first; `credits_` flits in all
};

class PhotonicLinkModule : public sc_core::sc_module, public LinkModel {
 public:
  tlm_utils::simple_target_socket<PhotonicLinkModule> target;
  tlm_utils::simple_initiator_socket<PhotonicLinkModule> initiator;

  PhotonicLinkModule(sc_core::sc_module_name name, const PhotonicLinkParams& params);

  const LinkClosedForm& closed_form() const { return closed_form_; }
  tlm::tlm_target_socket<>& target_socket() override { return target; }
  tlm::tlm_initiator_socket<>& initiator_socket() override { return initiator; }
  LinkCounters counters() const override;
  uint64_t payload_bytes() const { return payload_bytes_; }
  // Time each direction spent serializing, for utilization.
  sc_core::sc_time busy_request() const { return busy_total_[0]; }
  sc_core::sc_time busy_response() const { return busy_total_[1]; }
  uint64_t flits_sent() const { return flits_sent_; }
  // Flits sent again after a CRC error (go-back-N replays).
  uint64_t flits_replayed() const { return flits_replayed_; }
  uint64_t flit_errors() const { return flit_errors_; }
  // Time the senders, both directions, waited for credits with flits ready.
  sc_core::sc_time credit_stall() const { return credit_stall_; }
  // Energy of every line bit sent so far, both directions, replays included.
  double joules() const;

  // Powers the link down now: transfers issued from now on wait until it is
  // powered up. Transfers already accepted finish.
  void PowerDown();
  // Powers a down link up now, or at `at` (a time in the past means now); it
  // carries traffic from then + warmup_us. Powering up a link that is up, or
  // already powering up, changes nothing.
  void PowerUp();
  void PowerUpAt(sc_core::sc_time at);
  // Powered and warmed up at the current simulation time.
  bool up() const;
  // When a powered link carries traffic again (0 if it never went down).
  sc_core::sc_time up_from() const { return up_from_; }

 private:
  void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  // Waits while the link is down; the first time from `ready` on at which it
  // carries traffic.
  sc_core::sc_time WhenUp(sc_core::sc_time ready);
  // Sends `bytes` of payload in `direction` no earlier than `ready`;
  // returns when the last bit reaches the other end.
  sc_core::sc_time Cross(int direction, uint64_t bytes, sc_core::sc_time ready);
  // Extra time the credits make `flits` wait when the first may start at `start`.
  sc_core::sc_time CreditStall(int direction, uint64_t flits, sc_core::sc_time start);
  // Corrupted flits among the next `flits`.
  uint64_t DrawErrors(uint64_t flits);

  LinkClosedForm closed_form_;
  sc_core::sc_time one_way_;  // SerDes x 2 + FEC + time of flight
  sc_core::sc_time warmup_;
  sc_core::sc_time free_at_[2]{sc_core::SC_ZERO_TIME, sc_core::SC_ZERO_TIME};
  sc_core::sc_time busy_total_[2]{sc_core::SC_ZERO_TIME, sc_core::SC_ZERO_TIME};
  CreditWindow credits_[2];
  sc_core::sc_time credit_stall_ = sc_core::SC_ZERO_TIME;
  bool down_ = false;
  sc_core::sc_time up_from_ = sc_core::SC_ZERO_TIME;
  sc_core::sc_event powered_up_;
  uint64_t payload_bytes_ = 0;
  uint64_t flits_sent_ = 0;
  uint64_t flits_replayed_ = 0;
  uint64_t flit_errors_ = 0;
  double flit_error_p_ = 0;
  double gbps_ = 0;  // per lane
  // Cached from the closed form: Cross runs once per direction per transfer.
  double flit_ns_ = 0;
  uint64_t payload_per_flit_ = 1;
  uint64_t replay_flits_ = 0;
  std::mt19937_64 rng_;
  std::geometric_distribution<uint64_t> next_error_;  // error-free flits before the next error
};

}  // namespace lightloop::hw_models
