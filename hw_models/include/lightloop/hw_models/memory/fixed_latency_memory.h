// SPDX-License-Identifier: Apache-2.0
// A TLM-2.0 memory with one fixed access latency and real storage: the
// simplest far end for a link, and the reference the DRAM controller model
// is compared with. Accesses outside its size get TLM_ADDRESS_ERROR_RESPONSE.
#pragma once

#include <tlm_utils/simple_target_socket.h>

#include <systemc>
#include <tlm>

#include "lightloop/hw_models/memory/memory_registry.h"
#include "lightloop/hw_models/memory/sparse_storage.h"

namespace lightloop::hw_models {

class FixedLatencyMemory : public sc_core::sc_module, public MemoryModel {
 public:
  tlm_utils::simple_target_socket<FixedLatencyMemory> target;

  FixedLatencyMemory(sc_core::sc_module_name name, uint64_t size, sc_core::sc_time latency);

  uint64_t accesses() const { return accesses_; }
  tlm::tlm_target_socket<>& socket() override { return target; }

 private:
  void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);

  SparseStorage storage_;
  sc_core::sc_time latency_;
  uint64_t accesses_ = 0;
};

}  // namespace lightloop::hw_models
