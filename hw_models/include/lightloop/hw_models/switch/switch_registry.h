// SPDX-License-Identifier: Apache-2.0
// Switch models by name: the `impl:` of a node's `switch:` section. The
// built-in model is `ocs` (OpticalCircuitSwitch); a partner's own TLM-2.0
// switch joins by registering a parser, as for links and memories.
//
//   LIGHTLOOP_REGISTER_SWITCH("my_switch", [](ConfigReader& s) { return std::make_unique<MySwitchSpec>(s);
//   });
#pragma once

#include <tlm_utils/multi_socket_bases.h>

#include <cstdint>
#include <memory>

#include "lightloop/hw_models/config/registry.h"
#include "lightloop/hw_models/memory/memory_registry.h"  // LIGHTLOOP_REGISTER_MEMORY_CAT

namespace lightloop::hw_models {

// A switch as the node sees it: input i is bound to rail i, output k to
// controller k, which owns addresses [k * port_span, (k + 1) * port_span).
class SwitchModel {
 public:
  virtual ~SwitchModel() = default;
  virtual tlm_utils::multi_target_base<>& inputs() = 0;
  virtual tlm_utils::multi_init_base<>& outputs() = 0;
  virtual uint64_t reconfigurations() const = 0;
};

// A validated `switch:` section.
class SwitchSpec {
 public:
  virtual ~SwitchSpec() = default;
  virtual int64_t ports() const = 0;
  virtual std::unique_ptr<SwitchModel> Build(const char* name, uint64_t port_span) const = 0;
};

Registry<SwitchSpec>& SwitchRegistry();

#define LIGHTLOOP_REGISTER_SWITCH(impl, parser)                                                              \
  [[maybe_unused]] static const bool LIGHTLOOP_REGISTER_MEMORY_CAT(lightloop_switch_registered_, __LINE__) = \
      ::lightloop::hw_models::SwitchRegistry().Add(impl, parser)

}  // namespace lightloop::hw_models
