// SPDX-License-Identifier: Apache-2.0
// A memory node's TLM-2.0 modules, composed from its NodeConfig: the rails'
// links (one, striped, or steered behind a switch), the switch if any, and
// the memory controllers (one, or interleaved). A requester binds its
// initiator socket to front(); each b_transport there is one whole transfer.
// Used by `lightloop model` (RunNodeModel) and by the lightloop provider's
// TLM timing. Build it during elaboration (before sc_start).
//
//   NodeFabric fabric(ReadNode("hw_models/presets/nodes/optical_io_fixed.yaml"), "node");
//   requester.socket.bind(fabric.front());
#pragma once

#include <memory>
#include <string>
#include <tlm>
#include <vector>

#include "lightloop/hw_models/node/memory_node.h"

namespace lightloop::hw_models {

// An ignorable extension: the requester moves the bytes itself and wants the
// transfer's timing only. lightloop's memory models then leave their storage
// alone (and the data pointer may point at too few bytes); a model that does
// not know it stores the bytes as usual.
struct TimingOnly : tlm::tlm_extension<TimingOnly> {
  tlm::tlm_extension_base* clone() const override { return new TimingOnly(*this); }
  void copy_from(const tlm::tlm_extension_base&) override {}
};
inline bool IsTimingOnly(const tlm::tlm_generic_payload& trans) {
  return trans.get_extension<TimingOnly>() != nullptr;
}

class NodeFabric {
 public:
  // Module names begin with `prefix`.
  NodeFabric(const NodeConfig& node, const std::string& prefix);
  ~NodeFabric();
  NodeFabric(const NodeFabric&) = delete;
  NodeFabric& operator=(const NodeFabric&) = delete;

  tlm::tlm_target_socket<>& front();
  const std::vector<std::unique_ptr<LinkModel>>& links() const { return links_; }
  const std::vector<std::unique_ptr<MemoryModel>>& memories() const { return memories_; }
  SwitchModel* fabric_switch() const { return switch_.get(); }

 private:
  struct Glue;  // the striper, steerer and interleaver modules
  std::vector<std::unique_ptr<LinkModel>> links_;
  std::vector<std::unique_ptr<MemoryModel>> memories_;
  std::unique_ptr<SwitchModel> switch_;
  std::unique_ptr<Glue> glue_;
};

}  // namespace lightloop::hw_models
