//! A TFHE-rs integer program whose bootstraps run on Glovebox: the vitals thresholds on
//! `FheUint8`.
//!
//! The client side is TFHE-rs as its documentation writes it (`ConfigBuilder`, `ClientKey`,
//! `CompressedServerKey`, `FheUint8::encrypt`, `safe_serialize`). The server side receives
//! bytes only, imports the compressed server key into Glovebox (no secret key), and evaluates
//! "heart rate > 120", "SpO2 < 92", "systolic > 180", "respiration > 24" on the encrypted
//! readings, every patient's blocks in the same batches, with TFHE-rs lookup tables and TFHE-rs
//! ciphertexts throughout. It returns an `FheUint8` of alert flags (bit r = rule r fired). The
//! client decrypts the flags and checks them against the clear rules and against TFHE-rs's own
//! `gt`/`lt` on the same ciphertexts.
//!
//! Run: `cargo run --release --example tfhe_rs_vitals [-- --backend cpu|cpu-fft|gpu]`.

use glovebox::engine::interop::{TfheRsResidentKey, TfheRsServerKey};
use glovebox::prelude::{Backend, CpuBackend, CpuFftBackend};
use tfhe::integer::{IntegerCiphertext, RadixCiphertext};
use tfhe::prelude::*;
use tfhe::safe_serialization::{safe_deserialize, safe_serialize};
use tfhe::shortint::Ciphertext;
use tfhe::{ClientKey, CompressedServerKey, ConfigBuilder, FheUint8};

const LIMIT: u64 = 1 << 30;

/// A rule: `reading[field] > threshold` or `< threshold`.
struct Rule {
    name: &'static str,
    field: usize,
    greater: bool,
    threshold: u8,
}

const RULES: [Rule; 4] = [
    Rule {
        name: "heart rate > 120",
        field: 0,
        greater: true,
        threshold: 120,
    },
    Rule {
        name: "SpO2 < 92",
        field: 1,
        greater: false,
        threshold: 92,
    },
    Rule {
        name: "systolic > 180",
        field: 2,
        greater: true,
        threshold: 180,
    },
    Rule {
        name: "respiration > 24",
        field: 3,
        greater: true,
        threshold: 24,
    },
];

/// Block comparison signs (TFHE-rs's convention): less, equal, greater.
const LESS: u64 = 0;
const EQUAL: u64 = 1;
const GREATER: u64 = 2;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend_name = std::env::args()
        .skip_while(|a| a != "--backend")
        .nth(1)
        .unwrap_or_else(|| "cpu-fft".into());

    // ---- Client (the hospital): TFHE-rs, as documented. ------------------------------------
    let config = ConfigBuilder::default().build();
    let client_key = ClientKey::generate(config);
    let mut key_bytes = Vec::new();
    safe_serialize(
        &CompressedServerKey::new(&client_key),
        &mut key_bytes,
        LIMIT,
    )?;
    // Heart rate, SpO2, systolic pressure, respiration rate.
    let readings: [[u8; 4]; 6] = [
        [72, 98, 118, 14],
        [131, 95, 122, 18],
        [88, 89, 181, 26],
        [120, 92, 180, 24],
        [121, 91, 200, 25],
        [60, 99, 110, 12],
    ];
    let mut uploads: Vec<Vec<u8>> = Vec::new();
    for reading in &readings {
        for &v in reading {
            let mut bytes = Vec::new();
            safe_serialize(&FheUint8::encrypt(v, &client_key), &mut bytes, LIMIT)?;
            uploads.push(bytes);
        }
    }
    println!(
        "client: {} patients, compressed server key {:.1} MB",
        readings.len(),
        key_bytes.len() as f64 / 1e6
    );

    // ---- Server: bytes in, Glovebox bootstraps, bytes out. ---------------------------------
    let start = std::time::Instant::now();
    let key = TfheRsServerKey::from_safe_serialized(&key_bytes)?;
    let backend: Box<dyn Backend> = match backend_name.as_str() {
        "cpu" => Box::new(CpuBackend::new()),
        "cpu-fft" => Box::new(CpuFftBackend::new()),
        "gpu" => Box::new(glovebox::kernels::GpuBackend::new()?),
        other => return Err(format!("unknown backend {other}").into()),
    };
    let server = key.upload(backend.as_ref())?;
    let fields: Vec<RadixCiphertext> = uploads
        .iter()
        .map(|b| {
            Ok(safe_deserialize::<FheUint8>(b.as_slice(), LIMIT)?
                .into_raw_parts()
                .0)
        })
        .collect::<Result<_, String>>()?;
    let (flags, bootstraps) = alert_flags(&server, &fields, readings.len())?;
    let replies: Vec<Vec<u8>> = flags
        .into_iter()
        .map(|f| {
            let mut bytes = Vec::new();
            safe_serialize(&f, &mut bytes, LIMIT).map(|_| bytes)
        })
        .collect::<Result<_, _>>()?;
    println!(
        "server ({}): {} bootstraps in {:.2} s, key import included",
        backend.name(),
        bootstraps,
        start.elapsed().as_secs_f64()
    );

    // ---- Client: decrypt, check against the clear rules and TFHE-rs's own comparisons. ----
    tfhe::set_server_key(
        safe_deserialize::<CompressedServerKey>(key_bytes.as_slice(), LIMIT)?.decompress(),
    );
    for (p, (reading, reply)) in readings.iter().zip(&replies).enumerate() {
        let flags: u8 = safe_deserialize::<FheUint8>(reply.as_slice(), LIMIT)?.decrypt(&client_key);
        let mut fired = Vec::new();
        for (r, rule) in RULES.iter().enumerate() {
            let v = reading[rule.field];
            let clear = if rule.greater {
                v > rule.threshold
            } else {
                v < rule.threshold
            };
            let field =
                safe_deserialize::<FheUint8>(uploads[4 * p + rule.field].as_slice(), LIMIT)?;
            let tfhe_rs = if rule.greater {
                field.gt(rule.threshold)
            } else {
                field.lt(rule.threshold)
            };
            let tfhe_rs: bool = tfhe_rs.decrypt(&client_key);
            let glovebox = flags >> r & 1 == 1;
            assert_eq!(glovebox, clear, "patient {p}, {}", rule.name);
            assert_eq!(
                glovebox, tfhe_rs,
                "patient {p}, {}: TFHE-rs disagrees",
                rule.name
            );
            if glovebox {
                fired.push(rule.name);
            }
        }
        println!("patient {p} {reading:?}: alerts {fired:?}");
    }
    println!("every flag equals the clear rule and TFHE-rs's own comparison");
    Ok(())
}

