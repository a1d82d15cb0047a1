//! Every integer operation against the plain computation, over random and edge values
//! (0, max, equal operands), with all bootstraps through the driver.

use glovebox_driver::{Driver, DriverConfig};
use glovebox_engine::prelude::*;
use glovebox_engine::shortint::public_key::CompactPrivateKey;
use glovebox_integer::*;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

struct Env {
    client: ClientKey,
    server: Arc<ServerKey>,
    driver: Driver,
}

/// Blocks of a `u8` and a `u16` under `params` (4 and 8 with 2-bit blocks).
fn widths(params: &Parameters) -> (usize, usize) {
    let layout = RadixLayout::new(params).unwrap();
    (layout.blocks(8), layout.blocks(16))
}

fn env(params: &Parameters) -> Env {
    let client = ClientKey::new(params).unwrap();
    let server = Arc::new(client.server_key().unwrap());
    let driver = Driver::new(
        Arc::new(CpuBackend::new()),
        server.clone(),
        DriverConfig::default(),
    )
    .unwrap();
    Env {
        client,
        server,
        driver,
    }
}

fn values(rng: &mut impl Rng, max: u64, n: usize) -> Vec<u64> {
    let mut v = vec![0, max, 1, max - 1, max / 2];
    v.extend((0..n).map(|_| rng.gen_range(0..=max)));
    v
}

