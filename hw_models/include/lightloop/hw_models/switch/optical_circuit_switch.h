// SPDX-License-Identifier: Apache-2.0
// An optical circuit switch (`switch: {impl: ocs, ...}`) as a loosely-timed
// TLM-2.0 module: N input and N output ports, each input connected to at
// most one output by a circuit. Each output owns a contiguous span of the
// address space. At start input i is connected to output i, and traffic on
// circuits that are up is never delayed. Circuits change by `policy`:
// - on_demand: a transfer to an output without a circuit from its input
//   waits for a reconfiguration (`reconfig_us`), which starts once the
//   input's previous transfer is done and takes the output from whichever
//   input held it.
// - scheduled: circuits change only at the times of the given `schedule`.
//   A change at t takes its input and its output off their circuits at t, and
//   the new circuit is up from t + reconfig_us. A transfer waits for the next
//   time its input is connected to its output, and fails with
//   TLM_GENERIC_ERROR_RESPONSE if that never happens. The switch sees when a
//   transfer starts, not when it ends: a transfer that starts on a circuit is
//   carried to its end.
//
//   OpticalCircuitSwitch ocs("ocs", ReadOcs(section));
//   source_a.socket.bind(ocs.in);   // input port 0
//   ocs.out.bind(memory_0.target);  // output port 0: addresses [0, span)
//
// with, for a given schedule,
//
//   switch:
//     impl: ocs
//     policy: scheduled
//     schedule: [{at_us: 0, input: 0, output: 1}, {at_us: 50, input: 1, output: 0}]
#pragma once

#include <tlm_utils/multi_passthrough_initiator_socket.h>
#include <tlm_utils/multi_passthrough_target_socket.h>

#include <systemc>
#include <tlm>
#include <vector>

#include "lightloop/hw_models/config/config_reader.h"
#include "lightloop/hw_models/switch/switch_registry.h"

namespace lightloop::hw_models {

enum class CircuitPolicy { kOnDemand, kScheduled };

// One entry of a given schedule: at `at_us`, connect `input` to `output`.
struct CircuitChange {
  double at_us = 0;
  int input = 0;
  int output = 0;
};

struct OcsParams {
  int64_t ports = 8;
  double reconfig_us = 10;          // MEMS-class; nanoseconds for tunable-laser switches
  uint64_t port_span = 1ull << 40;  // bytes of address space behind each output
  CircuitPolicy policy = CircuitPolicy::kOnDemand;
  std::vector<CircuitChange> schedule;  // in time order; only with kScheduled
};

// Reads and validates an `ocs` switch section (not `impl`). Throws
// ConfigError, e.g. for a schedule entry whose input is not a port.
OcsParams ReadOcs(ConfigReader& section);

class OpticalCircuitSwitch : public sc_core::sc_module, public SwitchModel {
 public:
  tlm_utils::multi_passthrough_target_socket<OpticalCircuitSwitch> in;
  tlm_utils::multi_passthrough_initiator_socket<OpticalCircuitSwitch> out;

  // Reports an SC_REPORT_ERROR for a schedule that names a port it lacks or
  // is not in time order.
  OpticalCircuitSwitch(sc_core::sc_module_name name, const OcsParams& params);

  // Circuit changes: on demand, those made so far; scheduled, those in the
  // schedule (an entry for a circuit that is there already changes nothing).
  uint64_t reconfigurations() const override;
  tlm_utils::multi_target_base<>& inputs() override { return in; }
  tlm_utils::multi_init_base<>& outputs() override { return out; }
  // The output input `port` is connected to at the current time, or -1
  // (scheduled: also while its new circuit is being set up).
  int circuit(int port) const;

 private:
  // A circuit of the schedule: it carries traffic from `up` until `down`.
  struct Circuit {
    int output;
    sc_core::sc_time up;
    sc_core::sc_time down;
  };

  void b_transport(int port, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  // On demand: when a transfer from `port` to `output` ready at `start` can
  // start, setting up the circuit if needed.
  sc_core::sc_time OnDemand(int port, int output, sc_core::sc_time start);
  // Connects `input` to `output`, taking the output from its previous input.
  void Connect(int input, int output);
  // Scheduled: the circuits each input will have, from the schedule.
  void BuildTimeline();
  // Scheduled: the first circuit from `input` to `output` still up at or
  // after `t`, or nullptr if there is none.
  const Circuit* NextCircuit(int input, int output, sc_core::sc_time t) const;

  OcsParams p_;
  std::vector<int> circuit_;                    // input -> output (on demand)
  std::vector<int> owner_;                      // output -> input (on demand)
  std::vector<sc_core::sc_time> free_at_;       // input: end of its last transfer
  uint64_t reconfigurations_ = 0;               // on demand
  std::vector<std::vector<Circuit>> timeline_;  // scheduled: per input, in time order
  std::vector<sc_core::sc_time> changes_;       // scheduled: time of each real change
};

}  // namespace lightloop::hw_models
