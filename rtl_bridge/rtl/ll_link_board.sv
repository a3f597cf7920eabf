// SPDX-License-Identifier: Apache-2.0
// The link side of the board in one design: the register file (host MMIO) in
// front of a transmitter, a forward lane, a receiver and a reverse lane. The
// registers control the link (CONTROL.LINK_ENABLE gates the transmitter,
// CONTROL.ERR_INJECT gates the forward lane's random errors) and show its state
// (STATUS, error and performance counters, IRQ causes on CRC errors and
// replays). The lane and credit knobs are the virtual board's, set before
// reset is released. The dbg_* outputs are for tests; a real board leaves them
// unconnected.
module ll_link_board
  import board_regs_pkg::*;
#(
    parameter int MAX_LAT = 64,
    localparam int LW = $clog2(MAX_LAT) + 1
) (
    input  logic              clk,
    input  logic              rst,
    // register bus
    input  logic              req_valid,
    input  logic              req_write,
    input  logic [ADDR_W-1:0] req_addr,
    input  logic [      31:0] req_wdata,
    output logic              rsp_valid,
    output logic [      31:0] rsp_rdata,
    output logic              irq,
    output logic              doorbell_valid,
    output logic [      31:0] doorbell_data,
    // virtual-board knobs
    input  logic [    LW-1:0] fwd_latency,
    input  logic [    LW-1:0] rev_latency,
    input  logic [      31:0] seed,
    input  logic [      15:0] err_threshold,
    input  logic [       7:0] credits,
    input  logic [      15:0] timeout_cycles,
    input  logic              force_flip,
    input  logic [       6:0] force_bit,
    // payloads in at the near end, out at the far end
    input  logic              in_valid,
    input  logic [      63:0] in_payload,
    output logic              in_ready,
    output logic              out_valid,
    output logic [      63:0] out_payload,
    input  logic              out_ready,
    // for tests
    output logic [      31:0] dbg_naks_sent,
    output logic [      31:0] dbg_dup_flits,
    output logic [      31:0] dbg_overflows,
    output logic [      31:0] dbg_fwd_errors,
    output logic [      31:0] dbg_rev_errors,
    output logic [      31:0] dbg_ctl_crc_errors
);
  logic [31:0] control;
  logic tx_flit_valid, rx_flit_valid, ctl_valid_rx, ctl_valid_tx;
  logic [103:0] tx_flit, rx_flit;
  logic [55:0] ctl_rx, ctl_tx;
  logic replaying, credit_stall, link_up;
  logic [31:0] tx_flits, nak_replays, timeout_replays, stall_cycles;
  logic [31:0] rx_flits, crc_errors, seq_errors, cycles_q, crc_errors_q, replays_q;

  ll_tx u_tx (
      .clk, .rst,
      .enable(control[CONTROL_LINK_ENABLE_LSB]),
      .timeout_cycles,
      .in_valid, .in_payload, .in_ready,
      .flit_valid(tx_flit_valid), .flit(tx_flit),
      .ctl_valid(ctl_valid_tx), .ctl(ctl_tx),
      .replaying, .credit_stall, .tx_flits, .nak_replays, .timeout_replays,
      .ctl_crc_errors(dbg_ctl_crc_errors), .stall_cycles);

  ll_lane #(.W(104), .MAX_LAT(MAX_LAT)) u_fwd (
      .clk, .rst,
      .latency(fwd_latency), .seed,
      .err_threshold(control[CONTROL_ERR_INJECT_LSB] ? err_threshold : 16'h0),
      .force_flip, .force_bit,
      .in_valid(tx_flit_valid), .in_data(tx_flit),
      .out_valid(rx_flit_valid), .out_data(rx_flit),
      .errors_injected(dbg_fwd_errors));

  ll_rx u_rx (
      .clk, .rst, .credits,
      .flit_valid(rx_flit_valid), .flit(rx_flit),
      .out_valid, .out_payload, .out_ready,
      .ctl_valid(ctl_valid_rx), .ctl(ctl_rx),
      .link_up, .rx_flits, .crc_errors, .seq_errors,
      .dup_flits(dbg_dup_flits), .naks_sent(dbg_naks_sent), .overflows(dbg_overflows));

  ll_lane #(.W(56), .MAX_LAT(MAX_LAT)) u_rev (
      .clk, .rst,
      .latency(rev_latency), .seed(seed + 1), .err_threshold(16'h0),
      .force_flip(1'b0), .force_bit(7'h0),
      .in_valid(ctl_valid_rx), .in_data(ctl_rx),
      .out_valid(ctl_valid_tx), .out_data(ctl_tx),
      .errors_injected(dbg_rev_errors));

  wire [31:0] replays = nak_replays + timeout_replays;
  wire [31:0] status = (32'(link_up) << STATUS_LINK_UP_LSB) | (32'(replaying) << STATUS_REPLAYING_LSB) |
                       (32'(credit_stall) << STATUS_CREDIT_STALL_LSB);
  wire [31:0] irq_set = (32'(crc_errors != crc_errors_q) << IRQ_STATUS_CRC_ERROR_LSB) |
                        (32'(replays != replays_q) << IRQ_STATUS_REPLAY_LSB);

  always_ff @(posedge clk) begin
    if (rst) begin
      cycles_q <= '0;
      crc_errors_q <= '0;
      replays_q <= '0;
    end else begin
      cycles_q <= cycles_q + 1;
      crc_errors_q <= crc_errors;
      replays_q <= replays;
    end
  end

  // The DMA registers drive nothing on the link board (ll_board has the engine).
  logic [31:0] unused_dma_control, unused_ring_size, unused_ring_head;
  logic [63:0] unused_ring_base;
  ll_regfile u_regs (
      .clk, .rst,
      .req_valid, .req_write, .req_addr, .req_wdata, .rsp_valid, .rsp_rdata,
      .status, .crc_errors, .replays, .seq_errors, .tx_flits, .rx_flits,
      .cycles(cycles_q), .stall_cycles, .irq_set,
      .dma_status(32'h0), .ring_tail(32'h0), .dma_completed(32'h0), .dma_errors(32'h0),
      .dma_bad_length(32'h0), .dma_out_of_range(32'h0), .mem_size(64'h0),
      .control, .dma_control(unused_dma_control), .ring_base(unused_ring_base),
      .ring_size(unused_ring_size), .ring_head(unused_ring_head),
      .doorbell_valid, .doorbell_data, .irq);
endmodule