#[test]
fn u8_and_u16_operations_match_plaintext() {
    let e = env(&TEST_PARAMS_INSECURE);
    let (u8_blocks, u16_blocks) = widths(&TEST_PARAMS_INSECURE);
    let ints = IntegerServer::new(&e.driver, &e.server).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(51);
    for (blocks, max) in [(u8_blocks, 255u64), (u16_blocks, 65535)] {
        let a = values(&mut rng, max, 11);
        let mut b = values(&mut rng, max, 11);
        b[5] = a[5]; // equal operands
        b[6] = a[6];
        let ea: Vec<RadixCiphertext> = a
            .iter()
            .map(|&x| encrypt_radix(&e.client, x, blocks).unwrap())
            .collect();
        let eb: Vec<RadixCiphertext> = b
            .iter()
            .map(|&x| encrypt_radix(&e.client, x, blocks).unwrap())
            .collect();
        let pairs: Vec<(&RadixCiphertext, &RadixCiphertext)> = ea.iter().zip(&eb).collect();
        let dec = |r: &RadixCiphertext| decrypt_radix(&e.client, r).unwrap();
        let decb = |r: &BoolCiphertext| decrypt_bool(&e.client, r).unwrap();
        let modulus = max + 1;

        let sums = ints.add(&pairs).unwrap();
        let diffs = ints.sub(&pairs).unwrap();
        for i in 0..a.len() {
            assert_eq!(
                dec(&sums[i]),
                (a[i] + b[i]) % modulus,
                "{} + {}",
                a[i],
                b[i]
            );
            assert_eq!(
                dec(&diffs[i]),
                (a[i] + modulus - b[i]) % modulus,
                "{} - {}",
                a[i],
                b[i]
            );
        }
        for (pred, f) in [
            (Comparison::Gt, (|x, y| x > y) as fn(u64, u64) -> bool),
            (Comparison::Ge, |x, y| x >= y),
            (Comparison::Lt, |x, y| x < y),
            (Comparison::Le, |x, y| x <= y),
            (Comparison::Eq, |x, y| x == y),
            (Comparison::Ne, |x, y| x != y),
        ] {
            let got = ints.compare(&pairs, pred).unwrap();
            for i in 0..a.len() {
                assert_eq!(decb(&got[i]), f(a[i], b[i]), "{pred:?} {} {}", a[i], b[i]);
            }
            for c in [0, max, a[3], 120 % modulus] {
                let refs: Vec<&RadixCiphertext> = ea.iter().collect();
                let got = ints.compare_scalar(&refs, c, pred).unwrap();
                for i in 0..a.len() {
                    assert_eq!(decb(&got[i]), f(a[i], c), "{pred:?} {} vs clear {c}", a[i]);
                }
            }
        }
        // A constant beyond the width.
        let got = ints
            .compare_scalar(&[&ea[0]], modulus + 5, Comparison::Lt)
            .unwrap();
        assert!(decb(&got[0]));
        let mins = ints.min_max(&pairs, false).unwrap();
        let maxs = ints.min_max(&pairs, true).unwrap();
        for i in 0..a.len() {
            assert_eq!(dec(&mins[i]), a[i].min(b[i]));
            assert_eq!(dec(&maxs[i]), a[i].max(b[i]));
        }
        // Select and keep-if, with encrypted flags of both values.
        let flags: Vec<BoolCiphertext> = (0..a.len())
            .map(|i| encrypt_bool(&e.client, i % 3 == 0).unwrap())
            .collect();
        let choices: Vec<_> = (0..a.len()).map(|i| (&flags[i], &ea[i], &eb[i])).collect();
        let picked = ints.select(&choices).unwrap();
        let kept_in: Vec<_> = (0..a.len()).map(|i| (&flags[i], &ea[i])).collect();
        let kept = ints.keep_if(&kept_in).unwrap();
        for i in 0..a.len() {
            let flag = i % 3 == 0;
            assert_eq!(dec(&picked[i]), if flag { a[i] } else { b[i] });
            assert_eq!(dec(&kept[i]), if flag { a[i] } else { 0 });
        }
        // Weighted sums with signed weights (wrapping, two's complement), and the complement.
        let groups: Vec<(Vec<(&RadixCiphertext, i64)>, i64)> = vec![
            (vec![(&ea[0], 3), (&ea[1], -2), (&ea[2], 21)], 5),
            (vec![(&ea[3], -1)], 0),
            (
                (0..a.len()).map(|i| (&ea[i], (i as i64 % 7) - 3)).collect(),
                -40,
            ),
            (vec![(&ea[4], 0)], 7),
        ];
        let wide = blocks + 4;
        let wmod = 1i128 << (2 * wide);
        let sums = ints.weighted_sum(&groups, wide).unwrap();
        for ((terms, c), s) in groups.iter().zip(&sums) {
            let want: i128 = terms
                .iter()
                .map(|(x, w)| {
                    let i = ea.iter().position(|e| std::ptr::eq(e, *x)).unwrap();
                    a[i] as i128 * *w as i128
                })
                .sum::<i128>()
                + *c as i128;
            assert_eq!(dec(s) as i128, want.rem_euclid(wmod), "{terms:?}");
        }
        assert_eq!(dec(&ints.complement(&ea[1]).unwrap()), max - a[1]);
        // Public constants as integers.
        let seven = ints.trivial_radix(7 % modulus, blocks).unwrap();
        assert_eq!(
            dec(&ints.add(&[(&ea[2], &seven)]).unwrap()[0]),
            (a[2] + 7) % modulus
        );
        assert!(ints.trivial_radix(modulus, blocks).is_err());
        let wide = ints.zero_extend(&ea[1], blocks + 2).unwrap();
        assert_eq!((wide.num_blocks(), dec(&wide)), (blocks + 2, a[1]));
        assert!(ints.zero_extend(&ea[1], blocks - 1).is_err());
        // Sum of many (wrapping): groups of 1, 2, 7 and 13 integers.
        let groups: Vec<Vec<&RadixCiphertext>> = [1usize, 2, 7, 13]
            .iter()
            .map(|&k| (0..k).map(|j| &ea[j % ea.len()]).collect())
            .collect();
        let sums = ints.sum(&groups).unwrap();
        for (k, s) in [1usize, 2, 7, 13].iter().zip(&sums) {
            let want = (0..*k).map(|j| a[j % a.len()]).sum::<u64>() % modulus;
            assert_eq!(dec(s), want, "sum of {k}");
        }
    }
}

