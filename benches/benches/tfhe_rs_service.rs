//! The figure a TFHE-rs service decides by: 64 keyswitch + bootstraps on keys and ciphertexts
//! made by TFHE-rs (its default high-level configuration, `PARAM_MESSAGE_2_CARRY_2_KS_PBS_
//! TUNIFORM_2M128`), on all cores, in one run:
//! - `tfhe-rs-fft64`: TFHE-rs's `apply_lookup_table` over rayon (`par_iter`), its server key
//!   decompressed from the client's `CompressedServerKey`;
//! - `glovebox-cpu-fft`: the same TFHE-rs ciphertexts and table through Glovebox's batches
//!   (`interop::TfheRsResidentKey::apply_lookup_table_to_all`), the key imported from the same
//!   `CompressedServerKey` with no secret key;
//! - `glovebox-c-abi`: the same batch through the C ABI (`gb_server_key_load` of the key's
//!   `safe_serialize` bytes, `gb_bootstrap` on the ciphertexts' LWE words), called from Rust
//!   exactly as C calls it.
//!
//! Every row's outputs are decrypted by the TFHE-rs client key once, outside the timing.
//!
//! Run: `cargo bench -p glovebox-benches --bench tfhe_rs_service`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use glovebox_capi::*;
use glovebox_engine::interop::TfheRsServerKey;
use glovebox_engine::prelude::CpuFftBackend;
use rayon::prelude::*;
use std::ptr;
use std::time::Duration;

const BATCH: usize = 64;

fn tfhe_rs_service(c: &mut Criterion) {
    // Client side, as TFHE-rs documents it.
    let config = tfhe::ConfigBuilder::default().build();
    let client = tfhe::ClientKey::generate(config);
    let compressed = tfhe::CompressedServerKey::new(&client);
    let mut bytes = Vec::new();
    tfhe::safe_serialization::safe_serialize(&compressed, &mut bytes, 1 << 30).unwrap();
    let (integer_client, ..) = client.clone().into_raw_parts();
    let shortint_client: &tfhe::shortint::ClientKey = integer_client.as_ref();
    let f = |x: u64| (x * x + 1) % 4;
    let messages: Vec<u64> = (0..BATCH as u64).map(|i| i % 4).collect();
    let cts: Vec<tfhe::shortint::Ciphertext> = messages
        .iter()
        .map(|&m| shortint_client.encrypt(m))
        .collect();
    let check = |outs: &[tfhe::shortint::Ciphertext], row: &str| {
        for (o, &m) in outs.iter().zip(&messages) {
            assert_eq!(shortint_client.decrypt(o), f(m), "{row}");
        }
    };

    let mut g = c.benchmark_group("tfhe_rs_service_batch64");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(BATCH as u64));

    // TFHE-rs on its own.
    let (integer_server, ..) = compressed.decompress().into_raw_parts();
    let sks: &tfhe::shortint::ServerKey = integer_server.as_ref();
    let tlut = sks.generate_lookup_table(f);
    let run_tfhe = || -> Vec<_> {
        cts.par_iter()
            .map(|ct| sks.apply_lookup_table(ct, &tlut))
            .collect()
    };
    check(&run_tfhe(), "tfhe-rs-fft64");
    g.bench_function("tfhe-rs-fft64", |b| b.iter(run_tfhe));

    // Glovebox through the TFHE-rs module.
    let key = TfheRsServerKey::from_high_level(&compressed).unwrap();
    let backend = CpuFftBackend::new();
    let resident = key.upload(&backend).unwrap();
    let lut = resident.generate_lookup_table(f);
    let refs: Vec<&tfhe::shortint::Ciphertext> = cts.iter().collect();
    check(
        &resident.apply_lookup_table_to_all(&refs, &lut).unwrap(),
        "glovebox-cpu-fft",
    );
    g.bench_function("glovebox-cpu-fft", |b| {
        b.iter(|| resident.apply_lookup_table_to_all(&refs, &lut).unwrap())
    });

    // Glovebox through the C ABI.
    unsafe {
        let mut gkey = ptr::null_mut();
        assert_eq!(
            gb_server_key_load(bytes.as_ptr(), bytes.len(), &mut gkey),
            GbStatus::GbOk
        );
        let mut info = std::mem::zeroed::<GbKeyInfo>();
        assert_eq!(gb_server_key_info(gkey, &mut info), GbStatus::GbOk);
        let mut gbackend = ptr::null_mut();
        assert_eq!(
            gb_backend_new(c"cpu-fft".as_ptr(), &mut gbackend),
            GbStatus::GbOk
        );
        let mut boot = ptr::null_mut();
        assert_eq!(
            gb_bootstrapper_new(gkey, gbackend, &mut boot),
            GbStatus::GbOk
        );
        let space = info.message_modulus * info.carry_modulus;
        let values: Vec<u64> = (0..space).map(|x| f(x) % space).collect();
        let mut table = ptr::null_mut();
        assert_eq!(
            gb_lookup_table_new(gkey, values.as_ptr(), values.len(), &mut table),
            GbStatus::GbOk
        );
        let tables = [table as *const GbLookupTable];
        let input: Vec<u64> = cts
            .iter()
            .flat_map(|c| c.ct.as_ref().iter().copied())
            .collect();
        let mut output = vec![0u64; input.len()];
        let run_c = |output: &mut [u64]| {
            let status = gb_bootstrap(
                boot,
                tables.as_ptr(),
                1,
                input.as_ptr(),
                output.as_mut_ptr(),
                BATCH,
            );
            assert_eq!(status, GbStatus::GbOk);
        };
        run_c(&mut output);
        let outs: Vec<tfhe::shortint::Ciphertext> = output
            .chunks_exact(info.lwe_size)
            .zip(&cts)
            .map(|(w, template)| {
                let mut ct = template.clone();
                ct.ct.as_mut().copy_from_slice(w);
                ct
            })
            .collect();
        check(&outs, "glovebox-c-abi");
        g.bench_function("glovebox-c-abi", |b| b.iter(|| run_c(&mut output)));
        gb_lookup_table_free(table);
        gb_bootstrapper_free(boot);
        gb_backend_free(gbackend);
        gb_server_key_free(gkey);
    }
    g.finish();
}

criterion_group!(benches, tfhe_rs_service);
criterion_main!(benches);
