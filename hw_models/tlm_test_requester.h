// SPDX-License-Identifier: Apache-2.0
// For tests of TLM-2.0 modules: a requester whose SC_THREAD runs `body`,
// with an initiator socket to bind to the module under test.
//   Requester r("requester");
//   r.socket.bind(link.target);
//   r.body = [&](Requester& self) { sc_time done = self.Transfer(...); };
//   sc_core::sc_start();
#pragma once

#include <tlm_utils/simple_initiator_socket.h>

#include <cstdint>
#include <functional>
#include <systemc>
#include <tlm>

namespace lightloop::hw_models {

struct Requester : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Requester> socket{"socket"};
  std::function<void(Requester&)> body;
  SC_HAS_PROCESS(Requester);
  explicit Requester(sc_core::sc_module_name name) : sc_module(name) { SC_THREAD(Run); }
  void Run() { body(*this); }

  // One transfer issued at annotated time `at`; returns its completion time.
  sc_core::sc_time Transfer(tlm::tlm_command cmd, uint64_t addr, unsigned char* data, uint32_t len,
                            sc_core::sc_time at, tlm::tlm_response_status* status = nullptr) {
    tlm::tlm_generic_payload trans;
    trans.set_command(cmd);
    trans.set_address(addr);
    trans.set_data_ptr(data);
    trans.set_data_length(len);
    trans.set_streaming_width(len);
    trans.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time delay = at - sc_core::sc_time_stamp();
    socket->b_transport(trans, delay);
    if (status != nullptr) *status = trans.get_response_status();
    return sc_core::sc_time_stamp() + delay;
  }
};

}  // namespace lightloop::hw_models
