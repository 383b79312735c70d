use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use twofa::config::Settings;
use twofa::{admin, startup, telemetry};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "twofa",
    version,
    about = "Web login with TOTP two-factor authentication"
)]
struct Cli {
    /// TOML configuration file (settings in it are overridden by TWOFA_* variables).
    #[arg(long, global = true, env = "TWOFA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve HTTP until SIGTERM.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Check the configuration and the keys, print the effective settings.
    CheckConfig {
        /// Also connect to the database.
        #[arg(long)]
        connect: bool,
    },
    /// Print a new random secret key (64 hex characters) for TWOFA_SECRET_KEY_FILE.
    GenKey,
    /// Operator commands on one account.
    User {
        #[command(subcommand)]
        cmd: UserCommand,
    },
    /// Client used by health checks, the lab and benchmarks.
    Probe {
        #[command(subcommand)]
        cmd: twofa::probe::ProbeCommand,
    },
    /// Raw argon2id verifications per second with the configured parameters
    /// (for `cargo xtask bench`), as JSON.
    #[command(hide = true)]
    BenchArgon2 {
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Threads (default: the number of cores, like the service's workers).
        #[arg(long)]
        threads: Option<usize>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account (the password is read from --password-file or stdin).
    Add {
        email: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Remove the account's authenticators, recovery codes and sessions.
    ResetTotp { email: String },
    /// Lift the lock set after too many wrong codes.
    Unlock { email: String },
    /// Delete the account and everything it owns.
    Delete { email: String },
}

#[tokio::main]
async fn main() {
    release_large_blocks();
    let cli = Cli::parse();
    let code = match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("twofa: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

async fn run(cli: Cli) -> Result<i32> {
    let load = || Settings::load(cli.config.as_deref());
    match cli.command {
        Command::Probe { cmd } => twofa::probe::run(cmd).await,
        Command::GenKey => {
            let mut key = Zeroizing::new([0u8; 32]);
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key[..]);
            println!("{}", hex::encode(&key[..]));
            Ok(0)
        }
        Command::Serve => {
            let settings = load()?;
            telemetry::init(&settings)?;
            serve(settings).await?;
            Ok(0)
        }
        Command::Migrate => {
            let settings = load()?;
            telemetry::init(&settings)?;
            let app = startup::build_app(settings)?;
            let n = startup::migrate(&app).await?;
            println!(
                "applied {n} migration(s); schema at version {}",
                twofa::db::migrations::latest_version()
            );
            Ok(0)
        }
        Command::CheckConfig { connect } => {
            let settings = load()?;
            let app = startup::build_app(settings.clone())?;
            println!("listen            {}", settings.listen);
            match settings.metrics_listen {
                Some(at) => println!("metrics_listen    {at}"),
                None => println!("metrics_listen    (none: /metrics is not served)"),
            }
            println!("database_url      {}", settings.database_url);
            let plan = twofa::db::tls::Plan::new(
                &settings.database_url,
                settings.database_ca().as_deref(),
            )?;
            println!("database TLS      {}", plan.describe());
            println!("secret key id     {}", app.secrets.current_key_id());
            println!("cookie_secure     {}", settings.cookie_secure);
            println!("allow_signup      {}", settings.allow_signup);
            println!("trusted_proxies   {:?}", settings.trusted_proxies);
            println!("db retry deadline {} s", settings.db_retry_deadline_s);
            println!(
                "argon2id          m={} KiB t={} p={}, {} workers",
                settings.argon2_memory_kib,
                settings.argon2_iterations,
                settings.argon2_parallelism,
                settings.hash_workers()
            );
            println!(
                "hash queue        503 + Retry-After past {} ms of expected wait",
                settings.hash_queue_max_wait_ms
            );
            println!(
                "hash priority     nice {}{}",
                settings.hash_worker_nice,
                if settings.hash_worker_sched_batch {
                    ", SCHED_BATCH"
                } else {
                    ""
                }
            );
            if connect {
                match app.db.check_writable().await {
                    Ok(true) => println!("database          reachable and writable"),
                    Ok(false) => anyhow::bail!("the database answers but is read-only (a replica)"),
                    Err(e) => anyhow::bail!("the database is not reachable: {}", error_chain(&e)),
                }
                // Only once the schema has the folded addresses.
                if let Ok(groups) = twofa::admin::fold_collisions(&app).await {
                    for group in &groups {
                        println!(
                            "e-mail collision  {} (one address once the case is folded; \
                             each signs in only with its exact address: merge or delete by hand)",
                            group.join(", ")
                        );
                    }
                }
            }
            println!("configuration OK");
            Ok(0)
        }
        Command::User { cmd } => {
            let settings = load()?;
            let app = startup::build_app(settings)?;
            startup::migrate(&app).await?;
            match cmd {
                UserCommand::Add {
                    email,
                    password_file,
                } => {
                    let password = read_password(password_file)?;
                    admin::add(&app, &email, password).await?;
                    println!("created {email}; it enrols an authenticator at its first login");
                }
                UserCommand::ResetTotp { email } => {
                    admin::reset_totp(&app, &email).await?;
                    println!("reset {email}: it enrols a new authenticator at its next login");
                }
                UserCommand::Unlock { email } => {
                    admin::unlock(&app, &email).await?;
                    println!("unlocked {email}");
                }
                UserCommand::Delete { email } => {
                    admin::delete(&app, &email).await?;
                    println!("deleted {email}");
                }
            }
            Ok(0)
        }
        Command::BenchArgon2 { seconds, threads } => {
            let settings = load()?;
            let threads = threads.unwrap_or_else(|| settings.hash_workers());
            let report = twofa::auth::password::bench_raw(&settings, threads, seconds)?;
            println!("{report}");
            Ok(0)
        }
    }
}

/// argon2 needs 19 MiB per hash. glibc serves blocks that size from
/// per-thread arenas once its adaptive mmap threshold has grown, and keeps
/// them after free: RSS climbed to 850 MiB under a login benchmark. A fixed
/// threshold keeps such blocks mmapped, so freeing one returns it to the
/// system (the reused verification buffers are unaffected).
fn release_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn read_password(file: Option<PathBuf>) -> Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    match file {
        Some(path) => {
            *text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
        }
        None => {
            eprintln!("password (one line on standard input):");
            std::io::stdin().read_to_string(&mut text)?;
        }
    }
    let trimmed = text.trim_end_matches(['\n', '\r']).to_string();
    Ok(Zeroizing::new(trimmed))
}

async fn serve(settings: Settings) -> Result<()> {
    let grace = std::time::Duration::from_secs(settings.watchdog_db_grace_s);
    let server = startup::start(settings).await?;
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let watchdog = tokio::spawn(watchdog(server.app.clone(), grace));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: draining"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: draining"),
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    watchdog.abort();
    server.shutdown().await;
    Ok(())
}

/// Pings systemd's watchdog while the runtime runs and the database pool
/// works; a pool that has not produced a working connection for `grace`
/// (longer than any failover) stops the pings and lets systemd restart us.
async fn watchdog(app: twofa::App, grace: std::time::Duration) {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) {
        return;
    }
    let every =
        std::time::Duration::from_micros(usec / 3).max(std::time::Duration::from_millis(200));
    let mut last_ok = std::time::Instant::now();
    let mut withholding = false;
    loop {
        if app.db.ping().await {
            last_ok = std::time::Instant::now();
        }
        let healthy = last_ok.elapsed() < grace;
        if healthy {
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
        }
        if healthy == withholding {
            withholding = !healthy;
            if withholding {
                tracing::error!(
                    "no working database connection for {grace:?}; withholding watchdog pings"
                );
            } else {
                tracing::info!("database connections work again; watchdog pings resumed");
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// An error and its sources on one line (the pool hides the TLS reason two
/// levels down).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}
