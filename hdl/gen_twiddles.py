#!/usr/bin/env python3
"""Twiddle ROM for the NTT unit (hdl/ntt_stage.sv), generated at build time.

Writes 2N lines of 16 hex digits for $readmemh: psi^bitrev(i) for i < N, then psi^-bitrev(i),
where psi = 7^((p - 1) / 2N) is the primitive 2N-th root of unity mod p = 2^64 - 2^32 + 1 that
glovebox_engine::ntt::Plan uses (the NTT tests compare every output word with it).

Usage: gen_twiddles.py N OUT_FILE
"""
import sys

P = 2**64 - 2**32 + 1
GENERATOR = 7


def twiddles(n):
    log_n = n.bit_length() - 1
    assert n == 1 << log_n and 2 <= n <= 16384, n
    psi = pow(GENERATOR, (P - 1) // (2 * n), P)
    psi_inv = pow(psi, P - 2, P)
    fwd = [0] * n
    inv = [0] * n
    for i in range(n):
        r = int(format(i, "0{}b".format(log_n))[::-1], 2) if log_n else 0
        fwd[r] = pow(psi, i, P)
        inv[r] = pow(psi_inv, i, P)
    return fwd + inv


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    with open(out, "w") as f:
        for w in twiddles(n):
            f.write("{:016x}\n".format(w))


if __name__ == "__main__":
    main()