#[test]
fn boolean_operations_match_plaintext() {
    let e = env(&TEST_PARAMS_INSECURE);
    let (u8_blocks, _) = widths(&TEST_PARAMS_INSECURE);
    let ints = IntegerServer::new(&e.driver, &e.server).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(52);
    let mut groups_plain = vec![
        vec![false],
        vec![true],
        vec![true, true],
        vec![false, false, false],
        vec![true; 20],
    ];
    for _ in 0..6 {
        let len = rng.gen_range(1..40);
        groups_plain.push((0..len).map(|_| rng.gen_bool(0.2)).collect());
    }
    let enc: Vec<Vec<BoolCiphertext>> = groups_plain
        .iter()
        .map(|g| {
            g.iter()
                .map(|&b| encrypt_bool(&e.client, b).unwrap())
                .collect()
        })
        .collect();
    let refs: Vec<Vec<&BoolCiphertext>> = enc.iter().map(|g| g.iter().collect()).collect();
    let ors = ints.or_many(&refs).unwrap();
    let ands = ints.and_many(&refs).unwrap();
    for (i, g) in groups_plain.iter().enumerate() {
        assert_eq!(
            decrypt_bool(&e.client, &ors[i]).unwrap(),
            g.iter().any(|&b| b),
            "or {g:?}"
        );
        assert_eq!(
            decrypt_bool(&e.client, &ands[i]).unwrap(),
            g.iter().all(|&b| b),
            "and {g:?}"
        );
        let not = ints.not(&enc[i][0]).unwrap();
        assert_eq!(decrypt_bool(&e.client, &not).unwrap(), !g[0]);
    }
    assert!(ints.or_many(&[vec![]]).is_err());
    // Counting flags: groups of 1, 14, 15, 16, 31 and 40 flags.
    let counts = ints.count_flags(&refs, u8_blocks).unwrap();
    for (i, g) in groups_plain.iter().enumerate() {
        let want = g.iter().filter(|&&b| b).count() as u64;
        assert_eq!(
            decrypt_radix(&e.client, &counts[i]).unwrap(),
            want,
            "count {g:?}"
        );
    }
    // Two blocks wrap at 16; thirty flags cost 11 bootstraps.
    let narrow = ints.count_flags(&refs, 2).unwrap();
    for (i, g) in groups_plain.iter().enumerate() {
        let want = g.iter().filter(|&&b| b).count() as u64 % 16;
        assert_eq!(decrypt_radix(&e.client, &narrow[i]).unwrap(), want);
    }
    let thirty: Vec<&BoolCiphertext> = enc.iter().flatten().take(30).collect();
    let before = e.driver.stats().completed;
    let c = ints.count_flags(&[thirty.clone()], u8_blocks).unwrap();
    assert_eq!(e.driver.stats().completed - before, 11);
    assert_eq!(count_flags_bootstraps(30, u8_blocks, ints.layout()), 11);
    let want = thirty
        .iter()
        .filter(|b| decrypt_bool(&e.client, b).unwrap())
        .count() as u64;
    assert_eq!(decrypt_radix(&e.client, &c[0]).unwrap(), want);
    assert!(ints.count_flags(&[vec![]], 2).is_err());
}

#[test]
fn u8_predicates_in_three_bootstraps() {
    let e = env(&TEST_PARAMS_INSECURE);
    let (u8_blocks, _) = widths(&TEST_PARAMS_INSECURE);
    let ints = IntegerServer::new(&e.driver, &e.server).unwrap();
    let xs: Vec<u64> = (0..256)
        .step_by(3)
        .chain([47, 48, 49, 50, 51, 119, 120, 121, 255])
        .collect();
    let enc: Vec<RadixCiphertext> = xs
        .iter()
        .map(|&x| encrypt_radix(&e.client, x, u8_blocks).unwrap())
        .collect();
    let refs: Vec<&RadixCiphertext> = enc.iter().collect();
    let before = e.driver.stats().completed;
    let out_of_range = ints
        .predicate_u8(&refs, "hr_50_120", |x| !(50..=120).contains(&x))
        .unwrap()
        .unwrap();
    assert_eq!(e.driver.stats().completed - before, 3 * xs.len() as u64);
    let low = ints
        .predicate_u8(&refs, "lt_92", |x| x < 92)
        .unwrap()
        .unwrap();
    let same_nibble = ints
        .predicate_u8(&refs, "in_40_44", |x| (40..=44).contains(&x))
        .unwrap()
        .unwrap();
    for (i, &x) in xs.iter().enumerate() {
        assert_eq!(
            decrypt_bool(&e.client, &out_of_range[i]).unwrap(),
            !(50..=120).contains(&x),
            "{x}"
        );
        assert_eq!(decrypt_bool(&e.client, &low[i]).unwrap(), x < 92, "{x}");
        assert_eq!(
            decrypt_bool(&e.client, &same_nibble[i]).unwrap(),
            (40..=44).contains(&x),
            "{x}"
        );
    }
    // A predicate with three distinct non-constant nibble tables does not fit.
    assert!(ints
        .predicate_u8(&refs, "odd_mix", |x| x % 3 == 0)
        .unwrap()
        .is_none());
}

