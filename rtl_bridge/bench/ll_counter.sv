// SPDX-License-Identifier: Apache-2.0
// A trivial design for the benchmark's baseline: a bare Verilator clock loop.
module ll_counter (
    input  logic        clk,
    input  logic        rst,
    output logic [31:0] count
);
  always_ff @(posedge clk) count <= rst ? 32'h0 : count + 1;
endmodule
