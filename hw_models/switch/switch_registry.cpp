// SPDX-License-Identifier: Apache-2.0
// The registry of switch models and the built-in optical circuit switch.
#include "lightloop/hw_models/switch/switch_registry.h"

#include "lightloop/hw_models/switch/optical_circuit_switch.h"

namespace lightloop::hw_models {
namespace {

class OcsSpec : public SwitchSpec {
 public:
  explicit OcsSpec(ConfigReader& s) : p_(ReadOcs(s)) {}
  int64_t ports() const override { return p_.ports; }
  std::unique_ptr<SwitchModel> Build(const char* name, uint64_t port_span) const override {
    OcsParams p = p_;
    p.port_span = port_span;
    return std::make_unique<OpticalCircuitSwitch>(name, p);
  }

 private:
  OcsParams p_;
};

}  // namespace

Registry<SwitchSpec>& SwitchRegistry() {
  static Registry<SwitchSpec>* r = [] {
    auto* reg = new Registry<SwitchSpec>;
    reg->Add("ocs", [](ConfigReader& s) { return std::make_unique<OcsSpec>(s); });
    return reg;
  }();
  return *r;
}

}  // namespace lightloop::hw_models
