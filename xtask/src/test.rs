//! `cargo xtask test`: everything CI checks (`.ci/run` runs exactly this).
//!
//! Formatting, clippy, the Debian packages the tests drive, every Rust test
//! against a throwaway PostgreSQL, then the APK, the Nix files and (as root)
//! the lab. Each step is timed; a failing step does not stop the others, so
//! one run shows everything that is wrong. The last line counts the steps.

use crate::{apk, deps, lab, nix, pg, util};
use anyhow::{Context, Result};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Skip the lab (network namespaces; slow, root only).
    #[arg(long)]
    skip_lab: bool,
    /// Skip building and checking the Android APK.
    #[arg(long)]
    skip_apk: bool,
    /// Skip the Nix checks.
    #[arg(long)]
    skip_nix: bool,
    /// Run only this step (for development).
    #[arg(long, value_enum)]
    only: Option<Step>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Step {
    Fmt,
    Clippy,
    Packages,
    CargoTest,
    Apk,
    Nix,
    Lab,
}

impl Step {
    const ALL: [Step; 7] = [
        Step::Fmt,
        Step::Clippy,
        Step::Packages,
        Step::CargoTest,
        Step::Apk,
        Step::Nix,
        Step::Lab,
    ];

    fn name(self) -> &'static str {
        match self {
            Step::Fmt => "fmt",
            Step::Clippy => "clippy",
            Step::Packages => "packages",
            Step::CargoTest => "cargo-test",
            Step::Apk => "apk",
            Step::Nix => "nix",
            Step::Lab => "lab",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Step::Fmt => "cargo fmt --all --check",
            Step::Clippy => "cargo clippy --workspace --all-targets -- -D warnings",
            Step::Packages => "Debian packages the tests drive",
            Step::CargoTest => "cargo test --workspace against a throwaway PostgreSQL",
            Step::Apk => "Android APK: build, sign, verify, JUnit",
            Step::Nix => "Nix files: parse, deadnix, format, evaluation",
            Step::Lab => "lab: the cluster in network namespaces",
        }
    }

    /// What to do next when this step failed.
    fn hint(self) -> &'static str {
        match self {
            Step::Fmt => "run `cargo fmt --all` and commit the result",
            Step::Clippy => {
                "fix the warnings above; `cargo xtask test --only clippy` repeats just this step"
            }
            Step::Packages => {
                "install them by hand: sudo apt-get update && sudo apt-get install -y \
                 postgresql oathtool zbar-tools chromium chromium-driver"
            }
            Step::CargoTest => {
                "to rerun one test: `cargo xtask pg` in another terminal, paste the export \
                 line it prints, then `cargo test -p twofa <test name>`"
            }
            Step::Apk => "`cargo xtask apk` builds the APK alone and shows the failing tool",
            Step::Nix => "`cargo xtask nix` repeats the Nix checks alone",
            Step::Lab => "`cargo xtask lab --help` lists the scenarios to run one at a time",
        }
    }

    fn skipped_because(self, args: &Args) -> Option<&'static str> {
        if let Some(only) = args.only {
            return (only != self).then_some("not the --only step");
        }
        match self {
            Step::Apk if args.skip_apk => Some("--skip-apk"),
            Step::Nix if args.skip_nix => Some("--skip-nix"),
            Step::Lab if args.skip_lab => Some("--skip-lab"),
            Step::Lab if !util::is_root() => Some("needs root (network namespaces)"),
            _ => None,
        }
    }

    fn run(self) -> Result<()> {
        match self {
            Step::Fmt => cargo(&["fmt", "--all", "--check"]),
            Step::Clippy => cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
            Step::Packages => packages(),
            Step::CargoTest => cargo_test(),
            Step::Apk => apk::ci(),
            Step::Nix => nix::ci(),
            Step::Lab => lab::ci(),
        }
    }
}

