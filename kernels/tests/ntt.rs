//! The GPU's batched NTTs equal the engine's plan, word for word.

use glovebox_engine::commons::modp::P;
use glovebox_engine::ntt::Plan;
use glovebox_engine::prelude::*;
use glovebox_kernels::GpuBackend;
use rand::{Rng, SeedableRng};

#[test]
fn gpu_ntt_equals_cpu_plan() {
    let gpu = GpuBackend::new().expect("a GPU adapter (llvmpipe in CI)");
    eprintln!("{}", gpu.name());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let wg_bytes = gpu.device().limits().max_compute_workgroup_storage_size as usize;
    for n in [256usize, 512, 1024, 2048, 4096, 8192, 16384] {
        let fits = 8 * n <= wg_bytes;
        for batch in [1usize, 7] {
            let mut data: Vec<u64> = (0..n * batch).map(|_| rng.gen_range(0..P)).collect();
            for e in [0, 1, P - 1, 1 << 32] {
                data[rng.gen_range(0..n * batch)] = e;
            }
            let mut got = data.clone();
            let r = gpu.ntt_forward_batch(PolynomialSize(n), &mut got);
            if !fits {
                assert!(matches!(r, Err(Error::Backend { .. })), "N = {n}: {r:?}");
                continue;
            }
            r.unwrap();
            let plan = Plan::try_new_portable(n).unwrap();
            for (poly, g) in data.chunks_exact(n).zip(got.chunks_exact(n)) {
                let mut want = poly.to_vec();
                plan.fwd(&mut want);
                assert_eq!(g, want.as_slice(), "forward N = {n}");
            }
            gpu.ntt_inverse_batch(PolynomialSize(n), &mut got).unwrap();
            assert_eq!(got, data, "inverse N = {n}");
        }
    }
}
