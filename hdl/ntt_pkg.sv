// Shared helpers of the NTT units (hdl/ntt_unit.sv): the ROM file names spell C and stage
// numbers in hex (hdl/gen_twiddles.py writes the files).
package ntt_pkg;
  // Four lower-case hex digits of v, as the ROM file names spell bank counts and indices.
  function automatic [31:0] hex4(input integer v);
    integer d, x;
    begin
      hex4 = 32'd0;
      for (d = 0; d < 4; d = d + 1) begin
        x = (v >> (4 * d)) % 16;
        hex4 = hex4 | ((x < 10 ? 48 + x : 87 + x) << (8 * d));
      end
    end
  endfunction
endpackage
