// SPDX-License-Identifier: Apache-2.0
// The whole board: the register file (host MMIO), the DMA descriptor engine
// with its host-memory port (the bus-master side of a PCIe endpoint), two
// links over the photonic-link layer (downstream: commands and write data;
// upstream: read data and status; each with CRC-32, replay and credits) and
// the far end's AXI-like port to board memory.
//
//   host MMIO --> ll_regfile --> ll_dma --> ll_link (down) --> ll_far_end --> AXI --> board memory
//   host memory <-- hm port --'       <-- ll_link (up)   <--'
//
// The link counters in the register map (CRC_ERRORS, REPLAYS, SEQ_ERRORS,
// TX_FLITS, RX_FLITS, STALL_CYCLES) add both directions; STATUS shows the
// downstream link. CONTROL.ERR_INJECT enables random bit errors on both data
// lanes; a rising force_flip corrupts the next downstream data flit. The lane,
// credit, timer and memory-size inputs are the virtual board's knobs, sampled
// during reset; a real board ties them to constants.
module ll_board
  import board_regs_pkg::*;
#(
    parameter int MAX_LAT = 64,
    localparam int LW = $clog2(MAX_LAT) + 1
) (
    input  logic              clk,
    input  logic              rst,
    // register bus (MMIO)
    input  logic              req_valid,
    input  logic              req_write,
    input  logic [ADDR_W-1:0] req_addr,
    input  logic [      31:0] req_wdata,
    output logic              rsp_valid,
    output logic [      31:0] rsp_rdata,
    output logic              irq,
    // host-memory port
    output logic              hm_rd_valid,
    input  logic              hm_rd_ready,
    output logic [      63:0] hm_rd_addr,
    input  logic              hm_rsp_valid,
    input  logic [      63:0] hm_rsp_data,
    input  logic              hm_rsp_err,
    output logic              hm_wr_valid,
    input  logic              hm_wr_ready,
    output logic [      63:0] hm_wr_addr,
    output logic [      63:0] hm_wr_data,
    // board memory port (AXI-like)
    output logic              m_awvalid,
    input  logic              m_awready,
    output logic [      39:0] m_awaddr,
    output logic [       7:0] m_awlen,
    output logic              m_wvalid,
    input  logic              m_wready,
    output logic [      63:0] m_wdata,
    output logic              m_wlast,
    input  logic              m_bvalid,
    output logic              m_bready,
    input  logic [       1:0] m_bresp,
    output logic              m_arvalid,
    input  logic              m_arready,
    output logic [      39:0] m_araddr,
    output logic [       7:0] m_arlen,
    input  logic              m_rvalid,
    output logic              m_rready,
    input  logic [      63:0] m_rdata,
    input  logic [       1:0] m_rresp,
    // virtual-board knobs
    input  logic [    LW-1:0] fwd_latency,
    input  logic [    LW-1:0] rev_latency,
    input  logic [      31:0] seed,
    input  logic [      15:0] err_threshold,
    input  logic [       7:0] credits,
    input  logic [      15:0] timeout_cycles,
    input  logic              force_flip,
    input  logic [       6:0] force_bit,
    input  logic [      63:0] mem_size,
    // for tests
    output logic [      31:0] dbg_errors_injected,
    output logic [      31:0] dbg_naks_sent,
    output logic              dbg_dma_busy,
    output logic              dbg_dma_done
);
  logic [31:0] control, dma_control, ring_size, ring_head;
  logic [63:0] ring_base;

  // The knobs are sampled during reset, so that no logic depends on the
  // top-level inputs combinationally: Verilator then evaluates it once per
  // cycle instead of at every eval() (about 20% of the board's time).
  logic [LW-1:0] fwd_latency_q, rev_latency_q;
  logic [31:0] seed_q;
  logic [15:0] err_threshold_q, timeout_q;
  logic [7:0] credits_q;
  logic [63:0] mem_size_q;
  logic force_prev_q, force_q;
  logic [6:0] force_bit_q;
  logic [31:0] d_inj;
  logic [31:0] d_inj_q;
  always_ff @(posedge clk) begin
    if (rst) begin
      fwd_latency_q <= fwd_latency;
      rev_latency_q <= rev_latency;
      seed_q <= seed;
      err_threshold_q <= err_threshold;
      timeout_q <= timeout_cycles;
      credits_q <= credits;
      mem_size_q <= mem_size;
      force_prev_q <= 1'b0;
      force_q <= 1'b0;
      d_inj_q <= '0;
    end else begin
      // A rising force_flip arms one flip of the next downstream data flit.
      force_prev_q <= force_flip;
      force_bit_q <= force_bit;
      d_inj_q <= d_inj;
      if (force_flip && !force_prev_q) force_q <= 1'b1;
      else if (d_inj != d_inj_q) force_q <= 1'b0;
    end
  end
  wire link_enable = control[CONTROL_LINK_ENABLE_LSB];
  wire [15:0] errs = control[CONTROL_ERR_INJECT_LSB] ? err_threshold_q : 16'h0;

  // DMA engine <-> links <-> far end.
  logic d_in_valid, d_in_ready, d_out_valid, d_out_ready;
  logic u_in_valid, u_in_ready, u_out_valid, u_out_ready;
  logic [63:0] d_in, d_out, u_in, u_out;
  logic d_up, d_replaying, d_stall, u_up, u_replaying, u_stall;
  logic [31:0] d_tx, d_rx, d_rep, d_crc, d_seq, d_stc, d_nak;
  logic [31:0] u_tx, u_rx, u_rep, u_crc, u_seq, u_stc, u_inj, u_nak;

  ll_link #(.MAX_LAT(MAX_LAT)) u_link_down (
      .clk, .rst, .enable(link_enable), .fwd_latency(fwd_latency_q), .rev_latency(rev_latency_q), .seed(seed_q),
      .err_threshold(errs), .credits(credits_q), .timeout_cycles(timeout_q), .force_flip(force_q),
      .force_bit(force_bit_q),
      .in_valid(d_in_valid), .in_payload(d_in), .in_ready(d_in_ready),
      .out_valid(d_out_valid), .out_payload(d_out), .out_ready(d_out_ready),
      .link_up(d_up), .replaying(d_replaying), .credit_stall(d_stall),
      .tx_flits(d_tx), .rx_flits(d_rx), .replays(d_rep), .crc_errors(d_crc), .seq_errors(d_seq),
      .stall_cycles(d_stc), .errors_injected(d_inj), .naks_sent(d_nak));

  ll_link #(.MAX_LAT(MAX_LAT)) u_link_up (
      .clk, .rst, .enable(link_enable), .fwd_latency(fwd_latency_q), .rev_latency(rev_latency_q),
      .seed(seed_q ^ 32'h5A5A_0000), .err_threshold(errs), .credits(credits_q), .timeout_cycles(timeout_q),
      .force_flip(1'b0), .force_bit(7'h0),
      .in_valid(u_in_valid), .in_payload(u_in), .in_ready(u_in_ready),
      .out_valid(u_out_valid), .out_payload(u_out), .out_ready(u_out_ready),
      .link_up(u_up), .replaying(u_replaying), .credit_stall(u_stall),
      .tx_flits(u_tx), .rx_flits(u_rx), .replays(u_rep), .crc_errors(u_crc), .seq_errors(u_seq),
      .stall_cycles(u_stc), .errors_injected(u_inj), .naks_sent(u_nak));

  logic busy, head_invalid, done_pulse, error_pulse;
  logic [7:0] last_status;
  logic [15:0] ring_tail;
  logic [31:0] completed, dma_errors, bad_length, out_of_range;

  ll_dma u_dma (
      .clk, .rst,
      .enable(dma_control[DMA_CONTROL_ENABLE_LSB]), .ring_base, .ring_size(ring_size[16:0]),
      .ring_head(ring_head[15:0]), .mem_size(mem_size_q), .max_len(DMA_MAX_LEN_RESET),
      .busy, .head_invalid, .last_status, .ring_tail, .completed, .errors(dma_errors), .bad_length,
      .out_of_range, .done_pulse, .error_pulse,
      .hm_rd_valid, .hm_rd_ready, .hm_rd_addr, .hm_rsp_valid, .hm_rsp_data, .hm_rsp_err,
      .hm_wr_valid, .hm_wr_ready, .hm_wr_addr, .hm_wr_data,
      .tx_valid(d_in_valid), .tx_payload(d_in), .tx_ready(d_in_ready),
      .rx_valid(u_out_valid), .rx_payload(u_out), .rx_ready(u_out_ready));

  ll_far_end u_far (
      .clk, .rst,
      .rx_valid(d_out_valid), .rx_payload(d_out), .rx_ready(d_out_ready),
      .tx_valid(u_in_valid), .tx_payload(u_in), .tx_ready(u_in_ready),
      .awvalid(m_awvalid), .awready(m_awready), .awaddr(m_awaddr), .awlen(m_awlen),
      .wvalid(m_wvalid), .wready(m_wready), .wdata(m_wdata), .wlast(m_wlast),
      .bvalid(m_bvalid), .bready(m_bready), .bresp(m_bresp),
      .arvalid(m_arvalid), .arready(m_arready), .araddr(m_araddr), .arlen(m_arlen),
      .rvalid(m_rvalid), .rready(m_rready), .rdata(m_rdata), .rresp(m_rresp));

  // Counters and interrupt causes.
  logic [31:0] cycles_q, crc_errors_q, replays_q;
  wire [31:0] crc_errors = d_crc + u_crc;
  wire [31:0] replays = d_rep + u_rep;
  wire [31:0] status = (32'(d_up) << STATUS_LINK_UP_LSB) | (32'(d_replaying || u_replaying) << STATUS_REPLAYING_LSB) |
                       (32'(d_stall || u_stall) << STATUS_CREDIT_STALL_LSB);
  wire [31:0] dma_status = (32'(busy) << DMA_STATUS_BUSY_LSB) | (32'(head_invalid) << DMA_STATUS_HEAD_INVALID_LSB) |
                           (32'(last_status) << DMA_STATUS_LAST_STATUS_LSB);
  wire [31:0] irq_set = (32'(crc_errors != crc_errors_q) << IRQ_STATUS_CRC_ERROR_LSB) |
                        (32'(replays != replays_q) << IRQ_STATUS_REPLAY_LSB) |
                        (32'(done_pulse) << IRQ_STATUS_DMA_DONE_LSB) | (32'(error_pulse) << IRQ_STATUS_DMA_ERROR_LSB);
  assign dbg_errors_injected = d_inj + u_inj;
  assign dbg_naks_sent = d_nak + u_nak;
  assign dbg_dma_busy = busy;
  assign dbg_dma_done = done_pulse;
  wire unused_up = u_up;
  wire [30:0] unused_ring_bits = {ring_size[31:17], ring_head[31:16]};

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

  logic unused_doorbell_valid;
  logic [31:0] unused_doorbell_data;
  ll_regfile u_regs (
      .clk, .rst,
      .req_valid, .req_write, .req_addr, .req_wdata, .rsp_valid, .rsp_rdata,
      .status, .crc_errors, .replays, .seq_errors(d_seq + u_seq), .tx_flits(d_tx + u_tx),
      .rx_flits(d_rx + u_rx), .cycles(cycles_q), .stall_cycles(d_stc + u_stc), .irq_set,
      .dma_status, .ring_tail({16'h0, ring_tail}), .dma_completed(completed), .dma_errors, .dma_bad_length(bad_length),
      .dma_out_of_range(out_of_range), .mem_size(mem_size_q),
      .control, .dma_control, .ring_base, .ring_size, .ring_head,
      .doorbell_valid(unused_doorbell_valid), .doorbell_data(unused_doorbell_data), .irq);
endmodule
