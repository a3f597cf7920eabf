// SPDX-License-Identifier: Apache-2.0
// Link and memory timing of a node from the hw_models closed forms (timing.h).
#include "timing.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "timing_tlm.h"

namespace lightloop::fi {
namespace {

uint64_t Ps(double ns) {
  return static_cast<uint64_t>(std::llround(ns * 1000.0));
}

// The provider times transfers with the photonic link's closed form.
const hw_models::PhotonicLinkParams& PhotonicOf(const hw_models::NodeConfig& node) {
  const hw_models::PhotonicLinkParams* p = node.link ? node.link->photonic() : nullptr;
  if (p == nullptr) {
    throw std::runtime_error(node.file + ": the link model has no closed form; the sim provider needs one");
  }
  return *p;
}

}  // namespace

Timing::Timing(hw_models::NodeConfig node, TimingModel model)
    : node_(std::move(node)),
      link_(PhotonicOf(node_)),
      busy_scale_(link_.PayloadGBps() / link_.ExpectedGoodputGBps()),
      model_(model) {
  if (model_ == TimingModel::kTlm) tlm_ = MakeTlmNode(node_);
}

Timing::Timing(Timing&&) noexcept = default;
Timing::~Timing() = default;

bool ParseTimingModel(const std::string& text, TimingModel* model) {
  if (text == "tlm" || text.empty()) {
    *model = TimingModel::kTlm;
  } else if (text == "closed_form") {
    *model = TimingModel::kClosedForm;
  } else {
    return false;
  }
  return true;
}

const char* TimingModelName(TimingModel model) {
  return model == TimingModel::kTlm ? "tlm" : "closed_form";
}

uint64_t Timing::Slice(uint64_t bytes) const {
  return hw_models::StripedShare(node_, bytes).per_rail;
}

uint64_t Timing::WireBusyPs(uint64_t bytes) const {
  return Ps(link_.SerializationNs(Slice(bytes)) * busy_scale_);
}

uint64_t Timing::FlightPs(uint64_t bytes) const {
  return Ps(link_.TransferLatencyNs(Slice(bytes)));
}

uint64_t Timing::MemoryLatencyPs(bool write, uint64_t bytes) const {
  return Ps(node_.memory->IdleLatencyNs(write, hw_models::StripedShare(node_, bytes).per_controller));
}

uint64_t Timing::MemoryBusyPs(uint64_t bytes) const {
  double gbps = node_.memory->PeakGBps() * static_cast<double>(std::max<int64_t>(node_.controllers, 1));
  return gbps > 0 ? Ps(static_cast<double>(bytes) / gbps) : 0;
}

TransferTimes Timing::Write(uint64_t now, LinkState& src, uint64_t* mem_free_ps, uint64_t bytes, bool ok,
                            uint64_t addr) {
  if (tlm_ != nullptr && mem_free_ps != nullptr && ok) {
    // The model gives the completion (data in memory, ack back); the data
    // reached memory one idle ack flight before it.
    if (const uint64_t done = TlmTransport(*tlm_, true, addr, bytes, now); done != 0) {
      return {std::max(now, done - std::min(done, FlightPs(1))), done};
    }
  }
  uint64_t start = std::max(now, src.out_free_ps);
  src.out_free_ps = start + WireBusyPs(bytes);
  uint64_t at_target = start + FlightPs(bytes);
  if (mem_free_ps == nullptr || !ok) return {at_target, at_target + FlightPs(1)};
  uint64_t mem_start = std::max(at_target, *mem_free_ps);
  *mem_free_ps = mem_start + MemoryBusyPs(bytes);
  uint64_t written = mem_start + MemoryLatencyPs(true, bytes);
  return {written, written + FlightPs(1)};
}

TransferTimes Timing::Read(uint64_t now, LinkState& src, uint64_t* mem_free_ps, uint64_t bytes, bool ok,
                           uint64_t addr) {
  if (tlm_ != nullptr && mem_free_ps != nullptr && ok) {
    if (const uint64_t done = TlmTransport(*tlm_, false, addr, bytes, now); done != 0) {
      return {now + FlightPs(1), done};  // (the request at the target; the data back)
    }
  }
  uint64_t start = std::max(now, src.out_free_ps);
  src.out_free_ps = start + WireBusyPs(1);
  uint64_t at_target = start + FlightPs(1);
  if (mem_free_ps == nullptr || !ok) return {at_target, at_target + FlightPs(1)};
  uint64_t mem_start = std::max(at_target, *mem_free_ps);
  *mem_free_ps = mem_start + MemoryBusyPs(bytes);
  uint64_t data_start = std::max(mem_start + MemoryLatencyPs(false, bytes), src.in_free_ps);
  src.in_free_ps = data_start + WireBusyPs(bytes);
  return {at_target, data_start + FlightPs(bytes)};
}

}  // namespace lightloop::fi
