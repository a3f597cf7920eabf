// SPDX-License-Identifier: Apache-2.0
// The one class that touches the ports of Vll_tx, Vll_rx and Vll_lane.
#include "lightloop/rtl_bridge/link/link_pair.h"

#include <deque>
#include <optional>
#include <stdexcept>
#include <string>

#include "Vll_lane.h"
#include "Vll_rx.h"
#include "Vll_tx.h"
#include "verilated.h"

namespace lightloop::rtl_bridge {
namespace {

constexpr int kFlitWords = 4;  // 104 bits in 32-bit words

template <typename Model>
struct Block {
  explicit Block(const char* name) : ctx(std::make_unique<VerilatedContext>()) {
    model = std::make_unique<Model>(ctx.get(), name);
    model->clk = 0;
    model->rst = 1;
  }
  ~Block() { model->final(); }
  // One clock cycle with the inputs set since the last one.
  void Tick() {
    model->clk = 0;
    model->eval();
    model->clk = 1;
    model->eval();
  }
  std::unique_ptr<VerilatedContext> ctx;
  std::unique_ptr<Model> model;
};

template <typename Dst, typename Src>
void CopyWide(Dst& dst, const Src& src) {
  for (int i = 0; i < kFlitWords; ++i) dst[i] = src[i];
}

void CheckRange(const char* key, uint32_t value, uint32_t lo, uint32_t hi) {
  if (value < lo || value > hi) {
    throw std::invalid_argument("LinkConfig." + std::string(key) + " is " + std::to_string(value) +
                                "; the RTL supports " + std::to_string(lo) + ".." + std::to_string(hi));
  }
}

}  // namespace

void ValidateLinkConfig(const LinkConfig& c) {
  CheckRange("fwd_latency", c.fwd_latency, 1, 64);  // ll_lane MAX_LAT
  CheckRange("rev_latency", c.rev_latency, 1, 64);
  CheckRange("credits", c.credits, 1, 32);  // ll_rx DEPTH
  CheckRange("timeout_cycles", c.timeout_cycles, 0, 0xFFFF);
  CheckRange("fwd_err_threshold", c.fwd_err_threshold, 0, 0xFFFF);
  CheckRange("rev_err_threshold", c.rev_err_threshold, 0, 0xFFFF);
}

namespace {

const LinkConfig& Validated(const LinkConfig& c) {
  ValidateLinkConfig(c);
  return c;
}

}  // namespace

struct LinkPair::Impl {
  explicit Impl(const LinkConfig& c) : tx("tx"), rx("rx"), fwd("fwd_lane"), rev("rev_lane") {
    tx.model->enable = 1;
    tx.model->timeout_cycles = c.timeout_cycles;
    rx.model->credits = c.credits;
    ConfigureLane(*fwd.model, c.fwd_latency, c.seed, c.fwd_err_threshold);
    ConfigureLane(*rev.model, c.rev_latency, c.seed + 1, c.rev_err_threshold);
    for (int i = 0; i < 2; ++i) TickAll();
    tx.model->rst = rx.model->rst = fwd.model->rst = rev.model->rst = 0;
  }

  static void ConfigureLane(Vll_lane& lane, uint32_t latency, uint32_t seed, uint32_t threshold) {
    lane.latency = latency;
    lane.seed = seed;
    lane.err_threshold = threshold;
  }

  void TickAll() {
    tx.Tick();
    fwd.Tick();
    rx.Tick();
    rev.Tick();
  }

