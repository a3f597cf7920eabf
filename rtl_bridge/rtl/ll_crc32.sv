// SPDX-License-Identifier: Apache-2.0
// CRC-32 (IEEE 802.3: reflected polynomial 0xEDB88320, initial value and final
// XOR 0xFFFFFFFF) of W bits, combinational. Bit 0 of data_i goes first, so a
// byte stream b0, b1, ... packed as {..., b1, b0} gives the same value as zlib's
// crc32() of those bytes. W must be a multiple of 8 for that equivalence.
module ll_crc32 #(
    parameter int W = 72
) (
    input  logic [W-1:0] data_i,
    output logic [ 31:0] crc_o
);
  logic [31:0] c;
  always_comb begin
    c = 32'hFFFF_FFFF;
    for (int i = 0; i < W; i++) begin
      c = (c >> 1) ^ ((c[0] ^ data_i[i]) ? 32'hEDB8_8320 : 32'h0);
    end
    crc_o = ~c;
  end
endmodule
