//! Programmable bootstrapping and the keyswitch-then-bootstrap sequence of TFHE-rs's
//! shortint `apply_lookup_table`.

use super::blind_rotation::{blind_rotate_assign, extract_lwe_sample_at_into};
use super::external_product::ExternalProductScratch;
use super::keyswitch::keyswitch_lwe_ciphertext;
use super::modulus_switch::lwe_modulus_switch;
use crate::entities::*;
use crate::error::{check_dim, Error, Result};
use crate::ntt;
use crate::parameters::ModulusSwitchType;

/// PBS of `input` (under the small key) with the accumulator `lut`: modulus switch to 2N,
/// blind rotation, extraction of the constant coefficient. The output is under the GLWE key
/// read as an LWE key (dimension k·N).
///
/// With [`ModulusSwitchType::Standard`] this is, word for word, TFHE-rs's
/// `programmable_bootstrap_ntt64_bnf_lwe_ciphertext`.
pub fn programmable_bootstrap_lwe_ciphertext(
    input: &LweCiphertext,
    lut: &GlweCiphertext,
    bsk: &NttLweBootstrapKey,
    modulus_switch: ModulusSwitchType,
) -> Result<LweCiphertext> {
    let mut outs = programmable_bootstrap_lwe_ciphertext_at(input, lut, bsk, modulus_switch, &[0])?;
    Ok(outs.swap_remove(0))
}

/// PBS that samples the rotated accumulator at each of `indices` (each < N): one blind
/// rotation, one output per index (tables that hold several functions; index 0 alone is
/// [`programmable_bootstrap_lwe_ciphertext`]).
pub fn programmable_bootstrap_lwe_ciphertext_at(
    input: &LweCiphertext,
    lut: &GlweCiphertext,
    bsk: &NttLweBootstrapKey,
    modulus_switch: ModulusSwitchType,
    indices: &[usize],
) -> Result<Vec<LweCiphertext>> {
    check_dim(
        "PBS input LWE dimension",
        bsk.input_lwe_dimension().0,
        input.lwe_dimension().0,
    )?;
    check_dim(
        "lookup table polynomial size",
        bsk.polynomial_size().0,
        lut.polynomial_size().0,
    )?;
    check_dim(
        "lookup table GLWE size",
        bsk.glwe_size().0,
        lut.glwe_size().0,
    )?;
    let n = bsk.polynomial_size().0;
    if let Some(&index) = indices.iter().find(|&&i| i >= n) {
        return Err(Error::InvalidParameters(format!(
            "sample index {index} is not below N = {n}"
        )));
    }
    let plan = ntt::plan_for(n)?;
    let msed = lwe_modulus_switch(input, bsk.polynomial_size().log2_2n(), modulus_switch);
    let mut acc = lut.as_slice().to_vec();
    let mut scratch = ExternalProductScratch::new(bsk.glwe_size().0, n);
    blind_rotate_assign(&mut acc, &msed, bsk, &plan, &mut scratch);
    let k = bsk.glwe_size().0 - 1;
    indices
        .iter()
        .map(|&index| {
            let mut out = vec![0u64; k * n + 1];
            extract_lwe_sample_at_into(&mut out, &acc, n, index);
            LweCiphertext::from_container(out)
        })
        .collect()
}

/// Keyswitch (big key → small key) then PBS: what TFHE-rs's shortint `apply_lookup_table`
/// does for parameters with `EncryptionKeyChoice::Big`.
pub fn keyswitch_then_bootstrap(
    input: &LweCiphertext,
    lut: &GlweCiphertext,
    ksk: &LweKeyswitchKey,
    bsk: &NttLweBootstrapKey,
    modulus_switch: ModulusSwitchType,
) -> Result<LweCiphertext> {
    let small = keyswitch_lwe_ciphertext(ksk, input)?;
    programmable_bootstrap_lwe_ciphertext(&small, lut, bsk, modulus_switch)
}
