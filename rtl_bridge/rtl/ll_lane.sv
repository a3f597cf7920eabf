// SPDX-License-Identifier: Apache-2.0
// One direction of the link between the two ends: a delay line of `latency`
// cycles (1..MAX_LAT, set before reset is released) that can corrupt what it
// carries. Errors come from a 32-bit Galois LFSR seeded at reset: for every
// valid word, if lfsr[15:0] < err_threshold one bit (index lfsr[22:16], when it
// is below W) is flipped, i.e. a per-word error probability of about
// err_threshold / 65536. force_flip flips bit force_bit of this cycle's word.
// The valid bit itself is never corrupted (framing is assumed to survive).
module ll_lane #(
    parameter int W = 104,
    parameter int MAX_LAT = 64,
    localparam int AW = $clog2(MAX_LAT)
) (
    input  logic         clk,
    input  logic         rst,
    input  logic [AW:0]  latency,
    input  logic [ 31:0] seed,
    input  logic [ 15:0] err_threshold,
    input  logic         force_flip,
    input  logic [  6:0] force_bit,
    input  logic         in_valid,
    input  logic [W-1:0] in_data,
    output logic         out_valid,
    output logic [W-1:0] out_data,
    output logic [ 31:0] errors_injected
);
  logic [W-1:0] data_q[MAX_LAT];
  logic [MAX_LAT-1:0] valid_q;
  logic [AW-1:0] wp_q;
  logic [31:0] lfsr_q;

  // Galois LFSR, x^32 + x^22 + x^2 + x + 1 (maximal length).
  wire [31:0] lfsr_next = (lfsr_q >> 1) ^ (lfsr_q[0] ? 32'h8020_0003 : 32'h0);
  wire [6:0] rand_bit = lfsr_q[22:16];
  wire rand_hit = in_valid && (lfsr_q[15:0] < err_threshold) && (32'(rand_bit) < W);
  wire force_hit = in_valid && force_flip && (32'(force_bit) < W);

  wire [W-1:0] one = {{(W - 1) {1'b0}}, 1'b1};
  wire [W-1:0] flip = (rand_hit ? one << rand_bit : '0) | (force_hit ? one << force_bit : '0);
  wire [W-1:0] word = in_data ^ flip;
  wire [AW-1:0] rp = wp_q - AW'(latency - 1'b1);

  always_ff @(posedge clk) begin
    if (rst) begin
      valid_q <= '0;
      wp_q <= '0;
      lfsr_q <= (seed == 0) ? 32'h1 : seed;
      out_valid <= 1'b0;
      out_data <= '0;
      errors_injected <= '0;
    end else begin
      data_q[wp_q] <= word;
      valid_q[wp_q] <= in_valid;
      wp_q <= wp_q + 1'b1;
      if (in_valid) lfsr_q <= lfsr_next;
      if (flip != '0) errors_injected <= errors_injected + 1;
      if (latency == 1) begin
        out_valid <= in_valid;
        out_data <= word;
      end else begin
        out_valid <= valid_q[rp];
        out_data <= data_q[rp];
      end
    end
  end
endmodule
