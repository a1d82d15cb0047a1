//! Jobs whose input is a compact-list value: the casting keyswitch is their first stage, and
//! they share batches with ordinary jobs.

use glovebox_driver::{Driver, DriverConfig};
use glovebox_engine::prelude::*;
use glovebox_engine::shortint::public_key::CompactPrivateKey;
use std::sync::Arc;
use std::time::Duration;

/// Packed values through one table of the whole value, interleaved with ordinary jobs in the
/// same batches: every output decrypts to its table's value.
#[test]
fn cast_jobs_share_batches_with_ordinary_jobs() {
    let client = ClientKey::new(&TEST_PARAMS_INSECURE).unwrap();
    let server = Arc::new(client.server_key().unwrap());
    let config = DriverConfig {
        batch_size: 8,
        max_batch_wait: Duration::from_millis(50),
        ..DriverConfig::default()
    };
    let driver = Driver::new(Arc::new(CpuBackend::new()), server.clone(), config).unwrap();
    let private = CompactPrivateKey::new(&client).unwrap();
    let casting = driver
        .upload_casting_key(&private.casting_key(&client).unwrap())
        .unwrap();
    let values = [0u64, 5, 10, 15, 3, 12];
    let list = private
        .public_key()
        .unwrap()
        .encrypt_packed(&values)
        .unwrap();
    let square_mod = Arc::new(server.generate_lookup_table(|x| x * x % 16));
    let double = Arc::new(server.generate_lookup_table(|x| 2 * x % 4));
    let mut handles = Vec::new();
    for (i, v) in list.expand().unwrap().into_iter().enumerate() {
        handles.push(driver.submit_cast(&casting, v, square_mod.clone()).unwrap());
        let m = i as u64 % 4;
        handles.push(
            driver
                .submit(client.encrypt(m).unwrap(), double.clone())
                .unwrap(),
        );
    }
    let got: Vec<u64> = handles
        .into_iter()
        .map(|h| {
            client
                .decrypt_message_and_carry(&h.wait().unwrap())
                .unwrap()
        })
        .collect();
    let want: Vec<u64> = values
        .iter()
        .enumerate()
        .flat_map(|(i, v)| [v * v % 16, 2 * (i as u64 % 4) % 4])
        .collect();
    assert_eq!(got, want);
}

/// A casting key or a value of another client key is a typed error, before any work.
#[test]
fn casts_of_another_key_are_refused() {
    let client = ClientKey::new(&TEST_PARAMS_INSECURE).unwrap();
    let other = ClientKey::new(&TEST_PARAMS_INSECURE).unwrap();
    let server = Arc::new(client.server_key().unwrap());
    let driver = Driver::new(
        Arc::new(CpuBackend::new()),
        server.clone(),
        DriverConfig::default(),
    )
    .unwrap();
    let theirs = CompactPrivateKey::new(&other).unwrap();
    assert!(matches!(
        driver.upload_casting_key(&theirs.casting_key(&other).unwrap()),
        Err(Error::KeyMismatch { .. })
    ));
    let ours = CompactPrivateKey::new(&client).unwrap();
    let casting = driver
        .upload_casting_key(&ours.casting_key(&client).unwrap())
        .unwrap();
    let value = theirs
        .public_key()
        .unwrap()
        .encrypt(&[1])
        .unwrap()
        .expand()
        .unwrap();
    let table = Arc::new(server.generate_lookup_table(|x| x));
    assert!(matches!(
        driver.submit_cast(&casting, value[0].clone(), table),
        Err(Error::KeyMismatch { .. })
    ));
}

/// A dropped driver frees every key it uploaded (server keys and casting keys), and a casting
/// key held past its driver is refused, not used.
#[test]
fn a_dropped_driver_frees_its_keys_on_the_backend() {
    let client = ClientKey::new(&TEST_PARAMS_INSECURE).unwrap();
    let server = Arc::new(client.server_key().unwrap());
    let cpu = Arc::new(CpuBackend::new());
    let private = CompactPrivateKey::new(&client).unwrap();
    let casting = {
        let driver = Driver::new(cpu.clone(), server.clone(), DriverConfig::default()).unwrap();
        let casting = driver
            .upload_casting_key(&private.casting_key(&client).unwrap())
            .unwrap();
        assert_eq!(cpu.resident_keys(), (1, 2));
        casting
    };
    assert_eq!(cpu.resident_keys(), (0, 0));
    let driver = Driver::new(cpu.clone(), server.clone(), DriverConfig::default()).unwrap();
    let value = private
        .public_key()
        .unwrap()
        .encrypt(&[1])
        .unwrap()
        .expand()
        .unwrap();
    let table = Arc::new(server.generate_lookup_table(|x| x));
    let out = driver
        .submit_cast(&casting, value[0].clone(), table)
        .unwrap()
        .wait();
    assert!(matches!(out, Err(Error::InvalidHandle(_))), "{out:?}");
}
