//! The WGSL sources, and the constant headers that specialize them to one parameter shape:
//! every loop bound is a compile-time constant, so the shader compiler unrolls the per-thread
//! loops and keeps the per-thread arrays in registers.

use std::fmt::Write;

pub(crate) const MODP: &str = include_str!("shaders/modp.wgsl");
pub(crate) const NTT: &str = include_str!("shaders/ntt.wgsl");
pub(crate) const NTT_BATCH: &str = include_str!("shaders/ntt_batch.wgsl");
pub(crate) const BLIND_ROTATE: &str = include_str!("shaders/blind_rotate.wgsl");
pub(crate) const KEYSWITCH: &str = include_str!("shaders/keyswitch.wgsl");

/// Threads per workgroup for polynomials of `n` coefficients: 8 coefficients per thread up to
/// 256 threads (N = 2048), then more coefficients per thread. See `shaders/ntt.wgsl` for why.
pub(crate) fn workgroup_size(n: usize) -> usize {
    (n / 8).min(256)
}

/// `const NAME: u32 = value;` lines.
pub(crate) fn header(constants: &[(&str, u64)]) -> String {
    let mut s = String::new();
    for (name, value) in constants {
        let _ = writeln!(s, "const {name}: u32 = {value}u;");
    }
    s
}

/// The NTT constants for size `n`.
pub(crate) fn ntt_constants(n: usize) -> Vec<(&'static str, u64)> {
    let wg = workgroup_size(n);
    vec![
        ("N", n as u64),
        ("LOG_N", n.trailing_zeros() as u64),
        ("WG", wg as u64),
        ("PER", (n / wg) as u64),
    ]
}

/// A whole module: header, then the sources in order.
pub(crate) fn assemble(header: &str, sources: &[&str]) -> String {
    let mut s = String::from(header);
    for src in sources {
        s.push('\n');
        s.push_str(src);
    }
    s
}
