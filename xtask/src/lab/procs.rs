//! Starting and signalling the lab's processes. Every process is started
//! with `setsid ip netns exec <ns> [setpriv …] <program>`, its id written to
//! a pid file; nothing is ever killed by name.

use anyhow::{Context, Result};
use std::fs::OpenOptions;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

/// Children of this process, reaped from time to time so a crashed service
/// does not linger as a zombie that looks alive.
static CHILDREN: Mutex<Vec<Child>> = Mutex::new(Vec::new());

pub struct Spec<'a> {
    pub ns: &'a str,
    /// Run as this user (with its groups); None = root.
    pub user: Option<&'a str>,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub log: &'a Path,
    pub pid_file: &'a Path,
}

pub fn spawn(spec: Spec) -> Result<u32> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(spec.log)
        .with_context(|| format!("opening {}", spec.log.display()))?;
    let mut cmd = Command::new("setsid");
    cmd.args(["ip", "netns", "exec", spec.ns]);
    if let Some(u) = spec.user {
        cmd.args(["setpriv", "--reuid", u, "--regid", u, "--init-groups", "--"]);
    }
    cmd.args(&spec.argv)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("LANG", "C.UTF-8")
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {:?} in {}", spec.argv, spec.ns))?;
    let pid = child.id();
    std::fs::write(spec.pid_file, format!("{pid}\n"))?;
    CHILDREN.lock().unwrap().push(child);
    Ok(pid)
}

pub fn reap() {
    let mut kids = CHILDREN.lock().unwrap();
    kids.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
}

/// True when the process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    reap();
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(") ")
            .map(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

pub fn read_pid(file: &Path) -> Option<u32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;
pub const SIGSTOP: i32 = 19;

pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) with a positive pid we started (or found in our namespace).
    unsafe {
        kill(pid as i32, sig);
    }
}

/// Waits up to `timeout` for the process to exit.
pub fn wait_gone(pid: u32, timeout: std::time::Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    !alive(pid)
}

/// SIGSTOP then SIGKILL every listed process: a frozen process cannot
/// announce its own death or respawn a child in between.
pub fn freeze_and_kill(pids: &[u32]) {
    for &p in pids {
        signal(p, SIGSTOP);
    }
    for &p in pids {
        signal(p, SIGKILL);
    }
    for &p in pids {
        wait_gone(p, std::time::Duration::from_secs(5));
    }
}

/// Resident set size of a process and its descendants in the same
/// namespace is summed by the caller; this is one process's RSS in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The name of a process (comm) and its parent id.
pub fn comm_ppid(pid: u32) -> Option<(String, u32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (left, rest) = s.rsplit_once(") ")?;
    let comm = left.split_once(" (")?.1.to_string();
    let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
    Some((comm, ppid))
}
