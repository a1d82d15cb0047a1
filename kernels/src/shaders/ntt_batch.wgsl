// Batched forward / inverse NTTs, one polynomial per workgroup (Backend::ntt_*_batch); the
// host binds at most 65535 polynomials of `data` per dispatch.

@group(0) @binding(0) var<storage, read> twiddles: array<u64>;
@group(0) @binding(1) var<storage, read_write> data: array<u64>;

var<workgroup> poly: array<u64, N>;

@compute @workgroup_size(WG)
fn ntt_forward_batch(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let base = wg.x * N;
    for (var e = 0u; e < PER; e = e + 1u) {
        poly[t + e * WG] = data[base + t + e * WG];
    }
    workgroupBarrier();
    ntt_forward_shared(t);
    for (var e = 0u; e < PER; e = e + 1u) {
        data[base + t + e * WG] = poly[t + e * WG];
    }
}

@compute @workgroup_size(WG)
fn ntt_inverse_batch(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let base = wg.x * N;
    for (var e = 0u; e < PER; e = e + 1u) {
        poly[t + e * WG] = data[base + t + e * WG];
    }
    workgroupBarrier();
    ntt_inverse_shared(t);
    for (var e = 0u; e < PER; e = e + 1u) {
        data[base + t + e * WG] = mp_mul(poly[t + e * WG], N_INV);
    }
}
