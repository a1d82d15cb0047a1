// The NTT unit's memory layout, stated once: ntt_buffer.sv implements the buffers' mapping,
// ntt_stage.sv and ntt_unit.sv the ROMs', gen_twiddles.py writes the ROM banks' files.
//
// Buffers: C banks of one write and one read port. Coefficient idx (log2 N bits) lives in bank
//   bank(idx) = { ^idx[log2 N - 1 : log2 C - 1], idx[log2 C - 2 : 0] }
// (the parity of the bits from log2 C - 1 up, above the low log2 C - 1 bits), at row
// idx >> log2 C (with the frame's half of the double buffer above it). Every access pattern of
// the unit touches C words whose indices vary in the low log2 C - 1 bits (over all their
// values) and in one more bit p >= log2 C - 1, the others fixed: the input writer and output
// reader (k C + l: p = log2 C - 1) and every stage in both directions (the C/2 butterflies of a
// cycle are consecutive b = k C/2 + l, the pair idx0 = insert(b, 0 at bit log2 t) and
// idx0 + t: p = max(log2 t, log2 C - 1)). The low bits name C/2 distinct values of the low
// bank bits, and flipping bit p flips the parity bit, so the C words fall in C distinct banks.
//
// Twiddle ROMs: stage S's 2^(S+1) entries in TB = min(C/2, 2^(S+1)) banks, entry e in bank
// e mod TB at row e / TB. The C/2 lanes of a cycle read an aligned block of at most C/2
// consecutive entries (forward i = b >> log2 t, inverse 2^S + (b mod t), b as above), several
// lanes sharing an entry where t < C/2: one row of all banks. The inverse's twist ROM: N
// entries in C banks, coefficient k C + l in bank l, row k.
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
