// Arithmetic modulo the NTT prime p = 2^64 - 2^32 + 1, on the native torus Z/2^64Z, and the
// signed gadget decomposition: WGSL ports of glovebox_engine::commons::{modp, decomposition},
// bit for bit. WGSL has 64-bit integers (wgpu's SHADER_INT64) but no 64x64->128 product, so
// `mul_wide` builds it from four 32x32->64 products (the compiler sees zero-extended 32-bit
// operands and emits a native 32-bit wide multiply for each).

const P: u64 = 0xFFFFFFFF00000001lu;
// 2^64 - p = 2^32 - 1.
const EPS: u64 = 0xFFFFFFFFlu;
const HALF_P: u64 = 0x7FFFFFFF80000000lu;

struct U128 {
    lo: u64,
    hi: u64,
}

fn mul_wide(a: u64, b: u64) -> U128 {
    let a0 = a & EPS;
    let a1 = a >> 32u;
    let b0 = b & EPS;
    let b1 = b >> 32u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    // < 3 * 2^32: no overflow.
    let mid = (p00 >> 32u) + (p01 & EPS) + (p10 & EPS);
    return U128((p00 & EPS) | (mid << 32u), p11 + (p01 >> 32u) + (p10 >> 32u) + (mid >> 32u));
}

// 2^64 = 2^32 - 1 and 2^96 = -1 (mod p); result in [0, 2^64), possibly >= p.
fn reduce128_lazy(x: U128) -> u64 {
    let hi_hi = x.hi >> 32u;
    let hi_lo = x.hi & EPS;
    var t0 = x.lo - hi_hi;
    if (x.lo < hi_hi) {
        t0 = t0 - EPS;
    }
    let t1 = (hi_lo << 32u) - hi_lo;
    let t2 = t0 + t1;
    return select(t2, t2 + EPS, t2 < t0);
}

fn canonical(a: u64) -> u64 {
    return select(a, a - P, a >= P);
}

fn mp_mul(a: u64, b: u64) -> u64 {
    return canonical(reduce128_lazy(mul_wide(a, b)));
}

// a * 2^e mod p for e < 192 and any 64-bit a, with shifts instead of the four products
// (glovebox_engine::ntt::avx512::mul_pow2): e = 96 s + r and 2^96 = -1;
// r < 64: a 2^r = (a >> (64 - r)) 2^64 + (a << r), reduced as a 128-bit product;
// r = 64 + l: a 2^l = h 2^64 + lo with h < 2^32 and 2^128 = -2^32, so a 2^r = lo 2^64 - h 2^32.
// (A runtime shift by 64 shifts by 0 in WGSL; `select` discards that value.)
fn mp_mul_pow2(a: u64, e: u32) -> u64 {
    let negative = e >= 96u;
    let r = select(e, e - 96u, negative);
    var x: u64;
    if (r < 64u) {
        let hi = select(0lu, a >> (64u - r), r != 0u);
        x = canonical(reduce128_lazy(U128(a << r, hi)));
    } else {
        let l = r - 64u;
        let h = select(0lu, a >> (64u - l), l != 0u);
        x = mp_sub(canonical(reduce128_lazy(U128(0lu, a << l))), h << 32u);
    }
    return select(x, mp_sub(0lu, x), negative);
}

fn mp_add(a: u64, b: u64) -> u64 {
    let s = a + b;
    return select(s, s - P, (s < a) || (s >= P));
}

fn mp_sub(a: u64, b: u64) -> u64 {
    let d = a - b;
    return select(d, d + P, a < b);
}

// A signed value (two's complement) lifted to Z/pZ.
fn from_signed(x: u64) -> u64 {
    return select(x, x + P, (x >> 63u) != 0lu);
}

// round(x * 2^64 / p) for canonical x (modp::to_native_torus).
fn to_native_torus(x: u64) -> u64 {
    let a = x >> 32u;
    let b = x & EPS;
    let b_eps = (b << 32u) - b;
    let r = b_eps + (HALF_P - a);
    let q = a + select(0lu, 1lu, (r < b_eps) || (r >= P));
    return x + q;
}

fn shift_right_arithmetic(x: u64, s: u32) -> u64 {
    return bitcast<u64>(bitcast<i64>(x) >> s);
}

// SignedDecomposer::init_state for `levels` digits of `base_log` bits.
fn decomposition_init_state(input: u64, base_log: u32, levels: u32) -> u64 {
    let rep = levels * base_log;
    let non_rep = 64u - rep;
    var res = input >> (non_rep - 1u);
    let rounding_bit = res & 1lu;
    res = (res + 1lu) >> 1u;
    res = res & (0xFFFFFFFFFFFFFFFFlu >> (64u - rep));
    let shifted_random = rounding_bit << (rep - 1u);
    let need_balance = (((res - 1lu) | shifted_random) & res) >> (rep - 1u);
    return res - (need_balance << rep);
}

struct Digit {
    // The digit, two's complement, in [-B/2, B/2].
    digit: u64,
    // The state with that digit popped.
    state: u64,
}

// SignedDecomposer::next_digit: pops the least significant remaining digit.
fn decomposition_next_digit(state: u64, base_log: u32) -> Digit {
    let mask = (1lu << base_log) - 1lu;
    let res = state & mask;
    var s = shift_right_arithmetic(state, base_log);
    let carry = (((res - 1lu) | s) & res) >> (base_log - 1u);
    s = s + carry;
    return Digit(res - (carry << base_log), s);
}
