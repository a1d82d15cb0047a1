//! The vitals rules, Glovebox beside TFHE-rs's integer API, on the same parameters (TFHE-rs's
//! default 2_2 set), the same ward and the same machine, in the same run.
//!
//! Group `vitals_rules`, one iteration = a ward of 4 patients x 4 seconds = 16 readings
//! (criterion reports readings per second):
//! - `tfhe-rs-integer`: per reading `alert = hr > 120 | hr < 50 | spo2 < 92` with `FheUint8`
//!   comparisons against clear constants and `FheBool` ORs (all readings in parallel), then
//!   per patient `count = count + FheUint8::cast_from(alert)` (patients in parallel);
//! - `glovebox-cpu-fft` and `glovebox-cpu`: `MonitoringServer::monitor` on the same ward: the
//!   per-type flags, "any", the sustained flag (3 readings) and the per-patient count; every
//!   bootstrap through the host driver, on the f64 FFT backend (the default) and on the exact
//!   NTT backend.
//!
//! Run: `cargo bench -p glovebox-benches --bench vitals`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use glovebox_health::prelude::*;
use glovebox_health::vitals::*;
use rayon::prelude::*;
use std::sync::Arc;
use std::time::Duration;

const PATIENTS: usize = 4;
const SECONDS: usize = 4;

fn vitals_rules(c: &mut Criterion) {
    let rules = AlertRules::default();
    let ward = simulate_ward(PATIENTS, SECONDS, 2026);
    let expected: Vec<PatientAlerts> = ward.iter().map(|s| rules.evaluate(s)).collect();
    let mut g = c.benchmark_group("vitals_rules");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements((PATIENTS * SECONDS) as u64));

    // Glovebox.
    let clinic = Clinic::new(&PARAM_MESSAGE_2_CARRY_2_KS_PBS).unwrap();
    let device = clinic.provision_device();
    let encrypted: Vec<Vec<EncryptedReading>> = ward
        .iter()
        .map(|s| s.iter().map(|&r| device.encrypt(r).unwrap()).collect())
        .collect();
    let server_key = Arc::new(clinic.server_key().unwrap());
    let backends: [(&str, Arc<dyn Backend>); 2] = [
        ("glovebox-cpu-fft", Arc::new(CpuFftBackend::new())),
        ("glovebox-cpu", Arc::new(CpuBackend::new())),
    ];
    for (name, backend) in backends {
        let server = MonitoringServer::new(
            server_key.clone(),
            backend,
            rules.clone(),
            Default::default(),
        )
        .unwrap()
        .with_casting_key(&clinic.casting_key().unwrap())
        .unwrap();
        let check = server.monitor(&encrypted, &|_| {}).unwrap();
        for (a, e) in check.iter().zip(&expected) {
            assert_eq!(&clinic.decrypt(a).unwrap(), e, "{name}");
        }
        g.bench_function(name, |b| {
            b.iter(|| server.monitor(&encrypted, &|_| {}).unwrap())
        });
    }

    // TFHE-rs integer API.
    use tfhe::prelude::*;
    use tfhe::{generate_keys, set_server_key, ConfigBuilder, FheBool, FheUint8};
    let (ck, sk) = generate_keys(ConfigBuilder::default());
    rayon::broadcast(|_| set_server_key(sk.clone()));
    set_server_key(sk);
    let readings: Vec<Vec<(FheUint8, FheUint8)>> = ward
        .iter()
        .map(|s| {
            s.iter()
                .map(|r| {
                    (
                        FheUint8::encrypt(r.heart_rate, &ck),
                        FheUint8::encrypt(r.spo2, &ck),
                    )
                })
                .collect()
        })
        .collect();
    let (lo, hi, sp) = (rules.heart_rate_low, rules.heart_rate_high, rules.spo2_low);
    let run = || -> Vec<(Vec<FheBool>, FheUint8)> {
        readings
            .par_iter()
            .map(|stream| {
                let alerts: Vec<FheBool> = stream
                    .par_iter()
                    .map(|(hr, spo2)| hr.gt(hi) | hr.lt(lo) | spo2.lt(sp))
                    .collect();
                let mut count = FheUint8::encrypt_trivial(0u8);
                for a in &alerts {
                    count = count + FheUint8::cast_from(a.clone());
                }
                (alerts, count)
            })
            .collect()
    };
    for ((alerts, count), e) in run().iter().zip(&expected) {
        let got: Vec<bool> = alerts.iter().map(|a| a.decrypt(&ck)).collect();
        assert_eq!(got, e.any);
        let n: u8 = count.decrypt(&ck);
        assert_eq!(n as u64, e.count);
    }
    g.bench_function("tfhe-rs-integer", |b| b.iter(run));
    g.finish();
}

criterion_group!(benches, vitals_rules);
criterion_main!(benches);
