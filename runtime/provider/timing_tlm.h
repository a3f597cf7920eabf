// SPDX-License-Identifier: Apache-2.0
// Private to Timing (timing.cpp): the node's TLM-2.0 modules behind one
// requester, for TimingModel::kTlm.
#pragma once

#include <tlm_utils/simple_initiator_socket.h>

#include <cstdint>
#include <memory>
#include <systemc>
#include <tlm>

#include "lightloop/hw_models/node/node_fabric.h"

namespace lightloop::fi {

class TlmNode : public sc_core::sc_module {
 public:
  TlmNode(sc_core::sc_module_name name, const hw_models::NodeConfig& node);
  tlm_utils::simple_initiator_socket<TlmNode> socket{"socket"};
  hw_models::NodeFabric fabric;
  uint64_t span;  // the node's addressable bytes
};

// Builds the modules (elaboration). Throws std::runtime_error, naming the
// node file, for a node whose modules wait inside b_transport (a link that
// starts down, a command-level DRAM): the provider calls b_transport
// outside any SystemC process.
std::unique_ptr<TlmNode> MakeTlmNode(const hw_models::NodeConfig& node);

// One transfer of `bytes` at node address `addr` (folded into the node's
// span), issued at `now_ps` (never earlier than the last call's): when the
// model completes it (ps), or 0 if the model answered with an error
// response. Runs the kernel up to `now_ps` first when it is more than
// a quantum (1 us) behind, so sc_time_stamp() follows the provider's clock.
uint64_t TlmTransport(TlmNode& node, bool write, uint64_t addr, uint64_t bytes, uint64_t now_ps);

}  // namespace lightloop::fi
