// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/memory/dram_controller.h"

#include <cmath>

#include "lightloop/hw_models/node/node_fabric.h"

namespace lightloop::hw_models {

using sc_core::SC_NS;
using sc_core::sc_time;
using sc_core::SC_ZERO_TIME;

DramController::DramController(sc_core::sc_module_name name, const DramParams& params)
    : sc_module(name),
      target("target"),
      p_(params),
      storage_(params.capacity()),
      port_(params.port_latency_ns, SC_NS),
      peq_(this, &DramController::OnPeq) {
  target.register_b_transport(this, &DramController::b_transport);
  target.register_nb_transport_fw(this, &DramController::nb_transport_fw);
  if (p_.fidelity == DramFidelity::kCommand) {
    engine_ = std::make_unique<DramEngine>(p_);
    sc_core::sc_spawn_options options;
    sc_core::sc_spawn([this] { EngineThread(); }, sc_core::sc_gen_unique_name("engine"), &options);
  } else {
    model_ = std::make_unique<DramTransactionModel>(p_);
  }
}

const DramStats& DramController::stats() const {
  return engine_ ? engine_->stats() : model_->stats();
}

double DramController::joules(sc_time elapsed) const {
  double background_w = p_.background_mw * 1e-3 * static_cast<double>(p_.ranks * p_.channels);
  return stats().CommandJoules(p_) + background_w * elapsed.to_seconds();
}

uint64_t DramController::CycleAtOrAfter(const sc_time& t) const {
  double cycles = t.to_seconds() * 1e9 / p_.tck_ns;
  return static_cast<uint64_t>(std::ceil(cycles - 1e-6));
}

sc_time DramController::TimeOf(uint64_t cycle) const {
  return sc_time(static_cast<double>(cycle) * p_.tck_ns, SC_NS);
}

bool DramController::Access(tlm::tlm_generic_payload& trans) {
  uint64_t addr = trans.get_address(), len = trans.get_data_length();
  if (trans.get_byte_enable_ptr() != nullptr) {
    trans.set_response_status(tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
    return false;
  }
  if (!storage_.Contains(addr, len)) {
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return false;
  }
  if (IsTimingOnly(trans)) {
    // the requester moves the bytes (node_fabric.h)
  } else if (trans.is_write()) {
    storage_.Write(addr, trans.get_data_ptr(), len);
  } else if (trans.is_read()) {
    storage_.Read(addr, trans.get_data_ptr(), len);
  }
  ++accesses_;
  trans.set_response_status(tlm::TLM_OK_RESPONSE);
  return true;
}

void DramController::Advance(uint64_t cycle) {
  engine_->RunUntil(cycle);
  sc_time now = sc_core::sc_time_stamp();
  for (auto [id, done] : engine_->TakeCompleted()) {
    auto it = waiters_.find(id);
    sc_time at = TimeOf(done);
    sc_time in = at > now ? at - now : SC_ZERO_TIME;
    if (it->second.done) {
      it->second.done->notify(in);
    } else {
      tlm::tlm_phase resp = tlm::BEGIN_RESP;
      peq_.notify(*it->second.trans, resp, in + port_);
      waiters_.erase(it);
    }
  }
}

uint64_t DramController::SubmitNow(tlm::tlm_generic_payload& trans) {
  uint64_t cycle = CycleAtOrAfter(sc_core::sc_time_stamp());
  if (cycle > 0) Advance(cycle - 1);
  uint64_t id = next_id_++;
  engine_->Submit(id, trans.is_write(), trans.get_address(), trans.get_data_length(), cycle);
  kick_.notify(SC_ZERO_TIME);
  return id;
}

void DramController::EngineThread() {
  for (;;) {
    uint64_t next = engine_->NextEvent();
    if (next == DramEngine::kNever) {
      wait(kick_);
    } else {
      sc_time at = TimeOf(next), now = sc_core::sc_time_stamp();
      if (at > now) wait(at - now, kick_);
    }
    sc_time now = sc_core::sc_time_stamp();
    uint64_t cycle = CycleAtOrAfter(now);
    if (TimeOf(cycle) > now) {
      if (cycle == 0) continue;
      --cycle;
    }
    Advance(cycle);
  }
}

void DramController::b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
  if (!Access(trans)) return;
  if (model_) {
    sc_time now = sc_core::sc_time_stamp();
    uint64_t done = model_->Serve(trans.is_write(), trans.get_address(), trans.get_data_length(),
                                  CycleAtOrAfter(now + delay + port_));
    delay = TimeOf(done) - now + port_;
    return;
  }
  // Command level: be there at the arrival time, then wait for the data.
  if (delay + port_ > SC_ZERO_TIME) wait(delay + port_);
  delay = SC_ZERO_TIME;
  auto done = std::make_unique<sc_core::sc_event>();
  sc_core::sc_event* event = done.get();
  uint64_t id = next_id_;  // SubmitNow takes this id
  waiters_[id].done = std::move(done);
  SubmitNow(trans);
  wait(*event);
  waiters_.erase(id);
  delay = port_;
}

tlm::tlm_sync_enum DramController::nb_transport_fw(tlm::tlm_generic_payload& trans, tlm::tlm_phase& phase,
                                                   sc_time& delay) {
  if (phase == tlm::BEGIN_REQ) {
    if (!Access(trans)) return tlm::TLM_COMPLETED;  // the error status says why
    if (trans.has_mm()) trans.acquire();
    peq_.notify(trans, phase, delay + port_);
    phase = tlm::END_REQ;
    return tlm::TLM_UPDATED;
  }
  if (phase == tlm::END_RESP) {
    response_in_flight_ = false;
    if (trans.has_mm()) trans.release();
    if (!responses_.empty()) {
      tlm::tlm_generic_payload* next = responses_.front();
      responses_.pop_front();
      SendResponse(*next);
    }
    return tlm::TLM_COMPLETED;
  }
  return tlm::TLM_ACCEPTED;
}

void DramController::OnPeq(tlm::tlm_generic_payload& trans, const tlm::tlm_phase& phase) {
  if (phase == tlm::BEGIN_REQ) {
    if (model_) {
      sc_time now = sc_core::sc_time_stamp();
      uint64_t done =
          model_->Serve(trans.is_write(), trans.get_address(), trans.get_data_length(), CycleAtOrAfter(now));
      tlm::tlm_phase resp = tlm::BEGIN_RESP;
      peq_.notify(trans, resp, TimeOf(done) - now + port_);
    } else {
      waiters_[next_id_].trans = &trans;
      SubmitNow(trans);
    }
    return;
  }
  if (phase == tlm::BEGIN_RESP) {
    if (response_in_flight_) {
      responses_.push_back(&trans);
    } else {
      SendResponse(trans);
    }
  }
}

void DramController::SendResponse(tlm::tlm_generic_payload& trans) {
  tlm::tlm_generic_payload* current = &trans;
  while (current != nullptr) {
    response_in_flight_ = true;
    tlm::tlm_phase phase = tlm::BEGIN_RESP;
    sc_time delay = SC_ZERO_TIME;
    tlm::tlm_sync_enum status = target->nb_transport_bw(*current, phase, delay);
    if (status == tlm::TLM_ACCEPTED || (status == tlm::TLM_UPDATED && phase != tlm::END_RESP)) return;
    // Completed at once: the next response may go.
    response_in_flight_ = false;
    if (current->has_mm()) current->release();
    current = nullptr;
    if (!responses_.empty()) {
      current = responses_.front();
      responses_.pop_front();
    }
  }
}

}  // namespace lightloop::hw_models
