use glovebox_engine::algorithms::fourier::{fourier_blind_rotate_assign, FourierScratch};
use glovebox_engine::prelude as gb;
use std::time::Instant;
use tfhe::core_crypto::prelude::*;

fn time<R>(name: &str, iters: usize, mut f: impl FnMut() -> R) {
    for _ in 0..5 {
        std::hint::black_box(f());
    }
    let t = Instant::now();
    for _ in 0..iters {
        std::hint::black_box(f());
    }
    println!(
        "{name:30} {:.3} ms",
        t.elapsed().as_secs_f64() * 1e3 / iters as f64
    );
}

fn main() {
    let params = gb::PARAM_MESSAGE_2_CARRY_2_KS_PBS;
    let client = gb::ClientKey::new(&params).unwrap();
    let server = client.server_key().unwrap();
    let lut = server.generate_lookup_table(|x| x * x % 4);
    let ct = client.encrypt(3).unwrap();
    let fbsk =
        glovebox_engine::algorithms::key_generation::convert_standard_lwe_bootstrap_key_to_fourier(
            server.bootstrap_key(),
        )
        .unwrap();
    let plan = glovebox_engine::fft::plan_for(2048).unwrap();
    let mut scratch = FourierScratch::new(2, &plan);
    let small = gb::keyswitch_lwe_ciphertext(server.keyswitch_key(), &ct.ct).unwrap();
    let msed = gb::lwe_modulus_switch(&small, 12, params.modulus_switch);
    let it = 300;
    let fft = gb::CpuFftBackend::new();
    let on_fft = server.upload(&fft).unwrap();
    for _ in 0..2 {
        time("glovebox keyswitch", it, || {
            gb::keyswitch_lwe_ciphertext(server.keyswitch_key(), &ct.ct).unwrap()
        });
        time("glovebox fft blind rotate", it, || {
            let mut acc = lut.accumulator.as_slice().to_vec();
            fourier_blind_rotate_assign(&mut acc, &msed, &fbsk, &plan, &mut scratch);
            acc
        });

        time("glovebox backend ks+pbs", it, || {
            on_fft.apply_lookup_table_batch(&[&ct], &[&lut]).unwrap()
        });
        let bsk = glovebox_engine::interop::lwe_bootstrap_key_to_tfhe(server.bootstrap_key());
        let ksk =
            glovebox_engine::interop::lwe_keyswitch_key_to_tfhe(server.keyswitch_key()).unwrap();
        let mut fourier = FourierLweBootstrapKey::new(
            bsk.input_lwe_dimension(),
            bsk.glwe_size(),
            bsk.polynomial_size(),
            bsk.decomposition_base_log(),
            bsk.decomposition_level_count(),
        );
        par_convert_standard_lwe_bootstrap_key_to_fourier(&bsk, &mut fourier);
        let big_ct = glovebox_engine::interop::lwe_ciphertext_to_tfhe(&ct.ct);
        let tlut = glovebox_engine::interop::glwe_ciphertext_to_tfhe(&lut.accumulator);
        let mut tsmall =
            LweCiphertext::new(0u64, ksk.output_lwe_size(), CiphertextModulus::new_native());
        time("tfhe keyswitch", it, || {
            keyswitch_lwe_ciphertext(&ksk, &big_ct, &mut tsmall)
        });
        time("tfhe fft pbs", it, || {
            let mut out =
                LweCiphertext::new(0u64, big_ct.lwe_size(), CiphertextModulus::new_native());
            programmable_bootstrap_lwe_ciphertext(&tsmall, &mut out, &tlut, &fourier);
            out
        });
    }
}
