// SPDX-License-Identifier: Apache-2.0
// The simulated fabric behind the provider: link and memory timing from the
// hw_models closed forms, the virtual clock and the pending completions
// (a discrete-event queue ordered by time, then by issue order).
#include <rdma/providers/fi_log.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <stdexcept>

#include "lightloop_fi.h"

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

Timing::Timing(hw_models::NodeConfig node)
    : node_(std::move(node)),
      link_(PhotonicOf(node_)),
      busy_scale_(link_.PayloadGBps() / link_.ExpectedGoodputGBps()) {}

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

double Timing::WriteLatencyNs(uint64_t bytes) const {
  return static_cast<double>(FlightPs(bytes) + MemoryLatencyPs(true, bytes) + FlightPs(1)) / 1000.0;
}

double Timing::ReadLatencyNs(uint64_t bytes) const {
  return static_cast<double>(FlightPs(1) + MemoryLatencyPs(false, bytes) + FlightPs(bytes)) / 1000.0;
}

Sim* Sim::Get() {
  static Sim* sim = []() -> Sim* {
    std::string path = NodeConfigPath();
    try {
      hw_models::NodeConfig node = hw_models::ReadNode(path);
      if (node.fabric_switch) {
        FI_WARN(&gProvider, FI_LOG_FABRIC, "%s: the switch is not modelled by the provider yet\n",
                path.c_str());
      }
      std::unique_ptr<BoardMemory> board;
      if (std::string spec = BoardSpec(); !spec.empty()) board = std::make_unique<BoardMemory>(spec);
      return new Sim(Timing(std::move(node)), std::move(board));
    } catch (const std::exception& e) {
      FI_WARN(&gProvider, FI_LOG_FABRIC, "cannot build the simulated fabric from %s: %s\n", path.c_str(),
              e.what());
      return nullptr;
    }
  }();
  return sim;
}

void Sim::AdvanceTo(uint64_t t_ps) {
  now_ps_ = std::max(now_ps_, t_ps);
  while (!pending_.empty() && pending_.begin()->first.first <= now_ps_) {
    auto node = pending_.extract(pending_.begin());
    --node.mapped().cq->pending;
    node.mapped().cq->ready.push_back(node.mapped().c);
  }
  changed.notify_all();
}

void Sim::Progress(Cq* cq, bool waiting) {
  AdvanceTo(now_ps_);
  if (waiting && cq->ready.empty() && cq->pending > 0) AdvanceTo(pending_.begin()->first.first);
}

void Sim::Schedule(uint64_t t_ps, Cq* cq, const Completion& c) {
  if (cq == nullptr) return;
  pending_.emplace(std::make_pair(t_ps, seq_++), Pending{cq, c});
  ++cq->pending;
  changed.notify_all();
}

void Sim::ForgetCq(Cq* cq) {
  std::erase_if(pending_, [cq](const auto& kv) { return kv.second.cq == cq; });
  cq->pending = 0;
}

uint32_t Sim::AddEp(Ep* ep) {
  uint32_t id = next_ep_++;
  eps_[id] = ep;
  return id;
}

void Sim::RemoveEp(Ep* ep) {
  eps_.erase(ep->id);
}

Ep* Sim::FindEp(uint32_t id) const {
  auto it = eps_.find(id);
  return it == eps_.end() ? nullptr : it->second;
}

int Sim::AddMr(Mr* mr, uint64_t requested_key, bool prov_key) {
  uint64_t key = requested_key;
  if (prov_key) {
    while (mrs_.count(next_key_)) ++next_key_;
    key = next_key_++;
  } else if (mrs_.count(key)) {
    return -FI_ENOKEY;
  }
  mr->fid.key = key;
  mrs_[key] = mr;
  return 0;
}

void Sim::RemoveMr(Mr* mr) {
  auto it = mrs_.find(mr->fid.key);
  if (it != mrs_.end() && it->second == mr) mrs_.erase(it);
}

Mr* Sim::FindMr(uint64_t key) const {
  auto it = mrs_.find(key);
  return it == mrs_.end() ? nullptr : it->second;
}

Sim::Times Sim::Write(Ep* src, Ep* dst, uint64_t bytes, bool ok) {
  uint64_t start = std::max(now_ps_, src->out_free_ps);
  src->out_free_ps = start + timing_.WireBusyPs(bytes);
  uint64_t at_target = start + timing_.FlightPs(bytes);
  if (dst == nullptr || !ok) return {at_target, at_target + timing_.FlightPs(1)};
  uint64_t mem_start = std::max(at_target, dst->domain->mem_free_ps);
  dst->domain->mem_free_ps = mem_start + timing_.MemoryBusyPs(bytes);
  uint64_t written = mem_start + timing_.MemoryLatencyPs(true, bytes);
  return {written, written + timing_.FlightPs(1)};
}

Sim::Times Sim::Read(Ep* src, Ep* dst, uint64_t bytes, bool ok) {
  uint64_t start = std::max(now_ps_, src->out_free_ps);
  src->out_free_ps = start + timing_.WireBusyPs(1);
  uint64_t at_target = start + timing_.FlightPs(1);
  if (dst == nullptr || !ok) return {at_target, at_target + timing_.FlightPs(1)};
  uint64_t mem_start = std::max(at_target, dst->domain->mem_free_ps);
  dst->domain->mem_free_ps = mem_start + timing_.MemoryBusyPs(bytes);
  uint64_t data_start = std::max(mem_start + timing_.MemoryLatencyPs(false, bytes), src->in_free_ps);
  src->in_free_ps = data_start + timing_.WireBusyPs(bytes);
  return {at_target, data_start + timing_.FlightPs(bytes)};
}

Sim::Times Sim::OnBoard(uint64_t dma_ps) {
  uint64_t start = std::max(now_ps_, board_free_ps_);
  board_free_ps_ = start + dma_ps;
  return {board_free_ps_, board_free_ps_};
}

int NoSys() {
  return -FI_ENOSYS;
}

}  // namespace lightloop::fi
