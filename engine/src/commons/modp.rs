//! Arithmetic modulo the NTT prime p = 2^64 − 2^32 + 1 ("Goldilocks", a Solinas prime).
//!
//! Reduction uses 2^64 ≡ 2^32 − 1 and 2^96 ≡ −1 (mod p): a 128-bit product
//! x = x_lo + 2^64·(x_hi_lo + 2^32·x_hi_hi) is congruent to
//! x_lo − x_hi_hi + (2^32 − 1)·x_hi_lo, which needs no division and no Montgomery form.
//!
//! Every function here takes and returns *canonical* residues, in `[0, p)`, unless its
//! name says `lazy` (then its contract is stated).
//!
//! ```
//! use glovebox_engine::commons::modp::{mul, add, P};
//! assert_eq!(mul(P - 1, P - 1), 1);
//! assert_eq!(add(P - 1, 1), 0);
//! ```

/// The NTT prime p = 2^64 − 2^32 + 1.
pub const P: u64 = 0xFFFF_FFFF_0000_0001;
/// ε = 2^64 − p = 2^32 − 1: adding it undoes a wrap past 2^64.
pub const EPSILON: u64 = 0xFFFF_FFFF;
/// A generator of the multiplicative group of Z/pZ.
pub const GENERATOR: u64 = 7;

/// `a + b mod p` for canonical `a`, `b`.
#[inline(always)]
pub fn add(a: u64, b: u64) -> u64 {
    let (s, c) = a.overflowing_add(b);
    if c || s >= P {
        s.wrapping_sub(P)
    } else {
        s
    }
}

/// `a − b mod p` for canonical `a`, `b`.
#[inline(always)]
pub fn sub(a: u64, b: u64) -> u64 {
    let (d, borrow) = a.overflowing_sub(b);
    if borrow {
        d.wrapping_add(P)
    } else {
        d
    }
}

/// `−a mod p` for canonical `a`.
#[inline(always)]
pub fn neg(a: u64) -> u64 {
    if a == 0 {
        0
    } else {
        P - a
    }
}

/// Reduces a 128-bit value to a residue in `[0, 2^64)` (lazy: the result may be ≥ p).
#[inline(always)]
pub fn reduce128_lazy(x: u128) -> u64 {
    let lo = x as u64;
    let hi = (x >> 64) as u64;
    let hi_hi = hi >> 32;
    let hi_lo = hi & EPSILON;
    let (mut t0, borrow) = lo.overflowing_sub(hi_hi);
    if borrow {
        // t0 ≥ 2^64 − 2^32 here, so this cannot wrap.
        t0 -= EPSILON;
    }
    let t1 = hi_lo * EPSILON;
    let (t2, carry) = t0.overflowing_add(t1);
    // t1 ≤ (2^32 − 1)^2, so after a carry t2 < 2^64 − 2^33 and this cannot wrap.
    t2 + EPSILON * carry as u64
}

/// Reduces a 128-bit value to its canonical residue.
#[inline(always)]
pub fn reduce128(x: u128) -> u64 {
    canonical(reduce128_lazy(x))
}

/// Maps any `u64` to its canonical residue in `[0, p)`.
#[inline(always)]
pub fn canonical(a: u64) -> u64 {
    if a >= P {
        a - P
    } else {
        a
    }
}

/// `a · b mod p`. Inputs may be any `u64` (not only canonical); the output is canonical.
#[inline(always)]
pub fn mul(a: u64, b: u64) -> u64 {
    reduce128(a as u128 * b as u128)
}

/// `a^e mod p`.
pub fn pow(mut a: u64, mut e: u64) -> u64 {
    let mut r = 1u64;
    a = canonical(a);
    while e > 0 {
        if e & 1 == 1 {
            r = mul(r, a);
        }
        a = mul(a, a);
        e >>= 1;
    }
    r
}

/// `a^{-1} mod p` (Fermat); `inv(0)` is 0.
pub fn inv(a: u64) -> u64 {
    pow(a, P - 2)
}

/// A primitive `order`-th root of unity; `order` must divide p − 1 = 2^32 · 3 · 5 · 17 · 257 · 65537.
pub fn primitive_root_of_unity(order: u64) -> u64 {
    debug_assert_eq!((P - 1) % order, 0);
    pow(GENERATOR, (P - 1) / order)
}

