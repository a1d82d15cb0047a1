//! Verilates the accelerator RTL in `hdl/` (the sources `hdl/sources.f` lists, the same list
//! `hdl/lint.sh` and `hdl/synth.sh` read) into `OUT_DIR`: one model per NTT configuration, one
//! per keyswitch-unit configuration, one per blind-rotation-unit configuration, one per
//! arithmetic unit and one of `goldilocks_consts` (the
//! package constants the software reads);
//! generates the twiddle ROMs, and compiles the generated C++, the Verilator runtime and the cxx
//! bridge into one static library.
//!
//! Needs `verilator` (5.x) and `python3` on the PATH; without them the build stops with a
//! message saying what to install.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The NTT unit configurations built (N, C): the sizes the tests and `glovebox sim ntt` use.
const NTT_CONFIGS: &[(u32, u32)] = &[(256, 2), (256, 8), (512, 4), (2048, 32), (4096, 16)];
/// A keyswitch unit configuration (`hdl/ks_unit.sv` parameters); its model is `Vks_<P>_<W>`.
#[derive(Hash)]
struct KsConfig {
    /// Output columns accumulated per cycle.
    lanes: u32,
    /// log2 of the output modulus: the width of key words, accumulators and outputs.
    output_modulus_log: u32,
    max_base_log: u32,
    max_levels: u32,
    max_batch: u32,
    /// Chunks of `lanes` columns: at most `lanes * max_chunks` output words (n_out + 1).
    max_chunks: u32,
}

/// The keyswitch units built: the native torus with bases up to 2^4 (the default set, 4 x 4;
/// TEST_PARAMS_INSECURE, 3 x 5) at 16 and 4 lanes, and output modulus 2^21 with base 2^2 (the
/// HPU set, 2 x 8: the digit product is a shift). 64 chunks of 16 lanes hold n_out + 1 = 919.
const KS_CONFIGS: &[KsConfig] = &[
    KsConfig {
        lanes: 16,
        output_modulus_log: 64,
        max_base_log: 4,
        max_levels: 8,
        max_batch: 16,
        max_chunks: 64,
    },
    KsConfig {
        lanes: 4,
        output_modulus_log: 64,
        max_base_log: 4,
        max_levels: 8,
        max_batch: 16,
        max_chunks: 64,
    },
    KsConfig {
        lanes: 16,
        output_modulus_log: 21,
        max_base_log: 2,
        max_levels: 8,
        max_batch: 16,
        max_chunks: 64,
    },
    // The HPU set's keyswitch at the rate of its blind rotation: 512 shift-and-add lanes, a key
    // row of 880 words in two chunks.
    KsConfig {
        lanes: 512,
        output_modulus_log: 21,
        max_base_log: 2,
        max_levels: 8,
        max_batch: 16,
        max_chunks: 2,
    },
];
/// A blind-rotation unit configuration (`hdl/br_unit.sv` parameters); its model is
/// `Vbr_<poly>_<lanes>`.
#[derive(Hash)]
struct BrConfig {
    /// N: coefficients per polynomial.
    poly: u32,
    /// C: coefficients per cycle (the NTT units' lanes).
    lanes: u32,
    /// k + 1: polynomials per GLWE ciphertext.
    k1: u32,
    max_levels: u32,
    max_base_log: u32,
    /// Accumulators held on chip (ciphertexts per pass over the key).
    max_batch: u32,
}

/// The blind-rotation units built: N = 512 with 4 lanes for TEST_PARAMS_INSECURE (15 x 2), small
/// enough to simulate in the tests, and N = 2048 with 32 lanes for the real sets (23 x 1).
const BR_CONFIGS: &[BrConfig] = &[
    BrConfig {
        poly: 512,
        lanes: 4,
        k1: 2,
        max_levels: 2,
        max_base_log: 24,
        max_batch: 8,
    },
    BrConfig {
        poly: 2048,
        lanes: 32,
        k1: 2,
        max_levels: 2,
        max_base_log: 24,
        max_batch: 16,
    },
];
/// With the `target-config` feature, the HPU-class configuration (issue 24): a blind-rotation
/// unit of 128 lanes at N = 2048 (the HPU's 128 coefficients per cycle; C = 256 no longer fits
/// the unit's contract W = N / C >= MAC_LATENCY + 2 since the multiplier has 10 stages) holding
/// up to 24 accumulators, and a keyswitch unit of 1024 shift-and-add lanes at 2^21 (a key row
/// of the HPU set, 880 words, in one chunk). Minutes more to build, minutes per simulated
/// batch: not in the default build.
const TARGET_BR_CONFIGS: &[BrConfig] = &[BrConfig {
    poly: 2048,
    lanes: 128,
    k1: 2,
    max_levels: 2,
    max_base_log: 24,
    max_batch: 24,
}];
const TARGET_KS_CONFIGS: &[KsConfig] = &[KsConfig {
    lanes: 1024,
    output_modulus_log: 21,
    max_base_log: 2,
    max_levels: 8,
    max_batch: 24,
    max_chunks: 1,
}];

