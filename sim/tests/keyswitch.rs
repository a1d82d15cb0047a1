//! The simulated keyswitch unit equals the engine's keyswitch word for word (native torus and
//! output modulus 2^21), its measured cycles equal the closed-form model, and misuse comes back
//! as typed errors.

use glovebox_engine::prelude::*;
use glovebox_sim::ks::{ks_configs, KeyswitchUnit, KsBinding, KsCycleModel, KsShape};
use glovebox_sim::KeyMemory;
use rand::{Rng, SeedableRng};

/// A key from the engine's key generation: `n_in` → `n_out`, base 2^`b`, `l` levels, output
/// modulus 2^`w`.
fn real_key(
    g: &mut CsprngGenerator,
    n_in: usize,
    n_out: usize,
    b: usize,
    l: usize,
    w: u32,
) -> (LweSecretKey, LweKeyswitchKey) {
    let big = LweSecretKey::generate(LweDimension(n_in), g);
    let small = LweSecretKey::generate(LweDimension(n_out), g);
    let noise = NoiseDistribution::TUniform { bound_log2: 3 };
    let ksk = generate_lwe_keyswitch_key(
        &big,
        &small,
        DecompositionBaseLog(b),
        DecompositionLevelCount(l),
        w,
        noise,
        g,
    )
    .unwrap();
    (big, ksk)
}

/// A key of uniformly random words (top `w` bits): the unit does not care what they encrypt.
fn random_key(
    rng: &mut impl Rng,
    n_in: usize,
    n_out: usize,
    b: usize,
    l: usize,
    w: u32,
) -> LweKeyswitchKey {
    let low = if w == 64 { 0 } else { (1u64 << (64 - w)) - 1 };
    let data = (0..n_in * l * (n_out + 1))
        .map(|_| rng.gen::<u64>() & !low)
        .collect();
    LweKeyswitchKey::from_container(
        data,
        LweDimension(n_in),
        LweDimension(n_out),
        DecompositionBaseLog(b),
        DecompositionLevelCount(l),
        w,
    )
    .unwrap()
}

/// `count` input ciphertexts of dimension `n`: random words, with the decomposition's edge
/// cases (0, all ones, the top bit, words on the rounding boundary of base 2^b x l and of the
/// output modulus) planted in the masks and bodies.
fn random_inputs(
    rng: &mut impl Rng,
    n: usize,
    count: usize,
    b: usize,
    l: usize,
    w: u32,
) -> Vec<LweCiphertext> {
    let rep = b * l;
    let half = 1u64 << (63 - rep);
    let mut edges = vec![
        0,
        u64::MAX,
        1 << 63,
        half,
        half - 1,
        !half,
        (1 << 63) | half,
    ];
    if w < 64 {
        edges.extend([
            1u64 << (63 - w),
            (1u64 << (63 - w)) - 1,
            u64::MAX << (63 - w),
        ]);
    }
    (0..count)
        .map(|j| {
            let mut data: Vec<u64> = (0..n + 1).map(|_| rng.gen()).collect();
            for (e, &v) in edges.iter().enumerate() {
                data[(e * 7 + j) % (n + 1)] = v;
            }
            if j < edges.len() {
                data[n] = edges[j];
            }
            LweCiphertext::from_container(data).unwrap()
        })
        .collect()
}

fn assert_equal_to_engine(
    unit: &mut KeyswitchUnit,
    ksk: &LweKeyswitchKey,
    inputs: &[LweCiphertext],
    what: &str,
) -> glovebox_sim::ks::KsRun {
    let (outputs, run) = unit.keyswitch_batch(ksk, inputs).unwrap();
    assert_eq!(outputs.len(), inputs.len(), "{what}");
    for (j, (got, input)) in outputs.iter().zip(inputs).enumerate() {
        let want = keyswitch_lwe_ciphertext(ksk, input).unwrap();
        assert!(
            *got == want,
            "{what}: ciphertext {j} differs from the engine"
        );
    }
    // Every batch reads the whole key once, and takes the cycles the model says.
    for b in &run.batches {
        assert_eq!(b.key_words, ksk.as_slice().len() as u64, "{what}");
        assert_eq!(b.cycles, b.model.cycles, "{what}: batch of {}", b.batch);
    }
    run
}

