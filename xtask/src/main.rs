//! Developer commands for twofa. `cargo xtask --help` lists them.
//!
//! Each subcommand lives in its own module with its own `Args` and `run`, so a
//! newcomer finds `cargo xtask lab` in `lab/`, `cargo xtask apk` in `apk.rs`…

use anyhow::Result;
use clap::{Parser, Subcommand};

mod apk;
mod bench;
mod certs;
mod demo;
mod deps;
mod lab;
mod nix;
mod pg;
mod screenshots;
mod test;
mod util;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Developer commands for twofa")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start PostgreSQL and the service locally and print the URL (Ctrl-C stops both).
    Demo(demo::Args),
    /// The whole suite: formatting, clippy, every test, with the servers it needs.
    Test(test::Args),
    /// Measure the figures recorded in docs/benchmarks.md.
    Bench(bench::Args),
    /// The fault-tolerant cluster in network namespaces (root).
    Lab(lab::Args),
    /// Build, sign and verify the Android authenticator APK.
    Apk(apk::Args),
    /// Check every .nix file: parse, deadnix, formatting, pure evaluation.
    Nix(nix::Args),
    /// Screenshots of every page into docs/screenshots/.
    Screenshots(screenshots::Args),
    /// Start a throwaway PostgreSQL for development and print its URL.
    Pg(pg::Args),
}

fn main() {
    let cli = Cli::parse();
    let result: Result<()> = match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Test(a) => test::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Lab(a) => lab::run(a),
        Command::Apk(a) => apk::run(a),
        Command::Nix(a) => nix::run(a),
        Command::Screenshots(a) => screenshots::run(a),
        Command::Pg(a) => pg::run(a),
    };
    if let Err(err) = result {
        eprintln!("\nxtask: error: {err:#}");
        std::process::exit(1);
    }
}
