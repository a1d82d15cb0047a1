#!/usr/bin/env python3
"""Twiddle ROMs of the streaming NTT units (hdl/ntt_unit.sv), generated at build time, and the
plan they implement (the same plan as glovebox_sim::ntt_order, which the tests compare with).

The forward transform is the negacyclic NTT evaluated at the odd powers of
psi = 7^((p - 1) / 2N), the primitive 2N-th root of unity mod p = 2^64 - 2^32 + 1 that
glovebox_engine::ntt::Plan uses, computed in place over log2 N radix-2 stages. Stage S pairs
positions at distance t = N / 2^(S+1) inside blocks of 2t positions. Each block is the residue of
the polynomial modulo y^(2t) - zeta (zeta = psi^e, one exponent per block); a Cooley-Tukey
butterfly (u + v w, u - v w) with w = psi^(e/2) splits it into y^t - w (top) and y^t + w
(bottom). In the first 5 stages every w is a root of unity of order <= 64, hence a power of two
(2 has order 192 and 8 has order 64), and the butterfly needs no multiplier (hdl/mod_shift.sv).
Stage 5 would need roots of order 128, so before it every block is *twisted*: coefficient j of a
block with zeta = psi^e is multiplied by rho^j, rho = psi^(e / 2t) (rho^(2t) = zeta), which
turns the residue modulo y^(2t) - zeta into one modulo z^(2t) - 1 (zeta = 1), and the next six
stages again only need roots of order <= 64; the twist repeats every six stages (stage 11, 17,
...). One twist multiply per coefficient per six stages: for N <= 2048, one multiplier per
coefficient lane per direction (the HPU's NTT_CORE_ARCH_gf64 groups stages the same way).

The inverse runs the stages backwards with Gentleman-Sande butterflies (x + y, (x - y) w^-1) =
(2u, 2v) and untwists (rho^-j); the factors 2 of all stages, N in all, are removed by the
untwist before stage 5 (rho^-j N^-1). So the unit needs N >= 64.

The output order is the in-place order of this network (position pos holds the value at the
evaluation point that `points` gives); glovebox_sim::ntt_order restates it and maps it to
Plan::fwd's bit-reversed order, in which the engine's NTT-domain keys are stored.

Files, for $readmemh (PREFIX_<direction>_..., direction f or i; C in 4 hex digits, S in hex),
each with W = N / C lines, line k for row k (positions k C .. k C + C - 1):
- PREFIX_<d>_s<S>_c<C>.hex: stage S's twiddle exponents (w = 2^e forward, w^-1 = 2^e inverse),
  8 bits per butterfly of the row, butterfly 0 in the low bits: C / 2 butterflies where
  t < C (the pairs are inside a row), one where t >= C (rows k and k + t/C are paired; line k
  of either row gives it).
- PREFIX_<d>_t<S>_c<C>.hex: the twist before stage S (forward rho^j, inverse rho^-j, times
  N^-1 at S = 5), 64 bits per lane, lane 0 in the low bits.

Usage: gen_twiddles.py N PREFIX C [C ...]      (writes the files)
       gen_twiddles.py --check                  (checks the plan against a direct evaluation)
"""
import os
import random
import re
import sys

P = 2**64 - 2**32 + 1
GENERATOR = 7


def _pkg_shift_stages():
    """goldilocks_pkg::SHIFT_STAGES (the stages before the first twist), read from the package
    so the RTL stays its one source."""
    pkg = os.path.join(os.path.dirname(os.path.abspath(__file__)), "goldilocks_pkg.sv")
    with open(pkg) as f:
        return int(re.search(r"localparam int SHIFT_STAGES = (\d+);", f.read()).group(1))


FIRST_TWIST = _pkg_shift_stages()
# Stages from one twist to the next: roots of order up to 2^6 = 64 are powers of two.
GROUP = FIRST_TWIST + 1
# 2 has order 192 mod p.
LOG2 = {pow(2, e, P): e for e in range(192)}


def bitrev(i, bits):
    return int(format(i, "0{}b".format(bits))[::-1], 2) if bits else 0


def twist_stages(log_n):
    return list(range(FIRST_TWIST, log_n, GROUP))


