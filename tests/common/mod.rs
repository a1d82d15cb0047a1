//! What the root crate's service tests share: a backend whose faults the test sets.

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
