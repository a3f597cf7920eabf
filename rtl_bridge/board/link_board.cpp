// SPDX-License-Identifier: Apache-2.0
// The one class that touches the ports of Vll_link_board.
#include "lightloop/rtl_bridge/board/link_board.h"

#include <deque>
#include <stdexcept>

#include "Vll_link_board.h"
#include "verilated.h"
#include "verilated_vcd_c.h"

namespace lightloop::rtl_bridge {

struct LinkBoard::Impl {
  explicit Impl(const LinkConfig& c) : ctx(std::make_unique<VerilatedContext>()) {
    ValidateLinkConfig(c);
    if (c.rev_err_threshold != 0) {
      throw std::invalid_argument(
          "LinkConfig.rev_err_threshold must be 0 for the board (error-free reverse lane)");
    }
    ctx->traceEverOn(true);
    m = std::make_unique<Vll_link_board>(ctx.get(), "board");
    ApplyLinkConfig(*m, c);
    m->out_ready = 1;
    m->rst = 1;
    Tick();
    Tick();
    m->rst = 0;
  }
  ~Impl() {
    m->final();
    if (vcd) vcd->close();
  }

  void Tick() {
    m->clk = 0;
    m->eval();
    if (vcd) vcd->dump(2 * cycle);
    m->clk = 1;
    m->eval();
    if (vcd) vcd->dump(2 * cycle + 1);
  }

  // Drives the payload ports from the state after the last edge, then clocks.
  void Cycle() {
    m->in_valid = !queue.empty();
    if (!queue.empty()) m->in_payload = queue.front();
    if (m->in_valid && m->in_ready) queue.pop_front();
    if (m->out_valid && m->out_ready) received.push_back(m->out_payload);
    const uint32_t errors = m->dbg_fwd_errors;
    Tick();
    if (m->force_flip && m->dbg_fwd_errors != errors) m->force_flip = 0;
    ++cycle;
  }

  uint32_t Access(bool write, uint32_t offset, uint32_t value) {
    m->req_valid = 1;
    m->req_write = write;
    m->req_addr = offset;
    m->req_wdata = value;
    Cycle();
    m->req_valid = 0;
    return m->rsp_rdata;
  }

  std::unique_ptr<VerilatedContext> ctx;
  std::unique_ptr<Vll_link_board> m;
  std::unique_ptr<VerilatedVcdC> vcd;
  std::deque<uint64_t> queue;
  std::vector<uint64_t> received;
  uint64_t sent = 0;
  uint64_t cycle = 0;
};

LinkBoard::LinkBoard(const LinkConfig& config) : impl_(std::make_unique<Impl>(config)) {}
LinkBoard::~LinkBoard() = default;

uint32_t LinkBoard::Read(uint32_t offset) {
  return impl_->Access(false, offset, 0);
}
void LinkBoard::Write(uint32_t offset, uint32_t value) {
  impl_->Access(true, offset, value);
}

void LinkBoard::Send(uint64_t payload) {
  impl_->queue.push_back(payload);
  ++impl_->sent;
}

void LinkBoard::Run(uint64_t cycles) {
  for (uint64_t i = 0; i < cycles; ++i) impl_->Cycle();
}

uint64_t LinkBoard::RunUntilDelivered(uint64_t max_cycles) {
  uint64_t n = 0;
  for (; n < max_cycles && impl_->received.size() < impl_->sent; ++n) impl_->Cycle();
  return n;
}

void LinkBoard::FlipBitOfNextFlit(unsigned bit) {
  impl_->m->force_bit = bit;
  impl_->m->force_flip = 1;  // held until the lane has flipped a flit
}

void LinkBoard::StartTrace(const std::string& vcd_path) {
  if (impl_->vcd) return;
  impl_->vcd = std::make_unique<VerilatedVcdC>();
  impl_->m->trace(impl_->vcd.get(), 99);
  impl_->vcd->open(vcd_path.c_str());
}

const std::vector<uint64_t>& LinkBoard::received() const {
  return impl_->received;
}
bool LinkBoard::irq() const {
  return impl_->m->irq;
}
uint64_t LinkBoard::cycles() const {
  return impl_->cycle;
}

LinkBoardDebug LinkBoard::debug() const {
  const Vll_link_board& m = *impl_->m;
  return LinkBoardDebug{.naks_sent = m.dbg_naks_sent,
                        .dup_flits = m.dbg_dup_flits,
                        .overflows = m.dbg_overflows,
                        .fwd_errors_injected = m.dbg_fwd_errors,
                        .ctl_crc_errors = m.dbg_ctl_crc_errors};
}

}  // namespace lightloop::rtl_bridge
