// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/link/photonic_link_module.h"

#include <algorithm>
#include <cmath>

namespace lightloop::hw_models {

using sc_core::SC_NS;
using sc_core::sc_time;

PhotonicLinkModule::PhotonicLinkModule(sc_core::sc_module_name name, const PhotonicLinkParams& params)
    : sc_module(name),
      target("target"),
      initiator("initiator"),
      closed_form_(params),
      one_way_(closed_form_.TransferLatencyNs(0) - closed_form_.SerializationNs(0), SC_NS),
      flit_error_p_(closed_form_.FlitErrorProbability()),
      gbps_(params.gbps_per_wavelength),
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

sc_time PhotonicLinkModule::Cross(int direction, uint64_t bytes, sc_time ready) {
  sc_time start = ready > free_at_[direction] ? ready : free_at_[direction];
  double flit_ns = closed_form_.FlitNs();
  double wire_ns = closed_form_.SerializationNs(bytes == 0 ? 1 : bytes);  // a request or ack is one flit
  auto flits = static_cast<uint64_t>(std::llround(wire_ns / flit_ns));
  uint64_t errors = DrawErrors(flits);
  uint64_t replayed = errors * static_cast<uint64_t>(closed_form_.ReplayFlits());
  flits_sent_ += flits + replayed;
  flits_replayed_ += replayed;
  flit_errors_ += errors;
  sc_time wire(wire_ns + static_cast<double>(replayed) * flit_ns, SC_NS);
  free_at_[direction] = start + wire;
  busy_total_[direction] += wire;
  return start + wire + one_way_;
}

void PhotonicLinkModule::b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
  sc_time now = sc_core::sc_time_stamp();
  bool write = trans.is_write();
  uint64_t len = trans.get_data_length();
  sc_time arrive = Cross(0, write ? len : 0, now + delay);
  delay = arrive - now;
  initiator->b_transport(trans, delay);
  if (trans.is_response_error()) return;  // the far end refused: no data comes back
  sc_time done = Cross(1, write ? 0 : len, now + delay);
  delay = done - now;
  payload_bytes_ += len;
}

double PhotonicLinkModule::joules() const {
  double line_bits_per_flit = closed_form_.FlitNs() * static_cast<double>(closed_form_.lanes()) * gbps_;
  return static_cast<double>(flits_sent_) * line_bits_per_flit * closed_form_.PjPerBit() * 1e-12;
}

}  // namespace lightloop::hw_models
