//! The simulated blind-rotation unit equals the engine's blind rotation word for word, its
//! measured cycles equal the cycle model, and misuse comes back as typed errors.

use glovebox_engine::algorithms::blind_rotate_assign;
use glovebox_engine::algorithms::blind_rotation::extract_lwe_sample_into;
use glovebox_engine::algorithms::external_product::ExternalProductScratch;
use glovebox_engine::algorithms::key_generation::convert_standard_lwe_bootstrap_key_to_ntt;
use glovebox_engine::algorithms::modulus_switch::lwe_modulus_switch_batch_into;
use glovebox_engine::ntt::Plan;
use glovebox_engine::parameters::ModulusSwitchType;
use glovebox_engine::prelude::*;
use glovebox_sim::br::{br_configs, projected_latencies, BlindRotationUnit, BrBinding};
use glovebox_sim::KeyMemory;
use rand::{Rng, SeedableRng};

/// A bootstrapping key of random words (the unit does not care what they encrypt) with `n`
/// GGSWs of polynomials of `poly` coefficients, base 2^`b`, `l` levels, k = 1.
fn random_key(rng: &mut impl Rng, n: usize, poly: usize, b: usize, l: usize) -> NttLweBootstrapKey {
    let glwe = GlweSize(2);
    let size = n * l * 2 * 2 * poly;
    let data = (0..size).map(|_| rng.gen()).collect();
    let bsk = LweBootstrapKey::from_container(
        data,
        LweDimension(n),
        glwe,
        PolynomialSize(poly),
        DecompositionBaseLog(b),
        DecompositionLevelCount(l),
    )
    .unwrap();
    convert_standard_lwe_bootstrap_key_to_ntt(&bsk).unwrap()
}

/// `count` modulus-switched ciphertexts with the edge rotations 0, 1, N − 1, N, N + 1 and
/// 2N − 1 planted, and as many random accumulators.
fn inputs(rng: &mut impl Rng, n: usize, poly: usize, count: usize) -> (Vec<u64>, Vec<u64>) {
    let mut msed: Vec<u64> = (0..count * (n + 1))
        .map(|_| rng.gen_range(0..2 * poly as u64))
        .collect();
    let p = poly as u64;
    for (i, e) in [0, 1, p - 1, p, p + 1, 2 * p - 1].into_iter().enumerate() {
        let at = (i * 7) % msed.len();
        msed[at] = e;
    }
    let accs = (0..count * 2 * poly).map(|_| rng.gen()).collect();
    (msed, accs)
}

fn engine_blind_rotate(bsk: &NttLweBootstrapKey, msed: &[u64], accs: &[u64]) -> Vec<u64> {
    let poly = bsk.polynomial_size().0;
    let n = bsk.input_lwe_dimension().0;
    let plan = Plan::try_new(poly).unwrap();
    let mut scratch = ExternalProductScratch::new(2, poly);
    let mut out = accs.to_vec();
    for (acc, m) in out.chunks_exact_mut(2 * poly).zip(msed.chunks_exact(n + 1)) {
        blind_rotate_assign(acc, m, bsk, &plan, &mut scratch);
    }
    out
}

