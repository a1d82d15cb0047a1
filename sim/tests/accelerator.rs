//! The device (both units, one memory channel, PCIe) bootstraps LWE ciphertexts word for word
//! as the engine does (keyswitch, modulus switch, blind rotation, sample extraction), and its
//! simulated timeline equals the device model event for event, with the memory contended and
//! not.

use glovebox_engine::algorithms::blind_rotate_assign;
use glovebox_engine::algorithms::blind_rotation::extract_lwe_sample_into;
use glovebox_engine::algorithms::external_product::ExternalProductScratch;
use glovebox_engine::algorithms::key_generation::convert_standard_lwe_bootstrap_key_to_ntt;
use glovebox_engine::algorithms::keyswitch_lwe_ciphertext;
use glovebox_engine::algorithms::modulus_switch::lwe_modulus_switch_into;
use glovebox_engine::ntt::Plan;
use glovebox_engine::parameters::ModulusSwitchType;
use glovebox_engine::prelude::*;
use glovebox_sim::accelerator::{Accelerator, DeviceConfig, DeviceRun};
use glovebox_sim::br::BlindRotationUnit;
use glovebox_sim::KeyMemory;
use rand::{Rng, SeedableRng};

const POLY: usize = 512;

struct Case {
    ksk: LweKeyswitchKey,
    bsk: NttLweBootstrapKey,
    inputs: Vec<u64>,
    luts: Vec<u64>,
    want: Vec<u64>,
}

/// Random keys (the units do not care what they encrypt): `n_in` → `n` words at output
/// modulus 2^`w`, base 2^4 with 3 levels (2^2 with 5 modulo 2^21); GGSWs of N = 512, 15 × 2. `count` random inputs and
/// tables, and the engine's bootstrap of each.
fn case(seed: u64, n_in: usize, n: usize, w: u32, count: usize, switch: ModulusSwitchType) -> Case {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let low = if w == 64 { 0 } else { (1u64 << (64 - w)) - 1 };
    let (b, l) = if w == 64 { (4, 3) } else { (2, 5) };
    let ksk = LweKeyswitchKey::from_container(
        (0..n_in * l * (n + 1))
            .map(|_| rng.gen::<u64>() & !low)
            .collect(),
        LweDimension(n_in),
        LweDimension(n),
        DecompositionBaseLog(b),
        DecompositionLevelCount(l),
        w,
    )
    .unwrap();
    let bsk = LweBootstrapKey::from_container(
        (0..n * 2 * 2 * 2 * POLY).map(|_| rng.gen()).collect(),
        LweDimension(n),
        GlweSize(2),
        PolynomialSize(POLY),
        DecompositionBaseLog(15),
        DecompositionLevelCount(2),
    )
    .unwrap();
    let bsk = convert_standard_lwe_bootstrap_key_to_ntt(&bsk).unwrap();
    let inputs: Vec<u64> = (0..count * (n_in + 1)).map(|_| rng.gen()).collect();
    let luts: Vec<u64> = (0..count * POLY).map(|_| rng.gen()).collect();
    let plan = Plan::try_new(POLY).unwrap();
    let mut scratch = ExternalProductScratch::new(2, POLY);
    let log_2n = (2 * POLY).trailing_zeros();
    let mut want = vec![0u64; count * (POLY + 1)];
    for (i, out) in want.chunks_exact_mut(POLY + 1).enumerate() {
        let ct =
            LweCiphertext::from_container(inputs[i * (n_in + 1)..][..n_in + 1].to_vec()).unwrap();
        let small = keyswitch_lwe_ciphertext(&ksk, &ct).unwrap();
        let mut msed = vec![0u64; n + 1];
        lwe_modulus_switch_into(&mut msed, &small, log_2n, switch);
        let mut acc = vec![0u64; 2 * POLY];
        acc[POLY..].copy_from_slice(&luts[i * POLY..][..POLY]);
        blind_rotate_assign(&mut acc, &msed, &bsk, &plan, &mut scratch);
        extract_lwe_sample_into(out, &acc, POLY);
    }
    Case {
        ksk,
        bsk,
        inputs,
        luts,
        want,
    }
}