/// `Some(e)` with 2^e ≡ w (mod p) and e < 192 (2 has order 192 mod p), if `w` is a power of
/// two. Every root of unity of order dividing 64 is one, so the NTT's first stages can
/// multiply by shifts.
///
/// ```
/// use glovebox_engine::commons::modp;
/// assert_eq!(modp::log2_power_of_two(1 << 40), Some(40));
/// assert_eq!(modp::log2_power_of_two(modp::P - 1), Some(96)); // 2^96 = −1
/// assert_eq!(modp::log2_power_of_two(3), None);
/// ```
pub fn log2_power_of_two(w: u64) -> Option<u32> {
    let mut x = 1u64;
    for e in 0..192 {
        if x == w {
            return Some(e);
        }
        x = mul(x, 2);
    }
    None
}

/// Maps a signed value, stored two's-complement in a `u64`, to its residue mod p
/// (what TFHE-rs's `forward_from_decomp` does with decomposition digits).
#[inline(always)]
pub fn from_signed(x: u64) -> u64 {
    // Branch-free: add p when the sign bit is set.
    x.wrapping_add(P & (((x as i64) >> 63) as u64))
}

/// Modulus switch from the torus Z/2^width Z (stored in the top `width` bits of a `u64`) to Z/pZ:
/// `round(x · p / 2^width)`, exactly as TFHE-rs's `modswitch_from_power_of_two_to_ntt_prime`.
#[inline(always)]
pub fn from_power_of_two(x: u64, width: u32) -> u64 {
    let v = (x as u128) >> (64 - width);
    ((v * P as u128 + (1u128 << (width - 1))) >> width) as u64
}

/// Modulus switch from Z/pZ back to the torus Z/2^width Z, stored in the top bits of a `u64`:
/// `round(x · 2^width / p)`, exactly as TFHE-rs's `modswitch_from_ntt_prime_to_power_of_two`.
/// `x` must be canonical.
#[inline(always)]
pub fn to_power_of_two(x: u64, width: u32) -> u64 {
    let v = x as u128;
    ((((v << width) | (P as u128 >> 1)) / P as u128) as u64) << (64 - width)
}

/// [`to_power_of_two`] for the native torus (width 64), branch-free and without 128-bit
/// arithmetic (so loops over it vectorize): `round(x · 2^64 / p)` for canonical `x`.
///
/// With 2^64 = p + ε: x·2^64/p = x + x·ε/p, so the result is x + q with
/// q = floor((x·ε + (p−1)/2) / p). Writing x = a·2^32 + b, the remainder of that division by
/// a·p is r = b·ε + (p−1)/2 − a, which lies in [0, 2p): q = a + [r ≥ p].
#[inline(always)]
pub fn to_native_torus(x: u64) -> u64 {
    const HALF_P: u64 = (P - 1) / 2;
    let a = x >> 32;
    let b = x & EPSILON;
    let b_eps = (b << 32) - b;
    let (r, carry) = b_eps.overflowing_add(HALF_P - a);
    let q = a + (carry | (r >= P)) as u64;
    x.wrapping_add(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn edge_values() -> Vec<u64> {
        vec![
            0,
            1,
            2,
            P - 1,
            P - 2,
            1 << 32,
            (1 << 32) - 1,
            1 << 63,
            EPSILON,
            P >> 1,
        ]
    }

    #[test]
    fn mul_matches_u128_reference() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut vals = edge_values();
        vals.extend((0..200).map(|_| rng.gen::<u64>()));
        vals.extend([u64::MAX, u64::MAX - 1, P, P + 1]);
        for &a in &vals {
            for &b in &vals {
                let want = ((a as u128 * b as u128) % P as u128) as u64;
                assert_eq!(mul(a, b), want, "{a} * {b}");
            }
        }
    }

    #[test]
    fn add_sub_neg() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let mut vals = edge_values();
        vals.extend((0..200).map(|_| rng.gen_range(0..P)));
        for &a in &vals {
            for &b in &vals {
                assert_eq!(add(a, b) as u128, (a as u128 + b as u128) % P as u128);
                assert_eq!(
                    sub(a, b) as u128,
                    (a as u128 + P as u128 - b as u128) % P as u128
                );
            }
            assert_eq!(add(a, neg(a)), 0);
        }
    }

    #[test]
    fn roots_of_unity() {
        for log in 1..=15u32 {
            let order = 1u64 << log;
            let w = primitive_root_of_unity(order);
            assert_eq!(pow(w, order), 1);
            assert_eq!(pow(w, order / 2), P - 1);
        }
        // 2 is a primitive 192nd root of unity: 2^96 ≡ −1.
        assert_eq!(pow(2, 96), P - 1);
        assert_eq!(mul(inv(12345), 12345), 1);
    }

    #[test]
    fn native_torus_switch_matches_division() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut vals = edge_values();
        vals.extend((0..10_000).map(|_| rng.gen_range(0..P)));
        for &x in &vals {
            assert_eq!(to_native_torus(x), to_power_of_two(x, 64), "{x}");
        }
    }
}
