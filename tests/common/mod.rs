//! What the root crate's service tests share: a backend whose faults the test sets.
#![allow(dead_code)]

use glovebox::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A backend that faults on its first `faults` blind rotations (a device that resets), then
/// works: its faults are transient.
pub struct FaultingBackend {
    pub inner: CpuFftBackend,
    /// Blind rotations still to fail.
    pub faults: AtomicUsize,
}

impl FaultingBackend {
    /// A backend that does not fault until told to.
    pub fn new() -> Self {
        Self {
            inner: CpuFftBackend::new(),
            faults: AtomicUsize::new(0),
        }
    }
}

impl Backend for FaultingBackend {
    fn name(&self) -> String {
        "faulting".into()
    }
    fn upload_bootstrap_key(&self, bsk: &LweBootstrapKey) -> Result<BootstrapKeyHandle> {
        self.inner.upload_bootstrap_key(bsk)
    }
    fn upload_keyswitch_key(&self, ksk: &LweKeyswitchKey) -> Result<KeyswitchKeyHandle> {
        self.inner.upload_keyswitch_key(ksk)
    }
    fn release_bootstrap_key(&self, bsk: &BootstrapKeyHandle) -> Result<()> {
        self.inner.release_bootstrap_key(bsk)
    }
    fn release_keyswitch_key(&self, ksk: &KeyswitchKeyHandle) -> Result<()> {
        self.inner.release_keyswitch_key(ksk)
    }
    fn blind_rotate_batch(
        &self,
        bsk: &BootstrapKeyHandle,
        msed: &[u64],
        accumulators: &mut [u64],
    ) -> Result<()> {
        if self
            .faults
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| f.checked_sub(1))
            .is_ok()
        {
            return Err(Error::Backend {
                backend: "faulting".into(),
                reason: "the device reset".into(),
            });
        }
        self.inner.blind_rotate_batch(bsk, msed, accumulators)
    }
    fn keyswitch_batch(
        &self,
        ksk: &KeyswitchKeyHandle,
        inputs: &[u64],
        outputs: &mut [u64],
    ) -> Result<()> {
        self.inner.keyswitch_batch(ksk, inputs, outputs)
    }
}

/// A new, empty database in the test PostgreSQL cluster, as a URL. The cluster is the one
/// `GLOVEBOX_TEST_POSTGRES` names (the URL of its `postgres` database): `scripts/test.sh`
/// starts a throwaway one (`scripts/postgres.sh`). Without it the test fails: PostgreSQL's
/// tests never skip.
#[allow(dead_code)]
pub fn postgres_database() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let base = std::env::var("GLOVEBOX_TEST_POSTGRES").expect(
        "GLOVEBOX_TEST_POSTGRES is not set: run the tests with `bash scripts/test.sh`, or start \
         a cluster with `bash scripts/postgres.sh start DIR` and set it to the URL printed",
    );
    let name = format!(
        "glovebox_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = postgres::Client::connect(&base, postgres::NoTls)
        .unwrap_or_else(|e| panic!("the test cluster at {base}: {e}"));
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let (server, _) = base
        .rsplit_once('/')
        .expect("GLOVEBOX_TEST_POSTGRES is a URL ending in /database");
    format!("{server}/{name}")
}

/// The first line a `glovebox serve --dev-tls` child prints on its standard error (which must
/// be piped), and the `https://` URL it names. Its later lines are drained on a thread of their
/// own, so the child never blocks on a full pipe.
pub fn served_url(child: &mut std::process::Child) -> (String, String) {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("the server's stderr is piped");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let line = lines.next().unwrap().unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .trim_end_matches(',')
        .to_string();
    std::thread::spawn(move || for _ in lines {});
    (line, url)
}

/// A child process killed however the test ends (a panic included), so none outlives it.
pub struct Kill(pub std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `glovebox ARGS --json` (insecure test parameters allowed), asserts it succeeded, and
/// returns its last line as JSON (`null` when it is not).
pub fn glovebox_json(args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_glovebox"))
        .args(args)
        .arg("--json")
        .env("GLOVEBOX_ALLOW_INSECURE", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.lines().last().unwrap_or("null")).unwrap_or_default()
}
