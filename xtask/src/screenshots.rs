//! `cargo xtask screenshots`: pictures of every page (register, enrol,
//! recovery codes, sign-in, code, recovery-code sign-in, welcome, error, the
//! account page and replacing the authenticator) in
//! English and Portuguese, at a 360-px phone width and a desktop width,
//! written to `docs/screenshots/`. The browser walk itself is the ignored
//! test `screenshots_of_every_page` of `service/tests/browser`, so the
//! pictures come from the same checked pages the browser tests use.

use crate::{deps, pg, util};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

#[derive(clap::Args)]
pub struct Args {
    /// Where the PNG files go (default: docs/screenshots).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    pg::ensure_installed()?;
    deps::ensure(
        "the screenshots",
        &[
            deps::pkg("chromium", "/usr/bin/chromium"),
            deps::pkg("chromium-driver", "/usr/bin/chromedriver"),
            deps::pkg("zbar-tools", "/usr/bin/zbarimg"),
        ],
    )?;
    let out = args
        .out
        .unwrap_or_else(|| util::root().join("docs/screenshots"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let out = out.canonicalize()?;
    let cluster = pg::Cluster::start("screenshots", pg::Options::for_tests())?;
    let _t = util::step(&format!("walking every page into {}", out.display()));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .args([
            "test",
            "-p",
            "twofa",
            "--test",
            "browser",
            "--",
            "--ignored",
            "--exact",
            "screenshots::screenshots_of_every_page",
            "--nocapture",
        ])
        .current_dir(util::root())
        .env("TWOFA_TEST_DATABASE_URL", cluster.url())
        .env("TWOFA_SCREENSHOTS_DIR", &out)
        .status()
        .context("could not start cargo test")?;
    if !status.success() {
        bail!(
            "the screenshot walk failed ({status}); its output above says which page. \
             PostgreSQL log: {}",
            cluster.log_path().display()
        );
    }
    let count = std::fs::read_dir(&out)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
        .count();
    eprintln!("    {count} screenshots in {}", out.display());
    Ok(())
}
