// SPDX-License-Identifier: Apache-2.0
// NodeFabric (node_fabric.h): the node's modules and the glue between them.
#include "lightloop/hw_models/node/node_fabric.h"

#include <tlm_utils/multi_passthrough_initiator_socket.h>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <algorithm>
#include <systemc>

namespace lightloop::hw_models {
namespace {

using sc_core::sc_time;

// Forwards a piece of `whole` to `target` starting at the same time as
// the whole; returns false (with the error copied) when the piece failed.
bool ForwardPiece(tlm::tlm_fw_transport_if<>* target, tlm::tlm_generic_payload& whole, uint64_t address,
                  unsigned char* data, uint64_t length, sc_time start, sc_time& latest) {
  tlm::tlm_generic_payload piece;
  piece.set_command(whole.get_command());
  piece.set_address(address);
  piece.set_data_ptr(data);
  piece.set_data_length(static_cast<unsigned>(length));
  piece.set_streaming_width(static_cast<unsigned>(length));
  piece.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  TimingOnly* timing_only = whole.get_extension<TimingOnly>();
  if (timing_only != nullptr) piece.set_extension(timing_only);
  sc_time delay = start;
  target->b_transport(piece, delay);
  if (timing_only != nullptr) piece.clear_extension(timing_only);  // the whole owns it
  if (piece.is_response_error()) {
    whole.set_response_status(piece.get_response_status());
    return false;
  }
  latest = std::max(latest, delay);
  return true;
}

// Stripes each transfer across the rails: rail i carries the i-th slice,
// all slices leave together, the transfer is done when the last one is.
struct Striper : sc_core::sc_module {
  tlm_utils::simple_target_socket<Striper> in{"in"};
  tlm_utils::multi_passthrough_initiator_socket<Striper> out{"out"};
  explicit Striper(sc_core::sc_module_name name) : sc_module(name) {
    in.register_b_transport(this, &Striper::b_transport);
  }
  void b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
    const uint64_t len = trans.get_data_length(), rails = out.size();
    const uint64_t slice = (len + rails - 1) / rails;
    sc_time latest = delay;
    for (uint64_t i = 0; i * slice < len; ++i) {
      uint64_t off = i * slice;
      if (!ForwardPiece(out[static_cast<int>(i)], trans, trans.get_address() + off,
                        trans.get_data_ptr() + off, std::min(slice, len - off), delay, latest)) {
        return;
      }
    }
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
    delay = latest;
  }
};

// Behind a switch: each transfer takes the rail of the controller it
// addresses (controller k on rail k % rails), whole.
struct Steerer : sc_core::sc_module {
  tlm_utils::simple_target_socket<Steerer> in{"in"};
  tlm_utils::multi_passthrough_initiator_socket<Steerer> out{"out"};
  uint64_t controller_bytes;
  Steerer(sc_core::sc_module_name name, uint64_t bytes) : sc_module(name), controller_bytes(bytes) {
    in.register_b_transport(this, &Steerer::b_transport);
  }
  void b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
    out[static_cast<int>(trans.get_address() / controller_bytes % out.size())]->b_transport(trans, delay);
  }
};

// Interleaves the address space across controllers, `interleave` bytes at
// a time; a transfer that spans several goes to each in parallel.
struct Interleaver : sc_core::sc_module {
  tlm_utils::multi_passthrough_target_socket<Interleaver> in{"in"};
  tlm_utils::multi_passthrough_initiator_socket<Interleaver> out{"out"};
  uint64_t interleave;
  Interleaver(sc_core::sc_module_name name, uint64_t bytes) : sc_module(name), interleave(bytes) {
    in.register_b_transport(this, &Interleaver::b_transport);
  }
  void b_transport(int, tlm::tlm_generic_payload& trans, sc_time& delay) {
    const uint64_t k = out.size(), len = trans.get_data_length();
    sc_time latest = delay;
    for (uint64_t off = 0; off < len;) {
      uint64_t a = trans.get_address() + off, unit = a / interleave;
      uint64_t n = std::min(len - off, (unit + 1) * interleave - a);
      uint64_t local = unit / k * interleave + a % interleave;
      if (!ForwardPiece(out[static_cast<int>(unit % k)], trans, local, trans.get_data_ptr() + off, n, delay,
                        latest)) {
        return;
      }
      off += n;
    }
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
    delay = latest;
  }
};

}  // namespace

struct NodeFabric::Glue {
  std::unique_ptr<Striper> striper;
  std::unique_ptr<Steerer> steerer;
  std::unique_ptr<Interleaver> interleaver;
};

NodeFabric::NodeFabric(const NodeConfig& node, const std::string& prefix) : glue_(std::make_unique<Glue>()) {
  for (int64_t i = 0; i < node.rails; ++i) {
    links_.push_back(node.link->Build(sc_core::sc_gen_unique_name((prefix + "_link").c_str())));
  }
  for (int64_t i = 0; i < node.controllers; ++i) {
    memories_.push_back(node.memory->Build(sc_core::sc_gen_unique_name((prefix + "_memory").c_str())));
  }
  // Front end: one rail, rails striped, or (behind a switch) rails steered.
  if (links_.size() > 1 && node.fabric_switch) {
    glue_->steerer = std::make_unique<Steerer>(sc_core::sc_gen_unique_name((prefix + "_steerer").c_str()),
                                               node.memory->size());
    for (auto& link : links_) glue_->steerer->out.bind(link->target_socket());
  } else if (links_.size() > 1) {
    glue_->striper = std::make_unique<Striper>(sc_core::sc_gen_unique_name((prefix + "_striper").c_str()));
    for (auto& link : links_) glue_->striper->out.bind(link->target_socket());
  }
  // Far end: one memory, a switch, or controllers interleaved.
  if (node.fabric_switch) {
    switch_ = node.fabric_switch->Build(sc_core::sc_gen_unique_name((prefix + "_switch").c_str()),
                                        node.memory->size());
    for (auto& link : links_) link->initiator_socket().bind(switch_->inputs());
    for (auto& memory : memories_) switch_->outputs().bind(memory->socket());
  } else if (links_.size() == 1 && memories_.size() == 1) {
    links_[0]->initiator_socket().bind(memories_[0]->socket());
  } else {
    glue_->interleaver = std::make_unique<Interleaver>(
        sc_core::sc_gen_unique_name((prefix + "_interleaver").c_str()), node.interleave_bytes);
    for (auto& link : links_) link->initiator_socket().bind(glue_->interleaver->in);
    for (auto& memory : memories_) glue_->interleaver->out.bind(memory->socket());
  }
}

NodeFabric::~NodeFabric() = default;

tlm::tlm_target_socket<>& NodeFabric::front() {
  if (glue_->steerer) return glue_->steerer->in;
  if (glue_->striper) return glue_->striper->in;
  return links_[0]->target_socket();
}

}  // namespace lightloop::hw_models
