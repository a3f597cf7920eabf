// SPDX-License-Identifier: Apache-2.0
// The node's TLM modules as the provider's timing (timing_tlm.h). Loosely
// timed with temporal decoupling: the SystemC kernel follows the provider's
// clock within a 1 us quantum, and each transfer's offset from the kernel's
// time is its annotated delay, so the modules' own state (each link direction's busy time and credit window,
// bit errors and replays, the memory's banks, a switch's circuits) orders
// transfers in issue order. The provider and the fabric daemon issue them
// in non-decreasing time.
#include "timing_tlm.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace lightloop::fi {

TlmNode::TlmNode(sc_core::sc_module_name name, const hw_models::NodeConfig& node)
    : sc_module(name), fabric(node, std::string(name) + "_node"), span(node.memory_size()) {
  socket.bind(fabric.front());
}

std::unique_ptr<TlmNode> MakeTlmNode(const hw_models::NodeConfig& node) {
  if (node.memory->blocking()) {
    throw std::runtime_error(node.file +
                             ": the memory's command-level fidelity waits inside b_transport, which the "
                             "provider's TLM timing cannot (use fidelity: transaction, or "
                             "FI_LIGHTLOOP_TIMING=closed_form)");
  }
  if (const hw_models::PhotonicLinkParams* p = node.link->photonic(); p != nullptr && !p->initially_up) {
    throw std::runtime_error(node.file +
                             ": a link that starts down waits for its power-up inside b_transport, which the "
                             "provider's TLM timing cannot (FI_LIGHTLOOP_TIMING=closed_form times it up)");
  }
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "DISABLE", 0);  // a libfabric program's stdout is its own
  auto tlm = std::make_unique<TlmNode>(sc_core::sc_gen_unique_name("lightloop_fabric"), node);
  // Completes elaboration (multi-sockets resolve their bindings there) and
  // runs the processes' first delta cycle; the kernel's time stays at 0.
  sc_core::sc_start(sc_core::SC_ZERO_TIME);
  return tlm;
}

uint64_t TlmTransport(TlmNode& node, bool write, uint64_t addr, uint64_t bytes, uint64_t now_ps) {
  static unsigned char scratch[1];  // never touched: the transfer is TimingOnly
  static hw_models::TimingOnly timing_only;
  bytes = std::max<uint64_t>(bytes, 1);
  const uint64_t span = std::max<uint64_t>(node.span, 1);
  addr = bytes >= span ? 0 : (addr % span) / 64 * 64;
  if (addr + bytes > span) addr = (span - bytes) / 64 * 64;
  tlm::tlm_generic_payload trans;
  trans.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  trans.set_address(addr);
  trans.set_data_ptr(scratch);
  trans.set_data_length(static_cast<unsigned>(std::min<uint64_t>(bytes, UINT32_MAX)));
  trans.set_streaming_width(trans.get_data_length());
  trans.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  trans.set_extension(&timing_only);
  // The kernel follows the provider's clock, at most a quantum behind (as a
  // tlm_quantumkeeper keeps an initiator): sc_time_stamp() is the clock, and
  // the transfer's offset from it is its annotated delay.
  static const sc_core::sc_time quantum(1, sc_core::SC_US);
  const sc_core::sc_time now(static_cast<double>(now_ps), sc_core::SC_PS);
  if (now > sc_core::sc_time_stamp() + quantum) sc_core::sc_start(now - sc_core::sc_time_stamp());
  sc_core::sc_time delay =
      now > sc_core::sc_time_stamp() ? now - sc_core::sc_time_stamp() : sc_core::SC_ZERO_TIME;
  const sc_core::sc_time base = sc_core::sc_time_stamp();
  node.socket->b_transport(trans, delay);
  delay += base;
  trans.clear_extension(&timing_only);
  if (trans.is_response_error()) return 0;  // (cannot happen: the address is folded into the span)
  static const uint64_t ps_per_unit =
      static_cast<uint64_t>(std::llround(sc_core::sc_get_time_resolution().to_seconds() * 1e12));
  return delay.value() * ps_per_unit;
}

}  // namespace lightloop::fi
