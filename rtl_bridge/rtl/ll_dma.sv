// SPDX-License-Identifier: Apache-2.0
// The DMA descriptor engine at the host end of the link. Descriptors live in a
// ring in host memory (RING_BASE, RING_SIZE entries of 32 bytes):
//   word 0 [63:0]  host bus address (8-byte aligned)
//   word 1 [63:0]  board memory address (8-byte aligned)
//   word 2 [31:0]  length in bytes (8..DMA_MAX_LEN, a multiple of 8)
//          [39:32] operation: 1 WRITE (host -> board), 2 READ (board -> host)
//          [63:40] free for software (the engine ignores them)
//   word 3 [7:0]   status, written back by the engine on completion:
//                  1 OK, 2 BAD_LENGTH, 3 OUT_OF_RANGE, 4 BAD_ALIGN, 5 BAD_OP,
//                  6 MEM_ERROR (the memory port answered with an error),
//                  7 HOST_ERROR (a host-memory read failed)
//          [63:32] DMA_COMPLETED after this descriptor (a completion number)
// While ENABLE is set and RING_TAIL != RING_HEAD, the engine fetches the
// descriptor at RING_TAIL, checks it, sends a command flit and the data over
// the downstream link (WRITE) or receives the data over the upstream link and
// writes it to host memory (READ), waits for the far end's status flit, writes
// the status word back (after the data: host writes are posted and in order)
// and advances RING_TAIL. A refused descriptor moves no data.
// Host memory is reached through a bus-master port, as a PCIe endpoint's:
// 8-byte reads (responses in order, always accepted: the engine reserves room
// for them) and posted 8-byte writes.
module ll_dma #(
    parameter int FIFO_DEPTH = 64,
    localparam int FW = $clog2(FIFO_DEPTH)
) (
    input  logic        clk,
    input  logic        rst,
    // registers
    input  logic        enable,
    input  logic [63:0] ring_base,
    input  logic [16:0] ring_size,
    input  logic [15:0] ring_head,
    input  logic [63:0] mem_size,
    input  logic [31:0] max_len,
    output logic        busy,
    output logic        head_invalid,
    output logic [ 7:0] last_status,
    output logic [15:0] ring_tail,
    output logic [31:0] completed,
    output logic [31:0] errors,
    output logic [31:0] bad_length,
    output logic [31:0] out_of_range,
    output logic        done_pulse,
    output logic        error_pulse,
    // host-memory port (bus master)
    output logic        hm_rd_valid,
    input  logic        hm_rd_ready,
    output logic [63:0] hm_rd_addr,
    input  logic        hm_rsp_valid,
    input  logic [63:0] hm_rsp_data,
    input  logic        hm_rsp_err,
    output logic        hm_wr_valid,
    input  logic        hm_wr_ready,
    output logic [63:0] hm_wr_addr,
    output logic [63:0] hm_wr_data,
    // downstream link (commands and write data to the far end)
    output logic        tx_valid,
    output logic [63:0] tx_payload,
    input  logic        tx_ready,
    // upstream link (read data and status flits from the far end)
    input  logic        rx_valid,
    input  logic [63:0] rx_payload,
    output logic        rx_ready
);
  localparam logic [7:0] OP_WRITE = 8'd1, OP_READ = 8'd2;
  localparam logic [7:0] ST_OK = 8'd1, ST_BAD_LENGTH = 8'd2, ST_OUT_OF_RANGE = 8'd3, ST_BAD_ALIGN = 8'd4;
  localparam logic [7:0] ST_BAD_OP = 8'd5, ST_HOST_ERROR = 8'd7;  // 6 MEM_ERROR: from the far end

  typedef enum logic [2:0] {S_IDLE, S_FETCH, S_CHECK, S_CMD, S_WDATA, S_RDATA, S_WAIT, S_WB} state_t;
  state_t state_q;

  logic [63:0] desc_addr_q, host_q, board_q;
  logic [31:0] len_q;
  logic [7:0] op_q, status_q;
  logic [2:0] fetch_issued_q, fetch_got_q;
  logic host_err_q;
  logic [21:0] words_q, issued_q, popped_q, recv_q;
  logic [63:0] fifo_q[FIFO_DEPTH];
  logic [FW:0] wp_q, rp_q;

  // Ring state.
  wire size_ok = (ring_size != 0) && (ring_size <= 17'h10000);
  assign head_invalid = !size_ok || ({1'b0, ring_head} >= ring_size);
  wire [16:0] tail_inc = {1'b0, ring_tail} + 17'h1;
  wire [15:0] tail_next = (tail_inc == ring_size) ? 16'h0 : tail_inc[15:0];
  wire start = (state_q == S_IDLE) && enable && !head_invalid && (ring_head != ring_tail);
  assign busy = state_q != S_IDLE;

  // Descriptor checks, in order of precedence.
  wire [63:0] len64 = {32'h0, len_q};
  logic [7:0] check;
  always_comb begin
    if (host_err_q) check = ST_HOST_ERROR;
    else if (op_q != OP_WRITE && op_q != OP_READ) check = ST_BAD_OP;
    else if (len_q == 0 || len_q[2:0] != 0 || len_q > max_len) check = ST_BAD_LENGTH;
    else if (host_q[2:0] != 0 || board_q[2:0] != 0) check = ST_BAD_ALIGN;
    else if (board_q[63:40] != 0 || board_q > mem_size || len64 > mem_size - board_q) check = ST_OUT_OF_RANGE;
    else check = 8'd0;  // go
  end

  // Host reads: the descriptor's four words, then a WRITE's data with at most
  // FIFO_DEPTH words requested but not yet sent on the link.
  wire [21:0] inflight = issued_q - popped_q;
  wire data_rd = (state_q == S_WDATA) && (issued_q != words_q) && (inflight < 22'(FIFO_DEPTH));
  wire fetch_rd = (state_q == S_FETCH) && (fetch_issued_q != 3'd4);
  assign hm_rd_valid = data_rd || fetch_rd;
  assign hm_rd_addr = fetch_rd ? desc_addr_q + {58'h0, fetch_issued_q, 3'b000} : host_q + {39'h0, issued_q, 3'b000};
  wire rd_fire = hm_rd_valid && hm_rd_ready;

  // Downstream: the command flit, then a WRITE's data from the FIFO.
  wire fifo_empty = wp_q == rp_q;
  wire [1:0] cmd_op = (op_q == OP_READ) ? 2'b10 : 2'b01;
  assign tx_valid = (state_q == S_CMD) || (state_q == S_WDATA && !fifo_empty);
  assign tx_payload = (state_q == S_CMD) ? {cmd_op, words_q, board_q[39:0]} : fifo_q[rp_q[FW-1:0]];
  wire tx_fire = tx_valid && tx_ready;

  // Upstream: a READ's data into host memory, then the status flit; the
  // status write-back shares the host write port.
  wire rdata = state_q == S_RDATA;
  assign rx_ready = (rdata && hm_wr_ready) || (state_q == S_WAIT);
  assign hm_wr_valid = (rdata && rx_valid) || (state_q == S_WB);
  assign hm_wr_addr = rdata ? host_q + {39'h0, recv_q, 3'b000} : desc_addr_q + 64'd24;
  assign hm_wr_data = rdata ? rx_payload : {completed + 32'd1, 24'h0, status_q};
  wire rx_fire = rx_valid && rx_ready;
  wire wb_fire = (state_q == S_WB) && hm_wr_ready;

  always_ff @(posedge clk) begin
    if (rst) begin
      state_q <= S_IDLE;
      ring_tail <= '0;
      host_err_q <= 1'b0;
      wp_q <= '0;
      rp_q <= '0;
      last_status <= '0;
      completed <= '0;
      errors <= '0;
      bad_length <= '0;
      out_of_range <= '0;
      done_pulse <= 1'b0;
      error_pulse <= 1'b0;
    end else begin
      done_pulse <= 1'b0;
      error_pulse <= 1'b0;
      if (rd_fire && fetch_rd) fetch_issued_q <= fetch_issued_q + 1'b1;
      if (rd_fire && data_rd) issued_q <= issued_q + 1'b1;
      if (hm_rsp_valid && hm_rsp_err) host_err_q <= 1'b1;
      if (hm_rsp_valid && state_q == S_FETCH) begin
        unique case (fetch_got_q[1:0])
          2'd0: host_q <= hm_rsp_data;
          2'd1: board_q <= hm_rsp_data;
          2'd2: {op_q, len_q} <= hm_rsp_data[39:0];
          default: ;  // word 3: the status word, written back later
        endcase
        fetch_got_q <= fetch_got_q + 1'b1;
      end
      if (hm_rsp_valid && state_q == S_WDATA) begin
        fifo_q[wp_q[FW-1:0]] <= hm_rsp_data;
        wp_q <= wp_q + 1'b1;
      end
      if (tx_fire && state_q == S_WDATA) begin
        rp_q <= rp_q + 1'b1;
        popped_q <= popped_q + 1'b1;
      end
      if (rx_fire && rdata) recv_q <= recv_q + 1'b1;

      unique case (state_q)
        S_IDLE: begin
          if (!enable) ring_tail <= '0;
          if (start) begin
            desc_addr_q <= ring_base + {43'h0, ring_tail, 5'b00000};
            fetch_issued_q <= '0;
            fetch_got_q <= '0;
            host_err_q <= 1'b0;
            state_q <= S_FETCH;
          end
        end
        S_FETCH: if (fetch_got_q == 3'd4) state_q <= S_CHECK;
        S_CHECK: begin
          words_q <= len_q[24:3];
          issued_q <= '0;
          popped_q <= '0;
          recv_q <= '0;
          status_q <= check;
          state_q <= (check != 0) ? S_WB : S_CMD;
        end
        S_CMD: if (tx_fire) state_q <= (op_q == OP_READ) ? S_RDATA : S_WDATA;
        S_WDATA: if (tx_fire && popped_q + 1'b1 == words_q) state_q <= S_WAIT;
        S_RDATA: if (rx_fire && recv_q + 1'b1 == words_q) state_q <= S_WAIT;
        S_WAIT: begin
          if (rx_fire) begin
            status_q <= (rx_payload[7:0] == ST_OK && host_err_q) ? ST_HOST_ERROR : rx_payload[7:0];
            state_q <= S_WB;
          end
        end
        S_WB: begin
          if (wb_fire) begin
            completed <= completed + 1;
            last_status <= status_q;
            if (status_q != ST_OK) errors <= errors + 1;
            if (status_q == ST_BAD_LENGTH) bad_length <= bad_length + 1;
            if (status_q == ST_OUT_OF_RANGE) out_of_range <= out_of_range + 1;
            done_pulse <= 1'b1;
            error_pulse <= status_q != ST_OK;
            ring_tail <= tail_next;
            state_q <= S_IDLE;
          end
        end
        default: state_q <= S_IDLE;
      endcase
    end
  end
endmodule
