// SPDX-License-Identifier: Apache-2.0
// The board-memory end of the link: takes command flits from the downstream
// link, moves the data through an AXI-like memory port and answers each
// command with one status flit on the upstream link (after a READ's data).
//   command flit: [39:0] board byte address (8-byte aligned), [61:40] length
//                 in 8-byte words, [63:62] operation (01 WRITE, 10 READ)
//   status flit:  [7:0] 1 OK, 5 BAD_OP, 6 MEM_ERROR (a non-OKAY response)
// Memory port: AXI4 channels (AW, W, B, AR, R) with 64-bit data, INCR bursts
// of at most BURST beats that never cross a BURST*8-byte boundary (so never a
// 4 KiB one), all byte lanes written (no WSTRB), one ID, responses in order.
// Addresses run ahead of the data; W beats are sent only for bursts whose
// address was accepted.
module ll_far_end #(
    parameter int BURST = 64,
    localparam int BW = $clog2(BURST)
) (
    input  logic        clk,
    input  logic        rst,
    // downstream link: commands and write data
    input  logic        rx_valid,
    input  logic [63:0] rx_payload,
    output logic        rx_ready,
    // upstream link: read data and status flits
    output logic        tx_valid,
    output logic [63:0] tx_payload,
    input  logic        tx_ready,
    // AXI-like memory port (master)
    output logic        awvalid,
    input  logic        awready,
    output logic [39:0] awaddr,
    output logic [ 7:0] awlen,
    output logic        wvalid,
    input  logic        wready,
    output logic [63:0] wdata,
    output logic        wlast,
    input  logic        bvalid,
    output logic        bready,
    input  logic [ 1:0] bresp,
    output logic        arvalid,
    input  logic        arready,
    output logic [39:0] araddr,
    output logic [ 7:0] arlen,
    input  logic        rvalid,
    output logic        rready,
    input  logic [63:0] rdata,
    input  logic [ 1:0] rresp
);
  typedef enum logic [1:0] {F_CMD, F_WRITE, F_READ, F_STATUS} state_t;
  state_t state_q;
  logic [36:0] a_word_q, w_word_q;  // next burst address, next W beat address
  logic [21:0] a_left_q, d_left_q;  // words without an address yet, data words left
  logic [21:0] bursts_q, w_bursts_q, b_count_q;
  logic err_q, bad_op_q;

  // Beats of the next burst: up to the next BURST-word boundary or the end.
  wire [BW:0] to_boundary = (BW + 1)'(BURST) - {1'b0, a_word_q[BW-1:0]};
  wire [21:0] beats = (a_left_q < 22'(to_boundary)) ? a_left_q : 22'(to_boundary);
  wire [7:0] len_field = 8'(beats - 22'd1);

  wire writing = state_q == F_WRITE;
  wire reading = state_q == F_READ;
  assign awvalid = writing && a_left_q != 0;
  assign arvalid = reading && a_left_q != 0;
  assign awaddr = {a_word_q, 3'b000};
  assign araddr = {a_word_q, 3'b000};
  assign awlen = len_field;
  assign arlen = len_field;
  wire a_fire = (awvalid && awready) || (arvalid && arready);

  wire w_allowed = writing && d_left_q != 0 && w_bursts_q != bursts_q;
  assign wvalid = w_allowed && rx_valid;
  assign wdata = rx_payload;
  assign wlast = (d_left_q == 22'd1) || (w_word_q[BW-1:0] == BW'(BURST - 1));
  wire w_fire = wvalid && wready;
  assign bready = 1'b1;

  // R beats go through one register before the upstream link (a pipeline
  // stage, full rate), so no link logic depends on the memory port's inputs.
  logic rbuf_valid_q;
  logic [63:0] rbuf_q;
  logic [21:0] r_left_q;  // beats still to accept
  assign rready = reading && r_left_q != 0 && (!rbuf_valid_q || tx_ready);
  wire r_fire = rvalid && rready;
  wire rbuf_out = reading && rbuf_valid_q && tx_ready;

  assign rx_ready = (state_q == F_CMD) || (w_allowed && wready);
  assign tx_valid = (reading && rbuf_valid_q) || (state_q == F_STATUS);
  assign tx_payload = reading ? rbuf_q : {56'h0, bad_op_q ? 8'd5 : err_q ? 8'd6 : 8'd1};

  wire write_done = a_left_q == 0 && d_left_q == 0 && b_count_q == bursts_q;

  always_ff @(posedge clk) begin
    if (rst) begin
      state_q <= F_CMD;
      bursts_q <= '0;
      w_bursts_q <= '0;
      b_count_q <= '0;
      a_left_q <= '0;
      d_left_q <= '0;
      err_q <= 1'b0;
      bad_op_q <= 1'b0;
      rbuf_valid_q <= 1'b0;
      r_left_q <= '0;
    end else begin
      if (a_fire) begin
        a_word_q <= a_word_q + 37'(beats);
        a_left_q <= a_left_q - beats;
        bursts_q <= bursts_q + 1'b1;
      end
      if (w_fire) begin
        w_word_q <= w_word_q + 1'b1;
        d_left_q <= d_left_q - 1'b1;
        if (wlast) w_bursts_q <= w_bursts_q + 1'b1;
      end
      if (bvalid) begin
        b_count_q <= b_count_q + 1'b1;
        if (bresp != 2'b00) err_q <= 1'b1;
      end
      if (r_fire) begin
        rbuf_q <= rdata;
        r_left_q <= r_left_q - 1'b1;
        if (rresp != 2'b00) err_q <= 1'b1;
      end
      if (r_fire) rbuf_valid_q <= 1'b1;
      else if (rbuf_out) rbuf_valid_q <= 1'b0;
      if (rbuf_out) d_left_q <= d_left_q - 1'b1;
      unique case (state_q)
        F_CMD: begin
          if (rx_valid) begin
            a_word_q <= rx_payload[39:3];
            w_word_q <= rx_payload[39:3];
            a_left_q <= rx_payload[61:40];
            d_left_q <= rx_payload[61:40];
            r_left_q <= rx_payload[63:62] == 2'b10 ? rx_payload[61:40] : 22'h0;
            bursts_q <= '0;
            w_bursts_q <= '0;
            b_count_q <= '0;
            err_q <= 1'b0;
            bad_op_q <= rx_payload[63:62] != 2'b01 && rx_payload[63:62] != 2'b10;
            state_q <= rx_payload[63:62] == 2'b01 ? F_WRITE : rx_payload[63:62] == 2'b10 ? F_READ : F_STATUS;
          end
        end
        F_WRITE: if (write_done) state_q <= F_STATUS;
        F_READ: if (d_left_q == 0 || (rbuf_out && d_left_q == 22'd1)) state_q <= F_STATUS;
        F_STATUS: if (tx_ready) state_q <= F_CMD;
        default: state_q <= F_CMD;
      endcase
    end
  end
endmodule
