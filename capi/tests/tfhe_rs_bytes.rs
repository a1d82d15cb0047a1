//! The C ABI on a TFHE-rs service's bytes: a high-level `CompressedServerKey` safe-serialized by
//! TFHE-rs loads through `gb_server_key_load`, and the blocks of `FheUint8`s encrypted by the
//! TFHE-rs `ClientKey` (their LWE words as they are) bootstrap through `gb_bootstrap` and decrypt
//! under that key. The C ABI called from Rust, exactly as C calls it.

use glovebox_capi::*;
use std::ptr;
use tfhe::prelude::*;

#[test]
fn tfhe_rs_safe_serialized_key_and_radix_blocks_through_the_c_abi() {
    let params = glovebox_engine::interop::tfhe_classic_parameters(
        &glovebox_engine::parameters::TEST_PARAMS_INSECURE,
    )
    .unwrap();
    let client = tfhe::ClientKey::generate(tfhe::ConfigBuilder::with_custom_parameters(params));
    let mut bytes = Vec::new();
    tfhe::safe_serialization::safe_serialize(
        &tfhe::CompressedServerKey::new(&client),
        &mut bytes,
        1 << 30,
    )
    .unwrap();

    unsafe {
        let mut key = ptr::null_mut();
        assert_eq!(
            gb_server_key_load(bytes.as_ptr(), bytes.len(), &mut key),
            GbStatus::GbOk
        );
        let mut info = std::mem::zeroed::<GbKeyInfo>();
        assert_eq!(gb_server_key_info(key, &mut info), GbStatus::GbOk);
        let mut backend = ptr::null_mut();
        assert_eq!(
            gb_backend_new(c"cpu-fft".as_ptr(), &mut backend),
            GbStatus::GbOk
        );
        let mut boot = ptr::null_mut();
        assert_eq!(gb_bootstrapper_new(key, backend, &mut boot), GbStatus::GbOk);
        let space = (info.message_modulus * info.carry_modulus) as usize;
        // Each 2-bit block x -> 3 - x.
        let values: Vec<u64> = (0..space as u64).map(|x| (3 + 4 * 4 - x) % 4).collect();
        let mut table = ptr::null_mut();
        assert_eq!(
            gb_lookup_table_new(key, values.as_ptr(), values.len(), &mut table),
            GbStatus::GbOk
        );

        let clear = [0u8, 1, 77, 200, 255];
        let radixes: Vec<tfhe::integer::RadixCiphertext> = clear
            .iter()
            .map(|&v| tfhe::FheUint8::encrypt(v, &client).into_raw_parts().0)
            .collect();
        use tfhe::integer::IntegerCiphertext;
        let input: Vec<u64> = radixes
            .iter()
            .flat_map(|r| {
                r.blocks()
                    .iter()
                    .flat_map(|b| b.ct.as_ref().iter().copied())
            })
            .collect();
        let count = input.len() / info.lwe_size;
        let mut output = vec![0u64; input.len()];
        let tables = [table as *const GbLookupTable];
        assert_eq!(
            gb_bootstrap(
                boot,
                tables.as_ptr(),
                1,
                input.as_ptr(),
                output.as_mut_ptr(),
                count
            ),
            GbStatus::GbOk
        );
        let mut words = output.chunks_exact(info.lwe_size);
        for (mut radix, &v) in radixes.into_iter().zip(&clear) {
            for block in radix.blocks_mut() {
                block
                    .ct
                    .as_mut()
                    .copy_from_slice(words.next().expect("one output per block"));
            }
            let back = tfhe::FheUint8::from_raw_parts(
                radix,
                tfhe::FheUint8Id,
                Default::default(),
                Default::default(),
            );
            let got: u8 = back.decrypt(&client);
            assert_eq!(
                got, !v,
                "{v}: every 2-bit block x -> 3 - x is the bitwise not"
            );
        }

        gb_lookup_table_free(table);
        gb_bootstrapper_free(boot);
        gb_backend_free(backend);
        gb_server_key_free(key);
    }
}
