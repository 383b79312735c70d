//! Installs (as root) or names (otherwise) the Debian packages a command needs.

use crate::util;
use anyhow::{bail, Result};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

/// A Debian package and a file whose presence proves it is installed.
pub struct Package {
    pub name: &'static str,
    pub provides: &'static str,
}

pub const fn pkg(name: &'static str, provides: &'static str) -> Package {
    Package { name, provides }
}

static APT_UPDATED: AtomicBool = AtomicBool::new(false);

/// Makes sure every package is installed: as root, installs the missing ones
/// with apt-get; otherwise fails with the exact command to run.
pub fn ensure(why: &str, packages: &[Package]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .filter(|p| !Path::new(p.provides).exists())
        .map(|p| p.name)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !util::is_root() {
        bail!(
            "{why} needs Debian packages that are not installed: {}\n\
             install them with: sudo apt-get update && sudo apt-get install -y {}",
            missing.join(", "),
            missing.join(" ")
        );
    }
    let _t = util::step(&format!("installing {} for {why}", missing.join(" ")));
    if !APT_UPDATED.swap(true, Ordering::SeqCst) {
        util::run(Command::new("apt-get").args(["update", "-qq"]))?;
    }
    util::run(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    for p in packages {
        if !Path::new(p.provides).exists() {
            bail!("installed {} but {} is still missing", p.name, p.provides);
        }
    }
    Ok(())
}

/// A system account a real component insists on (keepalived runs its check
/// scripts as `keepalived_script` and refuses a config naming a missing
/// user, even in `--config-test`). As root, creates it the way Debian's
/// packages create theirs; otherwise fails with the command to run. Every
/// step that needs such a user calls this itself, so no step depends on
/// another having run first.
pub fn system_user(name: &str, why: &str) -> Result<()> {
    let exists = Command::new("id")
        .arg(name)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if exists {
        return Ok(());
    }
    if !util::is_root() {
        bail!(
            "the system user {name} does not exist ({why})\n\
             create it with: sudo useradd --system --no-create-home --shell /usr/sbin/nologin {name}"
        );
    }
    eprintln!("    creating system user {name} ({why})");
    util::run(Command::new("useradd").args([
        "--system",
        "--no-create-home",
        "--shell",
        "/usr/sbin/nologin",
        name,
    ]))
}