fn assert_words_eq(got: &[u64], want: &[u64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let bad: Vec<usize> = (0..got.len()).filter(|&i| got[i] != want[i]).collect();
    assert!(
        bad.is_empty(),
        "{what}: {} of {} words differ; first at {:?}",
        bad.len(),
        got.len(),
        &bad[..bad.len().min(8)]
    );
}

/// Runs `count` ciphertexts in batches of `batch` on the unit with N = `poly`, `lanes` lanes,
/// and checks the results and every batch's cycles against the model.
fn check(
    seed: u64,
    n: usize,
    poly: usize,
    lanes: usize,
    (b, l): (usize, usize),
    count: usize,
    batch: usize,
    memory: KeyMemory,
) -> glovebox_sim::br::BrRun {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let bsk = random_key(&mut rng, n, poly, b, l);
    let (msed, accs) = inputs(&mut rng, n, poly, count);
    let want = engine_blind_rotate(&bsk, &msed, &accs);
    let mut unit = BlindRotationUnit::new(poly, lanes, memory)
        .unwrap()
        .with_batch(batch)
        .unwrap();
    let mut got = accs;
    let run = unit.blind_rotate_batch(&bsk, &msed, &mut got).unwrap();
    assert_words_eq(&got, &want, &format!("n = {n}, batch {batch}"));
    for r in &run.batches {
        assert_eq!(
            r.cycles, r.model.cycles,
            "n = {n}, batch {}, memory {memory:?}: simulated cycles against the model",
            r.batch
        );
        assert_eq!(r.key_rows * lanes as u64, r.model.key_words);
    }
    run
}

#[test]
fn test_params_shape_equals_the_engine_and_the_model() {
    let memory = KeyMemory {
        words_per_cycle: 4,
        latency: 40,
    };
    // 15 x 2 (TEST_PARAMS_INSECURE's decomposition), batches of 1, 3 and 8, a partial last batch.
    check(1, 6, 512, 4, (15, 2), 1, 1, memory);
    check(2, 5, 512, 4, (15, 2), 3, 3, memory);
    check(3, 4, 512, 4, (15, 2), 11, 8, memory);
    // 23 x 1 (the real sets' decomposition).
    check(4, 5, 512, 4, (23, 1), 4, 4, memory);
}

/// The unit's bootstrap mode: keyswitched LWE words in (switched by the unit's mod_switch, both
/// kinds), sample-extracted LWE ciphertexts out, word for word the engine's modulus switch,
/// blind rotation and sample extraction, in the cycles of the model with extraction; and the
/// switch alone, accumulators out.
#[test]
fn bootstrap_mode_switches_and_extracts_like_the_engine() {
    let memory = KeyMemory {
        words_per_cycle: 4,
        latency: 40,
    };
    let (n, poly, lanes) = (5, 512, 4);
    for (seed, switch, count, batch) in [
        (11, ModulusSwitchType::Standard, 3, 3),
        (12, ModulusSwitchType::CenteredMeanNoiseReduction, 5, 4),
        (13, ModulusSwitchType::CenteredMeanNoiseReduction, 1, 1),
    ] {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let bsk = random_key(&mut rng, n, poly, 23, 1);
        let log_2n = (2 * poly).trailing_zeros();
        // Random words, with the rounding's edges planted: exactly half a step (rounds up),
        // one below it, zero, and the top of the torus (rounds past 2^64).
        let step = 1u64 << (64 - log_2n);
        let mut lwes: Vec<u64> = (0..count * (n + 1)).map(|_| rng.gen()).collect();
        for (i, e) in [step / 2, step / 2 - 1, 0, u64::MAX, 3 * step + step / 2]
            .into_iter()
            .enumerate()
        {
            let at = (i * 5) % lwes.len();
            lwes[at] = e;
        }
        // A keyswitch output modulo 2^21 sits in the top 21 bits.
        if seed == 12 {
            lwes.iter_mut().for_each(|w| *w &= !((1u64 << 43) - 1));
        }
        let accs: Vec<u64> = (0..count * 2 * poly).map(|_| rng.gen()).collect();
        let mut msed = vec![0u64; lwes.len()];
        lwe_modulus_switch_batch_into(&mut msed, &lwes, n + 1, log_2n, switch).unwrap();
        let rotated = engine_blind_rotate(&bsk, &msed, &accs);
        let mut want = vec![0u64; count * (poly + 1)];
        for (o, g) in want
            .chunks_exact_mut(poly + 1)
            .zip(rotated.chunks_exact(2 * poly))
        {
            extract_lwe_sample_into(o, g, poly);
        }
        let mut unit = BlindRotationUnit::new(poly, lanes, memory)
            .unwrap()
            .with_batch(batch)
            .unwrap();
        let mut got = vec![0u64; want.len()];
        let key = BlindRotationUnit::device_key(&bsk).unwrap();
        let run = unit
            .bootstrap_batch_with(&bsk, &key, &lwes, switch, &accs, &mut got)
            .unwrap();
        assert_words_eq(&got, &want, &format!("{switch:?}, batch {batch}"));
        for r in &run.batches {
            assert_eq!(
                r.cycles, r.model.cycles,
                "{switch:?}: cycles against the model"
            );
        }
        // The switch alone (accumulators out, as `SimBackend` uses it): the negated body.
        let mut accumulators = accs.clone();
        let run = unit
            .switch_and_rotate_batch_with(&bsk, &key, &lwes, switch, &mut accumulators)
            .unwrap();
        assert_words_eq(&accumulators, &rotated, &format!("{switch:?}, switch only"));
        for r in &run.batches {
            assert_eq!(
                r.cycles, r.model.cycles,
                "{switch:?}: cycles against the model"
            );
        }
    }
}

#[test]
fn every_binding_term_is_reached_and_modelled() {
    // Loop latency: one ciphertext waits for its own write-back.
    let run = check(
        5,
        4,
        512,
        4,
        (15, 2),
        1,
        1,
        KeyMemory {
            words_per_cycle: 4,
            latency: 0,
        },
    );
    assert_eq!(run.batches[0].model.binding, BrBinding::LoopLatency);
    assert!(run.batches[0].loop_stall_cycles > 0);
    // Compute: a full batch hides the loop.
    let run = check(
        6,
        4,
        512,
        4,
        (15, 2),
        8,
        8,
        KeyMemory {
            words_per_cycle: 4,
            latency: 0,
        },
    );
    assert_eq!(run.batches[0].model.binding, BrBinding::Compute);
    // Key bandwidth: one word per cycle against four lanes.
    let run = check(
        7,
        4,
        512,
        4,
        (15, 2),
        2,
        2,
        KeyMemory {
            words_per_cycle: 1,
            latency: 0,
        },
    );
    assert_eq!(run.batches[0].model.binding, BrBinding::KeyBandwidth);
    assert!(run.batches[0].key_stall_cycles > 0);
    // Key latency: a memory far slower to answer than the batch's use of a GGSW.
    let run = check(
        8,
        4,
        512,
        4,
        (15, 1),
        2,
        2,
        KeyMemory {
            words_per_cycle: 4,
            latency: 5000,
        },
    );
    assert_eq!(run.batches[0].model.binding, BrBinding::KeyLatency);
}

#[test]
fn misuse_is_a_typed_error() {
    let memory = KeyMemory {
        words_per_cycle: 4,
        latency: 0,
    };
    assert!(matches!(
        BlindRotationUnit::new(1024, 4, memory),
        Err(Error::InvalidParameters(_))
    ));
    assert!(matches!(
        BlindRotationUnit::new(
            512,
            4,
            KeyMemory {
                words_per_cycle: 0,
                latency: 0
            }
        ),
        Err(Error::InvalidParameters(_))
    ));
    let unit = BlindRotationUnit::new(512, 4, memory).unwrap();
    let max = unit.config().max_batch;
    assert!(matches!(
        unit.with_batch(max + 1),
        Err(Error::InvalidParameters(_))
    ));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let mut unit = BlindRotationUnit::new(512, 4, memory).unwrap();
    // Three levels on a unit that takes two.
    let deep = random_key(&mut rng, 2, 512, 10, 3);
    let (msed, mut accs) = inputs(&mut rng, 2, 512, 1);
    assert!(matches!(
        unit.blind_rotate_batch(&deep, &msed, &mut accs),
        Err(Error::InvalidParameters(_))
    ));
    // A rotation outside [0, 2N), and accumulators of the wrong length.
    let bsk = random_key(&mut rng, 2, 512, 15, 2);
    let mut bad = msed.clone();
    bad[0] = 1024;
    assert!(matches!(
        unit.blind_rotate_batch(&bsk, &bad, &mut accs),
        Err(Error::InvalidParameters(_))
    ));
    assert!(matches!(
        unit.blind_rotate_batch(&bsk, &msed, &mut accs[1..]),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(br_configs().iter().any(|c| c.polynomial_size == 2048));
}

#[test]
fn projected_latencies_equal_the_built_units_ports() {
    for c in br_configs() {
        let unit = BlindRotationUnit::new(
            c.polynomial_size,
            c.lanes,
            KeyMemory {
                words_per_cycle: 1,
                latency: 0,
            },
        )
        .unwrap();
        let (got, want) = (
            projected_latencies(c.polynomial_size, c.lanes).unwrap(),
            unit.latencies(),
        );
        assert_eq!(
            (
                got.fwd,
                got.inv,
                got.mac,
                got.pipe,
                got.release,
                got.out_delay
            ),
            (
                want.fwd,
                want.inv,
                want.mac,
                want.pipe,
                want.release,
                want.out_delay
            ),
            "N = {}, C = {}",
            c.polynomial_size,
            c.lanes
        );
    }
}
