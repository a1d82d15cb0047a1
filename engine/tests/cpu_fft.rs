//! The CPU FFT backend's contract (not bit-exactness: the FFT rounds): every message decrypts
//! to f(m) for several tables on the default and HPU sets, alone and batched, and its blind
//! rotation stays within a small distance of the exact one (the CPU NTT backend's).

use glovebox_engine::prelude::*;
use rand::{Rng, SeedableRng};

fn decrypts_to_f_of_m(params: &Parameters) {
    let client = ClientKey::new(params).unwrap();
    let server = client.server_key().unwrap();
    let backend = CpuFftBackend::new();
    let resident = server.upload(&backend).unwrap();
    let modulus = params.message_modulus;
    let tables: Vec<(&str, Box<dyn Fn(u64) -> u64>)> = vec![
        ("identity", Box::new(|x| x)),
        ("square", Box::new(move |x| x * x % modulus)),
        ("threshold", Box::new(move |x| (x >= modulus / 2) as u64)),
    ];
    for (name, f) in &tables {
        let lut = server.generate_lookup_table(f);
        for batch in [1usize, 7, 64] {
            let msgs: Vec<u64> = (0..batch as u64).map(|i| (i * 3 + 1) % modulus).collect();
            let cts: Vec<Ciphertext> = msgs.iter().map(|&m| client.encrypt(m).unwrap()).collect();
            let refs: Vec<&Ciphertext> = cts.iter().collect();
            let outs = resident
                .apply_lookup_table_batch(&refs, &vec![&lut; batch])
                .unwrap();
            for (out, &m) in outs.iter().zip(&msgs) {
                assert_eq!(
                    client.decrypt(out).unwrap(),
                    f(m),
                    "{}: {name}({m}), batch {batch}",
                    params.name
                );
            }
        }
    }
}

#[test]
fn default_set_decrypts_to_f_of_m() {
    decrypts_to_f_of_m(&PARAM_MESSAGE_2_CARRY_2_KS_PBS);
}

#[test]
fn hpu_set_decrypts_to_f_of_m() {
    decrypts_to_f_of_m(&V1_8_HPU_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128);
}

/// The same blind rotation on both CPU backends. Their words differ (a rounding that moves a
/// gadget digit by one changes the mask by a whole key row, an encryption of almost zero), so
/// compare what the ciphertexts encrypt: the phase of every 64th coefficient under the GLWE
/// key. The two differ by the external products' noise alone, far below half a message box
/// (Δ/2 = 2^58 on the default set).
#[test]
fn blind_rotation_decrypts_to_the_exact_ones_phases() {
    let params = PARAM_MESSAGE_2_CARRY_2_KS_PBS;
    let client = ClientKey::new(&params).unwrap();
    let server = client.server_key().unwrap();
    let (fft, ntt) = (CpuFftBackend::new(), CpuBackend::new());
    let bsk = server.bootstrap_key();
    let (hf, hn) = (
        fft.upload_bootstrap_key(bsk).unwrap(),
        ntt.upload_bootstrap_key(bsk).unwrap(),
    );
    let n = params.polynomial_size.0;
    let k = params.glwe_dimension.0;
    let acc_size = (k + 1) * n;
    let in_size = params.lwe_dimension.0 + 1;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let batch = 3;
    let msed: Vec<u64> = (0..batch * in_size)
        .map(|_| rng.gen_range(0..2 * n as u64))
        .collect();
    let accs: Vec<u64> = (0..batch * acc_size).map(|_| rng.gen()).collect();
    let b_start = accs.clone();
    let (mut a, mut b) = (accs.clone(), accs);
    fft.blind_rotate_batch(&hf, &msed, &mut a).unwrap();
    ntt.blind_rotate_batch(&hn, &msed, &mut b).unwrap();
    assert_ne!(
        a, b,
        "an FFT that rounds nothing is not what this backend claims to be"
    );
    let key = client.glwe_secret_key().as_lwe_secret_key();
    let phase = |glwe: &[u64], index: usize| {
        let mut out = vec![0u64; k * n + 1];
        extract_lwe_sample_at_into(&mut out, glwe, n, index);
        decrypt_lwe_ciphertext(&key, &LweCiphertext::from_container(out).unwrap()).unwrap()
    };
    let mut worst = 0u64;
    for (x, y) in a.chunks_exact(acc_size).zip(b.chunks_exact(acc_size)) {
        for index in (0..n).step_by(64) {
            let d = phase(x, index).wrapping_sub(phase(y, index)) as i64;
            worst = worst.max(d.unsigned_abs());
        }
    }
    println!("largest phase difference: 2^{:.1}", (worst as f64).log2());
    assert!(worst < 1 << 55, "2^{:.1}", (worst as f64).log2());

    // The free function, one job at a time, gives the batched backend's words (the same
    // operations in the same order: the tiles change only which job runs when).
    use glovebox_engine::algorithms::fourier::{fourier_blind_rotate_assign, FourierScratch};
    use glovebox_engine::algorithms::key_generation::convert_standard_lwe_bootstrap_key_to_fourier;
    let fbsk = convert_standard_lwe_bootstrap_key_to_fourier(bsk).unwrap();
    let plan = glovebox_engine::fft::plan_for(n).unwrap();
    let mut scratch = FourierScratch::new(k + 1, &plan);
    for (j, (m, want)) in msed
        .chunks_exact(in_size)
        .zip(a.chunks_exact(acc_size))
        .enumerate()
    {
        let mut acc = b_start[j * acc_size..(j + 1) * acc_size].to_vec();
        fourier_blind_rotate_assign(&mut acc, m, &fbsk, &plan, &mut scratch);
        assert_eq!(acc, want, "job {j}");
    }
}

