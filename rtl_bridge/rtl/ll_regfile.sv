// SPDX-License-Identifier: Apache-2.0
// The board's register file, laid out by the generated board_regs_pkg (see
// docs/board-register-map.md). A simple synchronous bus: a request is taken
// every cycle req_valid is high; a read's data comes back one cycle later with
// rsp_valid. RO registers show the hardware inputs (writes are ignored), RW
// registers keep the written value masked to their fields, IRQ_STATUS latches
// irq_set and clears the bits written as 1 (a set wins over a clear in the same
// cycle), DOORBELL turns a write into a one-cycle pulse and reads as 0, unknown
// offsets read as 0. The DMA registers (DMA_CONTROL, RING_*) drive the
// descriptor engine (ll_dma), whose state and counters come back as inputs.
module ll_regfile
  import board_regs_pkg::*;
(
    input  logic              clk,
    input  logic              rst,
    // register bus
    input  logic              req_valid,
    input  logic              req_write,
    input  logic [ADDR_W-1:0] req_addr,
    input  logic [      31:0] req_wdata,
    output logic              rsp_valid,
    output logic [      31:0] rsp_rdata,
    // hardware side
    input  logic [      31:0] status,
    input  logic [      31:0] crc_errors,
    input  logic [      31:0] replays,
    input  logic [      31:0] seq_errors,
    input  logic [      31:0] tx_flits,
    input  logic [      31:0] rx_flits,
    input  logic [      31:0] cycles,
    input  logic [      31:0] stall_cycles,
    input  logic [      31:0] irq_set,
    input  logic [      31:0] dma_status,
    input  logic [      31:0] ring_tail,
    input  logic [      31:0] dma_completed,
    input  logic [      31:0] dma_errors,
    input  logic [      31:0] dma_bad_length,
    input  logic [      31:0] dma_out_of_range,
    input  logic [      63:0] mem_size,
    output logic [      31:0] control,
    output logic [      31:0] dma_control,
    output logic [      63:0] ring_base,
    output logic [      31:0] ring_size,
    output logic [      31:0] ring_head,
    output logic              doorbell_valid,
    output logic [      31:0] doorbell_data,
    output logic              irq
);
  logic [31:0] irq_status_q, irq_mask_q, scratch_q;

  wire wr = req_valid && req_write;
  wire doorbell_wr = wr && (req_addr == DOORBELL_OFFSET);
  wire [31:0] irq_clear = (wr && req_addr == IRQ_STATUS_OFFSET) ? req_wdata : 32'h0;
  wire [31:0] irq_cause = irq_set | (doorbell_wr ? (32'h1 << IRQ_STATUS_DOORBELL_LSB) : 32'h0);

  logic [31:0] rdata;
  always_comb begin
    unique case (req_addr)
      ID_OFFSET: rdata = ID_RESET;
      VERSION_OFFSET: rdata = VERSION_RESET;
      CONTROL_OFFSET: rdata = control;
      STATUS_OFFSET: rdata = status & STATUS_FIELDS;
      CRC_ERRORS_OFFSET: rdata = crc_errors;
      REPLAYS_OFFSET: rdata = replays;
      SEQ_ERRORS_OFFSET: rdata = seq_errors;
      TX_FLITS_OFFSET: rdata = tx_flits;
      RX_FLITS_OFFSET: rdata = rx_flits;
      CYCLES_OFFSET: rdata = cycles;
      STALL_CYCLES_OFFSET: rdata = stall_cycles;
      IRQ_STATUS_OFFSET: rdata = irq_status_q;
      IRQ_MASK_OFFSET: rdata = irq_mask_q;
      SCRATCH_OFFSET: rdata = scratch_q;
      DMA_CONTROL_OFFSET: rdata = dma_control;
      DMA_STATUS_OFFSET: rdata = dma_status & DMA_STATUS_FIELDS;
      RING_BASE_LO_OFFSET: rdata = ring_base[31:0];
      RING_BASE_HI_OFFSET: rdata = ring_base[63:32];
      RING_SIZE_OFFSET: rdata = ring_size;
      RING_HEAD_OFFSET: rdata = ring_head;
      RING_TAIL_OFFSET: rdata = ring_tail & RING_TAIL_FIELDS;
      DMA_COMPLETED_OFFSET: rdata = dma_completed;
      DMA_ERRORS_OFFSET: rdata = dma_errors;
      DMA_BAD_LENGTH_OFFSET: rdata = dma_bad_length;
      DMA_OUT_OF_RANGE_OFFSET: rdata = dma_out_of_range;
      DMA_MAX_LEN_OFFSET: rdata = DMA_MAX_LEN_RESET;
      MEM_SIZE_LO_OFFSET: rdata = mem_size[31:0];
      MEM_SIZE_HI_OFFSET: rdata = mem_size[63:32];
      default: rdata = 32'h0;  // DOORBELL (write-only) and unmapped offsets
    endcase
  end

  always_ff @(posedge clk) begin
    if (rst) begin
      control <= CONTROL_RESET;
      irq_status_q <= IRQ_STATUS_RESET;
      irq_mask_q <= IRQ_MASK_RESET;
      scratch_q <= SCRATCH_RESET;
      dma_control <= DMA_CONTROL_RESET;
      ring_base <= {RING_BASE_HI_RESET, RING_BASE_LO_RESET};
      ring_size <= RING_SIZE_RESET;
      ring_head <= RING_HEAD_RESET;
      rsp_valid <= 1'b0;
      rsp_rdata <= '0;
      doorbell_valid <= 1'b0;
      doorbell_data <= '0;
    end else begin
      if (wr && req_addr == CONTROL_OFFSET) control <= req_wdata & CONTROL_WMASK;
      if (wr && req_addr == IRQ_MASK_OFFSET) irq_mask_q <= req_wdata & IRQ_MASK_WMASK;
      if (wr && req_addr == SCRATCH_OFFSET) scratch_q <= req_wdata & SCRATCH_WMASK;
      if (wr && req_addr == DMA_CONTROL_OFFSET) dma_control <= req_wdata & DMA_CONTROL_WMASK;
      if (wr && req_addr == RING_BASE_LO_OFFSET) ring_base[31:0] <= req_wdata & RING_BASE_LO_WMASK;
      if (wr && req_addr == RING_BASE_HI_OFFSET) ring_base[63:32] <= req_wdata & RING_BASE_HI_WMASK;
      if (wr && req_addr == RING_SIZE_OFFSET) ring_size <= req_wdata & RING_SIZE_WMASK;
      if (wr && req_addr == RING_HEAD_OFFSET) ring_head <= req_wdata & RING_HEAD_WMASK;
      irq_status_q <= ((irq_status_q & ~irq_clear) | irq_cause) & IRQ_STATUS_WMASK;
      rsp_valid <= req_valid && !req_write;
      rsp_rdata <= rdata;
      doorbell_valid <= doorbell_wr;
      doorbell_data <= req_wdata;
    end
  end

  assign irq = |(irq_status_q & irq_mask_q);
endmodule
