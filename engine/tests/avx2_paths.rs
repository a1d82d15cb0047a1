//! The AVX2 + FMA tier of the multiversioned loops (`GLOVEBOX_SIMD=avx2`, what a CPU without
//! AVX-512 runs): bit-exact with TFHE-rs on the exact paths, within contract on the FFT
//! backend. Its own test binary, so the cap is set before any engine code runs.

mod common;

use glovebox_engine::commons::simd::{simd_level, SimdLevel};

#[test]
fn avx2_paths_agree_with_tfhe_rs() {
    #[cfg(target_arch = "x86_64")]
    if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
    {
        // Written to stderr itself, past libtest's capture, so the skip shows in every run.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED avx2_paths_agree_with_tfhe_rs: this CPU has no AVX2 + FMA, the tier cannot run here"
        );
        return;
    }
    std::env::set_var("GLOVEBOX_SIMD", "avx2");
    assert_eq!(simd_level(), SimdLevel::Avx2);
    common::exact_paths_agree_with_tfhe_rs();
    common::fft_backend_decrypts_to_f_of_m();
}
