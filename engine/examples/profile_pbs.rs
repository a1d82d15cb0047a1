//! Runs keyswitch + PBS in a loop on the default parameters, for profilers:
//! `cargo run --release -p glovebox-engine --example profile_pbs -- 20`.
use glovebox_engine::prelude::*;

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let params = PARAM_MESSAGE_2_CARRY_2_KS_PBS;
    let client = ClientKey::new(&params).unwrap();
    let server = client.server_key().unwrap();
    let lut = server.generate_lookup_table(|x| x);
    let ct = client.encrypt(2).unwrap();
    server.ntt_bootstrap_key().unwrap();
    let t = std::time::Instant::now();
    for _ in 0..count {
        let out = server.apply_lookup_table(&ct, &lut).unwrap();
        assert_eq!(client.decrypt(&out).unwrap(), 2);
    }
    println!(
        "{:.2} ms per keyswitch + PBS",
        t.elapsed().as_secs_f64() * 1e3 / count as f64
    );
}