/// The configurations of this build: the default ones, and the target's with `target-config`.
fn target_config() -> bool {
    std::env::var_os("CARGO_FEATURE_TARGET_CONFIG").is_some()
}

fn built_br_configs() -> Vec<&'static BrConfig> {
    let extra = if target_config() {
        TARGET_BR_CONFIGS
    } else {
        &[]
    };
    BR_CONFIGS.iter().chain(extra).collect()
}

fn built_ks_configs() -> Vec<&'static KsConfig> {
    let extra = if target_config() {
        TARGET_KS_CONFIGS
    } else {
        &[]
    };
    KS_CONFIGS.iter().chain(extra).collect()
}

/// The largest batch a built unit holds.
fn cmd_max_batch() -> u32 {
    let br = built_br_configs().iter().map(|b| b.max_batch).max();
    let ks = built_ks_configs().iter().map(|k| k.max_batch).max();
    br.max(ks).unwrap_or(1)
}

/// Lanes of the multiply-accumulate model.
const MAC_LANES: u32 = 8;
/// The other models, each `V<top>` in C++: the arithmetic units and the package constants.
const UNITS: &[&str] = &[
    "mod_mul",
    "mod_shift",
    "butterfly",
    "butterfly_shift",
    "mac_unit",
    "goldilocks_consts",
    "cmd_unit",
];
/// The command interface's rings and key slots (`hdl/cmd_unit.sv`).
const CMD_QDEPTH: u32 = 16;
const CMD_CDEPTH: u32 = 16;
const CMD_SLOTS: u32 = 16;

fn unit_params(top: &str) -> Vec<String> {
    match top {
        "mac_unit" => vec![format!("-GC={MAC_LANES}")],
        // The interface refuses batches no built unit holds.
        "cmd_unit" => vec![
            format!("-GQDEPTH={CMD_QDEPTH}"),
            format!("-GCDEPTH={CMD_CDEPTH}"),
            format!("-GSLOTS={CMD_SLOTS}"),
            format!("-GMAX_BATCH={}", cmd_max_batch()),
        ],
        _ => Vec::new(),
    }
}

/// The RTL's one source list: a path per line, relative to `hdl/`, in compile order; blank
/// lines and `//` comment lines skipped.
const SOURCE_LIST: &str = "sources.f";
/// The other files of `hdl/` the models depend on.
const BUILD_INPUTS: [&str; 3] = [SOURCE_LIST, "waivers.vlt", "gen_twiddles.py"];

fn hdl_sources(hdl: &Path) -> Vec<String> {
    let list = hdl.join(SOURCE_LIST);
    let text = std::fs::read_to_string(&list)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", list.display())));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .map(str::to_string)
        .collect()
}

