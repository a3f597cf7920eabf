// SPDX-License-Identifier: Apache-2.0
// Link models by name: the `impl:` of a `link:` section. The built-in model
// is `photonic_wdm` (PhotonicLinkModule); a partner's own TLM-2.0 link joins
// by registering a parser, exactly as for memories (memory_registry.h):
//
//   class MyLink : public sc_core::sc_module, public LinkModel { ... };
//   struct MyLinkSpec : LinkSpec { ... Build() returns std::make_unique<MyLink>(...) };
//   LIGHTLOOP_REGISTER_LINK("my_link", [](ConfigReader& s) { return std::make_unique<MyLinkSpec>(s); });
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <systemc>
#include <tlm>
#include <vector>

#include "lightloop/hw_models/config/registry.h"
#include "lightloop/hw_models/link/photonic_link.h"
#include "lightloop/hw_models/memory/memory_registry.h"  // LIGHTLOOP_REGISTER_MEMORY_CAT

namespace lightloop::hw_models {

struct LinkCounters {
  uint64_t payload_bytes = 0;
  uint64_t flit_errors = 0;
  uint64_t flits_replayed = 0;
  double busy_s = 0;  // the busier direction's time on the wire
  double joules = 0;
};

// A link as the node sees it: requests come in on the target socket and go
// to the far end through the initiator socket.
class LinkModel {
 public:
  virtual ~LinkModel() = default;
  virtual tlm::tlm_target_socket<>& target_socket() = 0;
  virtual tlm::tlm_initiator_socket<>& initiator_socket() = 0;
  virtual LinkCounters counters() const = 0;
};

// A validated `link:` section.
class LinkSpec {
 public:
  virtual ~LinkSpec() = default;
  virtual std::unique_ptr<LinkModel> Build(const char* name) const = 0;
  // The photonic parameters, whose closed form the node reports; null for a
  // model without one (the node's closed form is then absent).
  virtual const PhotonicLinkParams* photonic() const { return nullptr; }
};

Registry<LinkSpec>& LinkRegistry();

#define LIGHTLOOP_REGISTER_LINK(impl, parser)                                                              \
  [[maybe_unused]] static const bool LIGHTLOOP_REGISTER_MEMORY_CAT(lightloop_link_registered_, __LINE__) = \
      ::lightloop::hw_models::LinkRegistry().Add(impl, parser)

}  // namespace lightloop::hw_models
