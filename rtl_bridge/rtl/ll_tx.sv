// SPDX-License-Identifier: Apache-2.0
// Link-layer transmitter. Frames each 64-bit payload into a 104-bit data flit
//   [7:0] sequence number, [71:8] payload, [103:72] CRC-32 of bits [71:0],
// keeps every unacknowledged payload in a replay buffer of DEPTH entries and
// goes back N (resends from the oldest unacknowledged flit) when the far end's
// NAK id changes or when no acknowledgement arrives for timeout_cycles
// (0 disables the timer, which also rests while enable is low). A new flit
// needs a credit: the far end advertises a cumulative credit limit (mod 256)
// and the transmitter may send while its count of new flits (next_seq_q) is
// below that limit. Replays need no credit, because the receiver only buffers
// a flit once, in order.
// Control flits from the far end: [7:0] cumulative ACK (last in-order
// sequence number), [15:8] NAK id, [23:16] credit limit, [55:24] CRC-32.
module ll_tx #(
    parameter int DEPTH = 32,
    localparam int AW = $clog2(DEPTH)
) (
    input  logic         clk,
    input  logic         rst,
    input  logic         enable,
    input  logic [ 15:0] timeout_cycles,
    // payloads from the host side
    input  logic         in_valid,
    input  logic [ 63:0] in_payload,
    output logic         in_ready,
    // data flits to the lane
    output logic         flit_valid,
    output logic [103:0] flit,
    // control flits from the reverse lane
    input  logic         ctl_valid,
    input  logic [ 55:0] ctl,
    // status and counters
    output logic         replaying,
    output logic         credit_stall,
    output logic [ 31:0] tx_flits,
    output logic [ 31:0] nak_replays,
    output logic [ 31:0] timeout_replays,
    output logic [ 31:0] ctl_crc_errors,
    output logic [ 31:0] stall_cycles
);
  logic [63:0] buf_q[DEPTH];
  logic [7:0] next_seq_q, una_q, send_q, limit_q, nak_id_q;
  logic [15:0] timer_q;

  // Control flit from the far end.
  logic [31:0] ctl_crc;
  ll_crc32 #(.W(24)) u_ctl_crc (.data_i(ctl[23:0]), .crc_o(ctl_crc));
  wire ctl_ok = ctl_valid && (ctl_crc == ctl[55:24]);
  wire [7:0] ack_next = ctl[7:0] + 1'b1;
  wire [7:0] in_flight = next_seq_q - una_q;
  wire [7:0] ack_adv = ack_next - una_q;
  wire ack_ok = ctl_ok && (ack_adv <= in_flight);
  wire ack_moves = ack_ok && (ack_adv != 0);
  wire nak = ctl_ok && (ctl[15:8] != nak_id_q);
  wire [7:0] una_now = ack_ok ? ack_next : una_q;

  // What to send this cycle: the replay first, else a new flit if allowed.
  wire replay_pending = send_q != next_seq_q;
  wire [7:0] credits_left = limit_q - next_seq_q;
  wire has_credit = (credits_left != 0) && !credits_left[7];
  wire window_ok = in_flight < 8'(DEPTH);
  assign in_ready = enable && !replay_pending && has_credit && window_ok;
  wire take_new = in_ready && in_valid;
  wire send_replay = enable && replay_pending;
  assign replaying = replay_pending;
  assign credit_stall = enable && in_valid && !replay_pending && !has_credit;

  wire timeout = enable && (timeout_cycles != 0) && (timer_q >= timeout_cycles) && (in_flight != 0);
  wire [7:0] tx_seq = take_new ? next_seq_q : send_q;
  wire [63:0] tx_payload = take_new ? in_payload : buf_q[send_q[AW-1:0]];
  logic [31:0] tx_crc;
  ll_crc32 #(.W(72)) u_crc (.data_i({tx_payload, tx_seq}), .crc_o(tx_crc));

  // Where the next transmission starts: NAK > timeout > skip acked > advance.
  wire [7:0] send_adv = send_q + 8'(take_new || send_replay);
  wire send_behind = (send_adv - una_q) < ack_adv;  // acked while replaying
  wire [7:0] send_next = nak ? una_now : timeout ? una_now : (ack_moves && send_behind) ? una_now : send_adv;

  always_ff @(posedge clk) begin
    if (rst) begin
      next_seq_q <= '0;
      una_q <= '0;
      send_q <= '0;
      limit_q <= '0;
      nak_id_q <= '0;
      timer_q <= '0;
      flit_valid <= 1'b0;
      flit <= '0;
      tx_flits <= '0;
      nak_replays <= '0;
      timeout_replays <= '0;
      ctl_crc_errors <= '0;
      stall_cycles <= '0;
    end else begin
      flit_valid <= take_new || send_replay;
      flit <= {tx_crc, tx_payload, tx_seq};
      if (take_new) begin
        buf_q[next_seq_q[AW-1:0]] <= in_payload;
        next_seq_q <= next_seq_q + 1'b1;
        tx_flits <= tx_flits + 1;
      end
      send_q <= send_next;
      una_q <= una_now;
      if (ctl_ok) limit_q <= ctl[23:16];
      if (ctl_valid && !ctl_ok) ctl_crc_errors <= ctl_crc_errors + 1;
      if (nak) begin
        nak_id_q <= ctl[15:8];
        nak_replays <= nak_replays + 1;
      end else if (timeout) begin
        timeout_replays <= timeout_replays + 1;
      end
      timer_q <= (!enable || ack_moves || nak || timeout || in_flight == 0) ? 16'h0 : timer_q + 1'b1;
      if (credit_stall) stall_cycles <= stall_cycles + 1;
    end
  end
endmodule
