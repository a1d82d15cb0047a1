//! Generates `include/glovebox.h` from `src/lib.rs` with cbindgen (rewritten only when it
//! changes, so that the C tests and users always compile against the ABI this build exports).

fn main() {
    println!("cargo:rerun-if-changed=src/lib.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{dir}/cbindgen.toml"))
        .expect("capi/cbindgen.toml is readable");
    let bindings = cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("cbindgen parses capi/src/lib.rs");
    let mut header = Vec::new();
    bindings.write(&mut header);
    let path = format!("{dir}/include/glovebox.h");
    if std::fs::read(&path).ok().as_deref() != Some(header.as_slice()) {
        std::fs::write(&path, header).expect("capi/include is writable");
    }
}
