// SPDX-License-Identifier: Apache-2.0
// Private to the lightloop provider and its fabric daemon: the link and
// memory timing of a node configuration, from the hw_models closed forms.
//
//   Timing t(hw_models::ReadNode("node.yaml"));
//   uint64_t busy = t.WireBusyPs(1 << 20);  // one direction, all rails
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "lightloop/hw_models/node/memory_node.h"

namespace lightloop::fi {

// One endpoint's link: when each direction is free again (ps).
struct LinkState {
  uint64_t out_free_ps = 0;  // toward the fabric
  uint64_t in_free_ps = 0;   // and back
};

// The virtual times of one transfer.
struct TransferTimes {
  uint64_t arrival_ps;  // the data is in the target's memory (or the message at the target)
  uint64_t done_ps;     // the initiator's completion
};

// Where transfer times come from (FI_LIGHTLOOP_TIMING):
// - kTlm: the node's SystemC TLM-2.0 modules (hw_models::NodeFabric: links,
//   switch, memory controllers), one b_transport per transfer, loosely
//   timed: the kernel follows the provider's clock within a quantum and the
//   transfer's offset from the kernel's time is its annotated delay, so the
//   provider's clock is the initiator's local time in SystemC. Every initiator shares the node's one front end (its links
//   contend), the links' credits, bit errors and replays and the memory's
//   banks act per transfer, and a switch reconfigures.
// - kClosedForm: the closed forms, each initiator endpoint on a link of its
//   own (the first phase's model; faster, and what the tests compare with).
enum class TimingModel { kTlm, kClosedForm };

class TlmNode;

// The link and memory timing of one node configuration, in picoseconds.
class Timing {
 public:
  // One transfer issued at `now`: the initiator's link `src` (toward the
  // fabric for data and requests, back for read data) and the target's
  // memory (busy until `*mem_free_ps`; null: no target) queue in issue
  // order. `ok` false: the target refuses it (no memory access, a NAK
  // instead of the ack). Updates `src` and `*mem_free_ps`.
  // `addr`: the byte the transfer starts at, within its region (the TLM
  // memory's address; its banks and rows follow it).
  TransferTimes Write(uint64_t now, LinkState& src, uint64_t* mem_free_ps, uint64_t bytes, bool ok,
                      uint64_t addr = 0);
  TransferTimes Read(uint64_t now, LinkState& src, uint64_t* mem_free_ps, uint64_t bytes, bool ok,
                     uint64_t addr = 0);
  // Throws std::runtime_error (naming the file) for a node the model cannot time.
  Timing(hw_models::NodeConfig node, TimingModel model);
  Timing(Timing&&) noexcept;
  ~Timing();
  TimingModel model() const { return model_; }
  const hw_models::LinkClosedForm& link() const { return link_; }
  // Time one direction of the link (all rails) is busy with `bytes`.
  uint64_t WireBusyPs(uint64_t bytes) const;
  // One transfer's flight over the link, serialization included.
  uint64_t FlightPs(uint64_t bytes) const;
  uint64_t MemoryLatencyPs(bool write, uint64_t bytes) const;
  uint64_t MemoryBusyPs(uint64_t bytes) const;  // 0 without a bandwidth limit
  const std::string& file() const { return node_.file; }

 private:
  uint64_t Slice(uint64_t bytes) const;
  hw_models::NodeConfig node_;
  hw_models::LinkClosedForm link_;
  double busy_scale_;  // PayloadGBps / ExpectedGoodputGBps: credits and replays
  TimingModel model_;
  std::unique_ptr<TlmNode> tlm_;  // kTlm
};

// FI_LIGHTLOOP_TIMING's value: "tlm" (default) or "closed_form"; false for another.
bool ParseTimingModel(const std::string& text, TimingModel* model);
const char* TimingModelName(TimingModel model);

}  // namespace lightloop::fi
