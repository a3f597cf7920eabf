// SPDX-License-Identifier: Apache-2.0
// One direction of data over the photonic link, both ends: ll_tx frames the
// payloads into flits (sequence number, CRC-32, replay buffer, credits), a
// forward ll_lane carries them (latency, injectable bit errors), ll_rx checks
// and delivers them in order, and a reverse ll_lane carries its control flits
// (ACK, NAK, credits) back. The same composition as ll_link_board's link path,
// without the register file; ll_board uses two of them, one per direction.
module ll_link #(
    parameter int MAX_LAT = 64,
    localparam int LW = $clog2(MAX_LAT) + 1
) (
    input  logic          clk,
    input  logic          rst,
    input  logic          enable,
    input  logic [LW-1:0] fwd_latency,
    input  logic [LW-1:0] rev_latency,
    input  logic [  31:0] seed,
    input  logic [  15:0] err_threshold,  // forward lane; the control lane is error-free
    input  logic [   7:0] credits,
    input  logic [  15:0] timeout_cycles,
    input  logic          force_flip,
    input  logic [   6:0] force_bit,
    input  logic          in_valid,
    input  logic [  63:0] in_payload,
    output logic          in_ready,
    output logic          out_valid,
    output logic [  63:0] out_payload,
    input  logic          out_ready,
    output logic          link_up,
    output logic          replaying,
    output logic          credit_stall,
    output logic [  31:0] tx_flits,
    output logic [  31:0] rx_flits,
    output logic [  31:0] replays,
    output logic [  31:0] crc_errors,
    output logic [  31:0] seq_errors,
    output logic [  31:0] stall_cycles,
    output logic [  31:0] errors_injected,
    output logic [  31:0] naks_sent
);
  logic tx_flit_valid, rx_flit_valid, ctl_valid_rx, ctl_valid_tx;
  logic [103:0] tx_flit, rx_flit;
  logic [55:0] ctl_rx, ctl_tx;
  logic [31:0] nak_replays, timeout_replays;
  logic [31:0] unused_ctl_crc_errors, unused_dup_flits, unused_overflows, unused_rev_errors;

  ll_tx u_tx (
      .clk, .rst, .enable, .timeout_cycles,
      .in_valid, .in_payload, .in_ready,
      .flit_valid(tx_flit_valid), .flit(tx_flit),
      .ctl_valid(ctl_valid_tx), .ctl(ctl_tx),
      .replaying, .credit_stall, .tx_flits, .nak_replays, .timeout_replays,
      .ctl_crc_errors(unused_ctl_crc_errors), .stall_cycles);

  ll_lane #(.W(104), .MAX_LAT(MAX_LAT)) u_fwd (
      .clk, .rst,
      .latency(fwd_latency), .seed, .err_threshold,
      .force_flip, .force_bit,
      .in_valid(tx_flit_valid), .in_data(tx_flit),
      .out_valid(rx_flit_valid), .out_data(rx_flit),
      .errors_injected);

  ll_rx u_rx (
      .clk, .rst, .credits,
      .flit_valid(rx_flit_valid), .flit(rx_flit),
      .out_valid, .out_payload, .out_ready,
      .ctl_valid(ctl_valid_rx), .ctl(ctl_rx),
      .link_up, .rx_flits, .crc_errors, .seq_errors,
      .dup_flits(unused_dup_flits), .naks_sent, .overflows(unused_overflows));

  ll_lane #(.W(56), .MAX_LAT(MAX_LAT)) u_rev (
      .clk, .rst,
      .latency(rev_latency), .seed(seed + 1), .err_threshold(16'h0),
      .force_flip(1'b0), .force_bit(7'h0),
      .in_valid(ctl_valid_rx), .in_data(ctl_rx),
      .out_valid(ctl_valid_tx), .out_data(ctl_tx),
      .errors_injected(unused_rev_errors));

  assign replays = nak_replays + timeout_replays;
endmodule
