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
//   PhotonicLinkModule link("link", params);
//   requester.socket.bind(link.target);
//   link.initiator.bind(memory.target);
#pragma once

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <random>
#include <systemc>
#include <tlm>

#include "lightloop/hw_models/link/photonic_link.h"

namespace lightloop::hw_models {

class PhotonicLinkModule : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<PhotonicLinkModule> target;
  tlm_utils::simple_initiator_socket<PhotonicLinkModule> initiator;

  PhotonicLinkModule(sc_core::sc_module_name name, const PhotonicLinkParams& params);

  const LinkClosedForm& closed_form() const { return closed_form_; }
  uint64_t payload_bytes() const { return payload_bytes_; }
  // Time each direction spent serializing, for utilization.
  sc_core::sc_time busy_request() const { return busy_total_[0]; }
  sc_core::sc_time busy_response() const { return busy_total_[1]; }
  uint64_t flits_sent() const { return flits_sent_; }
  // Flits sent again after a CRC error (go-back-N replays).
  uint64_t flits_replayed() const { return flits_replayed_; }
  uint64_t flit_errors() const { return flit_errors_; }
  // Energy of every line bit sent so far, both directions, replays included.
  double joules() const;

 private:
  void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  // Sends `bytes` of payload in `direction` no earlier than `ready`;
  // returns when the last bit reaches the other end.
  sc_core::sc_time Cross(int direction, uint64_t bytes, sc_core::sc_time ready);
  // Corrupted flits among the next `flits`.
  uint64_t DrawErrors(uint64_t flits);

  LinkClosedForm closed_form_;
  sc_core::sc_time one_way_;  // SerDes x 2 + FEC + time of flight
  sc_core::sc_time free_at_[2]{sc_core::SC_ZERO_TIME, sc_core::SC_ZERO_TIME};
  sc_core::sc_time busy_total_[2]{sc_core::SC_ZERO_TIME, sc_core::SC_ZERO_TIME};
  uint64_t payload_bytes_ = 0;
  uint64_t flits_sent_ = 0;
  uint64_t flits_replayed_ = 0;
  uint64_t flit_errors_ = 0;
  double flit_error_p_ = 0;
  double gbps_ = 0;  // per lane
  std::mt19937_64 rng_;
  std::geometric_distribution<uint64_t> next_error_;  // error-free flits before the next error
};

}  // namespace lightloop::hw_models
