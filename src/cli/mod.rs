//! The `glovebox` command's subcommands, one module each, and what they share: the flattened
//! arguments (`--params`, `--backend`, `--json`), the error type, progress bars, and the
//! [`Report`] trait (one `serde` type per command, printed as JSON or as a table).

pub mod bench;
pub mod clinic;
pub mod demo;
pub mod device;
pub mod load;
pub mod params;
pub mod plot;
pub mod predict;
pub mod serve;
#[cfg(feature = "sim")]
pub mod sim;
#[cfg(not(feature = "sim"))]
#[path = "sim_absent.rs"]
pub mod sim;
pub mod vitals;
pub mod worker;

use glovebox::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;

/// What a subcommand can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The engine, a backend or the input refused or failed (typed engine error).
    #[error(transparent)]
    Engine(#[from] Error),
    /// The service or its clients failed (HTTP, the store, the server's answer).
    #[error(transparent)]
    Service(#[from] glovebox::service::ServiceError),
    /// The command line asks for something this command cannot do: an option out of range, a
    /// combination that does not fit, a backend this build does not have (exit code 2, as
    /// clap's own usage errors).
    #[error("{0}")]
    Usage(String),
    /// The computation ran, but its results failed the check against the plaintext or the
    /// reference ("3 of 64 results decrypted wrongly").
    #[error("check failed: {failed} of {total} {what}")]
    CheckFailed {
        what: String,
        failed: usize,
        total: usize,
    },
    /// A plot (`--plot FILE.svg`) could not be written.
    #[error(transparent)]
    Plot(#[from] plot::PlotError),
}

impl CliError {
    /// The process exit code: 2 for a usage error (as clap's own), 3 for a failed check, 1
    /// for any other error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Engine(_) | CliError::Service(_) | CliError::Plot(_) => 1,
            CliError::Usage(_) => 2,
            CliError::CheckFailed { .. } => 3,
        }
    }
}

/// The application's errors: the engine's pass through, input it cannot take is a usage
/// error (the command's flags asked for it: an empty ward, a set too small for the job).
impl From<glovebox::health::Error> for CliError {
    fn from(e: glovebox::health::Error) -> Self {
        match e {
            glovebox::health::Error::Engine(e) => CliError::Engine(e),
            glovebox::health::Error::InvalidInput(m) => CliError::Usage(m),
        }
    }
}

pub type CliResult<T> = std::result::Result<T, CliError>;

/// `Ok` when nothing failed the check, else [`CliError::CheckFailed`].
pub fn check_passed(failed: usize, total: usize, what: impl Into<String>) -> CliResult<()> {
    if failed == 0 {
        Ok(())
    } else {
        Err(CliError::CheckFailed {
            what: what.into(),
            failed,
            total,
        })
    }
}

/// `--params`: a named parameter set.
#[derive(clap::Args, Clone, Debug)]
pub struct ParamsArg {
    /// Parameter set name (see `glovebox params`), or an alias: default, hpu, test.
    #[arg(
        long = "params",
        value_name = "PARAMS",
        default_value = "PARAM_MESSAGE_2_CARRY_2_KS_PBS"
    )]
    pub name: String,
}

impl ParamsArg {
    /// The named set; an unknown name is a usage error (exit code 2) that lists the sets.
    pub fn resolve(&self) -> CliResult<&'static Parameters> {
        let name = match self.name.to_ascii_lowercase().as_str() {
            "default" => PARAM_MESSAGE_2_CARRY_2_KS_PBS.name,
            "hpu" => V1_8_HPU_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128.name,
            "test" => TEST_PARAMS_INSECURE.name,
            _ => self.name.as_str(),
        };
        Parameters::by_name(name).map_err(|_| {
            let names: Vec<&str> = glovebox::engine::parameters::ALL
                .iter()
                .map(|p| p.name)
                .collect();
            CliError::Usage(format!(
                "no parameter set named `{}` (available: default, hpu, test, {})",
                self.name,
                names.join(", ")
            ))
        })
    }
}

/// The backends the command can run bootstraps on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// The CPU backend (NTT over p = 2^64 − 2^32 + 1, all cores): exact, bit for bit the GPU
    /// and the accelerator.
    Cpu,
    /// The CPU FFT backend (f64 FFT, TFHE-rs's FFT64 arithmetic, all cores): approximate, every
    /// message decrypts to f(m) with the set's failure probability.
    #[value(name = "cpu-fft")]
    CpuFft,
    /// The GPU backend (wgpu: Vulkan, Metal, DX12); never falls back to the CPU.
    Gpu,
    /// The simulated accelerator (the RTL of hdl/, Verilated): bit for bit the CPU backend,
    /// thousands of times slower; units for N = 512 (the test set) and N = 2048.
    Sim,
}

/// Parses a backend name, refusing others with the list of those that exist.
fn parse_backend(name: &str) -> std::result::Result<BackendKind, String> {
    use clap::ValueEnum;
    BackendKind::from_str(name, true).map_err(|_| {
        let names: Vec<String> = BackendKind::value_variants()
            .iter()
            .filter_map(|b| b.to_possible_value().map(|v| v.get_name().to_string()))
            .collect();
        format!("unknown backend `{name}` (available: {})", names.join(", "))
    })
}

