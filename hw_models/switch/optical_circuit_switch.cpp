// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/switch/optical_circuit_switch.h"

#include <string>

namespace lightloop::hw_models {
namespace {

const NumberParam kPorts{"ports", "", 8, 1, 4096, "input ports (and as many outputs)", true};
const NumberParam kReconfig{"reconfig_us", "us", 10, 0, 1e9, "time to set up a new circuit"};
const NumberParam kSpan{
    "port_span_bytes", "B", 1099511627776.0, 4096, 1.8e19, "address space behind each output port", true};

}  // namespace

OcsParams ReadOcs(ConfigReader& s) {
  OcsParams p;
  p.ports = s.Integer(kPorts);
  p.reconfig_us = s.Number(kReconfig);
  p.port_span = static_cast<uint64_t>(s.Number(kSpan));
  return p;
}

OpticalCircuitSwitch::OpticalCircuitSwitch(sc_core::sc_module_name name, const OcsParams& params)
    : sc_module(name),
      in("in"),
      out("out"),
      p_(params),
      circuit_(params.ports),
      owner_(params.ports),
      free_at_(params.ports, sc_core::SC_ZERO_TIME) {
  for (int i = 0; i < params.ports; ++i) circuit_[i] = owner_[i] = i;
  in.register_b_transport(this, &OpticalCircuitSwitch::b_transport);
}

void OpticalCircuitSwitch::Connect(int input, int output) {
  int previous = owner_[output];
  if (previous >= 0) circuit_[previous] = -1;  // its circuit is taken apart
  if (circuit_[input] >= 0) owner_[circuit_[input]] = -1;
  circuit_[input] = output;
  owner_[output] = input;
  ++reconfigurations_;
}

void OpticalCircuitSwitch::b_transport(int port, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
  uint64_t addr = trans.get_address();
  uint64_t output = addr / p_.port_span;
  if (port >= p_.ports || output >= static_cast<uint64_t>(out.size())) {
    SC_REPORT_WARNING(name(), ("no output port for address " + std::to_string(addr)).c_str());
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  sc_core::sc_time now = sc_core::sc_time_stamp();
  sc_core::sc_time start = now + delay;
  if (circuit_[port] != static_cast<int>(output)) {
    // Only traffic that needs a new circuit waits: for the input's previous
    // transfer to finish, then for the reconfiguration.
    if (free_at_[port] > start) start = free_at_[port];
    start += sc_core::sc_time(p_.reconfig_us, sc_core::SC_US);
    Connect(port, static_cast<int>(output));
  }
  delay = start - now;
  trans.set_address(addr - output * p_.port_span);
  out[static_cast<int>(output)]->b_transport(trans, delay);
  trans.set_address(addr);
  if (now + delay > free_at_[port]) free_at_[port] = now + delay;
}

}  // namespace lightloop::hw_models
