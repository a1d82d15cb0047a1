//! The simulated RTL equals the engine word for word, and its cycle counts equal the design's
//! analytical counts.

use glovebox_engine::commons::modp::P;
use glovebox_engine::ntt::Plan;
use glovebox_sim::{ntt_configs, NttUnit};
use rand::{Rng, SeedableRng};

fn random_polys(rng: &mut impl Rng, n: usize, count: usize) -> Vec<u64> {
    let mut data: Vec<u64> = (0..n * count).map(|_| rng.gen_range(0..P)).collect();
    // Edge values somewhere in the batch.
    let len = data.len();
    for (i, e) in [0, 1, P - 1, 1 << 32, (1 << 32) - 1, P >> 1]
        .into_iter()
        .enumerate()
    {
        data[(i * 97) % len] = e;
    }
    data
}

#[test]
fn forward_and_inverse_equal_the_engine_for_every_built_configuration() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let configs = ntt_configs();
    for nc in [(256, 2), (256, 8), (512, 4), (2048, 32), (4096, 16)] {
        assert!(configs.contains(&nc), "{nc:?} not built");
    }
    for (n, c) in configs {
        let plan = Plan::try_new_portable(n).unwrap();
        let mut unit = NttUnit::new(n, c).unwrap();
        let polys = 3;
        let data = random_polys(&mut rng, n, polys);
        let mut got = data.clone();
        let run = unit.forward(&mut got).unwrap();
        for (p, (g, d)) in got.chunks_exact(n).zip(data.chunks_exact(n)).enumerate() {
            let mut want = d.to_vec();
            plan.fwd(&mut want);
            assert!(g == want.as_slice(), "forward N={n} C={c} polynomial {p}");
        }
        assert_eq!(run.polynomials, polys);
        let mut back = got.clone();
        unit.inverse(&mut back).unwrap();
        assert!(back == data, "inverse N={n} C={c}");
        // And the inverse alone equals the engine's on random (non-transformed) input.
        let mut inv = data.clone();
        unit.inverse(&mut inv).unwrap();
        for (g, d) in inv.chunks_exact(n).zip(data.chunks_exact(n)) {
            let mut want = d.to_vec();
            plan.inv(&mut want);
            assert!(g == want.as_slice(), "inverse alone N={n} C={c}");
        }
    }
}

#[test]
fn cycles_equal_the_analytical_count() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
    for (n, c) in ntt_configs() {
        let mut unit = NttUnit::new(n, c).unwrap();
        let depth = NttUnit::analytic_latency(n, c);
        assert_eq!(
            unit.latency(),
            depth,
            "N={n} C={c}: the RTL's LATENCY parameter"
        );
        let polys = 4;
        let mut data = random_polys(&mut rng, n, polys);
        let run = unit.forward(&mut data).unwrap();
        // Tolerance: none. Every polynomial comes out `depth` cycles after it went in...
        assert_eq!(run.latencies, vec![depth; polys], "N={n} C={c}");
        // ...so K back-to-back polynomials take depth + K·N/C − 1 cycles (first word in to
        // last word out): one polynomial per N/C cycles at steady state.
        assert_eq!(
            run.cycles,
            depth + polys as u64 * unit.interval() - 1,
            "N={n} C={c}"
        );
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    use glovebox_engine::Error;
    assert!(matches!(
        NttUnit::new(512, 8),
        Err(Error::InvalidParameters(_))
    ));
    let mut unit = NttUnit::new(256, 8).unwrap();
    assert!(matches!(
        unit.forward(&mut vec![0; 300]),
        Err(Error::MalformedContainer { .. })
    ));
    assert!(matches!(
        unit.forward(&mut vec![P; 256]),
        Err(Error::WordOutOfRange { .. })
    ));
}
