//! `cargo xtask lab`: the fault-tolerant cluster of docs/architecture.md §1 in network
//! namespaces on one machine — two HAProxy + keepalived proxies sharing the
//! VIP, three twofa apps, three etcd + Patroni + PostgreSQL nodes and a
//! client — and the fault scenarios of `vm-tests/scenarios/` run against it.
//!
//! Everything (addresses, ports, timings) comes from `vm-tests/topology.toml`.
//! Logs and data live under `target/lab/<node>/`, results under
//! `target/lab/results/`.

mod cluster;
pub mod config;
mod net;
mod overload;
mod pause;
mod procs;
mod scenario;
pub mod topology;

use crate::util;
use anyhow::{bail, Result};
use cluster::Lab;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The user keepalived runs check scripts as (`script_user` in
/// nixos-modules/render.nix; the proxy role creates it on the images).
pub const KEEPALIVED_SCRIPT_USER: &str = "keepalived_script";

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Bring the whole cluster up from nothing (tears down a leftover lab first).
    Up {
        /// Use target/release/twofa as it is instead of building it.
        #[arg(long)]
        no_build: bool,
    },
    /// Stop every lab process and delete the namespaces.
    Down,
    /// Show each node, its processes, the Patroni leader, the VIP holder and memory.
    Status,
    /// Run one scenario (or --all) against the lab, bringing it up if needed.
    Run {
        /// Scenario name: a file vm-tests/scenarios/<name>.toml.
        scenario: Option<String>,
        /// Run every scenario, in the order of the fault table (docs/architecture.md §5).
        #[arg(long)]
        all: bool,
        /// The long profile (on demand) instead of the short one (CI).
        #[arg(long)]
        full: bool,
        /// Seed for the chaos scenario (default: time-based, printed).
        #[arg(long)]
        seed: Option<u64>,
        /// Leave the lab up afterwards even if this run brought it up.
        #[arg(long)]
        keep: bool,
        /// Use target/release/twofa as it is instead of building it.
        #[arg(long)]
        no_build: bool,
    },
    /// The password overload through the VIP with three, two and one apps
    /// in rotation: the shed rate per app count (docs/benchmarks.md).
    Overload {
        /// Clients posting passwords back to back, each from its own
        /// source address of the lab's subnet.
        #[arg(long, default_value_t = 200)]
        clients: usize,
        /// Length of each of the three runs, seconds.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Accounts registered through the VIP and posted to in turn.
        #[arg(long, default_value_t = 400)]
        accounts: usize,
        /// Cap each app's twofa at this many cores (a cgroup per app), so
        /// that apps add capacity as separate hosts would; by default the
        /// apps share the machine's cores.
        #[arg(long)]
        app_cpu: Option<f64>,
        /// Leave the lab up afterwards even if this command brought it up.
        #[arg(long)]
        keep: bool,
        /// Use target/release/twofa as it is instead of building it.
        #[arg(long)]
        no_build: bool,
    },
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

extern "C" fn on_signal(_sig: i32) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

extern "C" {
    fn signal(sig: i32, handler: extern "C" fn(i32)) -> usize;
}

/// Ctrl-C and SIGTERM set a flag that every wait loop checks, so the lab is
/// torn down instead of left behind.
fn trap_signals() {
    // SAFETY: the handler only stores to an atomic, which is signal-safe.
    unsafe {
        signal(2, on_signal);
        signal(15, on_signal);
    }
}

pub fn run(args: Args) -> Result<()> {
    net::require_root("cargo xtask lab")?;
    trap_signals();
    let lab = Lab::new()?;
    match args.cmd {
        Cmd::Up { no_build } => {
            lab.install(!no_build)?;
            up(&lab)?;
            eprintln!("    `cargo xtask lab status` shows it; `cargo xtask lab down` stops it");
            Ok(())
        }
        Cmd::Down => {
            if lab.down()? {
                eprintln!("==> lab down");
            } else {
                eprintln!("==> no lab was running");
            }
            Ok(())
        }
        Cmd::Status => lab.status(),
        Cmd::Run {
            scenario,
            all,
            full,
            seed,
            keep,
            no_build,
        } => {
            let names = match (scenario, all) {
                (Some(s), false) => vec![s],
                (None, true) => scenario::ALL.iter().map(|s| s.to_string()).collect(),
                _ => bail!("name one scenario or pass --all"),
            };
            run_scenarios(&lab, &names, full, seed, keep, !no_build)
        }
        Cmd::Overload {
            clients,
            seconds,
            accounts,
            app_cpu,
            keep,
            no_build,
        } => {
            let o = overload::Options {
                clients,
                seconds,
                accounts,
                app_cpu,
            };
            run_overload(&lab, &o, keep, !no_build)
        }
    }
}

fn run_overload(lab: &Lab, o: &overload::Options, keep: bool, build: bool) -> Result<()> {
    let mut brought_up = false;
    if net::existing()?.is_empty() || lab.wait_healthy(Duration::from_secs(60)).is_err() {
        lab.install(build)?;
        up(lab)?;
        brought_up = true;
    }
    let result = overload::run(lab, o).and_then(|runs| {
        let sources = o
            .clients
            .min(overload::source_addresses(lab, o.clients)?.len());
        let apps = match o.app_cpu {
            Some(c) => format!("each app's twofa capped at {c} core(s) by a cgroup of its own"),
            None => "the apps sharing the machine's cores".to_string(),
        };
        let md = crate::bench::vip_markdown(&runs, sources, o.accounts, &apps);
        println!("\n{md}");
        let path = lab.dir.join("results/overload.md");
        std::fs::create_dir_all(lab.dir.join("results"))?;
        std::fs::write(&path, &md)?;
        eprintln!("==> figures in {}", path.display());
        Ok(())
    });
    if (brought_up && !keep) || interrupted() || util::interrupted() {
        let _t = util::step("tearing the lab down");
        lab.down()?;
    }
    result
}

/// Brings the lab up; on any failure (a node that never comes up, Ctrl-C)
/// tears everything down again before returning the error.
fn up(lab: &Lab) -> Result<serde_json::Value> {
    if lab.down()? {
        eprintln!(
            "==> found a leftover lab (namespaces {}*) and removed it",
            net::PREFIX
        );
    }
    let _t = util::step("bringing the lab up");
    match lab.up() {
        Ok(report) => {
            let rss = lab.rss();
            let mut report = report;
            report["rss_mib"] = rss;
            let path = lab.dir.join("results/bring-up.json");
            std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
            Ok(report)
        }
        Err(e) => {
            eprintln!("==> bring-up failed; tearing the lab down");
            let _ = lab.down();
            Err(e)
        }
    }
}

fn run_scenarios(
    lab: &Lab,
    names: &[String],
    full: bool,
    seed: Option<u64>,
    keep: bool,
    build: bool,
) -> Result<()> {
    let mut brought_up = false;
    if net::existing()?.is_empty() || lab.wait_healthy(Duration::from_secs(60)).is_err() {
        lab.install(build)?;
        up(lab)?;
        brought_up = true;
    }
    // Otherwise the running lab's binaries (built by `lab up`) are used, for
    // the apps and the probe alike.
    let result = scenario::run_many(lab, names, full, seed);
    if (brought_up && !keep) || interrupted() {
        let _t = util::step("tearing the lab down");
        lab.down()?;
    }
    result
}

/// Called by `cargo xtask test` when it runs as root: brings the lab up
/// once, runs every scenario in the short profile, tears it down. Fails when
/// any scenario's figures do not hold.
pub fn ci() -> Result<()> {
    net::require_root("the lab part of cargo xtask test")?;
    trap_signals();
    let lab = Lab::new()?;
    lab.install(true)?;
    up(&lab)?;
    let names: Vec<String> = scenario::ALL.iter().map(|s| s.to_string()).collect();
    let result = scenario::run_many(&lab, &names, false, None);
    let _t = util::step("tearing the lab down");
    lab.down()?;
    result
}
