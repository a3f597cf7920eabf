// SPDX-License-Identifier: Apache-2.0
// The one class that touches the ports of Vll_link.
#include "link_direction.h"

#include <algorithm>

#include "Vll_link.h"
#include "lightloop/rtl_bridge/link/link_pair.h"
#include "verilated.h"

namespace lightloop::rtl_bridge {

LinkDirection::LinkDirection(const RtlLinkParams& p, uint32_t seed)
    : ctx_(std::make_unique<VerilatedContext>()) {
  m_ = std::make_unique<Vll_link>(ctx_.get(), "link");
  m_->enable = 1;
  ApplyLinkConfig(*m_, {.fwd_latency = p.lane_latency_cycles,
                        .rev_latency = p.control_latency_cycles,
                        .credits = p.credits,
                        .timeout_cycles = p.timeout_cycles,
                        .seed = seed,
                        .fwd_err_threshold = p.ErrThreshold()});
  m_->out_ready = 1;
  m_->rst = 1;
  Tick();
  Tick();
  m_->rst = 0;
  drain_cycles_ = p.lane_latency_cycles + p.control_latency_cycles + 2 * kPipelineCycles + 4;
  // A clean link delivers a flit within a round trip of the replay buffer;
  // errors add replay rounds and timeouts. Far more than that without a
  // delivery is a link that no longer delivers (almost no flit survives).
  stuck_cycles_ = 64 * (drain_cycles_ + 32) + 64 * std::max<uint64_t>(p.timeout_cycles, 1);
  for (uint64_t i = 0; i < drain_cycles_; ++i) Tick();  // the receiver's first credits arrive
}

LinkDirection::~LinkDirection() {
  if (m_) m_->final();
}
LinkDirection::LinkDirection(LinkDirection&&) noexcept = default;

void LinkDirection::Tick() {
  m_->clk = 0;
  m_->eval();
  m_->clk = 1;
  m_->eval();
}

LinkDirection::Crossing LinkDirection::Carry(const std::vector<uint64_t>& words, std::vector<uint64_t>& out) {
  Crossing c;
  out.clear();
  size_t next = 0;
  uint64_t idle = 0;
  // Outputs are sampled as they settled after the last edge, inputs driven,
  // then the clock ticks: one iteration, one cycle.
  while (out.size() < words.size()) {
    m_->in_valid = next < words.size();
    if (m_->in_valid) m_->in_payload = words[next];
    if (m_->in_valid && m_->in_ready && ++next == words.size()) c.accepted = c.delivered + 1;
    const bool got = m_->out_valid;
    if (got) out.push_back(m_->out_payload);
    Tick();
    ++c.delivered;
    idle = got ? 0 : idle + 1;
    if (idle > stuck_cycles_) {
      c.ok = false;
      break;
    }
  }
  m_->in_valid = 0;
  for (uint64_t i = 0; i < drain_cycles_; ++i) Tick();
  return c;
}

uint64_t LinkDirection::replays() const {
  return m_->replays;
}
uint64_t LinkDirection::crc_errors() const {
  return m_->crc_errors;
}

}  // namespace lightloop::rtl_bridge
