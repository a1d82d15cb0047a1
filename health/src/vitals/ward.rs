//! Plausible vitals streams for a ward, simulated from a seed.

use super::rules::Reading;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Plausible vitals streams for a ward, from a seed: resting heart rate 58–88 bpm and SpO2
/// 95–99 % with slow random variation, and injected episodes of tachycardia (125–165 bpm),
/// bradycardia (36–47 bpm) and desaturation (83–90 %) lasting 3–8 s. The first three patients
/// get one episode of each kind; the others one at random, or none.
pub fn simulate_ward(patients: usize, seconds: usize, seed: u64) -> Vec<Vec<Reading>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..patients)
        .map(|p| {
            let hr0 = rng.gen_range(58.0..88.0);
            let spo0 = rng.gen_range(95.0..99.5);
            let episode = if p < 3 { p } else { rng.gen_range(0..4) };
            let len = rng.gen_range(3..=8usize).min(seconds);
            let start = rng.gen_range(0..=seconds - len);
            let (mut dh, mut ds) = (0.0f64, 0.0f64);
            (0..seconds)
                .map(|t| {
                    dh = 0.85 * dh + rng.gen_range(-2.5..2.5);
                    ds = 0.7 * ds + rng.gen_range(-0.6..0.6);
                    let (mut hr, mut spo2) = (hr0 + dh, spo0 + ds);
                    if (start..start + len).contains(&t) {
                        match episode {
                            0 => hr = rng.gen_range(125.0..165.0),
                            1 => hr = rng.gen_range(36.0..47.0),
                            2 => spo2 = rng.gen_range(83.0..90.0),
                            _ => {}
                        }
                    }
                    Reading::new(
                        hr.round().clamp(0.0, 255.0) as u8,
                        spo2.round().clamp(0.0, 100.0) as u8,
                    )
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::rules::{AlertRules, PatientAlerts};
    use super::*;

    #[test]
    fn simulation_is_seeded_and_has_episodes() {
        let a = simulate_ward(8, 30, 7);
        assert_eq!(a, simulate_ward(8, 30, 7));
        assert_ne!(a, simulate_ward(8, 30, 8));
        let rules = AlertRules::default();
        let alerts: Vec<PatientAlerts> = a.iter().map(|s| rules.evaluate(s)).collect();
        assert!(alerts[0].heart_rate.iter().any(|&x| x), "tachycardia");
        assert!(alerts[1].heart_rate.iter().any(|&x| x), "bradycardia");
        assert!(alerts[2].spo2.iter().any(|&x| x), "desaturation");
    }
}
