//! The portable (non-SIMD) code paths, forced with `GLOVEBOX_PORTABLE` and
//! `GLOVEBOX_NTT_PORTABLE`, are bit-exact with TFHE-rs too, and the FFT backend's portable
//! loops keep its contract. This file is its own test binary (its own process), so the switch
//! is set before any engine code runs.

mod common;

#[test]
fn portable_paths_agree_with_tfhe_rs() {
    std::env::set_var("GLOVEBOX_PORTABLE", "1");
    std::env::set_var("GLOVEBOX_NTT_PORTABLE", "1");
    assert!(!glovebox_engine::commons::simd::has_avx512());
    assert_eq!(
        glovebox_engine::ntt::plan_for(512).unwrap().kernel_name(),
        "scalar"
    );
    common::exact_paths_agree_with_tfhe_rs();
    common::fft_backend_decrypts_to_f_of_m();
}
