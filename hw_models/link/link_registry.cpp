// SPDX-License-Identifier: Apache-2.0
// The registry of link models and the built-in photonic WDM link.
#include "lightloop/hw_models/link/link_registry.h"

#include "lightloop/hw_models/link/photonic_link_module.h"

namespace lightloop::hw_models {
namespace {

class PhotonicSpec : public LinkSpec {
 public:
  explicit PhotonicSpec(ConfigReader& s) : p_(ReadPhotonicLink(s)) {}
  std::unique_ptr<LinkModel> Build(const char* name) const override {
    return std::make_unique<PhotonicLinkModule>(name, p_);
  }
  const PhotonicLinkParams* photonic() const override { return &p_; }

 private:
  PhotonicLinkParams p_;
};

}  // namespace

Registry<LinkSpec>& LinkRegistry() {
  static Registry<LinkSpec>* r = [] {
    auto* reg = new Registry<LinkSpec>;
    reg->Add("photonic_wdm", [](ConfigReader& s) { return std::make_unique<PhotonicSpec>(s); });
    return reg;
  }();
  return *r;
}

}  // namespace lightloop::hw_models
