// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/link/photonic_link_module.h"

namespace lightloop::hw_models {

using sc_core::SC_NS;
using sc_core::sc_time;

PhotonicLinkModule::PhotonicLinkModule(sc_core::sc_module_name name, const PhotonicLinkParams& params)
    : sc_module(name),
      target("target"),
      initiator("initiator"),
      closed_form_(params),
      one_way_(closed_form_.TransferLatencyNs(0) - closed_form_.SerializationNs(0), SC_NS) {
  target.register_b_transport(this, &PhotonicLinkModule::b_transport);
}

sc_time PhotonicLinkModule::Cross(int direction, uint64_t bytes, sc_time ready) {
  sc_time start = ready > free_at_[direction] ? ready : free_at_[direction];
  sc_time wire(closed_form_.SerializationNs(bytes == 0 ? 1 : bytes), SC_NS);  // a request or ack is one flit
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

}  // namespace lightloop::hw_models
