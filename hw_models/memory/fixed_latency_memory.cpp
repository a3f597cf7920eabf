// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/memory/fixed_latency_memory.h"

#include "lightloop/hw_models/node/node_fabric.h"

namespace lightloop::hw_models {

FixedLatencyMemory::FixedLatencyMemory(sc_core::sc_module_name name, uint64_t size, sc_core::sc_time latency)
    : sc_module(name), target("target"), storage_(size), latency_(latency) {
  target.register_b_transport(this, &FixedLatencyMemory::b_transport);
}

void FixedLatencyMemory::b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
  uint64_t addr = trans.get_address();
  uint64_t len = trans.get_data_length();
  if (!storage_.Contains(addr, len) || trans.get_byte_enable_ptr() != nullptr) {
    trans.set_response_status(trans.get_byte_enable_ptr() != nullptr ? tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE
                                                                     : tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  if (IsTimingOnly(trans)) {
    // the requester moves the bytes (node_fabric.h)
  } else if (trans.is_write()) {
    storage_.Write(addr, trans.get_data_ptr(), len);
  } else if (trans.is_read()) {
    storage_.Read(addr, trans.get_data_ptr(), len);
  }
  ++accesses_;
  delay += latency_;
  trans.set_response_status(tlm::TLM_OK_RESPONSE);
}

}  // namespace lightloop::hw_models
