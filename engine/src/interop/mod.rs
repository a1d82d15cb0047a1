//! TFHE-rs 1.8 interop (feature `tfhe-interop`): conversion of keys and ciphertexts, container
//! for container (the layouts are the same; only the wrappers change); TFHE-rs compressed
//! server keys imported with no secret key ([`TfheRsServerKey`]); TFHE-rs ciphertexts and
//! lookup tables through Glovebox's batches ([`TfheRsResidentKey`]).
//!
//! TFHE-rs objects on a non-native modulus are accepted only where Glovebox has the same
//! modulus (the native torus for everything, or a power of two for keyswitch keys); anything
//! else is a typed error, never a silent reinterpretation.

use crate::commons::dimensions as gb;
use crate::entities::*;
use crate::error::{Error, Result};
use crate::parameters::Parameters;
use crate::shortint;
use tfhe::core_crypto::prelude as tc;

mod batch;
mod server_key;

pub use batch::TfheRsResidentKey;
pub use server_key::{
    tfhe_classic_parameters, tfhe_ks32_parameters, TfheRsServerKey, SAFE_DESERIALIZATION_LIMIT,
};

pub(crate) fn require_native(what: &'static str, m: tc::CiphertextModulus<u64>) -> Result<()> {
    if m.is_native_modulus() {
        Ok(())
    } else {
        Err(Error::InvalidParameters(format!(
            "{what}: ciphertext modulus {m:?} is not the native 2^64 torus"
        )))
    }
}

pub fn lwe_secret_key_from_tfhe(key: &tc::LweSecretKey<Vec<u64>>) -> Result<LweSecretKey> {
    LweSecretKey::from_container(key.as_ref().to_vec())
}

pub fn lwe_secret_key_to_tfhe(key: &LweSecretKey) -> tc::LweSecretKey<Vec<u64>> {
    tc::LweSecretKey::from_container(key.as_slice().to_vec())
}

pub fn glwe_secret_key_from_tfhe(key: &tc::GlweSecretKey<Vec<u64>>) -> Result<GlweSecretKey> {
    GlweSecretKey::from_container(
        key.as_ref().to_vec(),
        gb::PolynomialSize(key.polynomial_size().0),
    )
}

pub fn glwe_secret_key_to_tfhe(key: &GlweSecretKey) -> tc::GlweSecretKey<Vec<u64>> {
    tc::GlweSecretKey::from_container(
        key.as_slice().to_vec(),
        tc::PolynomialSize(key.polynomial_size().0),
    )
}

pub fn lwe_ciphertext_from_tfhe(ct: &tc::LweCiphertext<Vec<u64>>) -> Result<LweCiphertext> {
    require_native("LWE ciphertext", ct.ciphertext_modulus())?;
    LweCiphertext::from_container(ct.as_ref().to_vec())
}

pub fn lwe_ciphertext_to_tfhe(ct: &LweCiphertext) -> tc::LweCiphertext<Vec<u64>> {
    tc::LweCiphertext::from_container(ct.as_slice().to_vec(), tc::CiphertextModulus::new_native())
}

pub fn glwe_ciphertext_to_tfhe(ct: &GlweCiphertext) -> tc::GlweCiphertext<Vec<u64>> {
    tc::GlweCiphertext::from_container(
        ct.as_slice().to_vec(),
        tc::PolynomialSize(ct.polynomial_size().0),
        tc::CiphertextModulus::new_native(),
    )
}

/// A standard-domain TFHE-rs bootstrapping key (e.g. from `par_generate_lwe_bootstrap_key`).
pub fn lwe_bootstrap_key_from_tfhe(bsk: &tc::LweBootstrapKey<Vec<u64>>) -> Result<LweBootstrapKey> {
    require_native("LWE bootstrap key", bsk.ciphertext_modulus())?;
    LweBootstrapKey::from_container(
        bsk.as_ref().to_vec(),
        gb::LweDimension(bsk.input_lwe_dimension().0),
        gb::GlweSize(bsk.glwe_size().0),
        gb::PolynomialSize(bsk.polynomial_size().0),
        gb::DecompositionBaseLog(bsk.decomposition_base_log().0),
        gb::DecompositionLevelCount(bsk.decomposition_level_count().0),
    )
}

