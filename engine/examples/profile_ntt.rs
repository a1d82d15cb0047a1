//! Forward NTTs of size 2048 in a loop, for profilers:
//! `cargo run --release -p glovebox-engine --example profile_ntt -- 100000`.
fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let plan = glovebox_engine::ntt::Plan::try_new(2048).unwrap();
    let mut d: Vec<u64> = (0..2048u64).map(|i| i * 0x9E37_79B9).collect();
    let t = std::time::Instant::now();
    for _ in 0..count {
        plan.fwd(&mut d);
    }
    println!(
        "{} kernel: {:.3} µs per forward NTT (N = 2048)",
        plan.kernel_name(),
        t.elapsed().as_secs_f64() * 1e6 / count as f64
    );
}