enum Outcome {
    Passed,
    Failed(String),
    Skipped(&'static str),
}

pub fn run(args: Args) -> Result<()> {
    util::interrupted(); // Ctrl-C stops the current step, then we clean up
    let started = Instant::now();
    let mut results: Vec<(Step, Outcome, Duration)> = Vec::new();
    for step in Step::ALL {
        if let Some(reason) = step.skipped_because(&args) {
            results.push((step, Outcome::Skipped(reason), Duration::ZERO));
            continue;
        }
        if util::interrupted() {
            results.push((step, Outcome::Skipped("interrupted"), Duration::ZERO));
            continue;
        }
        eprintln!("\n==> [{}] {}", step.name(), step.describe());
        let t = Instant::now();
        let outcome = match catch_unwind(AssertUnwindSafe(|| step.run())) {
            Ok(Ok(())) => Outcome::Passed,
            Ok(Err(err)) => Outcome::Failed(format!("{err:#}")),
            Err(panic) => Outcome::Failed(panic_text(&panic)),
        };
        let took = t.elapsed();
        match &outcome {
            Outcome::Passed => eprintln!("    [{}] passed in {:.1} s", step.name(), secs(took)),
            Outcome::Failed(why) => {
                eprintln!("    [{}] FAILED in {:.1} s: {why}", step.name(), secs(took))
            }
            Outcome::Skipped(_) => {}
        }
        results.push((step, outcome, took));
    }

    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    println!("\nstep            time  result");
    for (step, outcome, took) in &results {
        let result = match outcome {
            Outcome::Passed => {
                passed += 1;
                "passed".to_string()
            }
            Outcome::Failed(_) => {
                failed += 1;
                "FAILED".to_string()
            }
            Outcome::Skipped(why) => {
                skipped += 1;
                format!("skipped ({why})")
            }
        };
        let time = if matches!(outcome, Outcome::Skipped(_)) {
            String::new()
        } else {
            format!("{:.1} s", secs(*took))
        };
        println!("{:<11} {time:>8}  {result}", step.name());
    }
    println!("total {:.0} s", secs(started.elapsed()));
    for (step, outcome, _) in &results {
        if let Outcome::Failed(why) = outcome {
            println!("\n{} failed: {}", step.name(), first_lines(why, 6));
            println!("  next: {}", step.hint());
        }
    }
    println!();
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 || util::interrupted() {
        std::process::exit(1);
    }
    Ok(())
}

fn cargo(args: &[&str]) -> Result<()> {
    run_cargo(Command::new(env_cargo()).args(args), args)
}

/// Runs cargo with inherited output; a failure names the command without
/// its environment (which holds the throwaway database password).
fn run_cargo(cmd: &mut Command, args: &[&str]) -> Result<()> {
    let shown = format!("cargo {}", args.join(" "));
    let status = cmd
        .current_dir(util::root())
        .status()
        .with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        anyhow::bail!("`{shown}` failed ({status}); its output above says where");
    }
    Ok(())
}

/// The cargo that runs us (rustup's proxy may not be on PATH under sudo/CI).
fn env_cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

fn packages() -> Result<()> {
    pg::ensure_installed()?;
    deps::ensure(
        "the service tests",
        &[
            // RFC 6238 codes from a program that is not ours
            deps::pkg("oathtool", "/usr/bin/oathtool"),
            // decodes the enrolment QR code
            deps::pkg("zbar-tools", "/usr/bin/zbarimg"),
            // browser tests of the pages
            deps::pkg("chromium", "/usr/bin/chromium"),
            deps::pkg("chromium-driver", "/usr/bin/chromedriver"),
        ],
    )
}

/// The cargo-test step's cargo command; [`tested_twofa`] builds with the
/// same one.
const TEST_ARGS: [&str; 2] = ["test", "--workspace"];

