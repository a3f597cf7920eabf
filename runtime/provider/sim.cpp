// SPDX-License-Identifier: Apache-2.0
// The simulated fabric behind the provider: the virtual clock and the
// pending completions (a discrete-event queue ordered by time, then by issue
// order), with link and memory timing from Timing (timing.cpp).
#include <rdma/providers/fi_log.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <stdexcept>

#include "lightloop_fi.h"

namespace lightloop::fi {
Sim* Sim::Get() {
  static Sim* sim = []() -> Sim* {
    std::string path = NodeConfigPath();
    try {
      hw_models::NodeConfig node = hw_models::ReadNode(path);
      TimingModel model;
      if (!ParseTimingModel(TimingParam(), &model)) {
        throw std::runtime_error("FI_LIGHTLOOP_TIMING: '" + TimingParam() + "' is not tlm or closed_form");
      }
      std::unique_ptr<BoardMemory> board;
      if (std::string spec = BoardSpec(); !spec.empty()) {
        board = std::make_unique<BoardMemory>(spec);
        model = TimingModel::kClosedForm;  // the board's DMA times RMA; nothing else needs the node's modules
      }
      if (node.fabric_switch && model == TimingModel::kClosedForm) {
        FI_WARN(&gProvider, FI_LOG_FABRIC, "%s: the switch is modelled by the TLM timing only\n",
                path.c_str());
      }
      return new Sim(Timing(std::move(node), model), std::move(board));
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
  if (shared_ != nullptr) {  // the daemon moves time: deliveries, or paced by the wall clock
    shared_->Drain(*this);
    if (waiting && cq->ready.empty()) shared_->Wait(now_ps_);
    return;
  }
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

Sim::Times Sim::Write(Ep* src, Ep* dst, uint64_t bytes, bool ok, uint64_t addr) {
  return timing_.Write(now_ps_, src->link, dst != nullptr ? &dst->domain->mem_free_ps : nullptr, bytes, ok,
                       addr);
}

Sim::Times Sim::Read(Ep* src, Ep* dst, uint64_t bytes, bool ok, uint64_t addr) {
  return timing_.Read(now_ps_, src->link, dst != nullptr ? &dst->domain->mem_free_ps : nullptr, bytes, ok,
                      addr);
}

Sim::Times Sim::OnBoard(uint64_t dma_ps) {
  uint64_t start = std::max(now_ps_, board_free_ps_);
  board_free_ps_ = start + dma_ps;
  return {board_free_ps_, board_free_ps_};
}

int Sim::DecideMode(bool foreign_peer) {
  const std::string fabric = FabricParam();
  if (mode_ == 1 && foreign_peer && fabric != "process" && board_ == nullptr && seq_ == 0 && now_ps_ == 0) {
    mode_ = 0;  // nothing simulated in-process yet: share it
  }
  if (mode_ != 0) return mode_ < 0 ? mode_ : 0;
  // The fpga backend runs in one process (its board is this process's), so
  // `auto` keeps it here even for a program without the clock ops (a board
  // that keeps wall-clock time offers none).
  const bool shared =
      fabric == "shared" || (fabric != "process" && board_ == nullptr && (!clock_opened || foreign_peer));
  mode_ = 1;
  if (!shared) return 0;
  std::string time = TimeParam();
  TimeMode tm = time == "virtual" ? TimeMode::kVirtual
                : time == "paced" ? TimeMode::kPaced
                                  : (clock_opened ? TimeMode::kVirtual : TimeMode::kPaced);
  std::string error;
  if (board_ != nullptr) {
    error = "the fpga backend (FI_LIGHTLOOP_BOARD) runs in one process only; set FI_LIGHTLOOP_FABRIC=process";
  } else {
    shared_ = SharedFabric::Connect(timing_.file(), tm, timing_.model(), DilationParam(), &error);
  }
  if (shared_ == nullptr) {
    // Unmissable: without it nothing crosses processes, and an unmodified
    // program would only see its operations fail.
    std::fprintf(stderr, "lightloop provider: shared fabric: %s\n", error.c_str());
    mode_ = -FI_EIO;
    return mode_;
  }
  mode_ = 2;
  for (auto& [key, mr] : mrs_) {
    if (int ret = shared_->RegMr(mr->domain->id, *mr); ret != 0) return mode_ = ret;
  }
  for (auto& [id, ep] : eps_) {
    if (int ret = shared_->OpenEp(id, ep->domain->id); ret != 0) return mode_ = ret;
  }
  now_ps_ = tm == TimeMode::kPaced ? shared_->PacedNowPs() : now_ps_;
  return 0;
}

int NoSys() {
  return -FI_ENOSYS;
}

}  // namespace lightloop::fi
