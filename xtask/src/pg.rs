//! A throwaway PostgreSQL cluster for the demo, the tests and the benchmarks,
//! and `cargo xtask pg`, which starts one for development.
//!
//! Each cluster lives in `target/pg/<name>-<pid>/` (data, log and the unix
//! socket), listens on 127.0.0.1 on a port the kernel picked, and is stopped
//! and deleted when the [`Cluster`] is dropped. The pid in the folder name lets
//! several engineers (or a demo and a test run) have clusters at once, and
//! lets the next run recognise and clean the leftovers of a crashed one.
//!
//! Every cluster has TLS on, with a certificate for `localhost` and
//! `127.0.0.1` from a CA made for it (`ca.crt` in the folder), so the tests
//! and the benchmark can connect with `sslmode=verify-full`; URLs without
//! `sslmode` connect as before.
//!
//! As root, `initdb` refuses to run, so initdb and pg_ctl run as the Debian
//! `postgres` user through `runuser`, in a folder chowned to it.

use crate::{deps, util};
use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Debian's server package; its binaries live in /usr/lib/postgresql/<ver>/bin.
const SERVER_PACKAGE: &str = "postgresql";
/// The superuser role every cluster is created with.
const SUPERUSER: &str = "postgres";
/// Unix socket paths longer than this do not fit in sockaddr_un (108 bytes
/// with the `.s.PGSQL.<port>` name); such clusters get TCP only.
const MAX_SOCKET_DIR: usize = 90;

#[derive(clap::Args)]
pub struct Args {
    /// Folder name under target/pg/ (the pid is appended).
    #[arg(long, default_value = "dev")]
    name: String,
    /// Keep fsync on (off by default: a throwaway cluster loses nothing of value).
    #[arg(long)]
    fsync: bool,
}

/// How the cluster is tuned.
#[derive(Clone, Debug)]
pub struct Options {
    /// `fsync`, `full_page_writes` and `synchronous_commit`: off only for
    /// tests, where durability does not matter and speed does.
    pub durable: bool,
    pub max_connections: u32,
}

impl Options {
    /// Fast and forgetful, for tests and development.
    pub fn for_tests() -> Self {
        Options {
            durable: false,
            max_connections: 400,
        }
    }

    /// Like production (fsync on), for benchmarks and the demo.
    pub fn durable() -> Self {
        Options {
            durable: true,
            max_connections: 200,
        }
    }
}

/// A running throwaway PostgreSQL; stopped (`pg_ctl stop -m fast`) and its
/// folder removed on drop.
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    password: String,
    as_postgres: bool,
    running: bool,
    keep: bool,
}