fn run(c: &Case, device: &mut Accelerator, switch: ModulusSwitchType) -> DeviceRun {
    let key = BlindRotationUnit::device_key(&c.bsk).unwrap();
    let mut got = vec![0u64; c.want.len()];
    let run = device
        .bootstrap(&c.ksk, &c.bsk, &key, &c.inputs, &c.luts, switch, &mut got)
        .unwrap();
    let bad = got.iter().zip(&c.want).filter(|(g, w)| g != w).count();
    assert_eq!(
        bad,
        0,
        "{bad} of {} output words differ from the engine's",
        got.len()
    );
    assert_eq!(
        run.measured, run.model,
        "the simulated timeline against the device model"
    );
    run
}

fn config(words_per_cycle: u32, latency: u32, max_outstanding: u32) -> DeviceConfig {
    DeviceConfig {
        memory: KeyMemory {
            words_per_cycle,
            latency,
        },
        max_outstanding,
        pcie_bytes_per_cycle: 64,
        pcie_latency: 100,
    }
}

#[test]
fn three_batches_equal_the_engine_and_the_model() {
    let switch = ModulusSwitchType::CenteredMeanNoiseReduction;
    let c = case(1, 40, 6, 64, 12, switch);
    let mut device = Accelerator::new(16, 64, POLY, 4, config(8, 30, 0))
        .unwrap()
        .with_batch(4)
        .unwrap();
    let r = run(&c, &mut device, switch);
    let b = &r.measured.batches;
    assert_eq!(b.len(), 3);
    // The keyswitch of batch 1 overlaps the blind rotation of batch 0.
    assert!(b[1].ks_start < b[0].br_end, "{b:?}");
}

#[test]
fn contended_memory_is_simulated_and_modelled() {
    // The same work on a narrow channel with few transfers in flight: the units wait for each
    // other's transfers, and the model still gives every event's cycle.
    let switch = ModulusSwitchType::Standard;
    let c = case(2, 24, 5, 21, 6, switch);
    let wide = run(
        &c,
        &mut Accelerator::new(16, 21, POLY, 4, config(16, 20, 0))
            .unwrap()
            .with_batch(3)
            .unwrap(),
        switch,
    );
    let narrow = run(
        &c,
        &mut Accelerator::new(16, 21, POLY, 4, config(1, 20, 2))
            .unwrap()
            .with_batch(3)
            .unwrap(),
        switch,
    );
    assert!(narrow.measured.cycles > wide.measured.cycles);
    assert!(narrow.br_key_stall_cycles > wide.br_key_stall_cycles);
    assert!(narrow.measured.most_outstanding <= 2);
    // Contention: the channel was busy with keyswitch-key chunks while the blind rotation of
    // batch 0 ran.
    assert!(narrow.measured.ks_key_cycles > 0 && narrow.measured.br_key_cycles > 0);
}

#[test]
fn misuse_is_a_typed_error() {
    let switch = ModulusSwitchType::Standard;
    let c = case(3, 24, 5, 64, 4, switch);
    assert!(matches!(
        Accelerator::new(3, 64, POLY, 4, config(4, 10, 0)),
        Err(Error::InvalidParameters(_))
    ));
    let mut device = Accelerator::new(16, 64, POLY, 4, config(4, 10, 0))
        .unwrap()
        .with_batch(4)
        .unwrap();
    let key = BlindRotationUnit::device_key(&c.bsk).unwrap();
    let mut out = vec![0u64; c.want.len()];
    // Not a whole number of batches.
    assert!(device
        .bootstrap(
            &c.ksk,
            &c.bsk,
            &key,
            &c.inputs[..25 * 3],
            &c.luts[..3 * POLY],
            switch,
            &mut out[..3 * (POLY + 1)]
        )
        .is_err());
    // Tables of the wrong size.
    assert!(matches!(
        device.bootstrap(
            &c.ksk,
            &c.bsk,
            &key,
            &c.inputs,
            &c.luts[1..],
            switch,
            &mut out
        ),
        Err(Error::DimensionMismatch { .. })
    ));
    // A keyswitch key for another modulus than the unit's.
    let other = case(4, 24, 5, 21, 4, switch);
    assert!(device
        .bootstrap(&other.ksk, &c.bsk, &key, &c.inputs, &c.luts, switch, &mut out)
        .is_err());
}
