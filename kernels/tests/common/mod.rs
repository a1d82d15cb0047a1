//! Shared setup: one GPU backend per test binary, keys made once per parameter set.
#![allow(dead_code)]

use glovebox_engine::commons::random::CsprngGenerator;
use glovebox_engine::prelude::*;
use glovebox_kernels::GpuBackend;
use std::sync::{Arc, OnceLock};

pub fn gpu() -> &'static GpuBackend {
    static GPU: OnceLock<GpuBackend> = OnceLock::new();
    GPU.get_or_init(|| {
        let g = GpuBackend::new().expect("a GPU adapter (llvmpipe in CI)");
        eprintln!("GPU backend: {}", g.name());
        g
    })
}

pub struct Keys {
    pub client: ClientKey,
    pub server: ServerKey,
}

fn make(params: &Parameters, seed: u8) -> Arc<Keys> {
    let client = ClientKey::with_generator(params, CsprngGenerator::from_seed([seed; 32])).unwrap();
    let server = client.server_key().unwrap();
    Arc::new(Keys { client, server })
}

pub fn test_keys() -> Arc<Keys> {
    static K: OnceLock<Arc<Keys>> = OnceLock::new();
    K.get_or_init(|| make(&TEST_PARAMS_INSECURE, 1)).clone()
}

pub fn default_keys() -> Arc<Keys> {
    static K: OnceLock<Arc<Keys>> = OnceLock::new();
    K.get_or_init(|| make(&PARAM_MESSAGE_2_CARRY_2_KS_PBS, 2))
        .clone()
}

/// Asserts `got == want` word for word; on a mismatch reports the count and the first few
/// positions (never the whole vectors).
pub fn assert_words_eq(got: &[u64], want: &[u64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let bad: Vec<usize> = (0..got.len()).filter(|&i| got[i] != want[i]).collect();
    if !bad.is_empty() {
        let first: Vec<String> = bad
            .iter()
            .take(8)
            .map(|&i| format!("[{i}] got {:#x} want {:#x}", got[i], want[i]))
            .collect();
        panic!(
            "{what}: {} of {} words differ; first: {}",
            bad.len(),
            got.len(),
            first.join(", ")
        );
    }
}
