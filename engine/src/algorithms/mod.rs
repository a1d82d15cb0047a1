//! Algorithms: free functions over the entities.
pub mod blind_rotation;
pub mod compact_pke;
pub mod encryption;
pub mod external_product;
pub mod fourier;
pub mod key_generation;
pub mod keyswitch;
pub mod lookup_table;
pub mod modulus_switch;
pub mod pbs;
pub mod polynomial;

pub use blind_rotation::{
    blind_rotate_assign, extract_lwe_sample_at_into, extract_lwe_sample_into,
};
pub use encryption::{
    decrypt_lwe_ciphertext, encrypt_constant_ggsw_ciphertext, encrypt_lwe_ciphertext,
    PreparedGlweKey,
};
pub use external_product::{
    add_external_product_assign, cmux_rotate_assign, ExternalProductScratch,
};
pub use key_generation::{
    convert_standard_lwe_bootstrap_key_to_ntt, generate_lwe_bootstrap_key,
    generate_lwe_keyswitch_key, generate_seeded_lwe_bootstrap_key,
    generate_seeded_lwe_keyswitch_key,
};
pub use keyswitch::keyswitch_lwe_ciphertext;
pub use lookup_table::generate_lookup_table;
pub use modulus_switch::{lwe_modulus_switch, modulus_switch};
pub use pbs::{
    keyswitch_then_bootstrap, programmable_bootstrap_lwe_ciphertext,
    programmable_bootstrap_lwe_ciphertext_at,
};