/// The alert flags of every patient, all rules in the same batches: four rounds of
/// bootstraps (block signs; two rounds of sign merging, the second also applying the rule;
/// packing the flags two per block). Returns the flags and the bootstrap count.
fn alert_flags(
    server: &TfheRsResidentKey,
    fields: &[RadixCiphertext],
    patients: usize,
) -> Result<(Vec<FheUint8>, usize), glovebox::engine::Error> {
    let mut bootstraps = 0;
    // Round 1: each 2-bit block against the threshold's block: a sign. One table per
    // threshold block value (4), every block of every rule of every patient in one batch.
    let sign_tables: Vec<_> = (0..4u64)
        .map(|t| {
            server.generate_lookup_table(move |x| match (x % 4).cmp(&t) {
                std::cmp::Ordering::Less => LESS,
                std::cmp::Ordering::Equal => EQUAL,
                std::cmp::Ordering::Greater => GREATER,
            })
        })
        .collect();
    let (mut blocks, mut tables) = (Vec::new(), Vec::new());
    for p in 0..patients {
        for rule in &RULES {
            let radix = &fields[4 * p + rule.field];
            for (i, block) in radix.blocks().iter().enumerate() {
                blocks.push(block);
                tables.push(&sign_tables[(rule.threshold as usize >> (2 * i)) & 3]);
            }
        }
    }
    let signs = server.apply_lookup_table_batch(&blocks, &tables)?;
    bootstraps += signs.len();

    // Round 2: merge the signs of blocks (3, 2) and (1, 0): the higher block decides unless
    // equal. (Clamped to a sign, so that the table's degree, which TFHE-rs takes over every
    // input, stays 2 and two merged signs still pack under the key's degree bound.)
    let merge = |hi: u64, lo: u64| {
        if hi == EQUAL {
            lo.min(GREATER)
        } else {
            hi.min(GREATER)
        }
    };
    let merge_table = server.generate_lookup_table_bivariate(merge);
    let pairs: Vec<(&Ciphertext, &Ciphertext)> = signs
        .chunks_exact(4)
        .flat_map(|s| [(&s[3], &s[2]), (&s[1], &s[0])])
        .collect();
    let merged =
        server.apply_bivariate_lookup_table_batch(&pairs, &vec![&merge_table; pairs.len()])?;
    bootstraps += merged.len();

    // Round 3: the last merge with the rule applied: 1 if the reading is beyond the threshold.
    let beyond = [true, false].map(|greater| {
        server.generate_lookup_table_bivariate(move |hi, lo| {
            let sign = merge(hi, lo);
            u64::from(if greater {
                sign == GREATER
            } else {
                sign == LESS
            })
        })
    });
    let pairs: Vec<(&Ciphertext, &Ciphertext)> =
        merged.chunks_exact(2).map(|m| (&m[0], &m[1])).collect();
    let rule_tables: Vec<_> = (0..patients)
        .flat_map(|_| RULES.iter().map(|r| &beyond[usize::from(!r.greater)]))
        .collect();
    let fired = server.apply_bivariate_lookup_table_batch(&pairs, &rule_tables)?;
    bootstraps += fired.len();

    // Round 4: two flags per 2-bit block: rule 2k + 1 in the high bit, rule 2k in the low.
    let pack = server.generate_lookup_table_bivariate(|hi, lo| 2 * hi + lo);
    let pairs: Vec<(&Ciphertext, &Ciphertext)> =
        fired.chunks_exact(2).map(|f| (&f[1], &f[0])).collect();
    let packed = server.apply_bivariate_lookup_table_batch(&pairs, &vec![&pack; pairs.len()])?;
    bootstraps += packed.len();

    // An FheUint8 per patient: the two flag blocks, then two trivial zero blocks.
    let zero = {
        let mut z = packed[0].clone();
        z.ct.as_mut().fill(0);
        z.degree = tfhe::shortint::ciphertext::Degree::new(0);
        z.set_noise_level(
            tfhe::shortint::ciphertext::NoiseLevel::ZERO,
            server.key().max_noise_level(),
        );
        z
    };
    let flags = packed
        .chunks_exact(2)
        .map(|b| {
            let radix =
                RadixCiphertext::from(vec![b[0].clone(), b[1].clone(), zero.clone(), zero.clone()]);
            FheUint8::from_raw_parts(
                radix,
                tfhe::FheUint8Id,
                Default::default(),
                Default::default(),
            )
        })
        .collect();
    Ok((flags, bootstraps))
}
