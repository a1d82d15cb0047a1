//! Criterion benchmarks of Glovebox beside TFHE-rs: see `benches/ks_pbs.rs`.