/// The `twofa` binary exactly as the cargo-test step builds it, built
/// here if it is not up to date, and its path from cargo's own messages.
///
/// `cargo build -p twofa` would resolve features without the dev-dependencies
/// and the other members, and so compile a second copy of tokio, hyper,
/// warp… next to the one `cargo test --workspace` built; asking the same
/// command (with `--no-run`) finds everything fresh after that step and
/// still builds what is missing on a machine where it never ran. Cargo's
/// fingerprints ignore the `TWOFA_*` variables the step sets (no build
/// script or `env!` of ours reads them), so they change nothing here.
pub fn tested_twofa() -> Result<std::path::PathBuf> {
    let mut args = TEST_ARGS.to_vec();
    args.extend(["--no-run", "--message-format=json-render-diagnostics"]);
    let shown = format!("cargo {}", args.join(" "));
    let out = Command::new(env_cargo())
        .args(&args)
        .current_dir(util::root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("could not start {shown}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "`{shown}` failed ({}); its output above says where",
            out.status
        );
    }
    twofa_executable(&String::from_utf8_lossy(&out.stdout))
        .with_context(|| format!("`{shown}` reported no twofa binary"))
}

/// The plain (not unit-test) `twofa` binary among cargo's JSON messages.
fn twofa_executable(messages: &str) -> Option<std::path::PathBuf> {
    messages
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| m["target"]["name"] == "twofa" && m["profile"]["test"] == false)
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .find_map(|m| m["executable"].as_str().map(std::path::PathBuf::from))
}

fn cargo_test() -> Result<()> {
    // The tests drive these programs; the step installs them itself so that
    // `--only cargo-test` passes on a machine where `packages` never ran.
    packages()?;
    // The service tests compute codes with the authenticator's own Java core
    // too, so both sides are checked against each other.
    let classes = apk::core_classes().context("compiling the authenticator core for the tests")?;
    let cluster = pg::Cluster::start("test", pg::Options::for_tests())?;
    let args = TEST_ARGS;
    let result = run_cargo(
        Command::new(env_cargo())
            .args(args)
            .env("TWOFA_TEST_DATABASE_URL", cluster.url())
            .env("TWOFA_TEST_DATABASE_CA_FILE", cluster.ca_file())
            .env("TWOFA_AUTHENTICATOR_CLASSES", &classes),
        &args,
    );
    if result.is_err() {
        eprintln!("    PostgreSQL log: {}", cluster.log_path().display());
        let mut cluster = cluster;
        cluster.keep();
    }
    result
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    format!("panicked: {text}")
}

fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().take(n).collect();
    lines.join("\n  ")
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::twofa_executable;
    use std::path::PathBuf;

    #[test]
    fn the_plain_twofa_binary_is_taken_not_its_unit_test_harness() {
        // The shape of `cargo test --no-run --message-format=json` lines:
        // the bin's unit tests come first, then the binary itself, then a
        // crate that only shares the name's prefix.
        let messages = [
            r#"{"reason":"compiler-artifact","target":{"name":"twofa","kind":["bin"]},"profile":{"test":true},"executable":"/t/debug/deps/twofa-0123"}"#,
            r#"{"reason":"compiler-artifact","target":{"name":"twofa","kind":["lib"]},"profile":{"test":false},"executable":null}"#,
            r#"{"reason":"compiler-message","target":{"name":"twofa","kind":["bin"]}}"#,
            r#"{"reason":"compiler-artifact","target":{"name":"twofa","kind":["bin"]},"profile":{"test":false},"executable":"/t/debug/twofa"}"#,
            r#"{"reason":"compiler-artifact","target":{"name":"twofa-client","kind":["bin"]},"profile":{"test":false},"executable":"/t/debug/twofa-client"}"#,
            r#"{"reason":"build-finished","success":true}"#,
        ]
        .join("\n");
        assert_eq!(
            twofa_executable(&messages),
            Some(PathBuf::from("/t/debug/twofa"))
        );
        // Only the harness (or nothing): no binary to run.
        let harness_only = messages.lines().next().unwrap().to_string();
        assert_eq!(twofa_executable(&harness_only), None);
        assert_eq!(twofa_executable("not json\n"), None);
    }
}