fn memory(words_per_cycle: u32, latency: u32) -> KeyMemory {
    KeyMemory {
        words_per_cycle,
        latency,
    }
}

#[test]
fn test_params_keyswitch_equals_the_engine() {
    let p = &TEST_PARAMS_INSECURE;
    let mut g = CsprngGenerator::from_seed([11; 32]);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let n_in = p.glwe_dimension.0 * p.polynomial_size.0;
    let (b, l) = (p.ks_base_log.0, p.ks_level.0);
    let (big, ksk) = real_key(&mut g, n_in, p.lwe_dimension.0, b, l, 64);
    // Real encryptions, and random words with the edge cases.
    let mut inputs: Vec<LweCiphertext> = (0..4u64)
        .map(|m| encrypt_lwe_ciphertext(&big, m << 61, p.glwe_noise, 64, &mut g))
        .collect();
    inputs.extend(random_inputs(&mut rng, n_in, 17, b, l, 64));
    for lanes in [16, 4] {
        let mut unit = KeyswitchUnit::for_key(&ksk, lanes, memory(8, 30)).unwrap();
        // 21 ciphertexts: batches of 16 and 5.
        let run = assert_equal_to_engine(&mut unit, &ksk, &inputs, "TEST_PARAMS");
        assert_eq!(run.batches.len(), 2);
        let mut unit = unit.with_batch(3).unwrap();
        assert_equal_to_engine(&mut unit, &ksk, &inputs[..7], "TEST_PARAMS batch 3");
    }
}

#[test]
fn hpu_like_keyswitch_to_2_21_equals_the_engine() {
    // The HPU set's decomposition (base 2^2, 8 levels) and output modulus 2^21 on a small
    // made-up shape, real keys and random keys.
    let mut g = CsprngGenerator::from_seed([12; 32]);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
    let (n_in, n_out) = (96, 37);
    let (_, ksk) = real_key(&mut g, n_in, n_out, 2, 8, 21);
    let inputs = random_inputs(&mut rng, n_in, 9, 2, 8, 21);
    let mut unit = KeyswitchUnit::for_key(&ksk, 16, memory(4, 12)).unwrap();
    assert_equal_to_engine(&mut unit, &ksk, &inputs, "HPU-like");
    let ksk = random_key(&mut rng, 50, 20, 2, 8, 21);
    let inputs = random_inputs(&mut rng, 50, 4, 2, 8, 21);
    let mut unit = unit.with_batch(1).unwrap();
    assert_equal_to_engine(&mut unit, &ksk, &inputs, "HPU-like, random key");
    // Fewer levels and base 2^1 on the same unit (run-time decomposition).
    let ksk = random_key(&mut rng, 40, 15, 1, 5, 21);
    let inputs = random_inputs(&mut rng, 40, 5, 1, 5, 21);
    assert_equal_to_engine(&mut unit, &ksk, &inputs, "base 2^1 x 5 mod 2^21");
}

#[test]
fn odd_shapes_equal_the_engine() {
    // One output chunk (n_out + 1 <= lanes), one level, a column count one past a chunk, one
    // input word.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
    for (n_in, n_out, b, l) in [(5, 2, 4, 1), (3, 16, 3, 2), (1, 40, 4, 4), (7, 15, 1, 8)] {
        let ksk = random_key(&mut rng, n_in, n_out, b, l, 64);
        let inputs = random_inputs(&mut rng, n_in, 5, b, l, 64);
        for lanes in [16, 4] {
            for batch in [1, 2, 5] {
                let mut unit = KeyswitchUnit::for_key(&ksk, lanes, memory(3, 5))
                    .unwrap()
                    .with_batch(batch)
                    .unwrap();
                let what = format!("n_in={n_in} n_out={n_out} {b}x{l} lanes={lanes} B={batch}");
                assert_equal_to_engine(&mut unit, &ksk, &inputs, &what);
            }
        }
    }
}

