// SPDX-License-Identifier: Apache-2.0
// The board's register file (ll_regfile) as a Verilated model behind MMIO-style
// calls. Offsets, reset values and access types come from the generated
// lightloop/rtl_bridge/board_regs.h.
//   RegisterFile regs;
//   regs.Write(board_regs::kScratchOffset, 42);
//   uint32_t v = regs.Read(board_regs::kScratchOffset);  // 42
#pragma once

#include <cstdint>
#include <memory>

namespace lightloop::rtl_bridge {

// What the rest of the board shows the register file (the RO registers).
struct RegisterFileInputs {
  uint32_t status = 0;
  uint32_t crc_errors = 0;
  uint32_t replays = 0;
  uint32_t seq_errors = 0;
  uint32_t tx_flits = 0;
  uint32_t rx_flits = 0;
  uint32_t cycles = 0;
  uint32_t stall_cycles = 0;
  uint32_t dma_status = 0;
  uint32_t ring_tail = 0;
  uint32_t dma_completed = 0;
  uint32_t dma_errors = 0;
  uint32_t dma_bad_length = 0;
  uint32_t dma_out_of_range = 0;
  uint64_t mem_size = 0;
};

class RegisterFile {
 public:
  RegisterFile();  // constructed in reset, then released
  ~RegisterFile();
  RegisterFile(const RegisterFile&) = delete;
  RegisterFile& operator=(const RegisterFile&) = delete;

  uint32_t Read(uint32_t offset);
  void Write(uint32_t offset, uint32_t value);
  void set_inputs(const RegisterFileInputs& inputs);
  // Raises the given IRQ_STATUS cause bits for one cycle.
  void PulseIrq(uint32_t causes);

  uint32_t control() const;
  bool irq() const;
  uint64_t doorbells() const;      // doorbell pulses seen
  uint32_t last_doorbell() const;  // value of the last one

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lightloop::rtl_bridge
