//! The `glovebox` command: parses the arguments and dispatches to one module per subcommand
//! (`src/cli/`). Exit codes: 0 success, 1 an error (bad input, a backend fault), 2 a usage
//! error, 3 a computation whose results failed their check.

mod cli;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "glovebox",
    version,
    about = "Hardware-accelerated TFHE for encrypted medical data",
    long_about = "Hardware-accelerated TFHE for encrypted medical data: a server computes on \
                  patient data it never sees, and every result is checked against the \
                  plaintext computation.\n\nExit codes: 0 success, 1 an error, 2 a usage \
                  error, 3 results that failed their check."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Vitals(cli::vitals::Args),
    Bench(cli::bench::Args),
    Params(cli::params::Args),
    Demo(cli::demo::Args),
    Sim(cli::sim::Args),
    Serve(cli::serve::Args),
    Clinic(cli::clinic::Args),
    Device(cli::device::Args),
    Load(cli::load::Args),
    Predict(cli::predict::Args),
    Worker(cli::worker::Args),
}

fn main() {
    // A closed standard output (`glovebox params | head`) ends the command quietly, as it
    // does any Unix filter, instead of a panic in `println!`.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let result = match Cli::parse().command {
        Command::Vitals(args) => cli::vitals::run(args),
        Command::Bench(args) => cli::bench::run(args),
        Command::Params(args) => cli::params::run(args),
        Command::Demo(args) => cli::demo::run(args),
        Command::Sim(args) => cli::sim::run(args),
        Command::Serve(args) => cli::serve::run(args),
        Command::Clinic(args) => cli::clinic::run(args),
        Command::Device(args) => cli::device::run(args),
        Command::Load(args) => cli::load::run(args),
        Command::Predict(args) => cli::predict::run(args),
        Command::Worker(args) => cli::worker::run(args),
    };
    if let Err(e) = result {
        eprintln!("glovebox: {e}");
        std::process::exit(e.exit_code());
    }
}