#[test]
fn default_set_shape_equals_the_engine() {
    // PARAM_MESSAGE_2_CARRY_2_KS_PBS's keyswitch: 2048 -> 918, base 2^4 x 4, native torus.
    let p = &PARAM_MESSAGE_2_CARRY_2_KS_PBS;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(14);
    let n_in = p.glwe_dimension.0 * p.polynomial_size.0;
    let (b, l) = (p.ks_base_log.0, p.ks_level.0);
    let ksk = random_key(&mut rng, n_in, p.lwe_dimension.0, b, l, 64);
    let inputs = random_inputs(&mut rng, n_in, 2, b, l, 64);
    let mut unit = KeyswitchUnit::for_key(&ksk, 16, memory(16, 100)).unwrap();
    let run = assert_equal_to_engine(&mut unit, &ksk, &inputs, "default set");
    eprintln!(
        "default set, 2 ciphertexts, 16 lanes, 16 words/cycle: {} cycles ({}), {:.2} M \
         simulated cycles/s",
        run.cycles,
        run.batches[0].model.binding,
        run.cycles_per_second() / 1e6
    );
}

#[test]
fn hpu_set_shape_equals_the_engine() {
    // V1_8_HPU_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128's keyswitch: 2048 -> 879, base
    // 2^2 x 8, output modulus 2^21.
    let p = &V1_8_HPU_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(15);
    let n_in = p.glwe_dimension.0 * p.polynomial_size.0;
    let (b, l, w) = (p.ks_base_log.0, p.ks_level.0, p.ks_output_modulus_log);
    let ksk = random_key(&mut rng, n_in, p.lwe_dimension.0, b, l, w);
    let inputs = random_inputs(&mut rng, n_in, 2, b, l, w);
    let mut unit = KeyswitchUnit::for_key(&ksk, 16, memory(16, 100)).unwrap();
    let run = assert_equal_to_engine(&mut unit, &ksk, &inputs, "HPU set");
    eprintln!(
        "HPU set, 2 ciphertexts, 16 lanes, 16 words/cycle: {} cycles ({}), {:.2} M simulated \
         cycles/s",
        run.cycles,
        run.batches[0].model.binding,
        run.cycles_per_second() / 1e6
    );
}

#[test]
fn measured_cycles_equal_the_model() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(16);
    // (n_in, n_out, b, l, lanes, batch, words/cycle, latency, expected binding)
    let configs = [
        // One or two words per cycle against 16 lanes: the key memory binds.
        (24, 100, 4, 4, 16, 1, 1, 10, KsBinding::KeyBandwidth),
        (24, 100, 4, 4, 16, 4, 2, 40, KsBinding::KeyBandwidth),
        // A full chunk per cycle, or a batch that uses each chunk long enough: compute binds.
        (24, 100, 4, 4, 16, 1, 16, 3, KsBinding::Compute),
        (24, 100, 4, 4, 16, 8, 2, 10, KsBinding::Compute),
        (30, 45, 3, 5, 4, 3, 2, 7, KsBinding::Compute),
        // Bandwidth equal to the compute rate per full chunk, a short last chunk.
        (16, 33, 3, 5, 4, 2, 2, 0, KsBinding::Compute),
        // Compute-bound behind a long memory latency (it shows once, at the start).
        (2, 10, 4, 2, 16, 2, 16, 200, KsBinding::Compute),
        // Full chunks slower than the batch uses them, the short last chunk faster: the row
        // as a whole is bandwidth-bound here, compute-bound in the second.
        (20, 64, 4, 4, 16, 3, 4, 9, KsBinding::KeyBandwidth),
        (20, 37, 2, 8, 16, 5, 3, 20, KsBinding::Compute),
        // One level of one chunk for one ciphertext: a word's rows take a cycle, its digits
        // the decomposition pipeline's D cycles, so the input words bind.
        (8, 10, 4, 1, 16, 1, 16, 0, KsBinding::Input),
        (9, 20, 4, 1, 16, 2, 16, 2, KsBinding::Input),
    ];
    for (n_in, n_out, b, l, lanes, batch, k, lat, binding) in configs {
        let ksk = random_key(&mut rng, n_in, n_out, b, l, 64);
        let inputs = random_inputs(&mut rng, n_in, batch, b, l, 64);
        let mut unit = KeyswitchUnit::for_key(&ksk, lanes, memory(k, lat))
            .unwrap()
            .with_batch(batch)
            .unwrap();
        let what = format!(
            "n_in={n_in} n_out={n_out} {b}x{l} lanes={lanes} B={batch} K={k} latency={lat}"
        );
        let run = assert_equal_to_engine(&mut unit, &ksk, &inputs, &what);
        let model = unit.cycle_model(&ksk, batch).unwrap();
        assert_eq!(run.batches.len(), 1, "{what}");
        let measured = run.batches[0];
        assert_eq!(measured.cycles, model.cycles, "{what}: measured vs model");
        assert_eq!(model.binding, binding, "{what}: binding term");
        // The read buffer sized by the model is enough, never more than it.
        assert!(measured.max_buffered <= model.buffer_chunks, "{what}");
        // Compute-bound: the unit waits for the key only at the start; bandwidth-bound: it
        // waits at least the key cycles it cannot hide, less the head start the memory gets
        // while the first word's digits come in (the input fill 2B + D + 1 past its latency).
        let rows = model.rows;
        if binding == KsBinding::KeyBandwidth {
            let fill = 2 * batch as u64 + unit.latencies().decompose + 1;
            let head_start = fill.saturating_sub(u64::from(lat));
            assert!(
                measured.key_stall_cycles + head_start
                    >= (rows - 1) * (model.key_cycles_per_row - model.compute_cycles_per_row),
                "{what}"
            );
        }
        assert_eq!(measured.key_chunks, rows * model.chunks_per_row, "{what}");
        if lat == 200 {
            assert!(
                model.key_path > model.compute_path,
                "{what}: the latency shows"
            );
        }
    }
}

