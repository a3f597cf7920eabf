// SPDX-License-Identifier: Apache-2.0
// Link-layer receiver. Checks each data flit's CRC-32 and sequence number
// (layout in ll_tx.sv), keeps in-order flits in a DEPTH-entry buffer and drops
// the rest: a bad CRC or a sequence number ahead of the expected one starts a
// NAK (the NAK id increments; no further NAK until the expected flit arrives),
// a sequence number behind it is a duplicate of a replay and is dropped
// silently. Every cycle it sends a control flit carrying the cumulative ACK,
// the NAK id and the credit limit: flits consumed so far plus `credits`
// (1..DEPTH), mod 256. Cumulative fields mean a lost control flit costs nothing.
module ll_rx #(
    parameter int DEPTH = 32,
    localparam int AW = $clog2(DEPTH)
) (
    input  logic         clk,
    input  logic         rst,
    input  logic [  7:0] credits,
    // data flits from the lane
    input  logic         flit_valid,
    input  logic [103:0] flit,
    // in-order payloads to the far side
    output logic         out_valid,
    output logic [ 63:0] out_payload,
    input  logic         out_ready,
    // control flits to the reverse lane
    output logic         ctl_valid,
    output logic [ 55:0] ctl,
    // counters
    output logic         link_up,
    output logic [ 31:0] rx_flits,
    output logic [ 31:0] crc_errors,
    output logic [ 31:0] seq_errors,
    output logic [ 31:0] dup_flits,
    output logic [ 31:0] naks_sent,
    output logic [ 31:0] overflows
);
  logic [63:0] buf_q[DEPTH];
  logic [AW:0] wp_q, rp_q;
  logic [7:0] expected_q, nak_id_q, consumed_q;
  logic nak_pending_q;

  logic [31:0] crc;
  ll_crc32 #(.W(72)) u_crc (.data_i(flit[71:0]), .crc_o(crc));
  wire crc_ok = crc == flit[103:72];
  wire [7:0] seq_dist = flit[7:0] - expected_q;
  wire full = (wp_q - rp_q) == (AW + 1)'(DEPTH);
  wire in_order = flit_valid && crc_ok && (seq_dist == 0);
  wire accept = in_order && !full;
  wire bad_crc = flit_valid && !crc_ok;
  wire ahead = flit_valid && crc_ok && (seq_dist != 0) && !seq_dist[7];
  wire dup = flit_valid && crc_ok && seq_dist[7];
  wire start_nak = (bad_crc || ahead) && !nak_pending_q;

  assign out_valid = wp_q != rp_q;
  assign out_payload = buf_q[rp_q[AW-1:0]];
  wire pop = out_valid && out_ready;

  // The control flit carries the state after this cycle.
  wire [7:0] expected_next = expected_q + 8'(accept);
  wire [7:0] nak_id_next = nak_id_q + 8'(start_nak);
  wire [7:0] consumed_next = consumed_q + 8'(pop);
  wire [23:0] ctl_fields = {consumed_next + credits, nak_id_next, expected_next - 1'b1};
  logic [31:0] ctl_crc;
  ll_crc32 #(.W(24)) u_ctl_crc (.data_i(ctl_fields), .crc_o(ctl_crc));

  always_ff @(posedge clk) begin
    if (rst) begin
      wp_q <= '0;
      rp_q <= '0;
      expected_q <= '0;
      nak_id_q <= '0;
      consumed_q <= '0;
      nak_pending_q <= 1'b0;
      ctl_valid <= 1'b0;
      ctl <= '0;
      link_up <= 1'b0;
      rx_flits <= '0;
      crc_errors <= '0;
      seq_errors <= '0;
      dup_flits <= '0;
      naks_sent <= '0;
      overflows <= '0;
    end else begin
      if (accept) begin
        buf_q[wp_q[AW-1:0]] <= flit[71:8];
        wp_q <= wp_q + 1'b1;
        rx_flits <= rx_flits + 1;
        nak_pending_q <= 1'b0;
      end else if (start_nak) begin
        nak_pending_q <= 1'b1;
        naks_sent <= naks_sent + 1;
      end
      if (pop) rp_q <= rp_q + 1'b1;
      expected_q <= expected_next;
      nak_id_q <= nak_id_next;
      consumed_q <= consumed_next;
      ctl_valid <= 1'b1;
      ctl <= {ctl_crc, ctl_fields};
      if (flit_valid && crc_ok) link_up <= 1'b1;
      if (bad_crc) crc_errors <= crc_errors + 1;
      if (ahead) seq_errors <= seq_errors + 1;
      if (dup) dup_flits <= dup_flits + 1;
      if (in_order && full) overflows <= overflows + 1;
    end
  end
endmodule
