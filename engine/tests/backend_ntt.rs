//! The backend's batched NTTs equal the plan's transforms (fast and portable), and invert.

use glovebox_engine::commons::modp::P;
use glovebox_engine::ntt::Plan;
use glovebox_engine::prelude::*;
use rand::{Rng, SeedableRng};

#[test]
fn cpu_backend_batched_ntt_equals_plan() {
    let backend = CpuBackend::new();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(31);
    for n in [256usize, 2048, 16384] {
        for batch in [1usize, 7] {
            let data: Vec<u64> = (0..n * batch).map(|_| rng.gen_range(0..P)).collect();
            let mut fwd = data.clone();
            backend
                .ntt_forward_batch(PolynomialSize(n), &mut fwd)
                .unwrap();
            let portable = Plan::try_new_portable(n).unwrap();
            for (poly, got) in data.chunks_exact(n).zip(fwd.chunks_exact(n)) {
                let mut want = poly.to_vec();
                portable.fwd(&mut want);
                assert_eq!(got, want.as_slice());
            }
            backend
                .ntt_inverse_batch(PolynomialSize(n), &mut fwd)
                .unwrap();
            assert_eq!(fwd, data);
        }
    }
}
