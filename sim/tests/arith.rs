//! The RTL arithmetic units equal the engine's arithmetic on random and edge values, and their
//! outputs come when the latencies they export say.

use glovebox_engine::commons::modp::{self, P};
use glovebox_sim::arith::{self, UnitRun};
use glovebox_sim::latencies;
use rand::{Rng, SeedableRng};

/// The measured arrival of every output against the model: output i at cycle `latency + i`
/// (one per cycle once the pipeline is full), so `outputs + latency - 1` cycles from the first
/// input to the last output.
fn assert_timing(run: &UnitRun, outputs: usize, latency: u64, unit: &str) {
    assert!(latency > 0, "{unit}: latency port reads 0");
    assert_eq!(run.arrivals.len(), outputs, "{unit}");
    for (i, &cycle) in run.arrivals.iter().enumerate() {
        assert_eq!(cycle, latency + i as u64, "{unit}: output {i}");
    }
    assert_eq!(run.cycles, outputs as u64 + latency - 1, "{unit}");
}

fn edges() -> Vec<u64> {
    vec![
        0,
        1,
        2,
        P - 1,
        P - 2,
        1 << 32,
        (1 << 32) - 1,
        1 << 63,
        P >> 1,
        modp::EPSILON,
    ]
}

#[test]
fn modular_multiplier() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    // Canonical, and unreduced (>= p, up to 2^64 - 1): the multiplier reduces any word.
    let mut vals = edges();
    vals.extend([P, P + 1, u64::MAX, u64::MAX - 1]);
    let mut a = Vec::new();
    let mut b = Vec::new();
    for &x in &vals {
        for &y in &vals {
            a.push(x);
            b.push(y);
        }
    }
    for _ in 0..5000 {
        a.push(rng.gen());
        b.push(rng.gen());
    }
    let (y, run) = arith::mod_mul(&a, &b).unwrap();
    for i in 0..a.len() {
        assert_eq!(y[i], modp::mul(a[i], b[i]), "{} * {}", a[i], b[i]);
    }
    // One product per cycle after the multiplier's latency.
    assert_timing(&run, a.len(), latencies().mod_mul, "mod_mul");
}

#[test]
fn butterflies() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let vals = edges();
    let (mut u, mut v, mut w) = (Vec::new(), Vec::new(), Vec::new());
    for &x in &vals {
        for &y in &vals {
            u.push(x);
            v.push(y);
            w.push(vals[(x as usize ^ y as usize) % vals.len()]);
        }
    }
    for _ in 0..3000 {
        u.push(rng.gen_range(0..P));
        v.push(rng.gen_range(0..P));
        w.push(rng.gen_range(0..P));
    }
    let (x, y, run) = arith::butterfly(false, &u, &v, &w).unwrap();
    for i in 0..u.len() {
        let vw = modp::mul(v[i], w[i]);
        assert_eq!(
            (x[i], y[i]),
            (modp::add(u[i], vw), modp::sub(u[i], vw)),
            "CT {i}"
        );
    }
    assert_timing(&run, u.len(), latencies().butterfly, "butterfly CT");
    let (x, y, run) = arith::butterfly(true, &u, &v, &w).unwrap();
    for i in 0..u.len() {
        let d = modp::mul(modp::sub(u[i], v[i]), w[i]);
        assert_eq!((x[i], y[i]), (modp::add(u[i], v[i]), d), "GS {i}");
    }
    assert_timing(&run, u.len(), latencies().butterfly, "butterfly GS");
}

/// 2^e mod p from the engine's arithmetic.
fn pow2(e: u8) -> u64 {
    modp::pow(2, u64::from(e))
}

#[test]
fn power_of_two_shifter() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    // Every exponent (including 192..255, taken mod 192) against every edge value, canonical
    // and unreduced, then random pairs.
    let mut vals = edges();
    vals.extend([P, P + 1, u64::MAX, u64::MAX - 1, 1 << 31, (1 << 33) - 1]);
    let (mut a, mut e) = (Vec::new(), Vec::new());
    for &x in &vals {
        for k in 0..=255u8 {
            a.push(x);
            e.push(k);
        }
    }
    for _ in 0..20_000 {
        a.push(rng.gen());
        e.push(rng.gen());
    }
    let (y, run) = arith::mod_shift(&a, &e).unwrap();
    for i in 0..a.len() {
        assert_eq!(y[i], modp::mul(a[i], pow2(e[i])), "{} * 2^{}", a[i], e[i]);
    }
    assert_timing(&run, a.len(), latencies().mod_shift, "mod_shift");
    assert!(arith::mod_shift(&a[..3], &e[..2]).is_err());
}

#[test]
fn shift_butterflies() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let vals = edges();
    let (mut u, mut v, mut e) = (Vec::new(), Vec::new(), Vec::new());
    for &x in &vals {
        for &y in &vals {
            for k in [0u8, 1, 3, 31, 32, 63, 95, 96, 97, 144, 191] {
                u.push(x);
                v.push(y);
                e.push(k);
            }
        }
    }
    for _ in 0..5000 {
        u.push(rng.gen_range(0..P));
        v.push(rng.gen_range(0..P));
        e.push(rng.gen_range(0..192));
    }
    let (x, y, run) = arith::butterfly_shift(&u, &v, &e).unwrap();
    for i in 0..u.len() {
        let vw = modp::mul(v[i], pow2(e[i]));
        assert_eq!(
            (x[i], y[i]),
            (modp::add(u[i], vw), modp::sub(u[i], vw)),
            "shift CT {i}"
        );
    }
    assert_timing(
        &run,
        u.len(),
        latencies().butterfly_shift,
        "butterfly_shift",
    );
}

#[test]
fn multiply_accumulate() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let lanes = arith::mac_lanes();
    let count = lanes * 600;
    let mut a: Vec<u64> = (0..count).map(|_| rng.gen()).collect();
    let mut b: Vec<u64> = (0..count).map(|_| rng.gen()).collect();
    let mut c: Vec<u64> = (0..count).map(|_| rng.gen_range(0..P)).collect();
    for (i, e) in edges().into_iter().enumerate() {
        a[i] = e;
        b[i + 17] = e;
        c[i + 33] = e;
    }
    let (y, run) = arith::mac(&a, &b, &c).unwrap();
    for i in 0..count {
        assert_eq!(
            y[i],
            modp::add(modp::mul(a[i], b[i]), c[i]),
            "lane word {i}"
        );
    }
    // One lane group per cycle after the MAC's latency.
    assert_timing(&run, count / lanes, latencies().mac, "mac_unit");
    assert!(arith::mac(&a[..lanes + 1], &b[..lanes + 1], &c[..lanes + 1]).is_err());
}
