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