#[test]
fn comparisons_and_addition_on_the_default_parameters() {
    let e = env(&PARAM_MESSAGE_2_CARRY_2_KS_PBS);
    let (u8_blocks, _) = widths(&PARAM_MESSAGE_2_CARRY_2_KS_PBS);
    let ints = IntegerServer::new(&e.driver, &e.server).unwrap();
    let hr = [0u64, 49, 50, 120, 121, 255];
    let enc: Vec<RadixCiphertext> = hr
        .iter()
        .map(|&x| encrypt_radix(&e.client, x, u8_blocks).unwrap())
        .collect();
    let refs: Vec<&RadixCiphertext> = enc.iter().collect();
    let high = ints.compare_scalar(&refs, 120, Comparison::Gt).unwrap();
    let low = ints.compare_scalar(&refs, 50, Comparison::Lt).unwrap();
    let alarms = ints
        .or_many(
            &high
                .iter()
                .zip(&low)
                .map(|(h, l)| vec![h, l])
                .collect::<Vec<_>>(),
        )
        .unwrap();
    for (i, &x) in hr.iter().enumerate() {
        assert_eq!(
            decrypt_bool(&e.client, &alarms[i]).unwrap(),
            !(50..=120).contains(&x),
            "hr {x}"
        );
    }
    let pairs: Vec<(&RadixCiphertext, &RadixCiphertext)> =
        enc.iter().zip(enc.iter().rev()).collect();
    let sums = ints.add(&pairs).unwrap();
    for (i, s) in sums.iter().enumerate() {
        assert_eq!(
            decrypt_radix(&e.client, s).unwrap(),
            (hr[i] + hr[hr.len() - 1 - i]) % 256
        );
    }
}

#[test]
fn mismatched_widths_are_refused() {
    let e = env(&TEST_PARAMS_INSECURE);
    let (u8_blocks, u16_blocks) = widths(&TEST_PARAMS_INSECURE);
    let ints = IntegerServer::new(&e.driver, &e.server).unwrap();
    let a = encrypt_radix(&e.client, 3, u8_blocks).unwrap();
    let b = encrypt_radix(&e.client, 3, u16_blocks).unwrap();
    assert!(matches!(
        ints.add(&[(&a, &b)]),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        ints.compare(&[(&a, &b)], Comparison::Eq),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        encrypt_radix(&e.client, 256, u8_blocks),
        Err(Error::MessageOutOfRange { .. })
    ));
    // An integer under another client key is refused, not mixed into a combination.
    let other = ClientKey::new(&TEST_PARAMS_INSECURE).unwrap();
    let foreign = encrypt_radix(&other, 3, u8_blocks).unwrap();
    assert!(matches!(
        ints.add(&[(&a, &foreign)]),
        Err(Error::KeyMismatch { .. })
    ));
}

