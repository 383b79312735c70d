//! Small helpers shared by the xtask commands: paths, progress, running programs.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// The workspace root (the folder holding the top-level Cargo.toml).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// `target/` of the workspace, honouring CARGO_TARGET_DIR.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc_geteuid() == 0 }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// Prints a progress line for a long step and returns a guard that prints
/// how long it took when dropped.
pub fn step(what: &str) -> StepTimer {
    eprintln!("==> {what}");
    StepTimer {
        what: what.to_string(),
        start: Instant::now(),
    }
}

pub struct StepTimer {
    what: String,
    start: Instant,
}

impl Drop for StepTimer {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            eprintln!(
                "    {} took {:.1} s",
                self.what,
                self.start.elapsed().as_secs_f64()
            );
        }
    }
}

/// Runs a command to completion, inheriting stdio; a failure names the command.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

/// Runs a command and returns its standard output as text.
pub fn output(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .with_context(|| format!("could not start {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// True once Ctrl-C (SIGINT) or SIGTERM has arrived. The first call installs
/// the handler; long-running commands (demo, pg, bench) poll this instead of
/// dying mid-step, so they can stop their servers in order. Children that
/// must not see the terminal's SIGINT are started with `process_group(0)`.
pub fn interrupted() -> bool {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Once;
    static FLAG: AtomicBool = AtomicBool::new(false);
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            if FLAG.swap(true, Ordering::SeqCst) {
                eprintln!("\nxtask: second interrupt, exiting at once");
                std::process::exit(130);
            }
            eprintln!("\nxtask: interrupted, stopping…");
        });
        if let Err(err) = installed {
            eprintln!("xtask: could not watch for Ctrl-C: {err}");
        }
    });
    FLAG.load(Ordering::SeqCst)
}

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it).
pub fn free_local_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .context("could not bind 127.0.0.1:0 to find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Polls `ready` every 50 ms until it returns true, `timeout` passes (error
/// naming `what`), or the user interrupts.
pub fn wait_until(
    what: &str,
    timeout: std::time::Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<()> {
    let start = Instant::now();
    loop {
        if ready() {
            return Ok(());
        }
        if interrupted() {
            bail!("interrupted while waiting for {what}");
        }
        if start.elapsed() > timeout {
            bail!(
                "{what} did not happen within {:.0} s",
                timeout.as_secs_f64()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Whether a process with this pid exists (signal 0 probes without sending).
pub fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// Status code of a plain-http `GET path` to `addr` (host:port), or None when
/// nothing answers within two seconds. Enough for health checks, no client crate.
pub fn http_status(addr: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let timeout = std::time::Duration::from_secs(2);
    let sock = addr.to_socket_addrs().ok()?.next()?;
    let mut stream = std::net::TcpStream::connect_timeout(&sock, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).ok()?;
    let line = std::str::from_utf8(&head[..n]).ok()?;
    line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Sends SIGTERM, waits up to `grace` for the child to exit, then SIGKILLs it.
pub fn terminate(child: &mut std::process::Child, grace: std::time::Duration) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    // SAFETY: kill on our own child's pid; the worst case is ESRCH.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    while start.elapsed() < grace {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    eprintln!(
        "xtask: pid {} ignored SIGTERM for {:.0} s, killing it",
        child.id(),
        grace.as_secs_f64()
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// `bytes` random bytes from the OS as hex (32 give the 64 characters of a
/// TWOFA_SECRET_KEY_FILE).
pub fn random_hex(bytes: usize) -> Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
