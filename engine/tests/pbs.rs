//! PBS correctness through keyswitch + PBS, on the real default parameters and on the test
//! set, single and batched.

use glovebox_engine::prelude::*;

fn check_luts(params: &Parameters) {
    let client = ClientKey::new(params).unwrap();
    let server = client.server_key().unwrap();
    let luts: Vec<(&str, Box<dyn Fn(u64) -> u64>)> = vec![
        ("identity", Box::new(|x| x)),
        ("square mod 4", Box::new(|x| x * x % 4)),
        ("threshold x >= 2", Box::new(|x| (x >= 2) as u64)),
    ];
    for (name, f) in &luts {
        let lut = server.generate_lookup_table(f);
        for m in 0..4u64 {
            let ct = client.encrypt(m).unwrap();
            let out = server.apply_lookup_table(&ct, &lut).unwrap();
            assert_eq!(
                client.decrypt(&out).unwrap(),
                f(m),
                "{}: {name}({m})",
                params.name
            );
        }
    }
}

#[test]
fn pbs_default_parameters_every_message_several_luts() {
    check_luts(&PARAM_MESSAGE_2_CARRY_2_KS_PBS);
}

#[test]
fn pbs_hpu_parameters_every_message_several_luts() {
    check_luts(&V1_8_HPU_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128);
}

#[test]
fn pbs_test_parameters_full_message_and_carry_space() {
    let params = TEST_PARAMS_INSECURE;
    let client = ClientKey::new(&params).unwrap();
    let server = client.server_key().unwrap();
    // The padding bit leaves 16 values: a LUT over all of them, reading message and carry.
    let lut = server.generate_lookup_table(|x| (3 * x + 1) % 16);
    for m in 0..16u64 {
        let out = server
            .apply_lookup_table(&client.encrypt(m).unwrap(), &lut)
            .unwrap();
        assert_eq!(
            client.decrypt_message_and_carry(&out).unwrap(),
            (3 * m + 1) % 16
        );
    }
}

#[test]
fn batched_backend_equals_single_pbs_word_for_word() {
    for params in [&TEST_PARAMS_INSECURE, &PARAM_MESSAGE_2_CARRY_2_KS_PBS] {
        let client = ClientKey::new(params).unwrap();
        let server = client.server_key().unwrap();
        let backend = CpuBackend::new();
        let resident = server.upload(&backend).unwrap();
        let luts = [
            server.generate_lookup_table(|x| x),
            server.generate_lookup_table(|x| 3 - x % 4),
        ];
        for batch in [1usize, 7] {
            let msgs: Vec<u64> = (0..batch as u64).map(|i| (i * 5 + 1) % 4).collect();
            let cts: Vec<Ciphertext> = msgs.iter().map(|&m| client.encrypt(m).unwrap()).collect();
            let lut_refs: Vec<&LookupTable> = (0..batch).map(|i| &luts[i % 2]).collect();
            let ct_refs: Vec<&Ciphertext> = cts.iter().collect();
            let outs = resident
                .apply_lookup_table_batch(&ct_refs, &lut_refs)
                .unwrap();
            for i in 0..batch {
                let single = server.apply_lookup_table(&cts[i], lut_refs[i]).unwrap();
                assert_eq!(outs[i], single, "{} batch {batch} job {i}", params.name);
                let want = if i % 2 == 0 { msgs[i] } else { 3 - msgs[i] };
                assert_eq!(client.decrypt(&outs[i]).unwrap(), want);
            }
        }
    }
}

/// Many-function tables through the batched path: every job yields one ciphertext per
/// function (the batch path once sampled coefficient 0 only, dropping the others), equal word
/// for word to the single-ciphertext path, mixed with one-function tables in one batch.
#[test]
fn batched_many_function_tables_yield_every_output_word_for_word() {
    for params in [&TEST_PARAMS_INSECURE, &PARAM_MESSAGE_2_CARRY_2_KS_PBS] {
        let client = ClientKey::new(params).unwrap();
        let server = client.server_key().unwrap();
        let backend = CpuBackend::new();
        let resident = server.upload(&backend).unwrap();
        let fns: [&dyn Fn(u64) -> u64; 3] = [&|x| x, &|x| 3 - x.min(3), &|x| (x % 2) * 3];
        let many = server.generate_many_lookup_table(&fns).unwrap();
        assert_eq!(many.function_count(), 3);
        let one = server.generate_lookup_table(|x| (x >= 2) as u64);
        // Inputs below 16 / 3 = 5.
        let msgs: Vec<u64> = (0..7).map(|i| i % 5).collect();
        let cts: Vec<Ciphertext> = msgs.iter().map(|&m| client.encrypt(m).unwrap()).collect();
        let ct_refs: Vec<&Ciphertext> = cts.iter().collect();
        let outs = resident
            .apply_many_lookup_table_batch(&ct_refs, &vec![&many; cts.len()])
            .unwrap();
        for (i, (out, &m)) in outs.iter().zip(&msgs).enumerate() {
            assert_eq!(
                out.len(),
                3,
                "{} job {i}: one output per function",
                params.name
            );
            let got: Vec<u64> = out.iter().map(|o| client.decrypt(o).unwrap()).collect();
            let want: Vec<u64> = fns.iter().map(|f| f(m) % 4).collect();
            assert_eq!(got, want, "{} job {i}, m = {m}", params.name);
            let single = server.apply_many_lookup_table(&cts[i], &many).unwrap();
            assert_eq!(*out, single, "{} job {i}", params.name);
        }
        // One- and many-function tables in one batch.
        let tables: Vec<&dyn BootstrapTable> = (0..cts.len())
            .map(|i| {
                if i % 2 == 0 {
                    &many as &dyn BootstrapTable
                } else {
                    &one as &dyn BootstrapTable
                }
            })
            .collect();
        let mixed = resident.apply_tables_batch(&ct_refs, &tables).unwrap();
        for (i, out) in mixed.iter().enumerate() {
            if i % 2 == 0 {
                assert_eq!(*out, outs[i]);
            } else {
                assert_eq!(out.len(), 1);
                assert_eq!(out[0], server.apply_lookup_table(&cts[i], &one).unwrap());
            }
        }
    }
}

/// The batched path's input checks are the single path's: a table for other parameters, or
/// one that samples past N, is a typed error before any bootstrap.
#[test]
fn batched_tables_are_checked() {
    let client = ClientKey::new(&TEST_PARAMS_INSECURE).unwrap();
    let server = client.server_key().unwrap();
    let backend = CpuBackend::new();
    let resident = server.upload(&backend).unwrap();
    let ct = client.encrypt(1).unwrap();
    let mut bad = server
        .generate_many_lookup_table(&[&|x| x, &|x| x + 1])
        .unwrap();
    bad.outputs[1] = TEST_PARAMS_INSECURE.polynomial_size.0;
    assert!(matches!(
        resident.apply_many_lookup_table_batch(&[&ct], &[&bad]),
        Err(Error::InvalidParameters(_))
    ));
    assert!(matches!(
        server.apply_many_lookup_table(&ct, &bad),
        Err(Error::InvalidParameters(_))
    ));
    let mut foreign = server.generate_lookup_table(|x| x);
    foreign.parameters_fingerprint ^= 1;
    assert!(matches!(
        resident.apply_lookup_table_batch(&[&ct], &[&foreign]),
        Err(Error::ParameterMismatch { .. })
    ));
    assert!(matches!(
        server.apply_lookup_table(&ct, &foreign),
        Err(Error::ParameterMismatch { .. })
    ));
}