#[test]
fn predicates_with_or_in_six_rotations_and_many_output_tables() {
    let e = env(&TEST_PARAMS_INSECURE);
    let (u8_blocks, _) = widths(&TEST_PARAMS_INSECURE);
    let ints = IntegerServer::new(&e.driver, &e.server).unwrap();
    let range = U8Predicate::compile("out_50_120", |x| !(50..=120).contains(&x)).unwrap();
    let below = U8Predicate::compile("lt_92", |x| x < 92).unwrap();
    let above = U8Predicate::compile("gt_200", |x| x > 200).unwrap();
    assert!(below.is_threshold() && above.is_threshold() && !range.is_threshold());
    let xs: Vec<u64> = [0, 1, 49, 50, 51, 91, 92, 120, 121, 200, 201, 255]
        .into_iter()
        .chain((0..256).step_by(7))
        .collect();
    let ys: Vec<u64> = xs.iter().rev().copied().collect();
    let enc = |v: &[u64]| -> Vec<RadixCiphertext> {
        v.iter()
            .map(|&x| encrypt_radix(&e.client, x, u8_blocks).unwrap())
            .collect()
    };
    let (ex, ey) = (enc(&xs), enc(&ys));
    for q in [&below, &above] {
        let items: Vec<_> = ex.iter().zip(&ey).map(|(x, y)| (x, &range, y, q)).collect();
        let before = e.driver.stats().completed;
        let out = ints.predicates_with_or(&items).unwrap();
        assert_eq!(e.driver.stats().completed - before, 6 * xs.len() as u64);
        for (i, [p, qq, any]) in out.iter().enumerate() {
            let (x, y) = (xs[i] as u8, ys[i] as u8);
            let want = (range.holds(x), q.holds(y));
            assert_eq!(decrypt_bool(&e.client, p).unwrap(), want.0, "{x}");
            assert_eq!(decrypt_bool(&e.client, qq).unwrap(), want.1, "{y}");
            assert_eq!(decrypt_bool(&e.client, any).unwrap(), want.0 | want.1);
        }
    }
    // The same items from a public-key device: each u8 two packed compact nibbles, cast in
    // round 1's bootstraps; the same 6 PBS an item and the same flags.
    let private = CompactPrivateKey::new(&e.client).unwrap();
    let public = private.public_key().unwrap();
    let casting = e
        .driver
        .upload_casting_key(&private.casting_key(&e.client).unwrap())
        .unwrap();
    let compact = |v: &[u64]| -> Vec<CompactU8> {
        v.iter()
            .map(|&x| {
                let [high, low]: [_; 2] = public
                    .encrypt_packed(&[x / 16, x % 16])
                    .unwrap()
                    .expand()
                    .unwrap()
                    .try_into()
                    .unwrap();
                CompactU8 { high, low }
            })
            .collect()
    };
    let (cx, cy) = (compact(&xs), compact(&ys));
    let items: Vec<_> = cx
        .iter()
        .zip(&cy)
        .map(|(x, y)| (x, &range, y, &below))
        .collect();
    let before = e.driver.stats().completed;
    let out = ints.predicates_with_or_compact(&casting, &items).unwrap();
    assert_eq!(e.driver.stats().completed - before, 6 * xs.len() as u64);
    for (i, [p, qq, any]) in out.iter().enumerate() {
        let (x, y) = (xs[i] as u8, ys[i] as u8);
        let want = (range.holds(x), below.holds(y));
        assert_eq!(decrypt_bool(&e.client, p).unwrap(), want.0, "{x}");
        assert_eq!(decrypt_bool(&e.client, qq).unwrap(), want.1, "{y}");
        assert_eq!(decrypt_bool(&e.client, any).unwrap(), want.0 | want.1);
    }
    // A plain (unpacked) list's values are not nibbles.
    let [high, low]: [_; 2] = public
        .encrypt(&[1, 2])
        .unwrap()
        .expand()
        .unwrap()
        .try_into()
        .unwrap();
    let plain = CompactU8 { high, low };
    assert!(matches!(
        ints.predicates_with_or_compact(&casting, &[(&plain, &range, &cx[0], &below)]),
        Err(Error::InvalidParameters(_))
    ));

    // The second predicate must be a threshold.
    let items = [(&ex[0], &range, &ey[0], &range)];
    assert!(matches!(
        ints.predicates_with_or(&items),
        Err(Error::InvalidParameters(_))
    ));

    // A table with three functions on inputs below 5: three outputs from one rotation.
    let f: [&dyn Fn(u64) -> u64; 3] = [&|x| x, &|x| 3 - x.min(3), &|x| (x % 2) * 3];
    let lut = Arc::new(e.server.generate_many_lookup_table(&f).unwrap());
    for m in 0..5 {
        let before = e.driver.stats().completed;
        let outs = e
            .driver
            .submit_many(e.client.encrypt(m).unwrap(), lut.clone())
            .unwrap()
            .wait_all()
            .unwrap();
        assert_eq!(e.driver.stats().completed - before, 1);
        let got: Vec<u64> = outs.iter().map(|o| e.client.decrypt(o).unwrap()).collect();
        let want: Vec<u64> = f.iter().map(|g| g(m) % 4).collect();
        assert_eq!(got, want, "m = {m}");
    }
    assert!(e.server.generate_many_lookup_table(&[]).is_err());
    // Output coefficients past N are refused at submission.
    let mut bad = (*lut).clone();
    bad.outputs = vec![0, 1 << 20];
    assert!(matches!(
        e.driver
            .submit_many(e.client.encrypt(1).unwrap(), Arc::new(bad)),
        Err(Error::InvalidParameters(_))
    ));
}

