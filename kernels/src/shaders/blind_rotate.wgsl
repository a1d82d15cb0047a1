// The blind rotation, one job (one accumulator GLWE) per workgroup, and the external product
// it is made of: decomposition, forward NTT, multiply-accumulate with the device-resident
// NTT-domain bootstrapping key, inverse NTT, switch back to the native torus. The same
// arithmetic, in the same order per coefficient, as glovebox_engine's
// `add_external_product_assign` and `cmux_rotate_assign`: every sum is exact mod p, so the
// result is the CPU backend's word for word.
//
// Needs from the host header: N, LOG_N, WG, PER (= N / WG), K1 (= k + 1), LEVELS, BASE_LOG,
// N_LWE (the input LWE dimension).

struct StepRange {
    // Key bits [begin, end) of this dispatch.
    begin: u32,
    end: u32,
    // 1 on the last dispatch: also divide by X^b (the body).
    finish: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> bsk: array<u64>;
@group(0) @binding(1) var<storage, read> twiddles: array<u64>;
@group(0) @binding(2) var<storage, read> msed: array<u32>;
@group(0) @binding(3) var<storage, read_write> acc: array<u64>;
@group(0) @binding(4) var<uniform> range: StepRange;

var<workgroup> poly: array<u64, N>;

const KP: u32 = K1 * PER;
const GGSW_WORDS: u32 = LEVELS * K1 * K1 * N;

// Coefficient c of a * X^rot for the polynomial of `acc` at `base`, rot in [0, 2N).
fn rotated_coefficient(base: u32, c: u32, rot: u32) -> u64 {
    let src = (c + 2u * N - rot) & (2u * N - 1u);
    if (src < N) {
        return acc[base + src];
    }
    return 0lu - acc[base + src - N];
}

// sums[j * PER + e] = coefficient (t + e WG) of the NTT-domain product of the GGSW at word
// `ggsw` of `bsk` with the GLWE whose coefficients this thread holds in vals[r * PER + e].
fn external_product_ntt(vals: ptr<function, array<u64, KP>>, sums: ptr<function, array<u64, KP>>, ggsw: u32, t: u32) {
    for (var e = 0u; e < KP; e = e + 1u) {
        (*sums)[e] = 0lu;
    }
    for (var r = 0u; r < K1; r = r + 1u) {
        var states: array<u64, PER>;
        for (var e = 0u; e < PER; e = e + 1u) {
            states[e] = decomposition_init_state((*vals)[r * PER + e], BASE_LOG, LEVELS);
        }
        // Levels least significant first: the stored order of the GGSW's level matrices.
        for (var q = 0u; q < LEVELS; q = q + 1u) {
            workgroupBarrier();
            for (var e = 0u; e < PER; e = e + 1u) {
                let d = decomposition_next_digit(states[e], BASE_LOG);
                states[e] = d.state;
                poly[t + e * WG] = from_signed(d.digit);
            }
            workgroupBarrier();
            ntt_forward_shared(t);
            let row = ggsw + (q * K1 + r) * K1 * N;
            for (var e = 0u; e < PER; e = e + 1u) {
                let c = t + e * WG;
                let digit = poly[c];
                for (var j = 0u; j < K1; j = j + 1u) {
                    let key = bsk[row + j * N + c];
                    (*sums)[j * PER + e] = mp_add((*sums)[j * PER + e], mp_mul(digit, key));
                }
            }
        }
    }
}

// acc[base + j N + c] += round(INTT(sums_j)[c] * 2^64 / p) for every output polynomial j.
fn add_inverse_to_native_torus(sums: ptr<function, array<u64, KP>>, base: u32, t: u32) {
    for (var j = 0u; j < K1; j = j + 1u) {
        workgroupBarrier();
        for (var e = 0u; e < PER; e = e + 1u) {
            poly[t + e * WG] = (*sums)[j * PER + e];
        }
        workgroupBarrier();
        ntt_inverse_shared(t);
        for (var e = 0u; e < PER; e = e + 1u) {
            let c = t + e * WG;
            acc[base + j * N + c] = acc[base + j * N + c] + to_native_torus(poly[c]);
        }
    }
}

@compute @workgroup_size(WG)
fn blind_rotate(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let job = wg.x;
    let base = job * K1 * N;
    let mbase = job * (N_LWE + 1u);
    for (var i = range.begin; i < range.end; i = i + 1u) {
        // CMux: acc += GGSW_i [x] (acc X^rot - acc); a zero rotation adds exactly zero and
        // is skipped, as on the CPU.
        let rot = msed[mbase + i];
        if (rot != 0u) {
            var vals: array<u64, KP>;
            for (var r = 0u; r < K1; r = r + 1u) {
                for (var e = 0u; e < PER; e = e + 1u) {
                    let c = t + e * WG;
                    vals[r * PER + e] = rotated_coefficient(base + r * N, c, rot) - acc[base + r * N + c];
                }
            }
            var sums: array<u64, KP>;
            // Every read of `acc` above happens before the first barrier in here, so the
            // writes below cannot race with them.
            external_product_ntt(&vals, &sums, i * GGSW_WORDS, t);
            add_inverse_to_native_torus(&sums, base, t);
            storageBarrier();
        }
    }
    if (range.finish != 0u) {
        // acc <- acc X^-b: coefficient c comes from (c + b) mod 2N.
        let b = msed[mbase + N_LWE];
        for (var r = 0u; r < K1; r = r + 1u) {
            workgroupBarrier();
            for (var e = 0u; e < PER; e = e + 1u) {
                poly[t + e * WG] = acc[base + r * N + t + e * WG];
            }
            workgroupBarrier();
            for (var e = 0u; e < PER; e = e + 1u) {
                let c = t + e * WG;
                let src = (c + b) & (2u * N - 1u);
                if (src < N) {
                    acc[base + r * N + c] = poly[src];
                } else {
                    acc[base + r * N + c] = 0lu - poly[src - N];
                }
            }
        }
    }
}

@group(0) @binding(5) var<storage, read> glwe_in: array<u64>;

// out (bound as `acc`) += GGSW[range.begin] [x] glwe_in, one GLWE per workgroup: the external
// product alone, for testing it against the CPU's `add_external_product_assign`.
@compute @workgroup_size(WG)
fn external_product(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let base = wg.x * K1 * N;
    var vals: array<u64, KP>;
    for (var r = 0u; r < K1; r = r + 1u) {
        for (var e = 0u; e < PER; e = e + 1u) {
            vals[r * PER + e] = glwe_in[base + r * N + t + e * WG];
        }
    }
    var sums: array<u64, KP>;
    external_product_ntt(&vals, &sums, range.begin * GGSW_WORDS, t);
    add_inverse_to_native_torus(&sums, base, t);
}
