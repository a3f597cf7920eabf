// SPDX-License-Identifier: Apache-2.0
// The one class that touches the ports of Vll_regfile.
#include "lightloop/rtl_bridge/regfile/register_file.h"

#include "Vll_regfile.h"
#include "verilated.h"

namespace lightloop::rtl_bridge {

struct RegisterFile::Impl {
  Impl()
      : ctx(std::make_unique<VerilatedContext>()), model(std::make_unique<Vll_regfile>(ctx.get(), "regs")) {
    model->clk = 0;
    model->rst = 1;
    Tick();
    Tick();
    model->rst = 0;
  }
  ~Impl() { model->final(); }

  void Tick() {
    model->clk = 0;
    model->eval();
    model->clk = 1;
    model->eval();
    if (model->doorbell_valid) {
      ++doorbells;
      last_doorbell = model->doorbell_data;
    }
  }

  std::unique_ptr<VerilatedContext> ctx;
  std::unique_ptr<Vll_regfile> model;
  uint64_t doorbells = 0;
  uint32_t last_doorbell = 0;
};

RegisterFile::RegisterFile() : impl_(std::make_unique<Impl>()) {}
RegisterFile::~RegisterFile() = default;

uint32_t RegisterFile::Read(uint32_t offset) {
  Vll_regfile& m = *impl_->model;
  m.req_valid = 1;
  m.req_write = 0;
  m.req_addr = offset;
  impl_->Tick();
  m.req_valid = 0;
  return m.rsp_rdata;
}

void RegisterFile::Write(uint32_t offset, uint32_t value) {
  Vll_regfile& m = *impl_->model;
  m.req_valid = 1;
  m.req_write = 1;
  m.req_addr = offset;
  m.req_wdata = value;
  impl_->Tick();
  m.req_valid = 0;
}

void RegisterFile::set_inputs(const RegisterFileInputs& in) {
  Vll_regfile& m = *impl_->model;
  m.status = in.status;
  m.crc_errors = in.crc_errors;
  m.replays = in.replays;
  m.seq_errors = in.seq_errors;
  m.tx_flits = in.tx_flits;
  m.rx_flits = in.rx_flits;
  m.cycles = in.cycles;
  m.stall_cycles = in.stall_cycles;
  m.dma_status = in.dma_status;
  m.ring_tail = in.ring_tail;
  m.dma_completed = in.dma_completed;
  m.dma_errors = in.dma_errors;
  m.dma_bad_length = in.dma_bad_length;
  m.dma_out_of_range = in.dma_out_of_range;
  m.mem_size = in.mem_size;
}

void RegisterFile::PulseIrq(uint32_t causes) {
  impl_->model->irq_set = causes;
  impl_->Tick();
  impl_->model->irq_set = 0;
}

uint32_t RegisterFile::control() const {
  return impl_->model->control;
}
bool RegisterFile::irq() const {
  return impl_->model->irq;
}
uint64_t RegisterFile::doorbells() const {
  return impl_->doorbells;
}
uint32_t RegisterFile::last_doorbell() const {
  return impl_->last_doorbell;
}

}  // namespace lightloop::rtl_bridge
