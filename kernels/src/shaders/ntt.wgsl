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

// Twiddles of index below 32 are roots of order at most 64, powers of two mod p: the first
// five forward stages and the last five inverse stages multiply by shifts (mp_mul_pow2, with
// the exponents stored after the twiddles at [2N, 2N + 64)). Which passes those are is fixed
// by N, so the transforms call them by name with a constant `shift` argument; once the
// shader compiler inlines the pass (Mesa's NIR and the GPU drivers inline every call) the
// choice costs nothing, where a per-butterfly test made llvmpipe run both paths.
const POW2_TWIDDLES: u32 = 32u;

// x * psi^bitrev(idx); `shift` only where idx < POW2_TWIDDLES.
fn fwd_twiddle_mul(x: u64, idx: u32, shift: bool) -> u64 {
    if (shift) {
        return mp_mul_pow2(x, u32(twiddles[2u * N + idx]));
    }
    return mp_mul(x, twiddles[idx]);
}

// x * psi^-bitrev(idx); `shift` only where idx < POW2_TWIDDLES.
fn inv_twiddle_mul(x: u64, idx: u32, shift: bool) -> u64 {
    if (shift) {
        return mp_mul_pow2(x, u32(twiddles[2u * N + POW2_TWIDDLES + idx]));
    }
    return mp_mul(x, twiddles[N + idx]);
}

// The stages run two at a time: a thread loads four words, runs the 2 x 2 butterflies of
// two consecutive stages in registers and stores them back, so a transform of N = 2048 takes 6
// barriers (5 radix-4 passes and one radix-2 stage) instead of 11, and half the workgroup-
// memory traffic. The butterflies and twiddles are exactly those of the radix-2 network.

// Stages s and s + 1 of the forward network (s + 1 < LOG_N); `shift0` / `shift1`: stage s /
// s + 1 has power-of-two twiddles (s < 5 / s + 1 < 5).
fn forward_radix4_pass(t: u32, s: u32, shift0: bool, shift1: bool) {
    let m = 1u << s;
    let log_q = LOG_N - s - 2u;
    let q = 1u << log_q;
    for (var u = t; u < (N >> 2u); u = u + WG) {
        let i = u >> log_q;
        let j = u & (q - 1u);
        let a0 = (i << (log_q + 2u)) + j;
        let x0 = poly[a0];
        let x1 = poly[a0 + q];
        let v2 = fwd_twiddle_mul(poly[a0 + 2u * q], m + i, shift0);
        let v3 = fwd_twiddle_mul(poly[a0 + 3u * q], m + i, shift0);
        // Stage s: (a0, a2), (a1, a3) with psi[m + i].
        let y0 = mp_add(x0, v2);
        let y2 = mp_sub(x0, v2);
        let y1 = mp_add(x1, v3);
        let y3 = mp_sub(x1, v3);
        // Stage s + 1: (a0, a1) with psi[2m + 2i], (a2, a3) with psi[2m + 2i + 1].
        let z1 = fwd_twiddle_mul(y1, 2u * m + 2u * i, shift1);
        let z3 = fwd_twiddle_mul(y3, 2u * m + 2u * i + 1u, shift1);
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
// N >= 256: stages 0-3 shift, stage 4 shifts and stage 5 multiplies, the rest multiply.
fn ntt_forward_shared(t: u32) {
    forward_radix4_pass(t, 0u, true, true);
    workgroupBarrier();
    forward_radix4_pass(t, 2u, true, true);
    workgroupBarrier();
    forward_radix4_pass(t, 4u, true, false);
    workgroupBarrier();
    for (var s = 6u; s + 1u < LOG_N; s = s + 2u) {
        forward_radix4_pass(t, s, false, false);
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

// Two consecutive Gentleman-Sande stages, of half-sizes 2^log_t and 2^(log_t + 1);
// `shift0` / `shift1`: the first / second has power-of-two twiddles (h <= 16 / h <= 32).
fn inverse_radix4_pass(t: u32, log_t: u32, shift0: bool, shift1: bool) {
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
        let y1 = inv_twiddle_mul(mp_sub(x0, x1), h + 2u * i, shift0);
        let y2 = mp_add(x2, x3);
        let y3 = inv_twiddle_mul(mp_sub(x2, x3), h + 2u * i + 1u, shift0);
        // Second stage: (a0, a2), (a1, a3) with psi^-1[h/2 + i].
        poly[a0] = mp_add(y0, y2);
        poly[a0 + 2u * tt] = inv_twiddle_mul(mp_sub(y0, y2), (h >> 1u) + i, shift1);
        poly[a0 + tt] = mp_add(y1, y3);
        poly[a0 + 3u * tt] = inv_twiddle_mul(mp_sub(y1, y3), (h >> 1u) + i, shift1);
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
    // The pass at log_t has first-stage groups h = N / 2^(log_t + 1): the last three passes
    // (h = 32, 8, 2) have power-of-two twiddles in 1, 2 and 2 of their stages.
    for (; log_t + 6u < LOG_N; log_t = log_t + 2u) {
        inverse_radix4_pass(t, log_t, false, false);
        workgroupBarrier();
    }
    inverse_radix4_pass(t, LOG_N - 6u, false, true);
    workgroupBarrier();
    inverse_radix4_pass(t, LOG_N - 4u, true, true);
    workgroupBarrier();
    inverse_radix4_pass(t, LOG_N - 2u, true, true);
    workgroupBarrier();
}