pub fn run(args: Args) -> Result<()> {
    util::interrupted(); // install the handler before the server starts
    let opts = if args.fsync {
        Options::durable()
    } else {
        Options::for_tests()
    };
    let cluster = Cluster::start(&args.name, opts)?;
    println!();
    println!(
        "PostgreSQL {} is running in {}",
        cluster.version(),
        cluster.dir().display()
    );
    println!("superuser URL (libpq key=value):");
    println!();
    println!("export TWOFA_TEST_DATABASE_URL='{}'", cluster.url());
    println!(
        "export TWOFA_TEST_DATABASE_CA_FILE='{}'",
        cluster.ca_file().display()
    );
    println!();
    println!(
        "psql: {} '{}'",
        cluster.bin.join("psql").display(),
        cluster.url()
    );
    println!("Ctrl-C stops it and deletes the folder.");
    while !util::interrupted() {
        if !cluster.postmaster_alive() {
            bail!(
                "PostgreSQL stopped on its own; see {}",
                cluster.log_path().display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(cluster);
    Ok(())
}

impl Cluster {
    /// Installs PostgreSQL if needed (as root), cleans leftovers of crashed
    /// runs, then creates and starts a new cluster `target/pg/<name>-<pid>`.
    pub fn start(name: &str, opts: Options) -> Result<Cluster> {
        let bin = ensure_installed()?;
        let as_postgres = util::is_root();
        let base = util::target_dir().join("pg");
        fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
        clean_leftovers(&base, &bin);
        // As root the server runs as `postgres`, which must be able to walk
        // down to the folder; a checkout under /root (mode 700) does not let
        // it, so such clusters live under /tmp instead.
        let base = if as_postgres && !postgres_can_enter(&base) {
            let tmp = PathBuf::from("/tmp/twofa-pg");
            fs::create_dir_all(&tmp)?;
            fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o711))?;
            clean_leftovers(&tmp, &bin);
            eprintln!(
                "    the postgres user cannot enter {}; using {}",
                base.display(),
                tmp.display()
            );
            tmp
        } else {
            base
        };
        let dir = base.join(format!("{name}-{}", std::process::id()));
        let _t = util::step(&format!("starting PostgreSQL in {}", dir.display()));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        fs::write(dir.join("owner"), format!("{}\n", std::process::id()))?;
        if as_postgres {
            make_reachable_for_postgres(&dir)?;
        }
        let mut cluster = Cluster {
            dir,
            bin,
            port: 0,
            password: util::random_hex(16)?,
            as_postgres,
            running: false,
            keep: false,
        };
        cluster.initdb()?;
        cluster.write_certificates()?;
        // The port is free when picked but may be taken before the server
        // binds it; a few tries make that race harmless.
        let mut last_err = None;
        for _ in 0..3 {
            cluster.port = util::free_local_port()?;
            cluster.write_config(&opts)?;
            match cluster.pg_ctl_start() {
                Ok(()) => {
                    cluster.running = true;
                    return Ok(cluster);
                }
                Err(err) => {
                    let log = fs::read_to_string(cluster.log_path()).unwrap_or_default();
                    if !log.contains("could not bind") && !log.contains("in use") {
                        return Err(err.context(format!(
                            "PostgreSQL did not start; its log is {}:\n{}",
                            cluster.log_path().display(),
                            tail(&log, 15)
                        )));
                    }
                    last_err = Some(err);
                }
            }
        }
        Err(last_err
            .expect("three failed tries")
            .context("no free port for PostgreSQL"))
    }

    /// libpq key=value URL of the superuser, database `postgres`.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// libpq key=value URL of the superuser for another database.
    pub fn url_for(&self, dbname: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={SUPERUSER} password={} dbname={dbname}",
            self.port, self.password
        )
    }

    /// The CA that signed the server's certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// The major version, read from the binary's folder (`.../15/bin`).
    pub fn version(&self) -> String {
        self.bin
            .parent()
            .and_then(|p| p.file_name())
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Runs SQL through psql (stop at the first error) and returns what it printed,
    /// unaligned and without headers.
    pub fn psql(&self, dbname: &str, sql: &str) -> Result<String> {
        util::output(
            Command::new(self.bin.join("psql"))
                .arg(self.url_for(dbname))
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]),
        )
    }

    /// Creates an empty database (UTF-8) owned by the superuser.
    pub fn create_database(&self, dbname: &str) -> Result<()> {
        if !dbname
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            bail!("database name {dbname:?} must be letters, digits and _");
        }
        self.psql("postgres", &format!("CREATE DATABASE {dbname}"))
            .map(|_| ())
    }

    /// Leaves the folder in place after stopping (for reading the log).
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// Whether the postmaster named in postmaster.pid is still running.
    pub fn postmaster_alive(&self) -> bool {
        postmaster_pid(&self.dir.join("data")).is_some_and(util::pid_alive)
    }

    /// `pg_ctl stop -m fast`, then removes the folder unless kept.
    pub fn stop(&mut self) -> Result<()> {
        if self.running {
            self.running = false;
            self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "30"])?;
        }
        if !self.keep {
            fs::remove_dir_all(&self.dir)
                .with_context(|| format!("removing {}", self.dir.display()))?;
        }
        Ok(())
    }

    fn initdb(&self) -> Result<()> {
        let pwfile = self.dir.join("pwfile");
        fs::write(&pwfile, format!("{}\n", self.password))?;
        if self.as_postgres {
            chown_to_postgres(&pwfile)?;
        }
        let data = self.dir.join("data");
        let out = self
            .as_owner(self.bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync"])
            // Trust only the unix socket inside our own folder; TCP needs the password.
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .context("could not run initdb")?;
        let _ = fs::remove_file(&pwfile);
        if !out.status.success() {
            bail!(
                "initdb failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// A CA of its own and the server's certificate for the names the
    /// tests connect to; the key is readable by the server's user only.
    fn write_certificates(&self) -> Result<()> {
        let ca = crate::certs::Ca::new("twofa throwaway test CA")?;
        let server = ca.issue("localhost", &["localhost", "127.0.0.1"])?;
        fs::write(self.ca_file(), ca.cert_pem())?;
        let cert = self.dir.join("server.crt");
        let key = self.dir.join("server.key");
        fs::write(&cert, server.cert_pem)?;
        fs::write(&key, server.key_pem)?;
        fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        if self.as_postgres {
            chown_to_postgres(&cert)?;
            chown_to_postgres(&key)?;
        }
        Ok(())
    }

    fn write_config(&self, opts: &Options) -> Result<()> {
        let socket_dir = if self.dir.as_os_str().len() <= MAX_SOCKET_DIR {
            self.dir.display().to_string()
        } else {
            String::new()
        };
        let durable = if opts.durable { "on" } else { "off" };
        let conf = format!(
            "# written by cargo xtask (xtask/src/pg.rs)\n\
             listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = '{socket_dir}'\n\
             max_connections = {max}\n\
             shared_buffers = 128MB\n\
             fsync = {durable}\n\
             full_page_writes = {durable}\n\
             synchronous_commit = {durable}\n\
             log_min_messages = warning\n\
             log_line_prefix = '%m [%p] %d '\n\
             ssl = on\n\
             ssl_cert_file = '{dir}/server.crt'\n\
             ssl_key_file = '{dir}/server.key'\n",
            port = self.port,
            dir = self.dir.display(),
            max = opts.max_connections,
        );
        // postgresql.auto.conf is read last, so it wins over initdb's defaults;
        // rewriting it on each try replaces the port of a failed one.
        let path = self.dir.join("data").join("postgresql.auto.conf");
        fs::write(&path, conf)?;
        if self.as_postgres {
            chown_to_postgres(&path)?;
        }
        Ok(())
    }

    fn pg_ctl_start(&self) -> Result<()> {
        let log = self.log_path();
        self.pg_ctl(&["start", "-w", "-t", "60", "-l", &log.display().to_string()])
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<()> {
        let out = self
            .as_owner(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(args)
            // Own process group: the terminal's Ctrl-C reaches xtask only,
            // which then stops the service before the database.
            .process_group(0)
            .output()
            .context("could not run pg_ctl")?;
        if !out.status.success() {
            bail!(
                "pg_ctl {} failed ({}): {}",
                args[0],
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// A command that runs as the cluster's owner: `postgres` when we are root.
    fn as_owner(&self, program: PathBuf) -> Command {
        owner_command(self.as_postgres, program)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            eprintln!(
                "xtask: stopping PostgreSQL in {}: {err:#}",
                self.dir.display()
            );
        }
    }
}

fn owner_command(as_postgres: bool, program: PathBuf) -> Command {
    if as_postgres {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// Finds Debian's server binaries, installing the package first if we are
/// root; otherwise the error names the apt-get command.
pub fn ensure_installed() -> Result<PathBuf> {
    if let Some(bin) = find_server_bin() {
        return Ok(bin);
    }
    deps::ensure(
        "a throwaway PostgreSQL",
        &[deps::pkg(SERVER_PACKAGE, "/usr/sbin/pg_ctlcluster")],
    )?;
    if let Some(bin) = find_server_bin() {
        return Ok(bin);
    }
    bail!(
        "no /usr/lib/postgresql/<version>/bin/initdb found; install the server with: \
         sudo apt-get install -y {SERVER_PACKAGE}"
    )
}

/// The newest /usr/lib/postgresql/<ver>/bin that has initdb and pg_ctl.
fn find_server_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let ver = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((ver, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Stops and removes clusters whose xtask process is gone (crashed or killed
/// runs). Clusters of live runs, ours or another engineer's, are left alone.
fn clean_leftovers(base: &Path, bin: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let dir = entry.path();
        let owner = fs::read_to_string(dir.join("owner"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        if owner.is_some_and(util::pid_alive) {
            continue;
        }
        let data = dir.join("data");
        if postmaster_pid(&data).is_some_and(util::pid_alive) {
            eprintln!("    stopping a leftover PostgreSQL in {}", dir.display());
            let _ = owner_command(util::is_root(), bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .args(["stop", "-m", "immediate", "-w", "-t", "30"])
                .process_group(0)
                .output();
        }
        if let Err(err) = fs::remove_dir_all(&dir) {
            eprintln!("    could not remove leftover {}: {err}", dir.display());
        }
    }
}

/// The first line of postmaster.pid, if the server wrote one.
fn postmaster_pid(data: &Path) -> Option<i32> {
    fs::read_to_string(data.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

fn postgres_ids() -> Result<(u32, u32)> {
    let name = CString::new("postgres").expect("no NUL");
    // SAFETY: getpwnam returns NULL or a pointer to static storage that we
    // read at once, before any other passwd call.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        bail!(
            "there is no `postgres` user; the Debian package {SERVER_PACKAGE} creates it \
             (apt-get install -y {SERVER_PACKAGE})"
        );
    }
    // SAFETY: checked non-null above.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok((uid, gid))
}

fn chown_to_postgres(path: &Path) -> Result<()> {
    let (uid, gid) = postgres_ids()?;
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .with_context(|| format!("chown postgres {}", path.display()))
}

/// Gives the cluster folder to `postgres` and checks that it can reach it
/// (every parent must be searchable by others).
fn postgres_can_enter(dir: &Path) -> bool {
    Command::new("runuser")
        .args(["-u", "postgres", "--", "test", "-x"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

fn make_reachable_for_postgres(dir: &Path) -> Result<()> {
    chown_to_postgres(dir)?;
    let probe = Command::new("runuser")
        .args(["-u", "postgres", "--", "test", "-w"])
        .arg(dir)
        .status()
        .context("could not run runuser (util-linux)")?;
    if !probe.success() {
        bail!(
            "the postgres user cannot write {} (a parent folder is not searchable by \
             others); run `chmod o+x` on the parents, or set CARGO_TARGET_DIR to a folder \
             under /tmp",
            dir.display()
        );
    }
    Ok(())
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
