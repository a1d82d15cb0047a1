//! Without a usable adapter the backend says what to install; it never falls back to the CPU.

use glovebox_engine::Error;
use glovebox_kernels::{GpuBackend, INSTALL_HINT};

#[test]
fn no_matching_adapter_is_a_typed_error_naming_what_to_install() {
    // This test binary opens no other device, so narrowing the adapter choice here is safe.
    std::env::set_var("WGPU_ADAPTER_NAME", "no-such-adapter-anywhere");
    match GpuBackend::new() {
        Err(Error::Backend { reason, .. }) => {
            assert!(reason.contains(INSTALL_HINT), "{reason}");
            assert!(reason.contains("mesa-vulkan-drivers"), "{reason}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a backend without an adapter"),
    }
}