#[test]
fn model_of_the_real_sets() {
    // The model alone at the real shapes (the simulated runs are in the tests above).
    let latencies = KeyswitchUnit::new(16, 64, memory(16, 100))
        .unwrap()
        .latencies();
    let default = KsShape {
        n_in: 2048,
        n_out: 918,
        base_log: 4,
        levels: 4,
        batch: 1,
    };
    let m = KsCycleModel::new(&default, 16, &memory(16, 100), &latencies);
    assert_eq!(m.binding, KsBinding::Compute);
    assert_eq!(m.rows, 2048 * 4);
    assert_eq!(m.chunks_per_row, 58);
    assert_eq!(m.steady_cycles_per_batch(), 2048 * 4 * 58);
    // 919 words a row over 58 chunks of one ciphertext: 16 words per cycle keep up; with a
    // batch of 8, 2 words per cycle do.
    assert_eq!(KsCycleModel::words_per_cycle_for_compute(&default, 16), 16);
    let batch8 = KsShape {
        batch: 8,
        ..default
    };
    assert_eq!(KsCycleModel::words_per_cycle_for_compute(&batch8, 16), 2);
}

#[test]
fn misuse_is_a_typed_error() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
    let ksk = random_key(&mut rng, 10, 12, 3, 5, 64);
    let mut unit = KeyswitchUnit::for_key(&ksk, 16, memory(4, 4)).unwrap();
    // An input of the wrong dimension.
    let wrong = random_inputs(&mut rng, 11, 1, 3, 5, 64);
    assert!(matches!(
        unit.keyswitch_batch(&ksk, &wrong),
        Err(Error::DimensionMismatch {
            expected: 10,
            got: 11,
            ..
        })
    ));
    // Flat containers that are not whole ciphertexts, or outputs of the wrong size.
    let mut out = vec![0u64; 13];
    assert!(matches!(
        unit.keyswitch_batch_into(&ksk, &[0u64; 12], &mut out),
        Err(Error::MalformedContainer { .. })
    ));
    assert!(matches!(
        unit.keyswitch_batch_into(&ksk, &[0u64; 11], &mut out[..12]),
        Err(Error::DimensionMismatch {
            expected: 13,
            got: 12,
            ..
        })
    ));
    // A key for another modulus than the unit's.
    let ksk21 = random_key(&mut rng, 10, 12, 2, 8, 21);
    assert!(matches!(
        unit.keyswitch_batch(&ksk21, &[]),
        Err(Error::InvalidParameters(_))
    ));
    // Configurations that were not built, a zero bandwidth, a batch the unit cannot hold.
    assert!(matches!(
        KeyswitchUnit::new(16, 32, memory(4, 4)),
        Err(Error::InvalidParameters(_))
    ));
    assert!(matches!(
        KeyswitchUnit::new(5, 64, memory(4, 4)),
        Err(Error::InvalidParameters(_))
    ));
    assert!(matches!(
        KeyswitchUnit::new(16, 64, memory(0, 4)),
        Err(Error::InvalidParameters(_))
    ));
    let max_batch = unit.config().max_batch;
    let unit16 = KeyswitchUnit::new(16, 64, memory(4, 4)).unwrap();
    assert!(matches!(
        unit16.with_batch(max_batch + 1),
        Err(Error::InvalidParameters(_))
    ));
    // The 2^21 unit multiplies by shifts: base 2^2 at most.
    let mut unit21 = KeyswitchUnit::new(16, 21, memory(4, 4)).unwrap();
    let ksk21_b3 = random_key(&mut rng, 10, 12, 3, 7, 21);
    assert!(matches!(
        unit21.keyswitch_batch(&ksk21_b3, &[]),
        Err(Error::InvalidParameters(_))
    ));
    // Too many output words for the accumulators.
    let max_cols = unit.config().max_cols;
    let wide = random_key(&mut rng, 1, max_cols, 3, 5, 64);
    assert!(matches!(
        unit.keyswitch_batch(&wide, &[]),
        Err(Error::InvalidParameters(_))
    ));
    // A "2^21" key whose words have low bits set is no key for that modulus.
    let mut data = ksk21.clone().into_container();
    data[5] |= 1;
    let bad = LweKeyswitchKey::from_container(
        data,
        LweDimension(10),
        LweDimension(12),
        DecompositionBaseLog(2),
        DecompositionLevelCount(8),
        21,
    )
    .unwrap();
    assert!(matches!(
        unit21.keyswitch_batch(&bad, &random_inputs(&mut rng, 10, 1, 2, 8, 21)),
        Err(Error::InvalidParameters(_))
    ));
    // And the unit still works after every refusal.
    let inputs = random_inputs(&mut rng, 10, 2, 3, 5, 64);
    assert_equal_to_engine(&mut unit, &ksk, &inputs, "after errors");
    assert!(ks_configs().iter().any(|k| k.output_modulus_log == 21));
}

