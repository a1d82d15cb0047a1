// A forward and an inverse streaming NTT unit (hdl/ntt_unit.sv) behind one port, for testing
// them on their own: `in_inverse` with a polynomial's rows picks the unit; `out_inverse` says
// which unit the output row came from. Both units have the same latency (the same stages, in
// opposite order), exported on `latency`.
module ntt_pair #(
    parameter int N = 2048,
    parameter int C = 8,
    parameter TW_PREFIX = "twiddles"
) (
    input  logic            clk,
    input  logic            rst,
    input  logic            in_valid,
    input  logic            in_inverse,
    input  logic [64*C-1:0] in_data,
    output logic            out_valid,
    output logic            out_inverse,
    output logic [64*C-1:0] out_data,
    output logic [31:0]     latency
);
  logic            f_valid, i_valid;
  logic [64*C-1:0] f_data, i_data;
  logic [31:0]     f_latency, i_latency;
  ntt_unit #(.N(N), .C(C), .INVERSE(1'b0), .TW_PREFIX(TW_PREFIX)) fwd (
      .clk(clk),
      .rst(rst),
      .in_valid(in_valid & ~in_inverse),
      .in_data(in_data),
      .out_valid(f_valid),
      .out_data(f_data),
      .latency(f_latency)
  );
  ntt_unit #(.N(N), .C(C), .INVERSE(1'b1), .TW_PREFIX(TW_PREFIX)) inv (
      .clk(clk),
      .rst(rst),
      .in_valid(in_valid & in_inverse),
      .in_data(in_data),
      .out_valid(i_valid),
      .out_data(i_data),
      .latency(i_latency)
  );
  assign out_valid   = f_valid | i_valid;
  assign out_inverse = i_valid;
  assign out_data    = i_valid ? i_data : f_data;
  assign latency     = f_latency;
  logic unused_latency;
  assign unused_latency = ^i_latency;
endmodule
