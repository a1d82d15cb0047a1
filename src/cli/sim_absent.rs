//! `glovebox sim` in a build without the simulated accelerator: the Verilated models of hdl/
//! take about ten minutes to build on two cores and the main job never runs them, so they sit
//! behind the cargo feature `sim` (as TFHE-rs gates its GPU and HPU backends). This stand-in
//! takes any arguments and says which feature to build with.

use super::{CliError, CliResult};

/// Simulates the accelerator's RTL cycle by cycle (not in this build: needs `--features sim`).
// Any arguments: the real subcommand's are not known without the feature.
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub rest: Vec<String>,
}

/// The usage error (exit code 2) for `what` in a build without the simulator.
pub fn absent(what: &str) -> CliError {
    CliError::Usage(format!(
        "{what} needs the simulated accelerator, which this build leaves out: build with \
         `cargo build --release --features sim` (Verilator required: bash scripts/setup.sh --test)"
    ))
}

pub fn run(_args: Args) -> CliResult<()> {
    Err(absent("glovebox sim"))
}