/// The figures of the real sets (not in CI: about 20 s). `cargo test --release --workspace
/// --test keyswitch -- --ignored --nocapture`.
#[test]
#[ignore]
fn real_set_figures() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(18);
    let clock_hz = 350e6;
    println!(
        "{:<8} {:>5} {:>6} {:>9} {:>11} {:>13} {:>10} {:>9} {:>9} {:>8}",
        "set",
        "batch",
        "words",
        "latency",
        "cycles",
        "binding",
        "KS/s",
        "steady",
        "stalls",
        "Mcyc/s"
    );
    for p in [
        &PARAM_MESSAGE_2_CARRY_2_KS_PBS,
        &V1_8_HPU_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128,
    ] {
        let n_in = p.glwe_dimension.0 * p.polynomial_size.0;
        let (b, l, w) = (p.ks_base_log.0, p.ks_level.0, p.ks_output_modulus_log);
        let ksk = random_key(&mut rng, n_in, p.lwe_dimension.0, b, l, w);
        let set = if w == 64 { "default" } else { "HPU" };
        for (batch, k) in [(1, 16), (1, 4), (8, 2), (12, 16)] {
            let inputs = random_inputs(&mut rng, n_in, batch, b, l, w);
            let mut unit = KeyswitchUnit::for_key(&ksk, 16, memory(k, 100))
                .unwrap()
                .with_batch(batch)
                .unwrap();
            let run = assert_equal_to_engine(&mut unit, &ksk, &inputs, set);
            let m = run.batches[0].model;
            println!(
                "{:<8} {:>5} {:>6} {:>9} {:>11} {:>13} {:>10.0} {:>9.0} {:>9} {:>8.2}",
                set,
                batch,
                k,
                100,
                run.cycles,
                m.binding.to_string(),
                batch as f64 * clock_hz / run.cycles as f64,
                batch as f64 * clock_hz / m.steady_cycles_per_batch() as f64,
                run.key_stall_cycles,
                run.cycles_per_second() / 1e6
            );
        }
    }
}
