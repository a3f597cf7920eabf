// SPDX-License-Identifier: Apache-2.0
// The DRAM memory controller (`memory: {impl: dram, ...}`) as a TLM-2.0
// target with real storage. Two fidelities (DramParams::fidelity):
//   - transaction: b_transport returns at once with the delay of the
//     analytic model (DramTransactionModel): loosely timed, temporally
//     decoupled, for coarse transfers;
//   - command: the command-level engine (DramEngine) runs in a SystemC
//     thread clocked in batches (it jumps from one command to the next).
//     b_transport synchronises (waits for its arrival time, then for its
//     data), so concurrent initiator threads contend in the queues for real.
// Both fidelities also take the approximately-timed base protocol
// (nb_transport_fw: BEGIN_REQ is accepted at once with END_REQ; BEGIN_RESP
// follows when the data is done, one response at a time until END_RESP).
// CXL-attached memory adds port_latency_ns on the way in and on the way out.
// Out-of-range accesses get TLM_ADDRESS_ERROR_RESPONSE and take no time.
//
//   DramController dram("dram", ReadDram(section));
//   link.initiator.bind(dram.target);
#pragma once

#include <tlm_utils/peq_with_cb_and_phase.h>
#include <tlm_utils/simple_target_socket.h>

#include <deque>
#include <memory>
#include <systemc>
#include <tlm>
#include <unordered_map>

#include "lightloop/hw_models/memory/dram_engine.h"
#include "lightloop/hw_models/memory/dram_transaction_model.h"
#include "lightloop/hw_models/memory/memory_registry.h"
#include "lightloop/hw_models/memory/sparse_storage.h"

namespace lightloop::hw_models {

class DramController : public sc_core::sc_module, public MemoryModel {
 public:
  tlm_utils::simple_target_socket<DramController> target;

  DramController(sc_core::sc_module_name name, const DramParams& params);

  const DramParams& params() const { return p_; }
  const DramStats& stats() const;
  // Command energy plus background power over `elapsed`.
  double joules(sc_core::sc_time elapsed) const override;
  std::optional<double> row_buffer_hit_rate() const override { return stats().RowHitRate(); }
  tlm::tlm_target_socket<>& socket() override { return target; }
  uint64_t accesses() const { return accesses_; }

 private:
  void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  tlm::tlm_sync_enum nb_transport_fw(tlm::tlm_generic_payload& trans, tlm::tlm_phase& phase,
                                     sc_core::sc_time& delay);
  void OnPeq(tlm::tlm_generic_payload& trans, const tlm::tlm_phase& phase);
  // Checks bounds and moves the data; false (with the error set) when refused.
  bool Access(tlm::tlm_generic_payload& trans);
  // Command fidelity: submits at the current cycle; returns the engine id.
  uint64_t SubmitNow(tlm::tlm_generic_payload& trans);
  // Runs the engine through `cycle` and hands out the completions.
  void Advance(uint64_t cycle);
  void EngineThread();
  void SendResponse(tlm::tlm_generic_payload& trans);

  uint64_t CycleAtOrAfter(const sc_core::sc_time& t) const;
  sc_core::sc_time TimeOf(uint64_t cycle) const;

  struct Waiter {
    std::unique_ptr<sc_core::sc_event> done;    // b_transport
    tlm::tlm_generic_payload* trans = nullptr;  // nb_transport
  };

  DramParams p_;
  SparseStorage storage_;
  std::unique_ptr<DramEngine> engine_;
  std::unique_ptr<DramTransactionModel> model_;
  sc_core::sc_time port_;
  sc_core::sc_event kick_;
  std::unordered_map<uint64_t, Waiter> waiters_;
  uint64_t next_id_ = 1;
  uint64_t accesses_ = 0;
  tlm_utils::peq_with_cb_and_phase<DramController> peq_;
  std::deque<tlm::tlm_generic_payload*> responses_;  // waiting for the previous END_RESP
  bool response_in_flight_ = false;
};

}  // namespace lightloop::hw_models