fn fail(msg: &str) -> ! {
    eprintln!("\nglovebox-sim: {msg}\n");
    panic!("glovebox-sim: {msg}");
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run {what}: {e}")));
    if !out.status.success() {
        fail(&format!(
            "{what} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
}

fn verilator_root() -> PathBuf {
    let out = Command::new("verilator")
        .arg("--getenv")
        .arg("VERILATOR_ROOT")
        .output()
        .unwrap_or_else(|_| {
            fail(
                "Verilator not found. Install it: `apt-get install verilator` (Debian/Ubuntu, \
                 Verilator 5.006 or later), or put `verilator` on the PATH.",
            )
        });
    if !out.status.success() {
        fail("`verilator --getenv VERILATOR_ROOT` failed: is Verilator 5 installed?");
    }
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Verilator flags for a unit of `lanes` lanes. Verilator 5's data-flow optimizer rebuilds a bus
/// that C cells drive slice by slice (a bank's read port into `acc_rdata`, a butterfly's outputs
/// into a stage's bus) as a chain of C wide concatenations, each copying the whole bus so far:
/// C^2 / 2 words per bus per evaluation, most of a C = 256 unit's simulation time (`VL_CONCAT_*`
/// and `_vl_insert_WW` on top of a profile). Without the optimizer each slice is a plain
/// assignment; at C <= 32 the optimizer's other work wins (the backend tests 12 % faster with it).
fn lane_flags(lanes: u32) -> Vec<String> {
    if lanes >= 64 {
        vec!["-fno-dfg".to_string()]
    } else {
        Vec::new()
    }
}

/// Verilates `top` with `params` into `OUT_DIR/<prefix>`; returns the generated C++ files.
fn verilate(
    hdl: &Path,
    sources: &[String],
    out: &Path,
    top: &str,
    prefix: &str,
    params: &[String],
) -> Vec<PathBuf> {
    let mdir = out.join(prefix);
    let _ = std::fs::remove_dir_all(&mdir);
    let mut cmd = Command::new("verilator");
    cmd.args([
        "--cc",
        "-O3",
        "--x-assign",
        "fast",
        "--x-initial",
        "fast",
        "--noassert",
    ])
    .args(["--top-module", top, "--prefix", prefix])
    .arg("-Mdir")
    .arg(&mdir)
    .args(params)
    .arg(hdl.join("waivers.vlt"));
    for f in sources {
        cmd.arg(hdl.join(f));
    }
    run(&mut cmd, &format!("verilator ({prefix})"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&mdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cpp"))
        .collect();
    files.sort();
    files
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let hdl = manifest.join("../hdl").canonicalize().unwrap();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let hdl_files = hdl_sources(&hdl);
    for f in hdl_files.iter().map(String::as_str).chain(BUILD_INPUTS) {
        println!("cargo:rerun-if-changed={}", hdl.join(f).display());
    }
    println!("cargo:rerun-if-changed=cpp");
    println!("cargo:rerun-if-changed=src/lib.rs");
    println!("cargo:rerun-if-changed=src/ks.rs");
    println!("cargo:rerun-if-changed=src/br.rs");
    println!("cargo:rerun-if-changed=src/device.rs");
    println!("cargo:rerun-if-changed=src/accelerator.rs");
    let root = verilator_root();
    let stamp = out.join("models.stamp");
    let fingerprint = fingerprint(&hdl, &hdl_files, &root);
    // Verilating and compiling the models takes minutes: only when the RTL changed.
    let stale = std::fs::read_to_string(&stamp).ok().as_deref() != Some(fingerprint.as_str());

    let mut sources = Vec::new();
    let mut includes = String::new();
    let mut factory = String::new();
    // The models read their ROMs (<rom>_<f|i>_s<stage>_c<C>.hex, <rom>_<f|i>_t<stage>_c<C>.hex,
    // hdl/gen_twiddles.py) when constructed; one prefix per N, files per C.
    let rom_prefix = |n: u32| out.join(format!("twiddles_{n}"));
    // The (N, C) pairs with ROMs: the NTT units' and those inside the blind-rotation units.
    let mut roms: Vec<(u32, u32)> = NTT_CONFIGS
        .iter()
        .copied()
        .chain(built_br_configs().iter().map(|b| (b.poly, b.lanes)))
        .collect();
    roms.sort_unstable();
    roms.dedup();
    let mut sizes: Vec<u32> = roms.iter().map(|&(n, _)| n).collect();
    sizes.dedup();
    for &n in &sizes {
        let lanes: Vec<String> = roms
            .iter()
            .filter(|&&(m, _)| m == n)
            .map(|&(_, c)| c.to_string())
            .collect();
        let present = roms
            .iter()
            .filter(|&&(m, _)| m == n)
            .all(|&(_, c)| out.join(format!("twiddles_{n}_f_t5_c{c:04x}.hex")).exists());
        if stale || !present {
            run(
                Command::new("python3")
                    .arg(hdl.join("gen_twiddles.py"))
                    .arg(n.to_string())
                    .arg(rom_prefix(n))
                    .args(&lanes),
                "python3 hdl/gen_twiddles.py (install python3)",
            );
        }
    }
    for &(n, c) in NTT_CONFIGS {
        let rom = rom_prefix(n);
        let prefix = format!("Vntt_{n}_{c}");
        let params = vec![
            format!("-GN={n}"),
            format!("-GC={c}"),
            format!("-GTW_PREFIX=\"{}\"", rom.display()),
        ];
        if stale {
            sources.extend(verilate(
                &hdl, &hdl_files, &out, "ntt_pair", &prefix, &params,
            ));
        }
        includes.push_str(&format!("#include \"{prefix}/{prefix}.h\"\n"));
        factory.push_str(&format!(
            "if (n == {n} && c == {c}) return std::make_unique<NttModel<{prefix}, {c}>>({n});\n"
        ));
    }
    let mut ks_includes = String::new();
    let mut ks_factory = String::new();
    let mut ks_configs = Vec::new();
    for k in built_ks_configs() {
        let prefix = format!("Vks_{}_{}", k.lanes, k.output_modulus_log);
        if stale {
            let params = vec![
                format!("-GP={}", k.lanes),
                format!("-GW={}", k.output_modulus_log),
                format!("-GMAX_BASE_LOG={}", k.max_base_log),
                format!("-GMAX_LEVELS={}", k.max_levels),
                format!("-GMAX_BATCH={}", k.max_batch),
                format!("-GMAX_CHUNKS={}", k.max_chunks),
            ]
            .into_iter()
            .chain(lane_flags(k.lanes))
            .collect::<Vec<_>>();
            sources.extend(verilate(
                &hdl, &hdl_files, &out, "ks_unit", &prefix, &params,
            ));
        }
        ks_includes.push_str(&format!("#include \"{prefix}/{prefix}.h\"\n"));
        let limits = format!(
            "{}, {}, {}, {}, {}, {}",
            k.lanes, k.output_modulus_log, k.max_base_log, k.max_levels, k.max_batch, k.max_chunks
        );
        ks_factory.push_str(&format!(
            "if (lanes == {} && w == {}) return std::make_unique<KsModel<{prefix}, {}, {}>>(\
             KsLimits{{{limits}}});\n",
            k.lanes, k.output_modulus_log, k.lanes, k.output_modulus_log
        ));
        ks_configs.push(format!("KsLimits{{{limits}}}"));
    }
    std::fs::write(out.join("ks_models.inc"), ks_includes).unwrap();
    std::fs::write(out.join("ks_factory.inc"), ks_factory).unwrap();
    std::fs::write(out.join("ks_configs.inc"), ks_configs.join(", ")).unwrap();
    let mut br_includes = String::new();
    let mut br_factory = String::new();
    let mut br_configs = Vec::new();
    for b in built_br_configs() {
        let prefix = format!("Vbr_{}_{}", b.poly, b.lanes);
        if stale {
            let params = vec![
                format!("-GN={}", b.poly),
                format!("-GC={}", b.lanes),
                format!("-GK1={}", b.k1),
                format!("-GMAX_LEVELS={}", b.max_levels),
                format!("-GMAX_BASE_LOG={}", b.max_base_log),
                format!("-GMAX_BATCH={}", b.max_batch),
                format!("-GTW_PREFIX=\"{}\"", rom_prefix(b.poly).display()),
            ]
            .into_iter()
            .chain(lane_flags(b.lanes))
            .collect::<Vec<_>>();
            sources.extend(verilate(
                &hdl, &hdl_files, &out, "br_unit", &prefix, &params,
            ));
        }
        br_includes.push_str(&format!("#include \"{prefix}/{prefix}.h\"\n"));
        let limits = format!(
            "{}, {}, {}, {}, {}, {}",
            b.poly, b.lanes, b.k1, b.max_levels, b.max_base_log, b.max_batch
        );
        br_factory.push_str(&format!(
            "if (poly == {} && lanes == {}) return std::make_unique<BrModel<{prefix}, {}>>(\
             BrLimits{{{limits}}});\n",
            b.poly, b.lanes, b.lanes
        ));
        br_configs.push(format!("BrLimits{{{limits}}}"));
    }
    std::fs::write(out.join("br_models.inc"), br_includes).unwrap();
    std::fs::write(out.join("br_factory.inc"), br_factory).unwrap();
    std::fs::write(out.join("br_configs.inc"), br_configs.join(", ")).unwrap();
    // Every keyswitch unit beside every blind-rotation unit on one device (cpp/accelerator.cpp
    // defines GLOVEBOX_DEVICE): ks model, P, W, ks limits, br model, C, br limits.
    let mut devices = String::new();
    for k in built_ks_configs() {
        for b in built_br_configs() {
            devices.push_str(&format!(
                "GLOVEBOX_DEVICE(Vks_{p}_{w}, {p}, {w}, (KsLimits{{{p}, {w}, {}, {}, {}, {}}}), \
                 Vbr_{n}_{c}, {c}, (BrLimits{{{n}, {c}, {}, {}, {}, {}}}))\n",
                k.max_base_log,
                k.max_levels,
                k.max_batch,
                k.max_chunks,
                b.k1,
                b.max_levels,
                b.max_base_log,
                b.max_batch,
                p = k.lanes,
                w = k.output_modulus_log,
                n = b.poly,
                c = b.lanes,
            ));
        }
    }
    std::fs::write(out.join("device_models.inc"), devices).unwrap();
    if stale {
        for top in UNITS {
            let prefix = format!("V{top}");
            sources.extend(verilate(
                &hdl,
                &hdl_files,
                &out,
                top,
                &prefix,
                &unit_params(top),
            ));
        }
    }
    for top in UNITS {
        includes.push_str(&format!("#include \"V{top}/V{top}.h\"\n"));
    }
    includes.push_str(&format!("#define GLOVEBOX_MAC_LANES {MAC_LANES}\n"));
    includes.push_str(&format!(
        "#define GLOVEBOX_CMD_QDEPTH {CMD_QDEPTH}\n#define GLOVEBOX_CMD_CDEPTH {CMD_CDEPTH}\n\
         #define GLOVEBOX_CMD_SLOTS {CMD_SLOTS}\n"
    ));
    std::fs::write(out.join("models.inc"), includes).unwrap();
    std::fs::write(out.join("ntt_factory.inc"), factory).unwrap();
    let configs: Vec<String> = NTT_CONFIGS
        .iter()
        .map(|(n, c)| format!("{{{n}, {c}}}"))
        .collect();
    std::fs::write(out.join("ntt_configs.inc"), configs.join(", ")).unwrap();

    let include = root.join("include");
    if stale {
        cc::Build::new()
            .cpp(true)
            .files(&sources)
            .file(include.join("verilated.cpp"))
            .file(include.join("verilated_threads.cpp"))
            .include(&include)
            .include(include.join("vltstd"))
            .define("VM_COVERAGE", "0")
            .define("VM_SC", "0")
            .define("VM_TRACE", "0")
            .flag_if_supported("-std=c++17")
            .flag_if_supported("-faligned-new")
            .flag_if_supported("-fcf-protection=none")
            .opt_level(1)
            .debug(false)
            .warnings(false)
            .cargo_metadata(false)
            .compile("glovebox_sim_models");
        std::fs::write(&stamp, &fingerprint).unwrap();
    }
    cxx_build::bridges([
        "src/lib.rs",
        "src/ks.rs",
        "src/br.rs",
        "src/device.rs",
        "src/accelerator.rs",
    ])
    .file("cpp/sim.cpp")
    .file("cpp/ks.cpp")
    .file("cpp/br.cpp")
    .file("cpp/cmd.cpp")
    .file("cpp/accelerator.cpp")
    .include(&include)
    .include(include.join("vltstd"))
    .include(&out)
    .include(&manifest)
    .define("VM_COVERAGE", "0")
    .define("VM_SC", "0")
    .define("VM_TRACE", "0")
    .flag_if_supported("-std=c++17")
    .flag_if_supported("-faligned-new")
    .opt_level(2)
    .debug(false)
    .warnings(false)
    .compile("glovebox_sim");
    // After the bridge, so the linker resolves the bridge's references into the models.
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=glovebox_sim_models");
    println!("cargo:rustc-link-lib=pthread");
}

/// What the Verilated models depend on: the RTL and its list, this script, and Verilator's
/// version.
fn fingerprint(hdl: &Path, sources: &[String], root: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in sources.iter().map(String::as_str).chain(BUILD_INPUTS) {
        f.hash(&mut h);
        std::fs::read(hdl.join(f)).unwrap_or_default().hash(&mut h);
    }
    std::fs::read(file!()).unwrap_or_default().hash(&mut h);
    NTT_CONFIGS.hash(&mut h);
    built_ks_configs().hash(&mut h);
    built_br_configs().hash(&mut h);
    root.hash(&mut h);
    format!("{:016x}", h.finish())
}