class Plan:
    """Per stage S: `zeta[S][b]`, the exponent of block b's zeta before stage S's butterflies
    (after its twist, if any); `rho[S][b]` the twist exponent (S a twist stage); `sigma`, the
    exponent with x = psi^sigma y after all twists, per final position; `points[pos]`, the odd
    exponent E with output pos = a(psi^E)."""

    def __init__(self, n):
        assert n >= 64 and n & (n - 1) == 0, n
        self.n = n
        self.log_n = n.bit_length() - 1
        self.psi = pow(GENERATOR, (P - 1) // (2 * n), P)
        two_n = 2 * n
        zeta = [n]  # x^N + 1 = x^N - psi^N
        sigma = [0]
        self.zeta, self.rho = [], {}
        for s in range(self.log_n):
            t = n >> (s + 1)
            if s in twist_stages(self.log_n):
                assert all(e % (2 * t) == 0 for e in zeta)
                self.rho[s] = [e // (2 * t) for e in zeta]
                sigma = [(sg + r) % two_n for sg, r in zip(sigma, self.rho[s])]
                zeta = [0] * len(zeta)
            self.zeta.append(list(zeta))
            assert all(e % 2 == 0 for e in zeta)
            zeta = [z for e in zeta for z in (e // 2, (e // 2 + n) % two_n)]
            sigma = [sg for sg in sigma for _ in range(2)]
        self.points = [(sg + e) % two_n for sg, e in zip(sigma, zeta)]
        assert all(e % 2 == 1 for e in self.points)
        assert sorted(self.points) == list(range(1, two_n, 2))

    def w_exp(self, s, b):
        """log2 of stage s's forward twiddle for block b."""
        w = pow(self.psi, self.zeta[s][b] // 2, P)
        return LOG2[w]

    def twist(self, s, inverse):
        """Stage s's twist factors, per position."""
        n, t2 = self.n, self.n >> s
        out = []
        for b, r in enumerate(self.rho[s]):
            for j in range(t2):
                e = (-r * j) % (2 * n) if inverse else (r * j) % (2 * n)
                v = pow(self.psi, e, P)
                if inverse and s == FIRST_TWIST:
                    v = v * pow(n, P - 2, P) % P
                out.append(v)
        return out

    def forward(self, a):
        a = list(a)
        for s in range(self.log_n):
            t = self.n >> (s + 1)
            if s in self.rho:
                a = [x * f % P for x, f in zip(a, self.twist(s, False))]
            for b in range(self.n // (2 * t)):
                w = pow(2, self.w_exp(s, b), P)
                for j in range(t):
                    i = 2 * t * b + j
                    u, v = a[i], a[i + t] * w % P
                    a[i], a[i + t] = (u + v) % P, (u - v) % P
        return a

    def inverse(self, a):
        a = list(a)
        for s in reversed(range(self.log_n)):
            t = self.n >> (s + 1)
            for b in range(self.n // (2 * t)):
                w_inv = pow(2, (192 - self.w_exp(s, b)) % 192, P)
                for j in range(t):
                    i = 2 * t * b + j
                    x, y = a[i], a[i + t]
                    a[i], a[i + t] = (x + y) % P, (x - y) * w_inv % P
            if s in self.rho:
                a = [x * f % P for x, f in zip(a, self.twist(s, True))]
        return a


def exponent_lines(plan, s, c, inverse):
    n, t = plan.n, plan.n >> (s + 1)
    lines = []
    for k in range(n // c):
        if t >= c:
            fly = [(k * c) // (2 * t)]
        else:
            fly = [(k * c + l) // (2 * t) for l in range(c) if (l & t) == 0]
        exps = [plan.w_exp(s, b) for b in fly]
        if inverse:
            exps = [(192 - e) % 192 for e in exps]
        lines.append("".join("{:02x}".format(e) for e in reversed(exps)) + "\n")
    return lines


def twist_lines(plan, s, c, inverse):
    f = plan.twist(s, inverse)
    return [
        "".join("{:016x}".format(v) for v in reversed(f[k * c:(k + 1) * c])) + "\n"
        for k in range(plan.n // c)
    ]


def rom_bits(n, c):
    """Bits of one unit's ROMs (either direction): per stage W lines of 8 bits per butterfly
    (one for a stage that pairs rows, C / 2 for one that pairs words of a row), per twist W
    lines of 64 C bits."""
    log_n = n.bit_length() - 1
    w = n // c
    stages = sum(w * 8 * (1 if n >> (s + 1) >= c else c // 2) for s in range(log_n))
    return stages + len(twist_stages(log_n)) * w * 64 * c


def delay_bits(n, c):
    """Bits in one unit's delay lines (shift registers: flip-flops, or SRL LUTs and block RAM
    on an FPGA): 2 t / C rows of C 64-bit words for each stage that pairs rows t / C apart."""
    log_n = n.bit_length() - 1
    return sum(2 * (n >> (s + 1)) * 64 for s in range(log_n) if n >> (s + 1) >= c)


def multipliers(n, c):
    """64-bit modular multipliers of one unit: C per twist."""
    return c * len(twist_stages(n.bit_length() - 1))


def check():
    rng = random.Random(1)
    for n in (64, 128, 256, 512, 1024, 2048, 4096):
        plan = Plan(n)
        a = [rng.randrange(P) for _ in range(n)]
        out = plan.forward(a)
        for pos in rng.sample(range(n), 8):
            x = pow(plan.psi, plan.points[pos], P)
            assert out[pos] == sum(c * pow(x, i, P) for i, c in enumerate(a)) % P, (n, pos)
        assert plan.inverse(out) == a, n
        exps = [plan.w_exp(s, b) for s in range(plan.log_n) for b in range(len(plan.zeta[s]))]
        print("N = {}: forward evaluates at psi^points, inverse restores; twists before {}; "
              "{} distinct exponents".format(n, sorted(plan.rho), len(set(exps))))


def main():
    if sys.argv[1:] == ["--check"]:
        check()
        return
    n, prefix = int(sys.argv[1]), sys.argv[2]
    lanes = [int(c) for c in sys.argv[3:]]
    plan = Plan(n)
    assert lanes and all(c == 1 << (c.bit_length() - 1) and 2 <= c <= n // 2 for c in lanes)
    for c in lanes:
        for d, inverse in (("f", False), ("i", True)):
            for s in range(plan.log_n):
                with open("{}_{}_s{:x}_c{:04x}.hex".format(prefix, d, s, c), "w") as f:
                    f.writelines(exponent_lines(plan, s, c, inverse))
            for s in plan.rho:
                with open("{}_{}_t{:x}_c{:04x}.hex".format(prefix, d, s, c), "w") as f:
                    f.writelines(twist_lines(plan, s, c, inverse))


if __name__ == "__main__":
    main()
