// SPDX-License-Identifier: Apache-2.0
// CRC-32 (IEEE 802.3: reflected polynomial 0xEDB88320, initial value and final
// XOR 0xFFFFFFFF) of W bits, combinational, one byte per step through a
// 256-entry table of constants built at elaboration. Byte 0 is data_i[7:0], so
// a byte stream b0, b1, ... packed as {..., b1, b0} gives the same value as
// zlib's crc32() of those bytes. W must be a multiple of 8.
module ll_crc32 #(
    parameter int W = 72
) (
    input  logic [W-1:0] data_i,
    output logic [ 31:0] crc_o
);
  // The CRC register after shifting in the 8 bits of `b` from zero.
  function automatic logic [31:0] table_entry(input logic [7:0] b);
    logic [31:0] c = {24'h0, b};
    for (int i = 0; i < 8; i++) c = (c >> 1) ^ (c[0] ? 32'hEDB8_8320 : 32'h0);
    return c;
  endfunction

  logic [31:0] crc_table[256];
  for (genvar g = 0; g < 256; g++) begin : g_table
    assign crc_table[g] = table_entry(8'(g));
  end

  logic [31:0] c;
  always_comb begin
    c = 32'hFFFF_FFFF;
    for (int i = 0; i < W / 8; i++) c = (c >> 8) ^ crc_table[c[7:0]^data_i[8*i+:8]];
    crc_o = ~c;
  end
endmodule
