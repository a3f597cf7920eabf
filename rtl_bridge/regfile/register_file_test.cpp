// SPDX-License-Identifier: Apache-2.0
// Every register of the generated map: reset value and access type, driven
// through the Verilated register file.
#include "lightloop/rtl_bridge/regfile/register_file.h"

#include <gtest/gtest.h>

#include "lightloop/rtl_bridge/board_regs.h"

namespace lightloop::rtl_bridge {
namespace {

using board_regs::Access;
using board_regs::kRegisters;
using board_regs::RegisterInfo;

TEST(RegisterFileTest, EveryRegisterReadsItsResetValue) {
  RegisterFile regs;
  for (const RegisterInfo& r : kRegisters) {
    EXPECT_EQ(regs.Read(r.offset), r.access == Access::kWO ? 0u : r.reset) << r.name;
  }
}

TEST(RegisterFileTest, ReadOnlyRegistersIgnoreWrites) {
  RegisterFile regs;
  for (const RegisterInfo& r : kRegisters) {
    if (r.access != Access::kRO) continue;
    regs.Write(r.offset, ~r.reset);
    EXPECT_EQ(regs.Read(r.offset), r.reset) << r.name;
  }
}

TEST(RegisterFileTest, ReadWriteRegistersKeepTheirWritableBits) {
  RegisterFile regs;
  for (const RegisterInfo& r : kRegisters) {
    if (r.access != Access::kRW) continue;
    for (uint32_t v : {0xFFFFFFFFu, 0x0u, 0xA5A5A5A5u, 0x5A5A5A5Au}) {
      regs.Write(r.offset, v);
      EXPECT_EQ(regs.Read(r.offset), v & r.write_mask) << r.name << " wrote " << std::hex << v;
    }
  }
}

TEST(RegisterFileTest, IrqStatusIsWriteOneToClear) {
  RegisterFile regs;
  const uint32_t all = board_regs::irq_status::kCrcErrorMask | board_regs::irq_status::kReplayMask;
  regs.PulseIrq(all);
  EXPECT_EQ(regs.Read(board_regs::kIrqStatusOffset), all);
  regs.Write(board_regs::kIrqStatusOffset, 0);  // zeros clear nothing
  EXPECT_EQ(regs.Read(board_regs::kIrqStatusOffset), all);
  regs.Write(board_regs::kIrqStatusOffset, board_regs::irq_status::kCrcErrorMask);
  EXPECT_EQ(regs.Read(board_regs::kIrqStatusOffset), board_regs::irq_status::kReplayMask);
  regs.Write(board_regs::kIrqStatusOffset, 0xFFFFFFFFu);
  EXPECT_EQ(regs.Read(board_regs::kIrqStatusOffset), 0u);
}

TEST(RegisterFileTest, InterruptLineFollowsStatusAndMask) {
  RegisterFile regs;
  regs.PulseIrq(board_regs::irq_status::kReplayMask);
  EXPECT_FALSE(regs.irq());  // masked at reset
  regs.Write(board_regs::kIrqMaskOffset, board_regs::irq_mask::kReplayMask);
  EXPECT_TRUE(regs.irq());
  regs.Write(board_regs::kIrqStatusOffset, board_regs::irq_status::kReplayMask);
  EXPECT_FALSE(regs.irq());
}

TEST(RegisterFileTest, DoorbellPulsesWithTheWrittenValueAndReadsZero) {
  RegisterFile regs;
  regs.Write(board_regs::kDoorbellOffset, 0x1234);
  EXPECT_EQ(regs.doorbells(), 1u);
  EXPECT_EQ(regs.last_doorbell(), 0x1234u);
  EXPECT_EQ(regs.Read(board_regs::kDoorbellOffset), 0u);
  EXPECT_EQ(regs.Read(board_regs::kIrqStatusOffset), board_regs::irq_status::kDoorbellMask);
}

TEST(RegisterFileTest, ReadOnlyCountersShowTheHardware) {
  RegisterFile regs;
  regs.set_inputs({.status = 0xFFFFFFFFu, .crc_errors = 3, .replays = 4, .tx_flits = 100, .cycles = 999});
  EXPECT_EQ(regs.Read(board_regs::kStatusOffset), 0x7u);  // only the defined fields
  EXPECT_EQ(regs.Read(board_regs::kCrcErrorsOffset), 3u);
  EXPECT_EQ(regs.Read(board_regs::kReplaysOffset), 4u);
  EXPECT_EQ(regs.Read(board_regs::kTxFlitsOffset), 100u);
  EXPECT_EQ(regs.Read(board_regs::kCyclesOffset), 999u);
}

TEST(RegisterFileTest, DmaRegistersShowTheEngine) {
  RegisterFile regs;
  regs.set_inputs({.dma_status = 0xFFFFFFFFu,
                   .ring_tail = 0xFFFF1234u,
                   .dma_completed = 7,
                   .dma_errors = 3,
                   .dma_bad_length = 2,
                   .dma_out_of_range = 1,
                   .mem_size = 0x1'2345'6788ull});
  EXPECT_EQ(regs.Read(board_regs::kDmaStatusOffset), 0xFF03u);  // only the defined fields
  EXPECT_EQ(regs.Read(board_regs::kRingTailOffset), 0x1234u);
  EXPECT_EQ(regs.Read(board_regs::kDmaCompletedOffset), 7u);
  EXPECT_EQ(regs.Read(board_regs::kDmaErrorsOffset), 3u);
  EXPECT_EQ(regs.Read(board_regs::kDmaBadLengthOffset), 2u);
  EXPECT_EQ(regs.Read(board_regs::kDmaOutOfRangeOffset), 1u);
  EXPECT_EQ(regs.Read(board_regs::kMemSizeLoOffset), 0x23456788u);
  EXPECT_EQ(regs.Read(board_regs::kMemSizeHiOffset), 0x1u);
  EXPECT_EQ(regs.Read(board_regs::kDmaMaxLenOffset), board_regs::kDmaMaxLenReset);
}

TEST(RegisterFileTest, ControlDrivesTheBoard) {
  RegisterFile regs;
  regs.Write(board_regs::kControlOffset, board_regs::control::kLinkEnableMask);
  EXPECT_EQ(regs.control(), board_regs::control::kLinkEnableMask);
}

}  // namespace
}  // namespace lightloop::rtl_bridge