/// Degrees are tracked and checked: a linear combination that could leave the plaintext space
/// is refused with a typed error (computing it would decrypt to a wrong value), one that fits
/// is computed, and operation outputs are clean blocks.
#[test]
fn overflowing_combinations_are_refused() {
    let e = env(&TEST_PARAMS_INSECURE);
    let ints = IntegerServer::new(&e.driver, &e.server).unwrap();
    let x = encrypt_radix(&e.client, 3, 1).unwrap();
    let b = &x.blocks()[0];
    assert_eq!(b.degree(), 3);
    // 5 · 3 = 15 fits the 16 values of message and carry; it decrypts exactly.
    let five: Vec<(&Block, i64)> = vec![(b, 1); 5];
    let sum = ints.linear_combination(&five, 0).unwrap();
    assert_eq!(sum.degree(), 15);
    assert_eq!(
        e.client
            .decrypt_message_and_carry(sum.ciphertext())
            .unwrap(),
        15
    );
    // A sixth term could reach 18: wrapped into the padding bit, it would decrypt to 2.
    let six: Vec<(&Block, i64)> = vec![(b, 1); 6];
    assert!(matches!(
        ints.linear_combination(&six, 0),
        Err(Error::DegreeOverflow { max: 18, .. })
    ));
    // So could a constant on top of a full block, or a negative result.
    assert!(matches!(
        ints.linear_combination(&[(&sum, 1)], 1),
        Err(Error::DegreeOverflow { .. })
    ));
    assert!(matches!(
        ints.linear_combination(&[(b, -1)], 2),
        Err(Error::DegreeOverflow { min: -1, .. })
    ));
    // Every block an operation returns is clean again.
    let y = encrypt_radix(&e.client, 200, 4).unwrap();
    let z = encrypt_radix(&e.client, 100, 4).unwrap();
    for r in ints
        .add(&[(&y, &z)])
        .unwrap()
        .iter()
        .chain(&ints.min_max(&[(&y, &z)], true).unwrap())
    {
        assert!(r.blocks().iter().all(|b| b.degree() <= 3), "{r:?}");
    }
}

/// Tables are cached by what they compute: two predicates with the same name but different
/// definitions each get their own tables, and identical functions share one.
#[test]
fn tables_are_keyed_by_definition_not_by_name() {
    let e = env(&TEST_PARAMS_INSECURE);
    let ints = IntegerServer::new(&e.driver, &e.server).unwrap();
    let xs = [0u64, 40, 49, 50, 120, 121, 201, 255];
    let enc: Vec<RadixCiphertext> = xs
        .iter()
        .map(|&x| encrypt_radix(&e.client, x, 4).unwrap())
        .collect();
    let refs: Vec<&RadixCiphertext> = enc.iter().collect();
    let low = ints
        .predicate_u8(&refs, "alert", |x| x < 50)
        .unwrap()
        .unwrap();
    let tables = ints.cached_tables();
    let high = ints
        .predicate_u8(&refs, "alert", |x| x > 200)
        .unwrap()
        .unwrap();
    assert!(ints.cached_tables() > tables, "new definitions, new tables");
    for (i, &x) in xs.iter().enumerate() {
        assert_eq!(decrypt_bool(&e.client, &low[i]).unwrap(), x < 50, "{x}");
        assert_eq!(decrypt_bool(&e.client, &high[i]).unwrap(), x > 200, "{x}");
    }
    // The same definition under another name reuses every table.
    let tables = ints.cached_tables();
    ints.predicate_u8(&refs, "other name", |x| x > 200).unwrap();
    assert_eq!(ints.cached_tables(), tables);
}
