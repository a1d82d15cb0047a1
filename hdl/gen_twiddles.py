#!/usr/bin/env python3
"""Twiddle ROMs for the NTT unit (hdl/ntt_stage.sv, hdl/ntt_unit.sv), generated at build time.

psi = 7^((p - 1) / 2N) is the primitive 2N-th root of unity mod p = 2^64 - 2^32 + 1 that
glovebox_engine::ntt::Plan uses (the NTT tests compare every output word with it). Writes, for
$readmemh:

- stage S's ROM (S < log2 N): 2^(S+1) entries, first the forward twiddles psi^bitrev(2^S + i)
  for i < 2^S (bitrev over log2 N bits), then the inverse ones psi^(-j N / 2^S) for j < 2^S.
  In the first SHIFT_STAGES stages every one of them is a power of two, and the entry is its
  exponent e (w = 2^e mod p, e < 192, 2 hex digits); elsewhere the 64-bit twiddle (16 hex
  digits).
- the twist ROM: N entries N^-1 psi^-i, the inverse's scaling and untwisting.

The unit of C lanes reads them from banks (hdl/ntt_pkg.sv): stage S's ROM in
TB = min(C/2, 2^(S+1)) banks, entry e in bank e mod TB, as PREFIX_s<S>_c<C>_b<bank>.hex; the
twist ROM in C banks, entry e in bank e mod C, as PREFIX_twist_c<C>_b<bank>.hex (S in hex, C
and bank in 4 hex digits), each bank's entries in row order. One set of files per C given.

Usage: gen_twiddles.py N PREFIX C [C ...]
"""
import os
import re
import sys

P = 2**64 - 2**32 + 1
GENERATOR = 7


def _pkg_shift_stages():
    """goldilocks_pkg::SHIFT_STAGES, read from the package so the RTL stays its one source."""
    pkg = os.path.join(os.path.dirname(os.path.abspath(__file__)), "goldilocks_pkg.sv")
    with open(pkg) as f:
        return int(re.search(r"localparam int SHIFT_STAGES = (\d+);", f.read()).group(1))


SHIFT_STAGES = _pkg_shift_stages()
# 2 has order 192 mod p.
LOG2 = {pow(2, e, P): e for e in range(192)}


def bitrev(i, bits):
    return int(format(i, "0{}b".format(bits))[::-1], 2) if bits else 0


def stage_twiddles(n, s):
    log_n = n.bit_length() - 1
    psi = pow(GENERATOR, (P - 1) // (2 * n), P)
    psi_inv = pow(psi, P - 2, P)
    fwd = [pow(psi, bitrev((1 << s) + i, log_n), P) for i in range(1 << s)]
    inv = [pow(psi_inv, j * n >> s, P) for j in range(1 << s)]
    return fwd + inv


def twist(n):
    psi = pow(GENERATOR, (P - 1) // (2 * n), P)
    psi_inv = pow(psi, P - 2, P)
    n_inv = pow(n, P - 2, P)
    return [n_inv * pow(psi_inv, i, P) % P for i in range(n)]


def write_banks(name, lines, banks):
    """Bank b of `banks`: lines[b], lines[b + banks], ... to name(b)."""
    for b in range(banks):
        with open(name(b), "w") as f:
            f.writelines(lines[b::banks])


def main():
    n, prefix = int(sys.argv[1]), sys.argv[2]
    lanes = [int(c) for c in sys.argv[3:]]
    log_n = n.bit_length() - 1
    assert n == 1 << log_n and 2 <= n <= 16384, n
    assert lanes and all(c == 1 << (c.bit_length() - 1) and 2 <= c <= n for c in lanes), lanes
    stages = []
    for s in range(log_n):
        if s < SHIFT_STAGES:
            stages.append(["{:02x}\n".format(LOG2[w]) for w in stage_twiddles(n, s)])
        else:
            stages.append(["{:016x}\n".format(w) for w in stage_twiddles(n, s)])
    twist_lines = ["{:016x}\n".format(w) for w in twist(n)]
    for c in lanes:
        for s, lines in enumerate(stages):
            write_banks(
                lambda b: "{}_s{:x}_c{:04x}_b{:04x}.hex".format(prefix, s, c, b),
                lines,
                min(c // 2, len(lines)),
            )
        write_banks(
            lambda b: "{}_twist_c{:04x}_b{:04x}.hex".format(prefix, c, b), twist_lines, c
        )


if __name__ == "__main__":
    main()