pub fn lwe_bootstrap_key_to_tfhe(bsk: &LweBootstrapKey) -> tc::LweBootstrapKey<Vec<u64>> {
    tc::LweBootstrapKey::from_container(
        bsk.as_slice().to_vec(),
        tc::GlweSize(bsk.glwe_size().0),
        tc::PolynomialSize(bsk.polynomial_size().0),
        tc::DecompositionBaseLog(bsk.decomposition_base_log().0),
        tc::DecompositionLevelCount(bsk.decomposition_level_count().0),
        tc::CiphertextModulus::new_native(),
    )
}

pub fn lwe_keyswitch_key_from_tfhe(ksk: &tc::LweKeyswitchKey<Vec<u64>>) -> Result<LweKeyswitchKey> {
    let m = ksk.ciphertext_modulus();
    let output_modulus_log = if m.is_native_modulus() {
        64
    } else if m.is_power_of_two() {
        m.get_custom_modulus().ilog2()
    } else {
        return Err(Error::InvalidParameters(format!(
            "LWE keyswitch key: modulus {m:?} is not a power of two"
        )));
    };
    LweKeyswitchKey::from_container(
        ksk.as_ref().to_vec(),
        gb::LweDimension(ksk.input_key_lwe_dimension().0),
        gb::LweDimension(ksk.output_key_lwe_dimension().0),
        gb::DecompositionBaseLog(ksk.decomposition_base_log().0),
        gb::DecompositionLevelCount(ksk.decomposition_level_count().0),
        output_modulus_log,
    )
}

pub fn lwe_keyswitch_key_to_tfhe(ksk: &LweKeyswitchKey) -> Result<tc::LweKeyswitchKey<Vec<u64>>> {
    let modulus = if ksk.output_modulus_log() == 64 {
        tc::CiphertextModulus::new_native()
    } else {
        tc::CiphertextModulus::try_new_power_of_2(ksk.output_modulus_log() as usize)
            .map_err(|e| Error::InvalidParameters(format!("keyswitch modulus: {e:?}")))?
    };
    Ok(tc::LweKeyswitchKey::from_container(
        ksk.as_slice().to_vec(),
        tc::DecompositionBaseLog(ksk.decomposition_base_log().0),
        tc::DecompositionLevelCount(ksk.decomposition_level_count().0),
        tc::LweSize(ksk.output_lwe_dimension().0 + 1),
        modulus,
    ))
}

/// The secret keys of a TFHE-rs shortint `ClientKey` (standard atomic pattern), as a Glovebox
/// client key for `params` (which must have the same shapes).
pub fn client_key_from_tfhe_shortint(
    key: &tfhe::shortint::ClientKey,
    params: &Parameters,
) -> Result<shortint::ClientKey> {
    use tfhe::shortint::client_key::atomic_pattern::AtomicPatternClientKey;
    let AtomicPatternClientKey::Standard(ap) = &key.atomic_pattern else {
        return Err(Error::InvalidParameters(
            "only TFHE-rs's standard (KS-PBS, 64-bit) atomic pattern converts".into(),
        ));
    };
    let small = LweSecretKey::from_container(ap.small_lwe_secret_key().as_ref().to_vec())?;
    let big = ap.large_lwe_secret_key().as_ref().to_vec();
    let glwe = GlweSecretKey::from_container(big, params.polynomial_size)?;
    shortint::ClientKey::from_secret_keys(
        params,
        small,
        glwe,
        crate::commons::random::CsprngGenerator::from_os_entropy(),
    )
}

/// A Glovebox client key as a TFHE-rs shortint `ClientKey` (standard atomic pattern) for
/// `tfhe_params`, whose shapes must match the key's.
pub fn client_key_to_tfhe_shortint(
    key: &shortint::ClientKey,
    tfhe_params: tfhe::shortint::ClassicPBSParameters,
) -> Result<tfhe::shortint::ClientKey> {
    use tfhe::shortint::client_key::atomic_pattern::{
        AtomicPatternClientKey, StandardAtomicPatternClientKey,
    };
    let p = key.parameters();
    let check = crate::error::check_dim;
    check(
        "TFHE-rs LWE dimension",
        p.lwe_dimension.0,
        tfhe_params.lwe_dimension.0,
    )?;
    check(
        "TFHE-rs GLWE dimension",
        p.glwe_dimension.0,
        tfhe_params.glwe_dimension.0,
    )?;
    check(
        "TFHE-rs polynomial size",
        p.polynomial_size.0,
        tfhe_params.polynomial_size.0,
    )?;
    check(
        "TFHE-rs message modulus",
        p.message_modulus as usize,
        tfhe_params.message_modulus.0 as usize,
    )?;
    check(
        "TFHE-rs carry modulus",
        p.carry_modulus as usize,
        tfhe_params.carry_modulus.0 as usize,
    )?;
    let ap = StandardAtomicPatternClientKey::from_raw_parts(
        glwe_secret_key_to_tfhe(key.glwe_secret_key()),
        lwe_secret_key_to_tfhe(key.lwe_secret_key()),
        tfhe::shortint::PBSParameters::PBS(tfhe_params),
        None,
    );
    Ok(tfhe::shortint::ClientKey {
        atomic_pattern: AtomicPatternClientKey::Standard(ap),
    })
}

