// The negacyclic NTT over p on one polynomial held in workgroup memory (`poly`, N words),
// the same butterfly networks as glovebox_engine::ntt (Longa-Naehrig Algorithms 1 and 2), so
// the outputs agree word for word. `twiddles` holds psi^bitrev(i) at [0, N) and
// psi^-bitrev(i) at [N, 2N). Needs from the including module: N, LOG_N, WG, `poly`,
// `twiddles`.
//
// Why workgroup memory and WG threads: one polynomial of N = 2048 words is 16 KiB, which fits
// the workgroup memory of every Vulkan/Metal/DX12 device (>= 16 KiB guaranteed, 48 KiB on
// NVIDIA), so the stages never go back to global memory. Each of the WG threads owns
// N / (4 WG) radix-4 units per pass (2 for N = 2048, WG = 256): independent work to hide the
// latency of the emulated 64-bit multiplies, few enough words (8) to stay in registers, and
// 256 threads = 8 warps per workgroup so an SM keeps several jobs (polynomials) in flight.
// Larger N keeps 256 threads and gives each more units; N > 4096 needs more workgroup memory
// than most devices offer and is refused with an error naming both sizes.

// The stages run two at a time: a thread loads four words, runs the 2 x 2 butterflies of
// two consecutive stages in registers and stores them back, so a transform of N = 2048 takes 6
// barriers (5 radix-4 passes and one radix-2 stage) instead of 11, and half the workgroup-
// memory traffic. The butterflies and twiddles are exactly those of the radix-2 network.

// Stages s and s + 1 of the forward network (s + 1 < LOG_N).
fn forward_radix4_pass(t: u32, s: u32) {
    let m = 1u << s;
    let log_q = LOG_N - s - 2u;
    let q = 1u << log_q;
    for (var u = t; u < (N >> 2u); u = u + WG) {
        let i = u >> log_q;
        let j = u & (q - 1u);
        let a0 = (i << (log_q + 2u)) + j;
        let w = twiddles[m + i];
        let x0 = poly[a0];
        let x1 = poly[a0 + q];
        let v2 = mp_mul(poly[a0 + 2u * q], w);
        let v3 = mp_mul(poly[a0 + 3u * q], w);
        // Stage s: (a0, a2), (a1, a3) with psi[m + i].
        let y0 = mp_add(x0, v2);
        let y2 = mp_sub(x0, v2);
        let y1 = mp_add(x1, v3);
        let y3 = mp_sub(x1, v3);
        // Stage s + 1: (a0, a1) with psi[2m + 2i], (a2, a3) with psi[2m + 2i + 1].
        let z1 = mp_mul(y1, twiddles[2u * m + 2u * i]);
        let z3 = mp_mul(y3, twiddles[2u * m + 2u * i + 1u]);
        poly[a0] = mp_add(y0, z1);
        poly[a0 + q] = mp_sub(y0, z1);
        poly[a0 + 2u * q] = mp_add(y2, z3);
        poly[a0 + 3u * q] = mp_sub(y2, z3);
    }
}

// The last forward stage alone (LOG_N odd): pairs (2i, 2i + 1) with psi[N/2 + i].
fn forward_last_radix2_stage(t: u32) {
    for (var i = t; i < (N >> 1u); i = i + WG) {
        let u = poly[2u * i];
        let v = mp_mul(poly[2u * i + 1u], twiddles[(N >> 1u) + i]);
        poly[2u * i] = mp_add(u, v);
        poly[2u * i + 1u] = mp_sub(u, v);
    }
}

// Forward transform, in place: natural order in, bit-reversed out. Call in uniform control
// flow after a barrier that published `poly`; returns after a barrier.
fn ntt_forward_shared(t: u32) {
    for (var s = 0u; s + 1u < LOG_N; s = s + 2u) {
        forward_radix4_pass(t, s);
        workgroupBarrier();
    }
    if ((LOG_N & 1u) == 1u) {
        forward_last_radix2_stage(t);
        workgroupBarrier();
    }
}

// The first inverse stage alone (LOG_N odd): pairs (2i, 2i + 1) with psi^-1[N/2 + i].
fn inverse_first_radix2_stage(t: u32) {
    for (var i = t; i < (N >> 1u); i = i + WG) {
        let u = poly[2u * i];
        let v = poly[2u * i + 1u];
        poly[2u * i] = mp_add(u, v);
        poly[2u * i + 1u] = mp_mul(mp_sub(u, v), twiddles[N + (N >> 1u) + i]);
    }
}

// Two consecutive Gentleman-Sande stages, of half-sizes 2^log_t and 2^(log_t + 1).
fn inverse_radix4_pass(t: u32, log_t: u32) {
    let tt = 1u << log_t;
    // Groups of the first of the two stages: N / (2 tt).
    let h = N >> (log_t + 1u);
    for (var u = t; u < (N >> 2u); u = u + WG) {
        let i = u >> log_t;
        let j = u & (tt - 1u);
        let a0 = (i << (log_t + 2u)) + j;
        let x0 = poly[a0];
        let x1 = poly[a0 + tt];
        let x2 = poly[a0 + 2u * tt];
        let x3 = poly[a0 + 3u * tt];
        // First stage: (a0, a1) with psi^-1[h + 2i], (a2, a3) with psi^-1[h + 2i + 1].
        let y0 = mp_add(x0, x1);
        let y1 = mp_mul(mp_sub(x0, x1), twiddles[N + h + 2u * i]);
        let y2 = mp_add(x2, x3);
        let y3 = mp_mul(mp_sub(x2, x3), twiddles[N + h + 2u * i + 1u]);
        // Second stage: (a0, a2), (a1, a3) with psi^-1[h/2 + i].
        let w = twiddles[N + (h >> 1u) + i];
        poly[a0] = mp_add(y0, y2);
        poly[a0 + 2u * tt] = mp_mul(mp_sub(y0, y2), w);
        poly[a0 + tt] = mp_add(y1, y3);
        poly[a0 + 3u * tt] = mp_mul(mp_sub(y1, y3), w);
    }
}

// Inverse transform without the final scaling by N^-1, in place: bit-reversed in, natural
// out. Same calling rules as `ntt_forward_shared`.
fn ntt_inverse_shared(t: u32) {
    var log_t = 0u;
    if ((LOG_N & 1u) == 1u) {
        inverse_first_radix2_stage(t);
        workgroupBarrier();
        log_t = 1u;
    }
    for (; log_t + 1u < LOG_N; log_t = log_t + 2u) {
        inverse_radix4_pass(t, log_t);
        workgroupBarrier();
    }
}