  // Samples every output (settled after the last edge), drives every input,
  // then clocks all four models.
  void Cycle() {
    Vll_tx& t = *tx.model;
    Vll_rx& r = *rx.model;
    Vll_lane& f = *fwd.model;
    Vll_lane& b = *rev.model;
    t.in_valid = !queue.empty();
    if (!queue.empty()) t.in_payload = queue.front();
    if (t.in_valid && t.in_ready) queue.pop_front();
    f.in_valid = t.flit_valid;
    CopyWide(f.in_data, t.flit);
    f.force_flip = 0;
    if (t.flit_valid) {
      if (tap)
        tap(Flit{
            static_cast<uint8_t>(t.flit[0] & 0xFF),
            (uint64_t{t.flit[0]} >> 8) | (uint64_t{t.flit[1]} << 24) | (uint64_t{t.flit[2] & 0xFF} << 56),
            (t.flit[2] >> 8) | (t.flit[3] << 24)});
      if (flip_bit) {
        f.force_flip = 1;
        f.force_bit = *flip_bit;
        flip_bit.reset();
      }
    }
    r.flit_valid = f.out_valid;
    CopyWide(r.flit, f.out_data);
    r.out_ready = sink_ready ? sink_ready() : true;
    if (r.out_valid && r.out_ready) received.push_back(r.out_payload);
    b.in_valid = r.ctl_valid;
    b.in_data[0] = static_cast<uint32_t>(r.ctl);
    b.in_data[1] = static_cast<uint32_t>(r.ctl >> 32);
    b.in_data[2] = b.in_data[3] = 0;
    t.ctl_valid = b.out_valid;
    t.ctl = uint64_t{b.out_data[0]} | (uint64_t{b.out_data[1] & 0xFFFFFF} << 32);
    TickAll();
    ++cycle;
  }

  Block<Vll_tx> tx;
  Block<Vll_rx> rx;
  Block<Vll_lane> fwd;
  Block<Vll_lane> rev;
  std::deque<uint64_t> queue;
  std::vector<uint64_t> received;
  uint64_t sent = 0;
  uint64_t cycle = 0;
  std::optional<unsigned> flip_bit;
  std::function<bool()> sink_ready;
  std::function<void(const Flit&)> tap;
};

LinkPair::LinkPair(const LinkConfig& config) : impl_(std::make_unique<Impl>(Validated(config))) {}
LinkPair::~LinkPair() = default;

void LinkPair::Send(uint64_t payload) {
  impl_->queue.push_back(payload);
  ++impl_->sent;
}

void LinkPair::Run(uint64_t cycles) {
  for (uint64_t i = 0; i < cycles; ++i) impl_->Cycle();
}

uint64_t LinkPair::RunUntilDelivered(uint64_t max_cycles) {
  uint64_t n = 0;
  while (n < max_cycles && impl_->received.size() < impl_->sent) {
    impl_->Cycle();
    ++n;
  }
  return n;
}

void LinkPair::FlipBitOfNextFlit(unsigned bit) {
  impl_->flip_bit = bit;
}
void LinkPair::set_sink_ready(std::function<bool()> ready) {
  impl_->sink_ready = std::move(ready);
}
void LinkPair::set_flit_tap(std::function<void(const Flit&)> tap) {
  impl_->tap = std::move(tap);
}
const std::vector<uint64_t>& LinkPair::received() const {
  return impl_->received;
}
size_t LinkPair::pending() const {
  return impl_->queue.size();
}
uint64_t LinkPair::cycles() const {
  return impl_->cycle;
}

LinkCounters LinkPair::counters() const {
  const Vll_tx& t = *impl_->tx.model;
  const Vll_rx& r = *impl_->rx.model;
  return LinkCounters{
      .tx_flits = t.tx_flits,
      .nak_replays = t.nak_replays,
      .timeout_replays = t.timeout_replays,
      .ctl_crc_errors = t.ctl_crc_errors,
      .stall_cycles = t.stall_cycles,
      .rx_flits = r.rx_flits,
      .crc_errors = r.crc_errors,
      .seq_errors = r.seq_errors,
      .dup_flits = r.dup_flits,
      .naks_sent = r.naks_sent,
      .overflows = r.overflows,
      .fwd_errors_injected = impl_->fwd.model->errors_injected,
      .rev_errors_injected = impl_->rev.model->errors_injected,
  };
}

}  // namespace lightloop::rtl_bridge
