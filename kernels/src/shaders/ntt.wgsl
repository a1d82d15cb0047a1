// The negacyclic NTT over p on one polynomial held in workgroup memory (`poly`, N words),
// the same butterfly networks as glovebox_engine::ntt (Longa-Naehrig Algorithms 1 and 2), so
// the outputs agree word for word. `twiddles` holds psi^bitrev(i) at [0, N) and
// psi^-bitrev(i) at [N, 2N). Needs from the including module: N, LOG_N, WG, `poly`,
// `twiddles`.
//
// Why workgroup memory and WG threads: one polynomial of N = 2048 words is 16 KiB, which fits
// the workgroup memory of every Vulkan/Metal/DX12 device (>= 16 KiB guaranteed, 48 KiB on
// NVIDIA); the 11 stages then cost 11 barriers and no global-memory round trip. Each of the
// WG threads runs N / (2 WG) butterflies per stage (4 for N = 2048, WG = 256): enough
// independent work per thread to hide the latency of the 64-bit multiply emulation, and 256
// threads = 8 warps per workgroup so an SM keeps several polynomials (jobs) in flight.

// Forward transform, in place: natural order in, bit-reversed out. Call in uniform control
// flow after a barrier that published `poly`; returns after a barrier.
fn ntt_forward_shared(t: u32) {
    var half = N >> 1u;
    var log_half = LOG_N - 1u;
    var m = 1u;
    for (var s = 0u; s < LOG_N; s = s + 1u) {
        for (var b = t; b < (N >> 1u); b = b + WG) {
            let i = b >> log_half;
            let j = b & (half - 1u);
            let idx = (i << (log_half + 1u)) + j;
            let w = twiddles[m + i];
            let u = poly[idx];
            let v = mp_mul(poly[idx + half], w);
            poly[idx] = mp_add(u, v);
            poly[idx + half] = mp_sub(u, v);
        }
        workgroupBarrier();
        m = m << 1u;
        half = half >> 1u;
        log_half = log_half - 1u;
    }
}

// Inverse transform without the final scaling by N^-1, in place: bit-reversed in, natural
// out. Same calling rules as `ntt_forward_shared`.
fn ntt_inverse_shared(t: u32) {
    var half = 1u;
    var log_half = 0u;
    var h = N >> 1u;
    for (var s = 0u; s < LOG_N; s = s + 1u) {
        for (var b = t; b < (N >> 1u); b = b + WG) {
            let i = b >> log_half;
            let j = b & (half - 1u);
            let idx = (i << (log_half + 1u)) + j;
            let w = twiddles[N + h + i];
            let u = poly[idx];
            let v = poly[idx + half];
            poly[idx] = mp_add(u, v);
            poly[idx + half] = mp_mul(mp_sub(u, v), w);
        }
        workgroupBarrier();
        half = half << 1u;
        log_half = log_half + 1u;
        h = h >> 1u;
    }
}