/// The output noise over 4,096 bootstraps on the default set against
/// [`glovebox_engine::noise::pbs_output_variance_fft`] (the exact external product's terms
/// plus the FFT's rounding, TFHE-rs 1.8.2's fitted term): within 10 % (4,096 samples give the
/// variance to about ±2.2 % for one key; from key to key the ratio moved between 0.99 and 1.08
/// in unseeded runs, so the keys and the noise come from a fixed seed and the test gives the
/// same figure every time).
#[test]
fn output_noise_matches_the_prediction_with_the_fft_term() {
    use glovebox_engine::noise::{pbs_output_variance, pbs_output_variance_fft};
    let params = PARAM_MESSAGE_2_CARRY_2_KS_PBS;
    let client = ClientKey::with_generator(&params, CsprngGenerator::from_seed([7; 32])).unwrap();
    let server = client.server_key().unwrap();
    let backend = CpuFftBackend::new();
    let resident = server.upload(&backend).unwrap();
    let identity = server.generate_lookup_table(|x| x);
    let (total, batch) = (4096, 256);
    let mut errors = Vec::with_capacity(total);
    for chunk in 0..total / batch {
        let msgs: Vec<u64> = (0..batch as u64).map(|i| (i + chunk as u64) % 4).collect();
        let cts: Vec<Ciphertext> = msgs.iter().map(|&m| client.encrypt(m).unwrap()).collect();
        let refs: Vec<&Ciphertext> = cts.iter().collect();
        let outs = resident
            .apply_lookup_table_batch(&refs, &vec![&identity; batch])
            .unwrap();
        for (out, &m) in outs.iter().zip(&msgs) {
            errors.push(client.decryption_error(out, m).unwrap() as f64);
        }
    }
    let mean = errors.iter().sum::<f64>() / total as f64;
    let measured = errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (total - 1) as f64;
    let predicted = pbs_output_variance_fft(&params);
    let ratio = measured / predicted;
    println!(
        "CPU FFT backend, {total} bootstraps: measured variance {measured:.4e} (σ = 2^{:.3}), \
         predicted {predicted:.4e} (σ = 2^{:.3}; without the FFT term 2^{:.3}), ratio {ratio:.3}",
        measured.sqrt().log2(),
        predicted.sqrt().log2(),
        pbs_output_variance(&params).sqrt().log2()
    );
    assert!((0.9..1.1).contains(&ratio), "ratio {ratio}");
}
