// SPDX-License-Identifier: Apache-2.0
// An optical circuit switch (`switch: {impl: ocs, ...}`) as a loosely-timed
// TLM-2.0 module: N input and N output ports, each input connected to at
// most one output by a circuit. Each output owns a contiguous span of the
// address space; a transfer to an output without a circuit from its input
// waits for a reconfiguration (`reconfig_us`), which starts once the input's
// previous transfer is done and takes the output from whichever input held
// it; traffic on circuits that are up is not delayed. Circuits are chosen on
// demand (a given schedule is not built yet); at start input i is connected
// to output i.
//
//   OpticalCircuitSwitch ocs("ocs", ReadOcs(section));
//   source_a.socket.bind(ocs.in);   // input port 0
//   ocs.out.bind(memory_0.target);  // output port 0: addresses [0, span)
#pragma once

#include <tlm_utils/multi_passthrough_initiator_socket.h>
#include <tlm_utils/multi_passthrough_target_socket.h>

#include <systemc>
#include <tlm>
#include <vector>

#include "lightloop/hw_models/config/config_reader.h"

namespace lightloop::hw_models {

struct OcsParams {
  int64_t ports = 8;
  double reconfig_us = 10;          // MEMS-class; nanoseconds for tunable-laser switches
  uint64_t port_span = 1ull << 40;  // bytes of address space behind each output
};

OcsParams ReadOcs(ConfigReader& section);

class OpticalCircuitSwitch : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<OpticalCircuitSwitch> in;
  tlm_utils::multi_passthrough_initiator_socket<OpticalCircuitSwitch> out;

  OpticalCircuitSwitch(sc_core::sc_module_name name, const OcsParams& params);

  uint64_t reconfigurations() const { return reconfigurations_; }
  // The output input `port` is connected to, or -1.
  int circuit(int port) const { return circuit_[port]; }

 private:
  void b_transport(int port, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  // Connects `input` to `output`, taking the output from its previous input.
  void Connect(int input, int output);

  OcsParams p_;
  std::vector<int> circuit_;               // input -> output
  std::vector<int> owner_;                 // output -> input
  std::vector<sc_core::sc_time> free_at_;  // input: end of its last transfer
  uint64_t reconfigurations_ = 0;
};

}  // namespace lightloop::hw_models
