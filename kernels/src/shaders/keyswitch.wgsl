// The LWE keyswitch, batched: `ks_digits` decomposes every input mask word once (one thread
// per (job, i)); `ks_mac` gives each thread one output column for JB jobs, so a key row word
// read from memory serves JB ciphertexts and consecutive threads read consecutive words.
// Wrapping arithmetic mod 2^64 as glovebox_engine's `keyswitch_into`:
// out = (0, ..., 0, b~) - sum_i sum_l d_{i,l} KSK_{i,l}.
//
// Needs from the host header: N_IN, OUT_SIZE (= n_out + 1), KS_LEVELS, KS_BASE_LOG,
// OUT_MOD_LOG (the output modulus' bits, 64 for the native torus), JB.

struct KsParams {
    batch: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read> ksk: array<u64>;
@group(0) @binding(1) var<storage, read> inputs: array<u64>;
@group(0) @binding(2) var<storage, read_write> digits: array<u32>;
@group(0) @binding(3) var<storage, read_write> outputs: array<u64>;
@group(0) @binding(4) var<uniform> params: KsParams;

@compute @workgroup_size(64)
fn ks_digits(@builtin(global_invocation_id) g: vec3<u32>) {
    let idx = g.y * 65535u * 64u + g.x;
    if (idx >= params.batch * N_IN) {
        return;
    }
    let job = idx / N_IN;
    let i = idx % N_IN;
    var state = decomposition_init_state(inputs[job * (N_IN + 1u) + i], KS_BASE_LOG, KS_LEVELS);
    for (var l = 0u; l < KS_LEVELS; l = l + 1u) {
        let d = decomposition_next_digit(state, KS_BASE_LOG);
        state = d.state;
        digits[idx * KS_LEVELS + l] = u32(d.digit & EPS);
    }
}

// The body as the keyswitch starts it: rounded to the top OUT_MOD_LOG bits.
fn initial_body(body: u64) -> u64 {
    if (OUT_MOD_LOG >= 64u) {
        return body;
    }
    let non_rep = 64u - OUT_MOD_LOG;
    let res = ((body >> (non_rep - 1u)) + 1lu) & ~1lu;
    return res << (non_rep - 1u);
}

@compute @workgroup_size(64)
fn ks_mac(@builtin(global_invocation_id) g: vec3<u32>) {
    let c = g.x;
    if (c >= OUT_SIZE) {
        return;
    }
    let job0 = g.y * JB;
    let jobs = min(JB, params.batch - job0);
    var sums: array<u64, JB>;
    for (var jb = 0u; jb < JB; jb = jb + 1u) {
        sums[jb] = 0lu;
    }
    for (var i = 0u; i < N_IN; i = i + 1u) {
        for (var l = 0u; l < KS_LEVELS; l = l + 1u) {
            let key = ksk[(i * KS_LEVELS + l) * OUT_SIZE + c];
            for (var jb = 0u; jb < JB; jb = jb + 1u) {
                // A constant trip count lets the compiler unroll this loop and keep `sums` in
                // registers. It also matters on llvmpipe, which ends a shader's loops silently
                // after 65535 iterations in all (see device.rs): a loop bounded by `jobs` is
                // not unrolled and took N_IN * KS_LEVELS * jobs of them. Jobs past the batch
                // read job 0's digits, in bounds, and are not stored.
                let job = select(0u, job0 + jb, jb < jobs);
                let d = bitcast<i32>(digits[(job * N_IN + i) * KS_LEVELS + l]);
                sums[jb] = sums[jb] - key * bitcast<u64>(i64(d));
            }
        }
    }
    for (var jb = 0u; jb < jobs; jb = jb + 1u) {
        let job = job0 + jb;
        var out = sums[jb];
        if (c == OUT_SIZE - 1u) {
            out = out + initial_body(inputs[job * (N_IN + 1u) + N_IN]);
        }
        outputs[job * OUT_SIZE + c] = out;
    }
}