/// A TFHE-rs shortint ciphertext as a Glovebox ciphertext of `key`.
pub fn ciphertext_from_tfhe_shortint(
    ct: &tfhe::shortint::Ciphertext,
    key: &shortint::ClientKey,
) -> Result<shortint::Ciphertext> {
    let p = key.parameters();
    if ct.message_modulus.0 != p.message_modulus || ct.carry_modulus.0 != p.carry_modulus {
        return Err(Error::ParameterMismatch {
            expected: p.name.into(),
            got: format!(
                "TFHE-rs ciphertext with message modulus {} and carry modulus {}",
                ct.message_modulus.0, ct.carry_modulus.0
            ),
        });
    }
    let lwe = lwe_ciphertext_from_tfhe(&ct.ct)?;
    crate::error::check_dim(
        "ciphertext LWE dimension",
        p.big_lwe_dimension().0,
        lwe.lwe_dimension().0,
    )?;
    Ok(key.wrap(lwe))
}

/// A Glovebox ciphertext as a TFHE-rs shortint ciphertext (standard KS-PBS atomic pattern,
/// nominal noise, full degree).
pub fn ciphertext_to_tfhe_shortint(
    ct: &shortint::Ciphertext,
    params: &Parameters,
) -> tfhe::shortint::Ciphertext {
    use tfhe::shortint::ciphertext::{Degree, NoiseLevel};
    use tfhe::shortint::{AtomicPatternKind, CarryModulus, MessageModulus, PBSOrder};
    tfhe::shortint::Ciphertext::new(
        lwe_ciphertext_to_tfhe(&ct.ct),
        Degree::new(params.message_modulus - 1),
        NoiseLevel::NOMINAL,
        MessageModulus(params.message_modulus),
        CarryModulus(params.carry_modulus),
        AtomicPatternKind::Standard(PBSOrder::KeyswitchBootstrap),
    )
}

/// A TFHE-rs compact public key (`LweCompactPublicKey`, native modulus) as Glovebox's: the same
/// `[a, b]` words.
pub fn lwe_compact_public_key_from_tfhe(
    key: &tc::LweCompactPublicKey<Vec<u64>>,
) -> Result<LweCompactPublicKey> {
    require_native("compact public key", key.ciphertext_modulus())?;
    LweCompactPublicKey::from_container(key.as_ref().to_vec())
}

pub fn lwe_compact_public_key_to_tfhe(
    key: &LweCompactPublicKey,
) -> tc::LweCompactPublicKey<Vec<u64>> {
    tc::LweCompactPublicKey::from_container(
        key.as_slice().to_vec(),
        tc::CiphertextModulus::new_native(),
    )
}

/// A TFHE-rs compact ciphertext list (native modulus) as Glovebox's: the same masks and bodies.
pub fn lwe_compact_ciphertext_list_from_tfhe(
    list: &tc::LweCompactCiphertextList<Vec<u64>>,
) -> Result<LweCompactCiphertextList> {
    require_native("compact ciphertext list", list.ciphertext_modulus())?;
    LweCompactCiphertextList::from_container(
        list.as_ref().to_vec(),
        gb::LweDimension(list.lwe_size().to_lwe_dimension().0),
        list.lwe_ciphertext_count().0,
    )
}

pub fn lwe_compact_ciphertext_list_to_tfhe(
    list: &LweCompactCiphertextList,
) -> tc::LweCompactCiphertextList<Vec<u64>> {
    tc::LweCompactCiphertextList::from_container(
        list.as_slice().to_vec(),
        tc::LweSize(list.lwe_dimension().0 + 1),
        tc::LweCiphertextCount(list.count()),
        tc::CiphertextModulus::new_native(),
    )
}
