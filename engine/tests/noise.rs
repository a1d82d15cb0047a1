//! The variance of the PBS output error, measured over 1,024 bootstraps on the default
//! parameters, against the variance the noise formula predicts.

use glovebox_engine::noise::pbs_output_variance;
use glovebox_engine::prelude::*;

#[test]
fn pbs_output_variance_matches_the_prediction() {
    let params = PARAM_MESSAGE_2_CARRY_2_KS_PBS;
    let client = ClientKey::new(&params).unwrap();
    let server = client.server_key().unwrap();
    let backend = CpuBackend::new();
    let resident = server.upload(&backend).unwrap();
    let identity = server.generate_lookup_table(|x| x);
    let total = 1024;
    let batch = 128;
    let mut errors = Vec::with_capacity(total);
    for chunk in 0..total / batch {
        let msgs: Vec<u64> = (0..batch as u64).map(|i| (i + chunk as u64) % 4).collect();
        let cts: Vec<Ciphertext> = msgs.iter().map(|&m| client.encrypt(m).unwrap()).collect();
        let refs: Vec<&Ciphertext> = cts.iter().collect();
        let luts = vec![&identity; batch];
        let outs = resident.apply_lookup_table_batch(&refs, &luts).unwrap();
        for (out, &m) in outs.iter().zip(&msgs) {
            errors.push(client.decryption_error(out, m).unwrap() as f64);
        }
    }
    let mean = errors.iter().sum::<f64>() / total as f64;
    let measured = errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (total - 1) as f64;
    let predicted = pbs_output_variance(&params);
    let ratio = measured / predicted;
    println!(
        "PBS output noise over {total} bootstraps: measured variance {measured:.4e} (σ = 2^{:.3}), \
         predicted {predicted:.4e} (σ = 2^{:.3}), ratio {ratio:.3}, mean {mean:.3e}",
        measured.sqrt().log2(),
        predicted.sqrt().log2()
    );
    // 1,024 samples give the variance to about ±4.4% (one standard deviation).
    assert!(
        ratio < 1.15,
        "measured variance above the predicted bound: ratio {ratio}"
    );
    assert!(
        ratio > 0.5,
        "measured variance implausibly low: ratio {ratio}"
    );
    assert!(mean.abs() < 4.0 * predicted.sqrt() / (total as f64).sqrt());
}
