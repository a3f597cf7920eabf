// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/switch/optical_circuit_switch.h"

#include <algorithm>
#include <string>

namespace lightloop::hw_models {
namespace {

using sc_core::sc_time;

const NumberParam kPorts{"ports", "", 8, 1, 4096, "input ports (and as many outputs)", true};
const NumberParam kReconfig{"reconfig_us", "us", 10, 0, 1e9, "time to set up a new circuit"};
const NumberParam kSpan{
    "port_span_bytes", "B", 1099511627776.0, 4096, 1.8e19, "address space behind each output port", true};
const ChoiceParam kPolicy{
    "policy",
    {"on_demand", "scheduled"},
    "on_demand",
    "on_demand: a transfer sets up the circuit it needs; scheduled: circuits change only "
    "at the times of `schedule`"};
const char kSchedule[] = "schedule";
const NumberParam kAt{"at_us", "us", 0, 0, 1e12, "time of the circuit change (required)"};

std::string Dotted(const ConfigReader& s, const std::string& key) {
  return s.path().empty() ? key : s.path() + "." + key;
}

CircuitChange ReadChange(ConfigReader& item, int64_t ports) {
  const auto last = static_cast<double>(ports - 1);
  const NumberParam input{"input", "", 0, 0, last, "input port of the new circuit, 0 to ports - 1 (required)",
                          true};
  const NumberParam output{
      "output", "", 0, 0, last, "output port of the new circuit, 0 to ports - 1 (required)", true};
  CircuitChange c{item.Number(kAt), static_cast<int>(item.Integer(input)),
                  static_cast<int>(item.Integer(output))};
  item.Finish();
  for (const std::string& key : {kAt.name, input.name, output.name}) {
    if (!item.Has(key)) {
      throw ConfigError(item.LocationOf(key), Dotted(item, key),
                        "missing: each schedule entry needs at_us, input and output");
    }
  }
  return c;
}

std::vector<CircuitChange> ReadSchedule(ConfigReader& s, int64_t ports) {
  std::vector<CircuitChange> schedule;
  for (ConfigReader& item : s.Sequence(kSchedule)) {
    CircuitChange c = ReadChange(item, ports);
    if (!schedule.empty() && c.at_us < schedule.back().at_us) {
      throw ConfigError(item.LocationOf(kAt.name), Dotted(item, kAt.name),
                        "the schedule must be in time order: " + std::to_string(c.at_us) +
                            " us comes after " + std::to_string(schedule.back().at_us) + " us");
    }
    schedule.push_back(c);
  }
  return schedule;
}

}  // namespace

OcsParams ReadOcs(ConfigReader& s) {
  OcsParams p;
  p.ports = s.Integer(kPorts);
  p.reconfig_us = s.Number(kReconfig);
  p.port_span = static_cast<uint64_t>(s.Number(kSpan));
  p.policy = s.Choice(kPolicy) == "scheduled" ? CircuitPolicy::kScheduled : CircuitPolicy::kOnDemand;
  p.schedule = ReadSchedule(s, p.ports);
  if (!p.schedule.empty() && p.policy != CircuitPolicy::kScheduled) {
    throw ConfigError(s.LocationOf(kSchedule), Dotted(s, kSchedule),
                      "a schedule is only followed with policy: scheduled");
  }
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
  if (p_.policy == CircuitPolicy::kScheduled) BuildTimeline();
  in.register_b_transport(this, &OpticalCircuitSwitch::b_transport);
}

void OpticalCircuitSwitch::BuildTimeline() {
  int ports = static_cast<int>(p_.ports);
  timeline_.assign(ports, {});
  for (int i = 0; i < ports; ++i) timeline_[i].push_back({i, sc_core::SC_ZERO_TIME, sc_core::sc_max_time()});
  std::vector<int> circuit = circuit_, owner = owner_;  // identity at start
  auto tear_down = [&](int input, sc_time at) {
    if (circuit[input] < 0) return;
    timeline_[input].back().down = at;
    owner[circuit[input]] = -1;
    circuit[input] = -1;
  };
  sc_time last = sc_core::SC_ZERO_TIME;
  for (const CircuitChange& c : p_.schedule) {
    sc_time at(c.at_us, sc_core::SC_US);
    if (c.input < 0 || c.input >= ports || c.output < 0 || c.output >= ports || at < last) {
      SC_REPORT_ERROR(name(), "a schedule entry names a port the switch lacks, or is out of time order");
      return;
    }
    last = at;
    if (circuit[c.input] == c.output) continue;  // connected, or being connected: no change
    tear_down(c.input, at);
    if (owner[c.output] >= 0) tear_down(owner[c.output], at);
    circuit[c.input] = c.output;
    owner[c.output] = c.input;
    timeline_[c.input].push_back(
        {c.output, at + sc_time(p_.reconfig_us, sc_core::SC_US), sc_core::sc_max_time()});
    changes_.push_back(at);
  }
  for (auto& circuits : timeline_) {  // circuits taken apart before they were up never carry anything
    circuits.erase(
        std::remove_if(circuits.begin(), circuits.end(), [](const Circuit& c) { return c.up >= c.down; }),
        circuits.end());
  }
}

const OpticalCircuitSwitch::Circuit* OpticalCircuitSwitch::NextCircuit(int input, int output,
                                                                       sc_time t) const {
  const std::vector<Circuit>& circuits = timeline_[input];  // ordered by up and by down alike
  auto it =
      std::partition_point(circuits.begin(), circuits.end(), [&](const Circuit& c) { return c.down <= t; });
  it = std::find_if(it, circuits.end(), [&](const Circuit& c) { return c.output == output; });
  return it == circuits.end() ? nullptr : &*it;
}

uint64_t OpticalCircuitSwitch::reconfigurations() const {
  return p_.policy == CircuitPolicy::kOnDemand ? reconfigurations_ : changes_.size();
}

int OpticalCircuitSwitch::circuit(int port) const {
  if (p_.policy == CircuitPolicy::kOnDemand) return circuit_[port];
  sc_time now = sc_core::sc_time_stamp();
  for (const Circuit& c : timeline_[port]) {
    if (c.up <= now && now < c.down) return c.output;
  }
  return -1;
}

void OpticalCircuitSwitch::Connect(int input, int output) {
  int previous = owner_[output];
  if (previous >= 0) circuit_[previous] = -1;  // its circuit is taken apart
  if (circuit_[input] >= 0) owner_[circuit_[input]] = -1;
  circuit_[input] = output;
  owner_[output] = input;
  ++reconfigurations_;
}

sc_time OpticalCircuitSwitch::OnDemand(int port, int output, sc_time start) {
  if (circuit_[port] == output) return start;
  // Only traffic that needs a new circuit waits: for the input's previous
  // transfer to finish, then for the reconfiguration.
  if (free_at_[port] > start) start = free_at_[port];
  Connect(port, output);
  return start + sc_time(p_.reconfig_us, sc_core::SC_US);
}

void OpticalCircuitSwitch::b_transport(int port, tlm::tlm_generic_payload& trans, sc_time& delay) {
  uint64_t addr = trans.get_address();
  uint64_t output = addr / p_.port_span;
  if (port >= p_.ports || output >= static_cast<uint64_t>(out.size())) {
    SC_REPORT_WARNING(name(), ("no output port for address " + std::to_string(addr)).c_str());
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  int to = static_cast<int>(output);
  sc_time now = sc_core::sc_time_stamp();
  sc_time start = now + delay;
  if (p_.policy == CircuitPolicy::kScheduled) {
    const Circuit* c = NextCircuit(port, to, start);
    if (c == nullptr) {
      SC_REPORT_WARNING(name(), ("the schedule never connects input " + std::to_string(port) + " to output " +
                                 std::to_string(to) + " again")
                                    .c_str());
      trans.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
      return;
    }
    if (c->up > start) start = c->up;
  } else {
    start = OnDemand(port, to, start);
  }
  delay = start - now;
  trans.set_address(addr - output * p_.port_span);
  out[to]->b_transport(trans, delay);
  trans.set_address(addr);
  if (sc_core::sc_time_stamp() + delay > free_at_[port]) free_at_[port] = sc_core::sc_time_stamp() + delay;
}

}  // namespace lightloop::hw_models
