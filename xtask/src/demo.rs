//! `cargo xtask demo`: twofa on http://127.0.0.1:8080 against a throwaway
//! PostgreSQL, for trying it in a browser. Ctrl-C stops the service (SIGTERM,
//! so it drains as in production), then the database.

use crate::{pg, util};
use anyhow::{bail, Context, Result};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Address the service listens on (TWOFA_LISTEN).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
}

pub fn run(args: Args) -> Result<()> {
    util::interrupted(); // from here on Ctrl-C is ours to handle
    check_port_free(&args.listen)?;

    let twofa = build_twofa(false)?;
    let cluster = pg::Cluster::start("demo", pg::Options::durable())?;
    cluster.create_database("twofa")?;
    let demo_dir = util::target_dir().join("demo");
    let key_file = write_secret_key(&demo_dir)?;
    let env = service_env(&cluster.url_for("twofa"), &key_file);

    {
        let _t = util::step("twofa migrate");
        util::run(Command::new(&twofa).arg("migrate").envs(env.clone()))?;
    }

    let timer = util::step(&format!("twofa serve on {}", args.listen));
    let mut serve = Command::new(&twofa)
        .arg("serve")
        .envs(env)
        .env("TWOFA_LISTEN", &args.listen)
        .env("TWOFA_COOKIE_SECURE", "false")
        // Own process group: Ctrl-C reaches only xtask, which sends SIGTERM
        // and so shows the service's graceful drain.
        .process_group(0)
        .spawn()
        .with_context(|| format!("could not start {}", twofa.display()))?;
    let ready = wait_ready(&mut serve, &args.listen);
    drop(timer);
    if let Err(err) = ready {
        util::terminate(&mut serve, Duration::from_secs(12));
        return Err(err);
    }

    print_box(&[
        "twofa is running:".to_string(),
        String::new(),
        format!("    http://{}/", args.listen),
        String::new(),
        "Register, scan the QR code with an authenticator app".to_string(),
        "(or type the secret shown), then log in.".to_string(),
        "Ctrl-C stops the service and the database.".to_string(),
    ]);

    let exited = loop {
        if util::interrupted() {
            break None;
        }
        if let Ok(Some(status)) = serve.try_wait() {
            break Some(status);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    match exited {
        None => {
            let _t = util::step("stopping twofa (SIGTERM) and PostgreSQL");
            util::terminate(&mut serve, Duration::from_secs(12));
            drop(cluster);
            Ok(())
        }
        Some(status) => bail!(
            "twofa serve exited on its own ({status}); its log is above. \
             The database log is {}",
            cluster.log_path().display()
        ),
    }
}

/// Builds the service and returns the binary's path (target/{debug,release}/twofa).
pub fn build_twofa(release: bool) -> Result<PathBuf> {
    let profile = if release { "release" } else { "debug" };
    let _t = util::step(&format!("cargo build -p twofa ({profile})"));
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["build", "-p", "twofa", "--bin", "twofa"])
        .current_dir(util::root());
    if release {
        cmd.arg("--release");
    }
    util::run(&mut cmd).context("the service does not build; fix the errors above")?;
    let bin = util::target_dir().join(profile).join("twofa");
    if !bin.exists() {
        bail!("cargo built twofa but {} is missing", bin.display());
    }
    Ok(bin)
}

/// A fresh TWOFA_SECRET_KEY_FILE (64 hex characters), readable by us only.
pub fn write_secret_key(dir: &Path) -> Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let path = dir.join("secret-key");
    fs::write(&path, format!("{}\n", util::random_hex(32)?))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    Ok(path)
}

/// The environment every local `twofa` run shares: database, key, text logs.
pub fn service_env(database_url: &str, key_file: &Path) -> Vec<(String, String)> {
    vec![
        ("TWOFA_DATABASE_URL".into(), database_url.into()),
        (
            "TWOFA_SECRET_KEY_FILE".into(),
            key_file.display().to_string(),
        ),
        ("TWOFA_LOG_FORMAT".into(), "text".into()),
    ]
}

fn check_port_free(listen: &str) -> Result<()> {
    if let Err(err) = std::net::TcpListener::bind(listen) {
        bail!(
            "cannot listen on {listen}: {err}. Another program has it (`ss -ltnp` names it); \
             choose another address with `cargo xtask demo --listen 127.0.0.1:8081`"
        );
    }
    Ok(())
}

/// Waits until GET /readyz answers 200, the service dies, or 60 s pass.
fn wait_ready(serve: &mut Child, listen: &str) -> Result<()> {
    let mut died = None;
    let waited = util::wait_until(
        &format!("GET http://{listen}/readyz to answer 200"),
        Duration::from_secs(60),
        || {
            if let Ok(Some(status)) = serve.try_wait() {
                died = Some(status);
                return true;
            }
            util::http_status(listen, "/readyz") == Some(200)
        },
    );
    if let Some(status) = died {
        bail!("twofa serve exited during start-up ({status}); its log above says why");
    }
    waited
}

fn print_box(lines: &[String]) {
    let width = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) + 2;
    println!();
    println!("┌{}┐", "─".repeat(width));
    for line in lines {
        let pad = width - 1 - line.chars().count();
        println!("│ {line}{}│", " ".repeat(pad));
    }
    println!("└{}┘", "─".repeat(width));
    println!();
}
