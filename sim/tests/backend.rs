//! The backend conformance checks the CPU and GPU backends pass, on [`SimBackend`]: blind
//! rotation, keyswitch and whole keyswitch + PBS batches equal the CPU backend word for word,
//! results decrypt to f(m), and misuse is a typed error. TEST_PARAMS_INSECURE (N = 512) keeps
//! the simulation short; `glovebox sim pbs` runs the real sets.

use glovebox_engine::commons::random::CsprngGenerator;
use glovebox_engine::prelude::*;
use glovebox_sim::backend::SimBackend;
use rand::{Rng, SeedableRng};
use std::sync::OnceLock;

struct Keys {
    client: ClientKey,
    server: ServerKey,
}

fn test_keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let client =
            ClientKey::with_generator(&TEST_PARAMS_INSECURE, CsprngGenerator::from_seed([5; 32]))
                .unwrap();
        let server = client.server_key().unwrap();
        Keys { client, server }
    })
}

fn assert_words_eq(got: &[u64], want: &[u64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let bad = (0..got.len()).filter(|&i| got[i] != want[i]).count();
    assert_eq!(bad, 0, "{what}: {bad} of {} words differ", got.len());
}

#[test]
fn blind_rotation_equals_the_cpu_backend() {
    let keys = test_keys();
    let sim = SimBackend::new();
    let cpu = CpuBackend::new();
    let bsk = keys.server.bootstrap_key();
    let (h_sim, h_cpu) = (
        sim.upload_bootstrap_key(bsk).unwrap(),
        cpu.upload_bootstrap_key(bsk).unwrap(),
    );
    let n = bsk.polynomial_size().0;
    let acc_size = bsk.glwe_size().0 * n;
    let in_size = bsk.input_lwe_dimension().0 + 1;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(31);
    // 9: one full batch of the unit's 8 accumulators and one of 1.
    for batch in [1, 9] {
        let mut msed: Vec<u64> = (0..batch * in_size)
            .map(|_| rng.gen_range(0..2 * n as u64))
            .collect();
        let len = msed.len();
        for (i, e) in [0u64, n as u64, 2 * n as u64 - 1].into_iter().enumerate() {
            msed[i * 37 % len] = e;
        }
        let accs: Vec<u64> = (0..batch * acc_size).map(|_| rng.gen()).collect();
        let mut want = accs.clone();
        cpu.blind_rotate_batch(&h_cpu, &msed, &mut want).unwrap();
        let mut got = accs;
        sim.blind_rotate_batch(&h_sim, &msed, &mut got).unwrap();
        assert_words_eq(&got, &want, &format!("blind rotation, batch {batch}"));
    }
    let c = sim.counters();
    assert_eq!(c.blind_rotations, 10);
    assert!(c.blind_rotation_cycles > 0);
}

#[test]
fn keyswitch_equals_the_cpu_backend() {
    let keys = test_keys();
    let sim = SimBackend::new();
    let cpu = CpuBackend::new();
    let ksk = keys.server.keyswitch_key();
    let (h_sim, h_cpu) = (
        sim.upload_keyswitch_key(ksk).unwrap(),
        cpu.upload_keyswitch_key(ksk).unwrap(),
    );
    let in_size = ksk.input_lwe_dimension().0 + 1;
    let out_size = ksk.output_lwe_dimension().0 + 1;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(32);
    for batch in [1, 7, 20] {
        let inputs: Vec<u64> = (0..batch * in_size).map(|_| rng.gen()).collect();
        let mut want = vec![0; batch * out_size];
        let mut got = vec![0; batch * out_size];
        cpu.keyswitch_batch(&h_cpu, &inputs, &mut want).unwrap();
        sim.keyswitch_batch(&h_sim, &inputs, &mut got).unwrap();
        assert_words_eq(&got, &want, &format!("keyswitch, batch {batch}"));
    }
    assert_eq!(sim.counters().keyswitches, 28);
}

#[test]
fn keyswitch_and_pbs_batches_equal_the_cpu_backend_and_decrypt_to_f_of_m() {
    let keys = test_keys();
    let sim = SimBackend::new();
    let cpu = CpuBackend::new();
    let on_sim = keys.server.upload(&sim).unwrap();
    let on_cpu = keys.server.upload(&cpu).unwrap();
    let modulus = keys.client.parameters().message_modulus;
    let luts = [
        keys.server.generate_lookup_table(|x| x),
        keys.server.generate_lookup_table(|x| (x * x) % modulus),
        keys.server.generate_lookup_table(|x| (x >= 2) as u64),
    ];
    for batch in [1, 5] {
        let messages: Vec<u64> = (0..batch as u64).map(|i| (i * 3 + 1) % modulus).collect();
        let cts: Vec<Ciphertext> = messages
            .iter()
            .map(|&m| keys.client.encrypt(m).unwrap())
            .collect();
        let ct_refs: Vec<&Ciphertext> = cts.iter().collect();
        let lut_refs: Vec<&LookupTable> = (0..batch).map(|j| &luts[j % 3]).collect();
        let want = on_cpu
            .apply_lookup_table_batch(&ct_refs, &lut_refs)
            .unwrap();
        let got = on_sim
            .apply_lookup_table_batch(&ct_refs, &lut_refs)
            .unwrap();
        for (j, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_words_eq(
                g.ct.as_slice(),
                w.ct.as_slice(),
                &format!("PBS {j} of {batch}"),
            );
            let m = messages[j];
            let f = [m, (m * m) % modulus, (m >= 2) as u64][j % 3];
            assert_eq!(keys.client.decrypt(g).unwrap(), f, "PBS {j} of {batch}");
        }
    }
}

/// A batch of three chunks (the units hold 8 blind rotations): the keyswitch of each chunk runs
/// while the one before is blind-rotated, the outputs stay those of the CPU backend, and the
/// device's time is less than its two units' added up, by all but the first chunk's keyswitch.
#[test]
fn keyswitch_of_the_next_chunk_overlaps_blind_rotation() {
    let keys = test_keys();
    let sim = SimBackend::new();
    let cpu = CpuBackend::new();
    let on_sim = keys.server.upload(&sim).unwrap();
    let on_cpu = keys.server.upload(&cpu).unwrap();
    let modulus = keys.client.parameters().message_modulus;
    let lut = keys.server.generate_lookup_table(|x| (x + 1) % modulus);
    let messages: Vec<u64> = (0..19u64).map(|i| (i * 5 + 2) % modulus).collect();
    let cts: Vec<Ciphertext> = messages
        .iter()
        .map(|&m| keys.client.encrypt(m).unwrap())
        .collect();
    let ct_refs: Vec<&Ciphertext> = cts.iter().collect();
    let lut_refs = vec![&lut; cts.len()];
    let want = on_cpu
        .apply_lookup_table_batch(&ct_refs, &lut_refs)
        .unwrap();
    let got = on_sim
        .apply_lookup_table_batch(&ct_refs, &lut_refs)
        .unwrap();
    for (j, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_words_eq(g.ct.as_slice(), w.ct.as_slice(), &format!("PBS {j}"));
        assert_eq!(keys.client.decrypt(g).unwrap(), (messages[j] + 1) % modulus);
    }
    let c = sim.counters();
    assert_eq!(
        (c.keyswitches, c.blind_rotations, c.descriptors),
        (19, 19, 6)
    );
    // Three keyswitches of 8, 8 and 3 against blind rotations of the same: the device's time is
    // the first keyswitch, then the blind rotations back to back (each keyswitch is shorter
    // than a blind rotation), plus the command interface's few cycles per descriptor.
    let units = c.keyswitch_cycles + c.blind_rotation_cycles;
    assert!(c.device_cycles < units, "{c:?}");
    assert!(c.device_cycles >= c.blind_rotation_cycles, "{c:?}");
    let first_keyswitch = c.keyswitch_cycles * 8 / 19;
    assert!(
        c.device_cycles < c.blind_rotation_cycles + first_keyswitch + 200,
        "{c:?}"
    );
}

#[test]
fn misuse_is_a_typed_error() {
    let keys = test_keys();
    let sim = SimBackend::new();
    let cpu = CpuBackend::new();
    let bsk = keys.server.bootstrap_key();
    let h_cpu = cpu.upload_bootstrap_key(bsk).unwrap();
    let h_sim = sim.upload_bootstrap_key(bsk).unwrap();
    let p = keys.client.parameters();
    let in_size = p.lwe_dimension.0 + 1;
    let mut accs = vec![0u64; (p.glwe_dimension.0 + 1) * p.polynomial_size.0];
    assert!(matches!(
        sim.blind_rotate_batch(&h_cpu, &vec![0; in_size], &mut accs),
        Err(Error::InvalidHandle(_))
    ));
    let mut msed = vec![0u64; in_size];
    msed[3] = 2 * p.polynomial_size.0 as u64;
    assert!(matches!(
        sim.blind_rotate_batch(&h_sim, &msed, &mut accs),
        Err(Error::WordOutOfRange { index: 3, .. })
    ));
    assert!(matches!(
        sim.blind_rotate_batch(&h_sim, &vec![0; 2 * in_size], &mut accs),
        Err(Error::DimensionMismatch { .. })
    ));
    // A key of a polynomial size no unit was built for is refused at upload, not run on the CPU.
    let odd = LweBootstrapKey::from_container(
        vec![
            0;
            2 * GgswCiphertext::size(GlweSize(2), PolynomialSize(256), DecompositionLevelCount(1))
        ],
        LweDimension(2),
        GlweSize(2),
        PolynomialSize(256),
        DecompositionBaseLog(23),
        DecompositionLevelCount(1),
    )
    .unwrap();
    assert!(matches!(
        sim.upload_bootstrap_key(&odd),
        Err(Error::InvalidParameters(_))
    ));
}