/// `--backend`: where the bootstraps run.
#[derive(clap::Args, Clone, Debug)]
pub struct BackendArg {
    /// Backend that runs the bootstraps: cpu-fft (f64 FFT, approximate; the fastest on a CPU,
    /// the default), cpu (exact NTT: bit for bit the GPU and the accelerator), gpu (wgpu:
    /// Vulkan, Metal, DX12), or sim (the accelerator's RTL, simulated: slow; use a small
    /// parameter set).
    #[arg(
        long = "backend",
        value_name = "BACKEND",
        default_value = "cpu-fft",
        value_parser = parse_backend
    )]
    pub kind: BackendKind,
}

impl BackendArg {
    /// The backend's name as `--backend` takes it.
    pub fn name(&self) -> String {
        use clap::ValueEnum;
        self.kind
            .to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_string())
    }

    /// Opens the backend (the GPU one fails with a typed error when no adapter exists; the
    /// simulated accelerator is a usage error in a build without the feature `sim`).
    pub fn open(&self) -> CliResult<Arc<dyn Backend>> {
        Ok(match self.kind {
            BackendKind::Cpu => Arc::new(CpuBackend::new()),
            BackendKind::CpuFft => Arc::new(glovebox::engine::backend::CpuFftBackend::new()),
            BackendKind::Gpu => Arc::new(glovebox::kernels::GpuBackend::new()?),
            #[cfg(feature = "sim")]
            BackendKind::Sim => Arc::new(glovebox::sim::backend::SimBackend::new()),
            #[cfg(not(feature = "sim"))]
            BackendKind::Sim => return Err(sim::absent("--backend sim")),
        })
    }
}

/// `--json`: machine-readable output.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct OutputArgs {
    /// Machine-readable output: one JSON object (no table, no progress bars).
    #[arg(long, global = true)]
    pub json: bool,
}

/// A command's result: serialized for `--json`, a table for people.
pub trait Report: serde::Serialize {
    /// The table (or lines) a person reads.
    fn print_table(&self);

    /// The JSON form (one line, so scripts can read the last line of the output).
    fn to_json(&self) -> String {
        serde_json::to_string(self).expect("reports serialize to plain JSON")
    }

    fn emit(&self, output: OutputArgs) {
        if output.json {
            println!("{}", self.to_json());
        } else {
            self.print_table();
        }
    }
}

/// A progress bar (hidden under `--json`) with an indicatif template.
pub fn progress_bar(output: OutputArgs, len: u64, template: &str) -> ProgressBar {
    let bar = if output.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(len)
    };
    bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
    bar
}

/// Server-key generation with a progress bar over the GGSWs.
pub fn server_key_with_bar<E>(
    output: OutputArgs,
    params: &Parameters,
    make: impl FnOnce(&(dyn Fn(usize, usize) + Sync)) -> std::result::Result<ServerKey, E>,
) -> std::result::Result<ServerKey, E> {
    let bar = progress_bar(
        output,
        params.lwe_dimension.0 as u64,
        "key generation {bar:40} {pos}/{len} GGSW [{elapsed}]",
    );
    let key = make(&|done, _| bar.set_position(done as u64));
    bar.finish_and_clear();
    key
}

/// The compressed server key (to upload to a service) with a progress bar over the GGSWs.
pub fn compressed_key_with_bar(
    output: OutputArgs,
    clinic: &glovebox::vitals::Clinic,
) -> Result<CompressedServerKey> {
    let bar = progress_bar(
        output,
        clinic.parameters().lwe_dimension.0 as u64,
        "compressed server key {bar:40} {pos}/{len} GGSW [{elapsed}]",
    );
    let key = clinic
        .client_key()
        .compressed_server_key_with_progress(&|done, _| bar.set_position(done as u64));
    bar.finish_and_clear();
    key
}

/// The worker threads the CPU work runs on: rayon's pool (`RAYON_NUM_THREADS` is honoured).
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// The security level alone ("128-bit", "INSECURE"); `glovebox params` prints the source.
pub fn security_level(params: &Parameters) -> String {
    match params.security {
        SecurityLevel::Secure { bits, .. } => format!("{bits}-bit"),
        SecurityLevel::Insecure { .. } => "INSECURE".into(),
    }
}

/// Bytes as MiB with one decimal.
pub fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_parse_by_name_and_unknown_ones_are_listed() {
        assert_eq!(parse_backend("cpu"), Ok(BackendKind::Cpu));
        assert_eq!(parse_backend("GPU"), Ok(BackendKind::Gpu));
        assert_eq!(
            parse_backend("quantum"),
            Err("unknown backend `quantum` (available: cpu, cpu-fft, gpu, sim)".into())
        );
    }

    #[test]
    fn failed_checks_are_their_own_error() {
        assert!(check_passed(0, 64, "results decrypted wrongly").is_ok());
        let e = check_passed(3, 64, "results decrypted wrongly").unwrap_err();
        assert_eq!(
            e.to_string(),
            "check failed: 3 of 64 results decrypted wrongly"
        );
        assert_eq!(e.exit_code(), 3);
        assert_eq!(
            CliError::from(Error::InvalidHandle("x".into())).exit_code(),
            1
        );
    }

    #[test]
    fn security_level_without_its_source() {
        assert_eq!(security_level(&PARAM_MESSAGE_2_CARRY_2_KS_PBS), "128-bit");
        assert_eq!(security_level(&TEST_PARAMS_INSECURE), "INSECURE");
    }
}
