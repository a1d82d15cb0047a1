//! LWE keyswitch (TFHE-rs `keyswitch_lwe_ciphertext`, bit for bit):
//! `out = (0, …, 0, b) − Σ_i Σ_j d_{i,j} · KSK_{i,j}` with `d_{i,·}` the signed decomposition of
//! input mask element `a_i`. With an output modulus 2^w < 2^64 the body is first rounded to
//! the top `w` bits.

use crate::commons::decomposition::SignedDecomposer;
use crate::entities::{LweCiphertext, LweKeyswitchKey};
use crate::error::{check_dim, Result};

/// Keyswitches `input` with `ksk`.
pub fn keyswitch_lwe_ciphertext(
    ksk: &LweKeyswitchKey,
    input: &LweCiphertext,
) -> Result<LweCiphertext> {
    check_dim(
        "keyswitch input LWE dimension",
        ksk.input_lwe_dimension().0,
        input.lwe_dimension().0,
    )?;
    let mut out = vec![0u64; ksk.output_lwe_dimension().0 + 1];
    keyswitch_into(&mut out, ksk, input.as_slice());
    LweCiphertext::from_container(out)
}

/// The body of `input` as the keyswitch output starts it.
pub(crate) fn initial_body(ksk: &LweKeyswitchKey, body: u64) -> u64 {
    let w = ksk.output_modulus_log();
    if w == 64 {
        body
    } else {
        SignedDecomposer::new(
            crate::commons::dimensions::DecompositionBaseLog(w as usize),
            crate::commons::dimensions::DecompositionLevelCount(1),
        )
        .closest_representable(body)
    }
}

/// Keyswitch of one ciphertext (`input` has n_in + 1 words, `out` n_out + 1), dimensions
/// already checked.
pub(crate) fn keyswitch_into(out: &mut [u64], ksk: &LweKeyswitchKey, input: &[u64]) {
    let n_in = ksk.input_lwe_dimension().0;
    let out_size = out.len();
    out.fill(0);
    out[out_size - 1] = initial_body(ksk, input[n_in]);
    let decomposer = SignedDecomposer::new(
        ksk.decomposition_base_log(),
        ksk.decomposition_level_count(),
    );
    for (i, &a) in input[..n_in].iter().enumerate() {
        let mut state = decomposer.init_state(a);
        for row in ksk.block(i).chunks_exact(out_size) {
            let d = decomposer.next_digit(&mut state);
            if d != 0 {
                sub_scaled_assign(out, row, d);
            }
        }
    }
}

crate::multiversion! {
    /// `out −= scalar · row`, wrapping.
    pub(crate) fn sub_scaled_assign(out: &mut [u64], row: &[u64], scalar: u64) {
        for (o, k) in out.iter_mut().zip(row) {
            *o = o.wrapping_sub(k.wrapping_mul(scalar));
        }
    }
}
