//! `cargo xtask bench service`: the figures of docs/benchmarks.md "## Service".
//!
//! Builds twofa in release, starts its own PostgreSQL (fsync on) and one
//! `twofa serve`, and drives it over plain HTTP exactly as a browser would
//! (forms with the hidden csrf_token, cookies, 303 redirects, the base32
//! secret read from the enrolment page). Codes are computed here (RFC 6238,
//! checked against testdata/totp-vectors.json first). A code is accepted once
//! per account and 30-s step, so the logins rotate through many accounts and a
//! phase waits for a fresh step when it needs more than are left.
//!
//! Every loop is bounded in count and time. Nothing here is a pass/fail test:
//! the figures are printed and written to docs/benchmarks.md with the machine.

use crate::{demo, pg, util};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(clap::Args)]
pub struct Args {
    /// What to measure.
    #[arg(value_enum, default_value = "service")]
    what: What,
    /// Accounts registered and enrolled over HTTP (the login pool, and the
    /// small database of the growth comparison).
    #[arg(long, default_value_t = 1000)]
    accounts: usize,
    /// Total accounts in the large database of the growth comparison.
    #[arg(long, default_value_t = 1_000_000)]
    large: usize,
    /// Expired sessions and expired pending logins inserted for the cleanup comparison.
    #[arg(long, default_value_t = 100_000)]
    expired: usize,
    /// Length of each throughput phase, seconds.
    #[arg(long, default_value_t = 12)]
    seconds: u64,
    /// Concurrent clients of the throughput phases (full logins).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Concurrent clients of the POST /login/totp latency phases.
    #[arg(long, default_value_t = 50)]
    totp_clients: usize,
    /// Requests timed per POST /login/totp latency phase.
    #[arg(long, default_value_t = 500)]
    totp_requests: usize,
    /// Duration of each raw argon2 measurement, seconds.
    #[arg(long, default_value_t = 8)]
    argon2_seconds: u64,
    /// Print only; leave docs/benchmarks.md alone.
    #[arg(long)]
    no_write: bool,
    /// Clients of the overload phase, each posting passwords back to back.
    #[arg(long, default_value_t = 200)]
    overload_clients: usize,
    /// Length of the overload phase, seconds.
    #[arg(long, default_value_t = 60)]
    overload_seconds: u64,
    /// Nice values of the overload's posting clients, one overload run per
    /// value. At 0 the 200 clients take the cores as equals of the service;
    /// at 19 they take what the service leaves, standing for clients on
    /// other machines (the health checks and code posts always run at 0).
    #[arg(long, value_delimiter = ',', default_value = "0,19")]
    overload_client_nice: Vec<i32>,
    /// Skip the two larger databases of the growth comparison.
    #[arg(long)]
    no_growth: bool,
    /// Skip the comparison of the hashing threads' scheduling priorities.
    #[arg(long)]
    no_priorities: bool,
    /// Record a system-wide `perf` profile during the 50-client logins and
    /// during each overload run, and write its per-thread CPU shares and
    /// hottest symbols to target/bench/perf-*.txt.
    #[arg(long)]
    profile: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum What {
    /// Logins/s vs raw argon2, latency, RSS, start-up, growth with data.
    Service,
    /// Logins/s with the database connection in plain text and with TLS
    /// (verify-full), alternating on one PostgreSQL and one set of accounts.
    Tls,
}

/// The metric line of the service's open database connections.
const OPEN_CONNECTIONS: &str = "twofa_db_pool_connections{state=\"open\"}";

/// Password of every bench account (long and not a common one).
const PASSWORD: &str = "bench-correct-horse-battery-staple";
/// Upper bound of any single phase, whatever the arguments say.
const PHASE_CAP: Duration = Duration::from_secs(300);

pub fn run(args: Args) -> Result<()> {
    match args.what {
        What::Service => service(args),
        What::Tls => tls(args),
    }
}

fn service(args: Args) -> Result<()> {
    util::interrupted();
    check_totp_against_vectors()?;
    let machine = Machine::read();
    let twofa = demo::build_twofa(true)?;
    let cluster = pg::Cluster::start("bench", pg::Options::durable())?;
    cluster.create_database("twofa")?;
    let dir = util::target_dir().join("bench");
    let key = demo::write_secret_key(&dir)?;
    let env = demo::service_env(&cluster.url_for("twofa"), &key);
    {
        let _t = util::step("twofa migrate");
        util::run(Command::new(&twofa).arg("migrate").envs(env.clone()))?;
    }
    let mut report = Report {
        pg_version: cluster.version(),
        ..Report::default()
    };

    // Start-up: process start to READY=1 on a migrated database.
    {
        let _t = util::step("time from process start to READY=1 (5 starts)");
        let mut times = Vec::new();
        for i in 0..5 {
            let mut s = Serve::start(&twofa, &env, &dir, i)?;
            times.push(s.ready_after);
            s.stop();
        }
        times.sort();
        report.ready_median = times[times.len() / 2];
        report.ready_max = *times.last().expect("five runs");
        eprintln!(
            "    READY=1 after {} (median), {} (slowest)",
            ms(report.ready_median),
            ms(report.ready_max)
        );
    }

    let mut serve = Serve::start(&twofa, &env, &dir, 99)?;
    let base = format!("http://{}", serve.listen);
    std::thread::sleep(Duration::from_secs(1));
    report.idle_rss_kib = serve.status_kib("VmRSS")?;
    eprintln!("    idle RSS {}", mib(report.idle_rss_kib));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The service limits failed password attempts per source address and
    // counts each attempt while it is being checked; every client here
    // stands for another person, so each browser takes the next of many
    // loopback addresses (127.0.1.x) instead of all sharing 127.0.0.1.
    let loopbacks: Vec<std::net::IpAddr> = (1..=250u8)
        .map(|i| std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 1, i)))
        .collect();
    let bench = Bench::with_sources(&base, &loopbacks)?;

    {
        let _t = util::step(&format!(
            "registering and enrolling {} accounts over HTTP",
            args.accounts
        ));
        rt.block_on(bench.register_accounts(args.accounts, args.concurrency))?;
    }
    let sql = Sql {
        cluster: &cluster,
        db: "twofa",
    };
    sql.insert_expired(1)?;

    // Raw argon2 right before and after the first throughput phase, at the
    // start of a fresh TOTP step so the phase finds every account unused.
    rt.block_on(bench.wait_for_accounts(usize::MAX));
    let (argon2_before, fresh_before) = raw_argon2(&twofa, &env, args.argon2_seconds)?;
    let (mut argon2_after, mut fresh_after) = (0.0, 0.0);
    let small = rt.block_on(bench.growth_phase(
        &format!(
            "{} accounts, 1 expired session and pending login",
            thousands(args.accounts as u64)
        ),
        &args,
        || {
            (argon2_after, fresh_after) = raw_argon2(&twofa, &env, args.argon2_seconds)?;
            Ok(())
        },
    ))?;
    report.argon2 = (argon2_before + argon2_after) / 2.0;
    report.argon2_runs = (argon2_before, argon2_after);
    report.argon2_fresh = (fresh_before + fresh_after) / 2.0;

    let mut phases = vec![small];
    if !args.no_growth {
        sql.insert_expired(args.expired)?;
        let mut expired = rt.block_on(bench.growth_phase(
            &format!(
                "{} accounts, {} expired sessions and {} expired pending logins",
                thousands(args.accounts as u64),
                thousands(args.expired as u64),
                thousands(args.expired as u64)
            ),
            &args,
            || Ok(()),
        ))?;
        expired.note = format!(
            "{} expired sessions and {} expired pending logins still there after the phase",
            thousands(sql.count("sessions WHERE expires_at < now()")?),
            thousands(sql.count("login_challenges WHERE expires_at < now()")?)
        );
        sql.delete_expired()?;

        let fillers = args.large.saturating_sub(sql.count("users")? as usize);
        sql.insert_fillers(fillers)?;
        let large = rt.block_on(bench.growth_phase(
            &format!("{} accounts", thousands(sql.count("users")?)),
            &args,
            || Ok(()),
        ))?;
        phases.push(expired);
        phases.push(large);
    }

    report.peak_rss_kib = serve.status_kib("VmHWM")?;
    report.final_rss_kib = serve.status_kib("VmRSS")?;
    report.phases = phases;
    let stop_started = Instant::now();
    serve.stop();
    report.sigterm_exit = stop_started.elapsed();

    // How the hashing threads' priority changes the code step beside 50
    // login clients: one fresh service per setting, same accounts.
    if !args.no_priorities {
        for (label, nice, batch) in [
            (
                "same priority as requests (nice 0, SCHED_OTHER)",
                "0",
                "false",
            ),
            ("nice 10", "10", "false"),
            ("SCHED_BATCH, nice 0", "0", "true"),
            ("SCHED_BATCH and nice 10 (the default)", "10", "true"),
        ] {
            let mut env = env.clone();
            env.push(("TWOFA_HASH_WORKER_NICE".into(), nice.into()));
            env.push(("TWOFA_HASH_WORKER_SCHED_BATCH".into(), batch.into()));
            let s = Serve::start(&twofa, &env, &dir, 200)?;
            let b = bench.with_base(&format!("http://{}", s.listen));
            let _t = util::step(&format!(
                "{} login clients, hashing at {label}",
                args.totp_clients
            ));
            let load_start = Machine::loadavg();
            let mixed = rt.block_on(b.throughput(args.seconds, args.totp_clients))?;
            eprintln!(
                "    {:.1} logins/s, {} shed; POST /login/totp p50 {} p99 {}, {} errors",
                mixed.rate,
                mixed.shed,
                ms(pct(&mixed.code_latencies, 50.0)),
                ms(pct(&mixed.code_latencies, 99.0)),
                mixed.errors
            );
            report.priorities.push(PriorityRun {
                label: label.to_string(),
                load: format!("{load_start}–{}", Machine::loadavg()),
                mixed,
            });
        }
    }

    // Overload: a fresh service per run, `overload_clients` clients posting
    // passwords back to back, a health check and code posts beside them.
    for (i, &nice) in args.overload_client_nice.iter().enumerate() {
        let s = Serve::start(&twofa, &env, &dir, 300 + i)?;
        std::thread::sleep(Duration::from_secs(1));
        let idle = s.status_kib("VmRSS")?;
        let idle_split = s.rss_split()?;
        let b = bench.with_base(&format!("http://{}", s.listen));
        let mut o = rt.block_on(b.overload(&args, nice, idle, &s))?;
        o.idle_rss_kib = idle;
        o.idle_split = idle_split;
        report.overload.push(o);
    }
    drop(cluster);

    let section = report.markdown(&machine, &args);
    println!("\n{section}");
    std::fs::write(dir.join("service.md"), &section)?;
    if !args.no_write {
        let path = util::root().join("docs/benchmarks.md");
        replace_section(&path, "## Service", &section)?;
        eprintln!("wrote the figures into {}", path.display());
    }
    Ok(())
}

/// `cargo xtask bench tls`: the same full logins against the same database
/// with the service's connection to PostgreSQL in plain text
/// (`sslmode=disable`) and with TLS (`sslmode=verify-full` and the
/// cluster's CA), phases alternating plain, TLS, plain, TLS… so that drift in
/// the shared machine's load falls on both.
fn tls(args: Args) -> Result<()> {
    util::interrupted();
    check_totp_against_vectors()?;
    let machine = Machine::read();
    let twofa = demo::build_twofa(true)?;
    let cluster = pg::Cluster::start("bench-tls", pg::Options::durable())?;
    cluster.create_database("twofa")?;
    let dir = util::target_dir().join("bench");
    let key = demo::write_secret_key(&dir)?;
    let url = cluster.url_for("twofa");
    let plain = demo::service_env(&format!("{url} sslmode=disable"), &key);
    let mut tls = demo::service_env(&format!("{url} sslmode=verify-full"), &key);
    tls.push((
        "TWOFA_DATABASE_CA_FILE".into(),
        cluster.ca_file().display().to_string(),
    ));
    {
        let _t = util::step("twofa migrate");
        util::run(Command::new(&twofa).arg("migrate").envs(plain.clone()))?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut bench = None;
    let rounds = 3;
    let mut runs: Vec<(bool, Outcomes, (u64, u64))> = Vec::new();
    for round in 0..rounds * 2 {
        let with_tls = round % 2 == 1;
        let env = if with_tls { &tls } else { &plain };
        let s = Serve::start(&twofa, env, &dir, 400 + round)?;
        let base = format!("http://{}", s.listen);
        let b = match &bench {
            None => {
                let b = Bench::new(&base)?;
                let _t = util::step(&format!(
                    "registering and enrolling {} accounts over HTTP",
                    args.accounts
                ));
                rt.block_on(b.register_accounts(args.accounts, args.concurrency))?;
                bench = Some(b.clone());
                b
            }
            Some(b) => b.with_base(&base),
        };
        let label = if with_tls {
            "TLS (verify-full)"
        } else {
            "plain"
        };
        let _t = util::step(&format!(
            "{} login clients, database connection {label}",
            args.concurrency
        ));
        let out = rt.block_on(b.throughput(args.seconds, args.concurrency))?;
        // Which of the service's connections were encrypted, seen by the server.
        let seen = cluster.psql(
            "twofa",
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'twofa'",
        )?;
        let (enc, all) = seen
            .trim()
            .split_once('|')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .context("pg_stat_ssl answer")?;
        eprintln!(
            "    {:.1} logins/s, POST /login/totp p50 {} p99 {}, {} errors; {enc} of {all} connections encrypted",
            out.rate,
            ms(pct(&out.code_latencies, 50.0)),
            ms(pct(&out.code_latencies, 99.0)),
            out.errors
        );
        if with_tls != (enc == all && all > 0) || (!with_tls && enc > 0) {
            bail!("the {label} phase ran with {enc} of {all} connections encrypted");
        }
        let mut s = s;
        s.stop();
        runs.push((with_tls, out, (enc, all)));
    }
    drop(cluster);

    let mean = |tls: bool| {
        let rates: Vec<f64> = runs
            .iter()
            .filter(|r| r.0 == tls)
            .map(|r| r.1.rate)
            .collect();
        rates.iter().sum::<f64>() / rates.len() as f64
    };
    let codes = |tls: bool| {
        let mut all: Vec<Duration> = runs
            .iter()
            .filter(|r| r.0 == tls)
            .flat_map(|r| r.1.code_latencies.iter().copied())
            .collect();
        all.sort();
        (pct(&all, 50.0), pct(&all, 99.0))
    };
    let (plain_rate, tls_rate) = (mean(false), mean(true));
    // How far apart phases of the same kind were: a difference between the
    // kinds smaller than this is the machine, not TLS.
    let spread = |tls: bool| {
        let rates: Vec<f64> = runs
            .iter()
            .filter(|r| r.0 == tls)
            .map(|r| r.1.rate)
            .collect();
        let max = rates.iter().cloned().fold(f64::MIN, f64::max);
        let min = rates.iter().cloned().fold(f64::MAX, f64::min);
        (max - min) / mean(tls)
    };
    let spread = spread(false).max(spread(true));
    let mut md = String::new();
    let _ = writeln!(md, "## TLS to the database\n");
    let _ = writeln!(
        md,
        "Measured {} by `cargo xtask bench tls --accounts {} --seconds {} --concurrency {}` \
         at commit `{}` on {} (shared with other work: 1-minute load average {} at the start, \
         {} at the end). One PostgreSQL (fsync on, TLS on, its own throwaway CA), one set of \
         accounts; a fresh release `twofa serve` per phase, its database connection either \
         `sslmode=disable` or `sslmode=verify-full` with the CA, phases alternating so the \
         machine's drift falls on both. Full logins as a browser makes them (GET and POST \
         the password form, then the code form). Whether each phase's connections were \
         encrypted is read from the server's `pg_stat_ssl`.\n",
        machine.date,
        args.accounts,
        args.seconds,
        args.concurrency,
        machine.commit,
        machine.describe(),
        machine.load_start,
        Machine::loadavg(),
    );
    let _ = writeln!(
        md,
        "| phase | database connection | full logins | per second | `POST /login/totp` p50 | p99 | errors | connections encrypted |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for (i, (with_tls, out, (enc, all))) in runs.iter().enumerate() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.1} | {} | {} | {} | {enc} of {all} |",
            i + 1,
            if *with_tls {
                "TLS, verify-full"
            } else {
                "plain"
            },
            out.latencies.len(),
            out.rate,
            ms(pct(&out.code_latencies, 50.0)),
            ms(pct(&out.code_latencies, 99.0)),
            out.errors
        );
    }
    let (pp50, pp99) = codes(false);
    let (tp50, tp99) = codes(true);
    let _ = writeln!(
        md,
        "\nMean: plain {plain_rate:.1} logins/s, TLS {tls_rate:.1} logins/s, ratio TLS/plain \
         **{:.2}**; the code step (database work only, no hashing) p50 {} plain, {} TLS; p99 \
         {} plain, {} TLS. Phases of the same kind differed by up to {:.0} % of their mean \
         (the shared machine's drift), so compare each plain phase with the TLS phase \
         right after it. \
         A phase ends early when every account has logged in once in the current 30-s step \
         (a code is single-use). A login is bound by its argon2id hash; the pool keeps its \
         connections, so the handshake is paid once per connection, not per request.",
        tls_rate / plain_rate,
        ms(pp50),
        ms(tp50),
        ms(pp99),
        ms(tp99),
        spread * 100.0,
    );
    println!("\n{md}");
    if !args.no_write {
        let path = util::root().join("docs/benchmarks.md");
        replace_section(&path, "## TLS to the database", &md)?;
        eprintln!("wrote the figures into {}", path.display());
    }
    Ok(())
}

// ------------------------------------------------------------ the figures

#[derive(Default)]
struct Report {
    ready_median: Duration,
    ready_max: Duration,
    idle_rss_kib: u64,
    peak_rss_kib: u64,
    final_rss_kib: u64,
    argon2: f64,
    argon2_runs: (f64, f64),
    /// The same with a fresh 19 MiB allocation per hash (no buffer reuse).
    argon2_fresh: f64,
    phases: Vec<Phase>,
    sigterm_exit: Duration,
    pg_version: String,
    priorities: Vec<PriorityRun>,
    overload: Vec<Overload>,
}

/// 50-client logins with one scheduling setting of the hashing threads.
struct PriorityRun {
    label: String,
    load: String,
    mixed: Outcomes,
}

/// The overload phase's figures.
#[derive(Default)]
struct Overload {
    clients: usize,
    seconds: u64,
    /// Nice value of the posting clients' thread.
    client_nice: i32,
    /// Every password post: latency and status (0 = no answer).
    posts: Vec<(Duration, u16)>,
    healthz: Vec<Duration>,
    healthz_errors: usize,
    codes: Outcomes,
    idle_rss_kib: u64,
    peak_rss_kib: u64,
    /// RSS right after the load, and how long until it was back within
    /// 10 % of the idle RSS (None: not within the 15 s watched).
    after_rss_kib: u64,
    back_to_idle: Option<Duration>,
    settled_rss_kib: u64,
    /// RSS as (anonymous, file-backed) KiB, idle and at the end of the
    /// watch: file-backed pages are the binary's code read in by the load.
    idle_split: (u64, u64),
    settled_split: (u64, u64),
    shed_metric: u64,
    queue_peak_metric: u64,
    /// Open database connections of the service's pool, before the load
    /// and after it (what stays of the RSS above idle).
    db_connections: (u64, u64),
    load: String,
}

/// One database state: full-login throughput, then POST /login/totp latency.
struct Phase {
    label: String,
    /// Full logins at `--concurrency` clients.
    through: Outcomes,
    /// Full logins at `--totp-clients` clients.
    mixed: Outcomes,
    /// POST /login/totp alone at `--totp-clients` clients.
    burst: Outcomes,
    errors: usize,
    first_error: Option<String>,
    note: String,
}

impl Report {
    fn markdown(&self, m: &Machine, args: &Args) -> String {
        let first = &self.phases[0];
        let ratio = first.through.rate / self.argon2;
        let mut s = String::new();
        let _ = writeln!(s, "## Service\n");
        let _ = writeln!(
            s,
            "Measured {} by `cargo xtask bench service` at commit `{}` on {}. \
             PostgreSQL {} with fsync on, the service (release build, `TWOFA_LOG=warn`) \
             and the load client all share these cores, and the machine was shared with \
             other work (1-minute load average {} at the start, {} at the end): expect \
             differences of tens of percent from run to run. The client speaks HTTP like a \
             browser: GET the form, POST it with its csrf_token and cookies, check the 303. \
             A full login is GET+POST `/login` and GET+POST `/login/totp`.\n",
            m.date,
            m.commit,
            m.describe(),
            self.pg_version,
            m.load_start,
            Machine::loadavg(),
        );
        let _ = writeln!(s, "| figure | measured | goal |\n|---|---|---|");
        let _ = writeln!(
            s,
            "| full logins/s, {} clients, {} | {:.1} | |",
            args.concurrency, first.label, first.through.rate
        );
        let _ = writeln!(
            s,
            "| raw argon2id verifications/s, same parameters and cores (`twofa bench-argon2`, {:.1} just before and {:.1} just after the logins) | {:.1} | |",
            self.argon2_runs.0, self.argon2_runs.1, self.argon2
        );
        let _ = writeln!(
            s,
            "| full logins/s ÷ raw verifications/s | {ratio:.2} | ≥ 0.9 |"
        );
        let _ = writeln!(
            s,
            "| raw verifications/s with a fresh allocation per hash instead of the reused buffer (same run) | {:.1} ({:+.0} % for reuse) | |",
            self.argon2_fresh,
            (self.argon2 / self.argon2_fresh - 1.0) * 100.0
        );
        let _ = writeln!(
            s,
            "| `POST /login/totp` p50 / p99 among {} clients doing full logins ({} codes) | {} / {} | p99 ≤ 10 ms |",
            args.totp_clients,
            first.mixed.code_latencies.len(),
            ms(pct(&first.mixed.code_latencies, 50.0)),
            ms(pct(&first.mixed.code_latencies, 99.0))
        );
        let _ = writeln!(
            s,
            "| `POST /login/totp` alone, {} clients back to back ({} codes): rate, p50 / p99 | {:.0}/s, {} / {} | |",
            args.totp_clients,
            first.burst.latencies.len(),
            first.burst.rate,
            ms(pct(&first.burst.latencies, 50.0)),
            ms(pct(&first.burst.latencies, 99.0))
        );
        let _ = writeln!(
            s,
            "| idle RSS of `twofa serve` (1 s after READY=1) | {} | ≤ 20 MiB |",
            mib(self.idle_rss_kib)
        );
        let _ = writeln!(
            s,
            "| peak RSS (VmHWM) over all the load below; RSS at the end | {}; {} | |",
            mib(self.peak_rss_kib),
            mib(self.final_rss_kib)
        );
        let _ = writeln!(
            s,
            "| process start to `READY=1`, migrated database, median (slowest) of 5 | {} ({}) | ≤ 200 ms |",
            ms(self.ready_median),
            ms(self.ready_max)
        );
        let _ = writeln!(
            s,
            "| SIGTERM to exit, idle after the load | {} | ≤ 10 s |",
            ms(self.sigterm_exit)
        );
        let _ = writeln!(
            s,
            "\nHow cost grows with the data (goal: within 10 % of the first row). \
             Extra accounts are bulk-inserted with `generate_series` reusing one argon2 \
             hash, each with an authenticator row; expired rows are inserted already \
             expired, as abandoned logins leave them for the background purge.\n"
        );
        let _ = writeln!(
            s,
            "| database | full logins/s ({c} clients) | full login p50 / p99 ({c} clients) | `POST /login/totp` p50 / p99 among {t} login clients | `POST /login/totp` alone, {t} clients | errors |\n|---|---|---|---|---|---|",
            c = args.concurrency,
            t = args.totp_clients
        );
        for p in &self.phases {
            let _ = writeln!(
                s,
                "| {} | {:.1} ({:+.0} %) | {} / {} | {} / {} | {:.0}/s, {} / {} | {} |",
                p.label,
                p.through.rate,
                (p.through.rate / first.through.rate - 1.0) * 100.0,
                ms(pct(&p.through.latencies, 50.0)),
                ms(pct(&p.through.latencies, 99.0)),
                ms(pct(&p.mixed.code_latencies, 50.0)),
                ms(pct(&p.mixed.code_latencies, 99.0)),
                p.burst.rate,
                ms(pct(&p.burst.latencies, 50.0)),
                ms(pct(&p.burst.latencies, 99.0)),
                p.errors
            );
        }
        for p in &self.phases {
            if !p.note.is_empty() {
                let _ = writeln!(s, "\n{}: {}.", p.label, p.note);
            }
            if let Some(e) = &p.first_error {
                let _ = writeln!(s, "\n{}: first error: {e}", p.label);
            }
        }
        let _ = writeln!(
            s,
            "\nFull logins/s ÷ raw verifications/s at {} clients (first database): {:.1} ÷ {:.1} = {:.2} (goal ≥ 0.9); {} password posts were shed and sent again after their Retry-After.",
            args.totp_clients,
            first.mixed.rate,
            self.argon2,
            first.mixed.rate / self.argon2,
            first.mixed.shed
        );
        if !self.priorities.is_empty() {
            let _ = writeln!(
                s,
                "\nScheduling priority of the hashing threads, {} clients doing full logins, \
                 a fresh service per row, one row after the other:\n\n\
                 | hashing threads | full logins/s | ÷ raw | password posts shed and retried | `POST /login/totp` p50 / p99 | load average |\n|---|---|---|---|---|---|",
                args.totp_clients
            );
            for p in &self.priorities {
                let _ = writeln!(
                    s,
                    "| {} | {:.1} | {:.2} | {} | {} / {} | {} |",
                    p.label,
                    p.mixed.rate,
                    p.mixed.rate / self.argon2,
                    p.mixed.shed,
                    ms(pct(&p.mixed.code_latencies, 50.0)),
                    ms(pct(&p.mixed.code_latencies, 99.0)),
                    p.load
                );
            }
        }
        for o in &self.overload {
            let count = |f: &dyn Fn(u16) -> bool| o.posts.iter().filter(|p| f(p.1)).count();
            let lat: Vec<Duration> = o.posts.iter().map(|p| p.0).collect();
            let over = lat
                .iter()
                .filter(|d| **d > Duration::from_millis(2500))
                .count();
            let other_5xx = count(&|c| c >= 500 && c != 503);
            let _ = writeln!(
                s,
                "\nOverload: {} clients at nice {} posting the right password back to back for {} s \
                 to a fresh service (load average {}), a `GET /healthz` every 20 ms and a code post \
                 every 200 ms beside them from another thread at nice 0.\n\n\
                 | figure | measured | goal |\n|---|---|---|",
                o.clients, o.client_nice, o.seconds, o.load
            );
            let _ = writeln!(
                s,
                "| password posts answered | {} ({:.0}/s): {} signed in (303), {} shed (503), {} other 5xx, {} no answer, {} other | |",
                o.posts.len(),
                o.posts.len() as f64 / o.seconds as f64,
                count(&|c| c == 303),
                count(&|c| c == 503),
                other_5xx,
                count(&|c| c == 0),
                count(&|c| c != 0 && c != 303 && c < 500)
            );
            let _ = writeln!(
                s,
                "| password post latency p50 / p99 / max; over 2.5 s | {} / {} / {}; {over} | all ≤ 2.5 s |",
                ms(pct(&lat, 50.0)),
                ms(pct(&lat, 99.0)),
                ms(lat.iter().max().copied().unwrap_or_default())
            );
            let of = |code: u16| -> Vec<Duration> {
                o.posts
                    .iter()
                    .filter(|p| p.1 == code)
                    .map(|p| p.0)
                    .collect()
            };
            let (signed_in, shed) = (of(303), of(503));
            let _ = writeln!(
                s,
                "| the same, signed in (303) / shed (503): p99, max | {}, {} / {}, {} | |",
                ms(pct(&signed_in, 99.0)),
                ms(signed_in.iter().max().copied().unwrap_or_default()),
                ms(pct(&shed, 99.0)),
                ms(shed.iter().max().copied().unwrap_or_default())
            );
            let _ = writeln!(
                s,
                "| 5xx other than the 503 of shedding | {other_5xx} | 0 |"
            );
            let _ = writeln!(
                s,
                "| `GET /healthz` p50 / p99 ({} checks, {} failed) | {} / {} | p99 ≤ 10 ms |",
                o.healthz.len() + o.healthz_errors,
                o.healthz_errors,
                ms(pct(&o.healthz, 50.0)),
                ms(pct(&o.healthz, 99.0))
            );
            let _ = writeln!(
                s,
                "| `POST /login/totp` p50 / p99 ({} codes, {} errors) | {} / {} | p99 ≤ 20 ms |",
                o.codes.latencies.len(),
                o.codes.errors,
                ms(pct(&o.codes.latencies, 50.0)),
                ms(pct(&o.codes.latencies, 99.0))
            );
            let _ = writeln!(
                s,
                "| peak RSS (VmHWM of this service) | {} | ≤ 100 MiB |",
                mib(o.peak_rss_kib)
            );
            let _ = writeln!(
                s,
                "| RSS: idle before, right after, back within 10 % of idle after | {}, {}, {} | ≤ 5 s |",
                mib(o.idle_rss_kib),
                mib(o.after_rss_kib),
                match o.back_to_idle {
                    Some(d) => ms(d),
                    None => format!("not within 15 s (still {})", mib(o.settled_rss_kib)),
                }
            );
            let _ = writeln!(
                s,
                "| the same, anonymous / file-backed (the binary's pages): idle, at the end | {} / {}, {} / {} | |",
                mib(o.idle_split.0),
                mib(o.idle_split.1),
                mib(o.settled_split.0),
                mib(o.settled_split.1)
            );
            let _ = writeln!(
                s,
                "| `/metrics`: twofa_hash_shed_total, twofa_hash_queue_length_max; open database connections before / after | {}, {}; {} / {} | |",
                o.shed_metric, o.queue_peak_metric, o.db_connections.0, o.db_connections.1
            );
        }
        let _ = writeln!(
            s,
            "\nRun again with `cargo xtask bench service` (`--help` lists the sizes; \
             about 20 minutes after the release build)."
        );
        s
    }
}

struct Machine {
    cpu: String,
    cores: usize,
    mem_gib: f64,
    kernel: String,
    os: String,
    commit: String,
    date: String,
    load_start: String,
}

impl Machine {
    fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_string())
            .unwrap_or_else(|| "unknown CPU".into());
        let mem_kib: f64 = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let os = std::fs::read_to_string("/etc/os-release")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|l| l.trim_matches('"').to_string())
            .unwrap_or_default();
        let text = |cmd: &mut Command| {
            util::output(cmd)
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let dirty = !text(
            Command::new("git")
                .args(["status", "--porcelain", "--untracked-files=no"])
                .current_dir(util::root()),
        )
        .is_empty();
        let commit = text(
            Command::new("git")
                .args(["rev-parse", "--short", "HEAD"])
                .current_dir(util::root()),
        );
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mem_gib: mem_kib / 1024.0 / 1024.0,
            kernel: text(Command::new("uname").arg("-r")),
            os,
            commit: if dirty {
                format!("{commit}+uncommitted changes")
            } else {
                commit
            },
            date: text(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
            load_start: Machine::loadavg(),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} cores of an {}, {:.0} GiB, {}, Linux {}",
            self.cores, self.cpu, self.mem_gib, self.os, self.kernel
        )
    }

    /// The 1-minute load average.
    fn loadavg() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_string))
            .unwrap_or_default()
    }
}

// ------------------------------------------------------------ the service

/// One `twofa serve` with NOTIFY_SOCKET pointing at our datagram socket.
struct Serve {
    child: Child,
    listen: String,
    /// `TWOFA_METRICS_LISTEN`: `/metrics` is served only there.
    metrics: String,
    ready_after: Duration,
}

impl Serve {
    fn start(twofa: &Path, env: &[(String, String)], dir: &Path, n: usize) -> Result<Serve> {
        let listen = format!("127.0.0.1:{}", util::free_local_port()?);
        let metrics = format!("127.0.0.1:{}", util::free_local_port()?);
        let socket_path = dir.join(format!("notify-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&socket_path);
        let socket = UnixDatagram::bind(&socket_path)
            .with_context(|| format!("binding {}", socket_path.display()))?;
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        let log = std::fs::File::create(dir.join("serve.log"))?;
        let started = Instant::now();
        let mut child = Command::new(twofa)
            .arg("serve")
            .envs(env.iter().cloned())
            .env("TWOFA_LISTEN", &listen)
            .env("TWOFA_METRICS_LISTEN", &metrics)
            .env("TWOFA_COOKIE_SECURE", "false")
            .env("TWOFA_LOG", "warn")
            .env("NOTIFY_SOCKET", &socket_path)
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", twofa.display()))?;
        let mut buf = [0u8; 4096];
        let ready_after = loop {
            if let Ok(n) = socket.recv(&mut buf) {
                if String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .any(|l| l == "READY=1")
                {
                    break started.elapsed();
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                let _ = std::fs::remove_file(&socket_path);
                bail!(
                    "twofa serve exited before READY=1 ({status}); see {}",
                    dir.join("serve.log").display()
                );
            }
            if started.elapsed() > Duration::from_secs(60) || util::interrupted() {
                util::terminate(&mut child, Duration::from_secs(12));
                let _ = std::fs::remove_file(&socket_path);
                bail!("twofa serve sent no READY=1 within 60 s");
            }
        };
        let _ = std::fs::remove_file(&socket_path);
        Ok(Serve {
            child,
            listen,
            metrics,
            ready_after,
        })
    }

    /// A `kB` line of /proc/<pid>/status (VmRSS, VmHWM).
    fn status_kib(&self, field: &str) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .ok_or_else(|| anyhow!("no {field} in /proc/{}/status", self.child.id()))
    }

    /// (RssAnon, RssFile): memory of its own, and pages of files (the
    /// binary, shared libraries) it has read in.
    fn rss_split(&self) -> Result<(u64, u64)> {
        Ok((self.status_kib("RssAnon")?, self.status_kib("RssFile")?))
    }

    fn stop(&mut self) {
        util::terminate(&mut self.child, Duration::from_secs(12));
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `twofa bench-argon2 --seconds N`: raw verifications/s with the service's
/// own parameters on all cores, with the reused buffer the service uses and
/// with a fresh allocation per hash: (reused, fresh).
fn raw_argon2(twofa: &Path, env: &[(String, String)], seconds: u64) -> Result<(f64, f64)> {
    let _t = util::step(&format!("raw argon2id verifications for {seconds} s"));
    let out = util::output(
        Command::new(twofa)
            .args(["bench-argon2", "--seconds", &seconds.to_string()])
            .envs(env.iter().cloned()),
    )
    .context("twofa bench-argon2 (the service's hidden subcommand) failed")?;
    let json: serde_json::Value = serde_json::from_str(out.trim())
        .with_context(|| format!("twofa bench-argon2 printed no JSON: {out}"))?;
    let field = |name: &str| {
        json[name]
            .as_f64()
            .ok_or_else(|| anyhow!("no {name} in the output of twofa bench-argon2: {json}"))
    };
    let (reused, fresh) = (
        field("verifications_per_s")?,
        field("fresh_allocation_verifications_per_s")?,
    );
    eprintln!(
        "    {reused:.1} verifications/s with the reused buffer, {fresh:.1} with fresh allocations"
    );
    Ok((reused, fresh))
}

// ------------------------------------------------------------ SQL set-up

/// Makes the ids of each batch of expired rows distinct from earlier ones.
static INSERTS: AtomicU64 = AtomicU64::new(0);

struct Sql<'a> {
    cluster: &'a pg::Cluster,
    db: &'a str,
}

impl Sql<'_> {
    /// Runs each statement in its own transaction (VACUUM refuses to run
    /// inside one).
    fn exec(&self, what: &str, sql: &str) -> Result<()> {
        let _t = util::step(what);
        for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            self.cluster
                .psql(self.db, statement)
                .with_context(|| format!("{what} (does service/migrations/ still match?)"))?;
        }
        Ok(())
    }

    fn count(&self, from: &str) -> Result<u64> {
        let out = self
            .cluster
            .psql(self.db, &format!("SELECT count(*) FROM {from}"))?;
        out.trim().parse().context("count(*) printed no number")
    }

    /// `n` expired sessions and `n` expired pending logins, as a day of
    /// abandoned logins would leave them.
    fn insert_expired(&self, n: usize) -> Result<()> {
        let tag = INSERTS.fetch_add(1, Ordering::SeqCst);
        self.exec(
            &format!(
                "inserting {} expired sessions and pending logins",
                thousands(n as u64)
            ),
            &format!(
                "INSERT INTO sessions (id_hash, user_id, created_at, expires_at)
                 SELECT sha256(('bench-expired-session-{tag}-' || g)::bytea),
                        (SELECT min(id) FROM users),
                        now() - interval '2 days', now() - interval '1 day'
                 FROM generate_series(1, {n}) g;
                 INSERT INTO login_challenges (id_hash, user_id, stage, created_at, expires_at, ip)
                 SELECT sha256(('bench-expired-challenge-{tag}-' || g)::bytea),
                        (SELECT min(id) FROM users), 'totp',
                        now() - interval '1 hour', now() - interval '55 minutes', '127.0.0.1'
                 FROM generate_series(1, {n}) g;
                 ANALYZE sessions; ANALYZE login_challenges;"
            ),
        )
    }

    fn delete_expired(&self) -> Result<()> {
        self.exec(
            "deleting what is left of the expired rows",
            "DELETE FROM sessions WHERE expires_at < now();
             DELETE FROM login_challenges WHERE expires_at < now();
             VACUUM ANALYZE sessions; VACUUM ANALYZE login_challenges;",
        )
    }

    /// Accounts nobody logs into, each with a (never decrypted) authenticator,
    /// sharing one real argon2 hash so inserting a million takes seconds.
    fn insert_fillers(&self, n: usize) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.exec(
            &format!("bulk-inserting {} accounts with authenticators", thousands(n as u64)),
            &format!(
                "INSERT INTO users (email, password_hash)
                 SELECT 'filler-' || g || '@bench.invalid',
                        (SELECT password_hash FROM users ORDER BY id LIMIT 1)
                 FROM generate_series(1, {n}) g;
                 INSERT INTO authenticators (user_id, label, secret_ct, key_id, confirmed_at)
                 SELECT id, 'bench filler',
                        decode(md5(id::text) || md5(id::text || 'x') || md5(id::text || 'y'), 'hex'),
                        (SELECT key_id FROM authenticators ORDER BY id LIMIT 1), now()
                 FROM users WHERE email LIKE 'filler-%';
                 VACUUM ANALYZE users; VACUUM ANALYZE authenticators;"
            ),
        )
    }
}

// ------------------------------------------------------------ HTTP load

struct Account {
    email: String,
    secret: Vec<u8>,
    /// The last TOTP step used; the service refuses that step again.
    last_step: AtomicU64,
}

struct Bench {
    http: reqwest::Client,
    /// When not empty, browsers take these in turn instead of `http` (each
    /// bound to its own source address, for the lab's per-address limits).
    pool: Vec<reqwest::Client>,
    /// The source addresses `pool` is bound to.
    sources: Vec<std::net::IpAddr>,
    turn: AtomicU64,
    base: String,
    accounts: Mutex<Vec<Arc<Account>>>,
    /// Indices into `accounts`, least recently used first.
    queue: Mutex<VecDeque<usize>>,
}

#[derive(Default)]
struct Outcomes {
    /// Whole operations (a full login, or one code post in the burst).
    latencies: Vec<Duration>,
    /// The POST /login/totp inside each full login.
    code_latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
    /// Completed operations per second, from the start to the last completion.
    rate: f64,
    /// Password posts shed (503) and sent again after Retry-After.
    shed: u64,
}

impl Outcomes {
    fn record(&mut self, r: Result<Duration>) {
        match r {
            Ok(d) => self.latencies.push(d),
            Err(e) => self.error(e),
        }
    }

    fn error(&mut self, e: anyhow::Error) {
        self.errors += 1;
        self.first_error.get_or_insert_with(|| format!("{e:#}"));
    }

    fn merge(&mut self, other: Outcomes) {
        self.latencies.extend(other.latencies);
        self.code_latencies.extend(other.code_latencies);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

impl Bench {
    fn new(base: &str) -> Result<Arc<Bench>> {
        let http = twofa_client::http(&twofa_client::Options {
            timeout: Some(Duration::from_secs(60)),
            max_idle_per_host: 128,
            ..Default::default()
        })?;
        Ok(Arc::new(Bench {
            http,
            pool: Vec::new(),
            sources: Vec::new(),
            turn: AtomicU64::new(0),
            base: base.to_string(),
            accounts: Mutex::new(Vec::new()),
            queue: Mutex::new(VecDeque::new()),
        }))
    }

    /// Like [`Bench::new`], browsers taking the source addresses in turn.
    fn with_sources(base: &str, sources: &[std::net::IpAddr]) -> Result<Arc<Bench>> {
        let mut pool = Vec::new();
        for &a in sources {
            pool.push(
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .local_address(a)
                    .timeout(Duration::from_secs(60))
                    .build()?,
            );
        }
        let mut bench = Bench::new(base)?;
        let b = Arc::get_mut(&mut bench).expect("not shared yet");
        b.pool = pool;
        b.sources = sources.to_vec();
        Ok(bench)
    }

    /// The same accounts (and their used steps), against another service.
    fn with_base(&self, base: &str) -> Arc<Bench> {
        Arc::new(Bench {
            http: self.http.clone(),
            pool: self.pool.clone(),
            sources: self.sources.clone(),
            turn: AtomicU64::new(0),
            base: base.to_string(),
            accounts: Mutex::new(self.accounts.lock().expect("not poisoned").clone()),
            queue: Mutex::new(self.queue.lock().expect("not poisoned").clone()),
        })
    }

    /// `overload_clients` clients post the right password back to back for
    /// `overload_seconds` (accounts in turn: a success clears the account's
    /// delay, and no wrong password feeds the per-address limit), while a
    /// health check runs every 20 ms and a code is posted every 200 ms from
    /// browsers brought to the code form beforehand.
    async fn overload(
        self: &Arc<Self>,
        args: &Args,
        client_nice: i32,
        idle_kib: u64,
        serve: &Serve,
    ) -> Result<Overload> {
        let seconds = args.overload_seconds.min(PHASE_CAP.as_secs());
        let codes_wanted =
            (seconds as usize * 5).min(self.accounts.lock().expect("not poisoned").len() / 2);
        let ready: Vec<AtCodeForm> = {
            let _t = util::step(&format!(
                "bringing {codes_wanted} browsers to the code form"
            ));
            self.wait_for_accounts(codes_wanted).await;
            let pending: Arc<Mutex<Vec<AtCodeForm>>> = Arc::default();
            let mut tasks = Vec::new();
            let per = codes_wanted.div_ceil(args.concurrency.max(1));
            for _ in 0..args.concurrency.max(1) {
                let (bench, pending) = (self.clone(), pending.clone());
                tasks.push(tokio::spawn(async move {
                    for _ in 0..per {
                        let Some(a) = bench.take() else { break };
                        let mut b = bench.browser();
                        if bench.password_step(&mut b, &a).await.is_ok() {
                            pending.lock().expect("not poisoned").push((b, a));
                        }
                    }
                }));
            }
            for t in tasks {
                t.await?;
            }
            let v = std::mem::take(&mut *pending.lock().expect("not poisoned"));
            v
        };
        // Let the workers release their buffers before the load starts.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let connections_before = self.db_connections(serve).await?;
        let _t = util::step(&format!(
            "overload: {} clients at nice {client_nice} posting passwords for {seconds} s",
            args.overload_clients
        ));
        let load_start = Machine::loadavg();
        let emails: Arc<Vec<String>> = Arc::new(
            self.accounts
                .lock()
                .expect("not poisoned")
                .iter()
                .map(|a| a.email.clone())
                .collect(),
        );
        let perf = if args.profile {
            Some(Perf::start(
                &format!("overload-nice{client_nice}"),
                seconds,
            )?)
        } else {
            None
        };
        let started = Instant::now();
        let end = started + Duration::from_secs(seconds);
        // The posting clients run on a thread and runtime of their own, at
        // their own nice value, so the health checks and code posts below
        // are timed by a thread that is not also busy with 200 clients.
        let posters = {
            let (base, sources) = (self.base.clone(), self.sources.clone());
            let (clients, emails) = (args.overload_clients.max(1), emails.clone());
            std::thread::Builder::new()
                .name("overload-clients".into())
                .spawn(move || -> Result<Vec<(Duration, u16)>> {
                    lower_own_priority(client_nice)?;
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    rt.block_on(async move {
                        // New clients: their connections are driven by
                        // this runtime, not by the measuring thread's.
                        let bench = Bench::with_sources(&base, &sources)?;
                        let next = Arc::new(AtomicU64::new(0));
                        let tasks: Vec<_> = (0..clients)
                            .map(|_| {
                                tokio::spawn(post_passwords(
                                    bench.browser(),
                                    emails.clone(),
                                    next.clone(),
                                    end,
                                ))
                            })
                            .collect();
                        let mut posts = Vec::new();
                        for t in tasks {
                            posts.extend(t.await?);
                        }
                        Ok(posts)
                    })
                })?
        };
        let health = {
            let http = self.http.clone();
            let url = format!("{}/healthz", self.base);
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                while Instant::now() < end {
                    tick.tick().await;
                    let t = Instant::now();
                    match http.get(&url).send().await {
                        Ok(r) if r.status().is_success() => lat.push(t.elapsed()),
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            })
        };
        let codes = {
            let bench = self.clone();
            tokio::spawn(async move {
                let mut out = Outcomes::default();
                let queue = Arc::new(Mutex::new(ready));
                let mut tick = tokio::time::interval(Duration::from_millis(200));
                let mut tasks = Vec::new();
                while Instant::now() < end {
                    tick.tick().await;
                    let Some((mut b, a)) = queue.lock().expect("not poisoned").pop() else {
                        break;
                    };
                    let bench = bench.clone();
                    tasks.push(tokio::spawn(
                        async move { bench.code_step(&mut b, &a).await },
                    ));
                }
                for t in tasks {
                    match t.await {
                        Ok(r) => out.record(r),
                        Err(e) => out.error(e.into()),
                    }
                }
                out
            })
        };
        let mut o = Overload {
            clients: args.overload_clients,
            seconds,
            client_nice,
            ..Overload::default()
        };
        o.posts = tokio::task::spawn_blocking(move || posters.join())
            .await?
            .map_err(|_| anyhow!("the overload clients' thread panicked"))??;
        (o.healthz, o.healthz_errors) = health.await?;
        o.codes = codes.await?;
        if let Some(perf) = perf {
            perf.finish()?;
        }
        o.peak_rss_kib = serve.status_kib("VmHWM")?;
        o.after_rss_kib = serve.status_kib("VmRSS")?;
        let after = Instant::now();
        while after.elapsed() < Duration::from_secs(15) {
            let now = serve.status_kib("VmRSS")?;
            o.settled_rss_kib = now;
            if now as f64 <= idle_kib as f64 * 1.1 {
                o.back_to_idle = Some(after.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        o.settled_split = serve.rss_split()?;
        let metrics = self.metrics(serve).await?;
        let metric = |name: &str| metric_value(&metrics, name).unwrap_or(-1.0) as u64;
        o.db_connections = (connections_before, metric(OPEN_CONNECTIONS));
        o.shed_metric = metric("twofa_hash_shed_total");
        o.queue_peak_metric = metric("twofa_hash_queue_length_max");
        o.load = format!("{load_start}–{}", Machine::loadavg());
        let count = |code: u16| o.posts.iter().filter(|p| p.1 == code).count();
        let lat: Vec<Duration> = o.posts.iter().map(|p| p.0).collect();
        eprintln!(
            "    {} password posts: {} answered 303, {} shed (503), {} other; p99 {} max {}; healthz p99 {}; codes p99 {} ({} errors); peak RSS {}, back within 10 % of idle after {:?}",
            o.posts.len(),
            count(303),
            count(503),
            o.posts.len() - count(303) - count(503),
            ms(pct(&lat, 99.0)),
            ms(lat.iter().max().copied().unwrap_or_default()),
            ms(pct(&o.healthz, 99.0)),
            ms(pct(&o.codes.latencies, 99.0)),
            o.codes.errors,
            mib(o.peak_rss_kib),
            o.back_to_idle
        );
        Ok(o)
    }

    /// The service's `/metrics` text, from its metrics listener.
    async fn metrics(&self, serve: &Serve) -> Result<String> {
        let url = format!("http://{}/metrics", serve.metrics);
        Ok(self.http.get(url).send().await?.text().await?)
    }

    /// The service's open database connections, from its `/metrics`.
    async fn db_connections(&self, serve: &Serve) -> Result<u64> {
        metric_value(&self.metrics(serve).await?, OPEN_CONNECTIONS)
            .map(|v| v as u64)
            .context("no open database connections in /metrics")
    }

    fn browser(&self) -> Browser {
        // One client per source address when the bench has several (see
        // `pool`), so many people do not share one address's limits.
        let http = if self.pool.is_empty() {
            self.http.clone()
        } else {
            let i = self.turn.fetch_add(1, Ordering::Relaxed) as usize;
            self.pool[i % self.pool.len()].clone()
        };
        let mut b = twofa_client::Browser::new(&http, &self.base);
        b.headers
            .push(("accept-language".to_string(), "en".to_string()));
        Browser(b)
    }

    /// Registers and enrols `n` accounts with `concurrency` clients at once.
    async fn register_accounts(self: &Arc<Self>, n: usize, concurrency: usize) -> Result<()> {
        let next = Arc::new(AtomicU64::new(0));
        let run_id = std::process::id();
        let deadline = Instant::now() + PHASE_CAP * 2;
        let mut tasks = Vec::new();
        for _ in 0..concurrency.max(1) {
            let bench = self.clone();
            let next = next.clone();
            tasks.push(tokio::spawn(async move {
                let mut done = 0usize;
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                    if i >= n || Instant::now() > deadline || util::interrupted() {
                        return Ok::<usize, anyhow::Error>(done);
                    }
                    let email = format!("bench-{run_id}-{i}@bench.invalid");
                    let account = bench
                        .register(&email)
                        .await
                        .with_context(|| format!("registering {email}"))?;
                    let index = {
                        let mut accounts = bench.accounts.lock().expect("not poisoned");
                        accounts.push(Arc::new(account));
                        accounts.len() - 1
                    };
                    bench.queue.lock().expect("not poisoned").push_back(index);
                    done += 1;
                    if (i + 1).is_multiple_of(200) {
                        eprintln!("    {} accounts", i + 1);
                    }
                }
            }));
        }
        for t in tasks {
            t.await??;
        }
        let have = self.accounts.lock().expect("not poisoned").len();
        if have < n {
            bail!("only {have} of {n} accounts registered (interrupted or over time)");
        }
        Ok(())
    }

    /// register → enrol with a first code → recovery codes acknowledged.
    async fn register(&self, email: &str) -> Result<Account> {
        let mut b = self.browser();
        // Registration hashes the password too: a post shed with 503 is
        // sent again after its Retry-After, as in `password_step`.
        let started = Instant::now();
        loop {
            b.get_form("/register").await?;
            let (status, location, retry) = b
                .post_status(
                    "/register",
                    &[
                        ("email", email),
                        ("password", PASSWORD),
                        ("password_confirm", PASSWORD),
                    ],
                )
                .await?;
            if status == 503 && started.elapsed() < PHASE_CAP && !util::interrupted() {
                SHED.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(retry.unwrap_or(1).max(1))).await;
                continue;
            }
            if status != 303 || location != "/enroll" {
                bail!("POST /register answered {status} → {location:?}, expected 303 → /enroll");
            }
            break;
        }
        let page = b.get_form("/enroll").await?;
        let secret = page
            .totp_secret()
            .context("enrolment page has no <code id=\"totp-secret\">")?;
        let secret = base32_decode(&secret)
            .ok_or_else(|| anyhow!("totp-secret {secret:?} is not base32"))?;
        let step = current_step();
        let code = totp(&secret, step);
        b.post_expect("/enroll", &[("code", &code)], "/recovery-codes")
            .await?;
        b.get_form("/recovery-codes").await?;
        b.post_expect("/recovery-codes", &[], "/welcome").await?;
        Ok(Account {
            email: email.to_string(),
            secret,
            last_step: AtomicU64::new(step),
        })
    }

    /// An account whose code of the current step is still unused, or None
    /// when every account has logged in during this step.
    fn take(&self) -> Option<Arc<Account>> {
        let mut queue = self.queue.lock().expect("not poisoned");
        let accounts = self.accounts.lock().expect("not poisoned");
        // The least recently used account whose code of this step is still
        // unused. (A copy made by `with_base` keeps the order it was made
        // with, while another copy may have used accounts since.)
        let now = current_step();
        let at = queue
            .iter()
            .position(|&i| accounts[i].last_step.load(Ordering::SeqCst) < now)?;
        let i = queue.remove(at).expect("found above");
        queue.push_back(i);
        Some(accounts[i].clone())
    }

    fn available(&self) -> usize {
        let now = current_step();
        self.accounts
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|a| a.last_step.load(Ordering::SeqCst) < now)
            .count()
    }

    /// Waits (at most one step) until `needed` accounts have an unused code.
    async fn wait_for_accounts(&self, needed: usize) {
        if self.available() >= needed.min(self.accounts.lock().expect("not poisoned").len()) {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970");
        let into_step = now.as_secs_f64() % 30.0;
        let wait = Duration::from_secs_f64(30.0 - into_step + 0.2);
        eprintln!(
            "    waiting {:.0} s for the next 30-s step (each code is single-use)",
            wait.as_secs_f64()
        );
        tokio::time::sleep(wait).await;
    }

    /// GET /login, POST /login: leaves the browser at the code form. A
    /// post shed with 503 is sent again after its `Retry-After`, as a person
    /// told to try again would (counted in SHED, bounded by PHASE_CAP).
    async fn password_step(&self, b: &mut Browser, a: &Account) -> Result<()> {
        let started = Instant::now();
        loop {
            b.get_form("/login").await?;
            let (status, location, retry) = b
                .post_status("/login", &[("email", &a.email), ("password", PASSWORD)])
                .await?;
            if status == 503 && started.elapsed() < PHASE_CAP && !util::interrupted() {
                SHED.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(retry.unwrap_or(1).max(1))).await;
                continue;
            }
            if status != 303 || location != "/login/totp" {
                bail!("POST /login answered {status} → {location:?}, expected 303 → /login/totp");
            }
            break;
        }
        b.get_form("/login/totp").await?;
        Ok(())
    }

    /// POST /login/totp with the code of the current step; returns its latency.
    async fn code_step(&self, b: &mut Browser, a: &Account) -> Result<Duration> {
        let step = current_step();
        let prev = a.last_step.fetch_max(step, Ordering::SeqCst);
        if prev >= step {
            bail!("internal: account {} reused within one step", a.email);
        }
        let code = totp(&a.secret, step);
        let t = Instant::now();
        b.post_expect("/login/totp", &[("code", &code)], "/welcome")
            .await?;
        Ok(t.elapsed())
    }

    /// Full logins with `concurrency` clients for `seconds` (or until every
    /// account has been used in this step): latencies of the whole login and
    /// of its POST /login/totp, and logins per second.
    async fn throughput(self: &Arc<Self>, seconds: u64, concurrency: usize) -> Result<Outcomes> {
        self.wait_for_accounts(usize::MAX).await;
        SHED.store(0, Ordering::Relaxed);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(seconds).min(PHASE_CAP);
        let mut tasks = Vec::new();
        for _ in 0..concurrency.max(1) {
            let bench = self.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Outcomes::default();
                let mut last_done = started;
                while Instant::now() < deadline && !util::interrupted() {
                    let Some(a) = bench.take() else { break };
                    let t = Instant::now();
                    let mut b = bench.browser();
                    let r = async {
                        bench.password_step(&mut b, &a).await?;
                        bench.code_step(&mut b, &a).await
                    }
                    .await;
                    match r {
                        Ok(code) => {
                            out.latencies.push(t.elapsed());
                            out.code_latencies.push(code);
                        }
                        Err(e) => out.error(e),
                    }
                    last_done = Instant::now();
                }
                (out, last_done)
            }));
        }
        let mut all = Outcomes::default();
        let mut end = started;
        for t in tasks {
            let (out, last) = t.await?;
            all.merge(out);
            end = end.max(last);
        }
        all.rate = all.latencies.len() as f64 / (end - started).as_secs_f64().max(1e-3);
        all.shed = SHED.swap(0, Ordering::Relaxed);
        Ok(all)
    }

    /// Brings `requests` accounts to the code form (not timed), then sends
    /// only their POST /login/totp from `clients` clients back to back,
    /// timing each: the code step's own cost, without argon2 beside it.
    async fn code_burst(
        self: &Arc<Self>,
        requests: usize,
        clients: usize,
        concurrency: usize,
    ) -> Result<Outcomes> {
        let total = self.accounts.lock().expect("not poisoned").len();
        let requests = requests.min(total);
        self.wait_for_accounts(requests).await;
        let pending: Arc<Mutex<Vec<AtCodeForm>>> = Arc::default();
        let mut out = Outcomes::default();
        let deadline = Instant::now() + PHASE_CAP;
        let mut tasks = Vec::new();
        let per_worker = requests.div_ceil(concurrency.max(1));
        for _ in 0..concurrency.max(1) {
            let bench = self.clone();
            let pending = pending.clone();
            tasks.push(tokio::spawn(async move {
                let mut errors = Outcomes::default();
                for _ in 0..per_worker {
                    if Instant::now() > deadline || util::interrupted() {
                        break;
                    }
                    let Some(a) = bench.take() else { break };
                    let mut b = bench.browser();
                    match bench.password_step(&mut b, &a).await {
                        Ok(()) => pending.lock().expect("not poisoned").push((b, a)),
                        Err(e) => errors.error(e),
                    }
                }
                errors
            }));
        }
        for t in tasks {
            out.merge(t.await?);
        }
        let mut ready = std::mem::take(&mut *pending.lock().expect("not poisoned"));
        ready.truncate(requests);
        let queue = Arc::new(Mutex::new(ready));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients.max(1) {
            let bench = self.clone();
            let queue = queue.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Outcomes::default();
                loop {
                    let next = queue.lock().expect("not poisoned").pop();
                    let Some((mut b, a)) = next else { break };
                    out.record(bench.code_step(&mut b, &a).await);
                }
                out
            }));
        }
        for t in tasks {
            out.merge(t.await?);
        }
        out.rate = out.latencies.len() as f64 / started.elapsed().as_secs_f64().max(1e-3);
        Ok(out)
    }

    /// One database state: full logins at `concurrency` clients (throughput),
    /// full logins at `totp_clients` clients (the code step's latency beside
    /// argon2 work), and code posts alone at `totp_clients` clients.
    /// `after_throughput` runs right after the first part (for the raw argon2
    /// measurement next to it).
    async fn growth_phase(
        self: &Arc<Self>,
        label: &str,
        args: &Args,
        after_throughput: impl FnOnce() -> Result<()>,
    ) -> Result<Phase> {
        let _t = util::step(&format!("logins with {label}"));
        let through = self.throughput(args.seconds, args.concurrency).await?;
        eprintln!(
            "    {} clients: {} full logins, {:.1}/s, p50 {} p99 {}, {} errors",
            args.concurrency,
            through.latencies.len(),
            through.rate,
            ms(pct(&through.latencies, 50.0)),
            ms(pct(&through.latencies, 99.0)),
            through.errors
        );
        after_throughput()?;
        if through.latencies.is_empty() {
            bail!(
                "no login succeeded with {label}: {}",
                through.first_error.unwrap_or_default()
            );
        }
        let perf = if args.profile && !PROFILED.swap(true, Ordering::SeqCst) {
            Some(Perf::start("logins", args.seconds)?)
        } else {
            None
        };
        let mixed = self.throughput(args.seconds, args.totp_clients).await?;
        if let Some(perf) = perf {
            perf.finish()?;
        }
        eprintln!(
            "    {} clients: {} full logins, {:.1}/s ({} password posts shed and sent again); their POST /login/totp p50 {} p99 {}, {} errors",
            args.totp_clients,
            mixed.latencies.len(),
            mixed.rate,
            mixed.shed,
            ms(pct(&mixed.code_latencies, 50.0)),
            ms(pct(&mixed.code_latencies, 99.0)),
            mixed.errors
        );
        let burst = self
            .code_burst(args.totp_requests, args.totp_clients, args.concurrency)
            .await?;
        eprintln!(
            "    POST /login/totp alone, {} clients back to back: {:.0}/s, p50 {} p99 {} over {}, {} errors",
            args.totp_clients,
            burst.rate,
            ms(pct(&burst.latencies, 50.0)),
            ms(pct(&burst.latencies, 99.0)),
            burst.latencies.len(),
            burst.errors
        );
        let first_error = [&through, &mixed, &burst]
            .iter()
            .find_map(|o| o.first_error.clone());
        if let Some(e) = &first_error {
            eprintln!("    first error: {e}");
        }
        Ok(Phase {
            label: label.to_string(),
            errors: through.errors + mixed.errors + burst.errors,
            first_error,
            through,
            mixed,
            burst,
            note: String::new(),
        })
    }
}

/// A browser that passed the password step, and its account.
type AtCodeForm = (Browser, Arc<Account>);

/// One browser of the shared client (`twofa_client`: its own cookie jar
/// and the csrf token of the last form seen), with the checks of the bench.
struct Browser(twofa_client::Browser);

impl Browser {
    /// GET a page with a form (200) and remember its csrf_token.
    async fn get_form(&mut self, path: &str) -> Result<twofa_client::Page> {
        let page = self
            .0
            .get(path)
            .await
            .with_context(|| format!("GET {path}"))?;
        if page.status != 200 {
            bail!("GET {path} answered {}", page.status);
        }
        if page.csrf().is_none() {
            bail!("GET {path}: page has no csrf_token field");
        }
        Ok(page)
    }

    /// POST a form with the remembered csrf_token; expects 303 to `to`.
    async fn post_expect(&mut self, path: &str, fields: &[(&str, &str)], to: &str) -> Result<()> {
        let (status, location, retry) = self
            .post_status(path, fields)
            .await
            .with_context(|| format!("POST {path}"))?;
        if status != 303 || location != to {
            let retry = retry
                .map(|r| format!(" (Retry-After {r})"))
                .unwrap_or_default();
            bail!("POST {path} answered {status}{retry} → {location:?}, expected 303 → {to}");
        }
        Ok(())
    }

    /// POST a form with the remembered csrf_token: the status, whatever it
    /// is, the Location path and the Retry-After seconds.
    async fn post_status(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<(u16, String, Option<u64>)> {
        let page = self.0.submit(path, fields).await?;
        let location = self
            .0
            .local_path(page.location())
            .unwrap_or(page.location())
            .to_string();
        let retry = page.retry_after().and_then(|r| r.parse().ok());
        Ok((page.status, location, retry))
    }
}

/// Password posts shed (503) and sent again by `password_step`.
static SHED: AtomicU64 = AtomicU64::new(0);

/// Only the first 50-client phase is profiled.
static PROFILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A system-wide `perf record` over one phase (Debian's linux-perf).
struct Perf {
    child: Child,
    data: PathBuf,
    /// `perf sched record` over the first seconds of the phase: how long
    /// each thread waited for a core once runnable.
    sched: Child,
    sched_data: PathBuf,
    name: String,
}

impl Perf {
    fn start(name: &str, seconds: u64) -> Result<Perf> {
        crate::deps::ensure(
            "the profile of `cargo xtask bench service --profile`",
            &[crate::deps::pkg("linux-perf", "/usr/bin/perf")],
        )?;
        let data = util::target_dir().join(format!("bench/perf-{name}.data"));
        let child = Command::new("perf")
            .args(["record", "-a", "-g", "-F", "499", "-o"])
            .arg(&data)
            .args(["--", "sleep", &seconds.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting perf record")?;
        let sched_data = util::target_dir().join(format!("bench/perf-{name}-sched.data"));
        let sched = Command::new("perf")
            .args(["sched", "record", "-a", "-o"])
            .arg(&sched_data)
            .args(["--", "sleep", &seconds.min(15).to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting perf sched record")?;
        Ok(Perf {
            child,
            data,
            sched,
            sched_data,
            name: name.to_string(),
        })
    }

    /// Waits for perf, then writes the CPU share per thread name, the
    /// hottest symbols and the longest waits for a core to
    /// target/bench/perf-*.txt.
    fn finish(mut self) -> Result<()> {
        let _ = self.child.wait();
        let _ = self.sched.wait();
        let dir = util::target_dir().join("bench");
        let sched = util::output(
            Command::new("perf")
                .args(["sched", "latency", "--sort", "max", "-i"])
                .arg(&self.sched_data),
        )?;
        let top: Vec<&str> = sched.lines().take(24).collect();
        std::fs::write(
            dir.join(format!("perf-{}-sched.txt", self.name)),
            top.join("\n") + "\n",
        )?;
        let _ = std::fs::remove_file(&self.sched_data);
        for (what, sort) in [("threads", "comm"), ("symbols", "comm,dso,sym")] {
            let file = format!("perf-{}-{what}.txt", self.name);
            let out = util::output(
                Command::new("perf")
                    .args([
                        "report",
                        "--stdio",
                        "--no-children",
                        "--percent-limit",
                        "0.5",
                        "-g",
                        "none",
                        "--sort",
                        sort,
                        "-i",
                    ])
                    .arg(&self.data),
            )?;
            std::fs::write(dir.join(file), out)?;
        }
        eprintln!(
            "    profile: {}/perf-{n}-threads.txt, perf-{n}-symbols.txt, perf-{n}-sched.txt",
            dir.display(),
            n = self.name
        );
        Ok(())
    }
}

// ------------------------------------------------------------ TOTP (RFC 6238)

fn current_step() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        / 30
}

fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    format!(
        "{:0width$}",
        bin % 10u32.pow(digits),
        width = digits as usize
    )
}

fn totp(secret: &[u8], step: u64) -> String {
    hotp(secret, step, 6)
}

fn base32_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|&a| a == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Our code generator must agree with the RFC vectors before it judges the service.
fn check_totp_against_vectors() -> Result<()> {
    let path = util::root().join("testdata/totp-vectors.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let mut checked = 0;
    for v in json["hotp"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(json["totp"].as_array().into_iter().flatten())
    {
        if v["algorithm"] != "SHA1" {
            continue;
        }
        let secret = base32_decode(v["secret_base32"].as_str().unwrap_or(""))
            .context("vector secret is not base32")?;
        let counter = v["counter"].as_u64().or_else(|| v["step"].as_u64());
        let (Some(counter), Some(digits), Some(code)) =
            (counter, v["digits"].as_u64(), v["code"].as_str())
        else {
            continue;
        };
        let ours = hotp(&secret, counter, digits as u32);
        if ours != code {
            bail!("bench TOTP gives {ours} for {v}, the RFC says {code}");
        }
        checked += 1;
    }
    if checked == 0 {
        bail!("no SHA1 vectors in {}", path.display());
    }
    Ok(())
}

// ------------------------------------------------------------ through the lab's VIP

/// One overload run through the lab's VIP (`cargo xtask lab overload`).
pub(crate) struct VipRun {
    pub apps: usize,
    clients: usize,
    seconds: u64,
    /// Every password post: latency and status (0 = no answer).
    posts: Vec<(Duration, u16)>,
    healthz: Vec<Duration>,
    healthz_errors: usize,
    load: String,
}

impl VipRun {
    fn count(&self, f: impl Fn(u16) -> bool) -> usize {
        self.posts.iter().filter(|p| f(p.1)).count()
    }

    /// Shed posts (503) as a share of the posts answered.
    pub fn shed_rate(&self) -> f64 {
        let answered = self.count(|c| c != 0);
        self.count(|c| c == 503) as f64 / answered.max(1) as f64
    }

    pub fn summary(&self) -> String {
        let lat: Vec<Duration> = self.posts.iter().map(|p| p.0).collect();
        format!(
            "{} app(s): {} posts, {} signed in, {} shed ({:.1} %), {} other 5xx, {} refused 429; p50 {} p99 {} max {}; healthz p99 {} ({} failed)",
            self.apps,
            self.posts.len(),
            self.count(|c| c == 303),
            self.count(|c| c == 503),
            self.shed_rate() * 100.0,
            self.count(|c| c >= 500 && c != 503),
            self.count(|c| c == 429),
            ms(pct(&lat, 50.0)),
            ms(pct(&lat, 99.0)),
            ms(lat.iter().max().copied().unwrap_or_default()),
            ms(pct(&self.healthz, 99.0)),
            self.healthz_errors
        )
    }
}

/// Drives the lab's VIP over plain HTTP as `bench service` drives one
/// service. Must be created and used on a thread inside the lab's client
/// namespace: its runtime is single-threaded, so every socket it opens
/// lives in that namespace. Each source address gets its own HTTP client
/// bound to it, so HAProxy's per-address rate limit sees many clients, not
/// one.
pub(crate) struct VipDriver {
    rt: tokio::runtime::Runtime,
    bench: Arc<Bench>,
}

impl VipDriver {
    pub fn new(base: &str, sources: &[std::net::IpAddr]) -> Result<VipDriver> {
        check_totp_against_vectors()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let bench = Bench::with_sources(base, sources)?;
        Ok(VipDriver { rt, bench })
    }

    /// Registers and enrols `n` accounts through the VIP.
    pub fn register(&self, n: usize, concurrency: usize) -> Result<()> {
        self.rt
            .block_on(self.bench.register_accounts(n, concurrency))
    }

    /// `clients` clients (one source address each, in turn) post the right
    /// password back to back for `seconds`, accounts in turn, while a
    /// `GET /healthz` goes through the VIP every 20 ms, each from the next
    /// source address.
    pub fn overload(&self, apps: usize, clients: usize, seconds: u64) -> Result<VipRun> {
        let bench = self.bench.clone();
        self.rt.block_on(async move {
            let load_start = Machine::loadavg();
            let emails: Arc<Vec<String>> = Arc::new(
                bench
                    .accounts
                    .lock()
                    .expect("not poisoned")
                    .iter()
                    .map(|a| a.email.clone())
                    .collect(),
            );
            if emails.is_empty() {
                bail!("no accounts registered");
            }
            let end = Instant::now() + Duration::from_secs(seconds.min(PHASE_CAP.as_secs()));
            let next = Arc::new(AtomicU64::new(0));
            let mut posters = Vec::new();
            for _ in 0..clients.max(1) {
                let b = bench.browser();
                posters.push(tokio::spawn(post_passwords(
                    b,
                    emails.clone(),
                    next.clone(),
                    end,
                )));
            }
            let health = {
                let pool = bench.pool.clone();
                let url = format!("{}/healthz", bench.base);
                tokio::spawn(async move {
                    let (mut lat, mut errors) = (Vec::new(), 0usize);
                    let mut tick = tokio::time::interval(Duration::from_millis(20));
                    let mut i = 0usize;
                    while Instant::now() < end {
                        tick.tick().await;
                        i += 1;
                        let t = Instant::now();
                        match pool[i % pool.len()].get(&url).send().await {
                            Ok(r) if r.status().is_success() => lat.push(t.elapsed()),
                            _ => errors += 1,
                        }
                    }
                    (lat, errors)
                })
            };
            let mut run = VipRun {
                apps,
                clients,
                seconds,
                posts: Vec::new(),
                healthz: Vec::new(),
                healthz_errors: 0,
                load: String::new(),
            };
            for p in posters {
                run.posts.extend(p.await?);
            }
            (run.healthz, run.healthz_errors) = health.await?;
            run.load = format!("{load_start}–{}", Machine::loadavg());
            Ok(run)
        })
    }
}

/// The value of the sample `name` (with its labels) in a `/metrics` text.
fn metric_value(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// Sets the calling thread's nice value (0: leaves it alone).
fn lower_own_priority(nice: i32) -> Result<()> {
    if nice == 0 {
        return Ok(());
    }
    // SAFETY: gettid has no preconditions; on Linux a thread id names that
    // one thread for setpriority, which changes nothing else.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) } != 0 {
        bail!(
            "setting the overload clients' nice value to {nice}: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// One overload client: the login form once, then the right password for
/// the next account, back to back until `end`; each answer's time and
/// status (0: no answer).
async fn post_passwords(
    mut b: Browser,
    emails: Arc<Vec<String>>,
    next: Arc<AtomicU64>,
    end: Instant,
) -> Vec<(Duration, u16)> {
    let mut out = Vec::new();
    if b.get_form("/login").await.is_err() {
        return out;
    }
    while Instant::now() < end && !util::interrupted() {
        let i = next.fetch_add(1, Ordering::Relaxed) as usize % emails.len();
        let t = Instant::now();
        let status = b
            .post_status("/login", &[("email", &emails[i]), ("password", PASSWORD)])
            .await
            .map_or(0, |r| r.0);
        out.push((t.elapsed(), status));
    }
    out
}

/// The markdown of `cargo xtask lab overload`: the machine, then one row per
/// app count.
pub(crate) fn vip_markdown(runs: &[VipRun], sources: usize, accounts: usize, apps: &str) -> String {
    let m = Machine::read();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "`cargo xtask lab overload` at `{}`, {}, on {}; load average {} when the table was written. \
         Each row: {} clients posting the right password back to back through the VIP for {} s \
         ({} accounts in turn; {} source addresses on the client), a `GET /healthz` through the \
         VIP every 20 ms; {}.\n",
        m.commit,
        m.date,
        m.describe(),
        m.load_start,
        runs.first().map_or(0, |r| r.clients),
        runs.first().map_or(0, |r| r.seconds),
        accounts,
        sources,
        apps
    );
    let _ = writeln!(
        s,
        "| apps in rotation | posts answered (/s) | signed in (303) | shed (503) | **shed rate** | other 5xx | refused 429 | no answer | post p50 / p99 / max | `/healthz` p99 (failed) | load average |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in runs {
        let lat: Vec<Duration> = r.posts.iter().map(|p| p.0).collect();
        let answered = r.count(|c| c != 0);
        let _ = writeln!(
            s,
            "| {} | {} ({:.0}/s) | {} | {} | **{:.1} %** | {} | {} | {} | {} / {} / {} | {} ({}) | {} |",
            r.apps,
            thousands(answered as u64),
            answered as f64 / r.seconds.max(1) as f64,
            thousands(r.count(|c| c == 303) as u64),
            thousands(r.count(|c| c == 503) as u64),
            r.shed_rate() * 100.0,
            r.count(|c| c >= 500 && c != 503),
            r.count(|c| c == 429),
            r.count(|c| c == 0),
            ms(pct(&lat, 50.0)),
            ms(pct(&lat, 99.0)),
            ms(lat.iter().max().copied().unwrap_or_default()),
            ms(pct(&r.healthz, 99.0)),
            r.healthz_errors,
            r.load
        );
    }
    s
}

// ------------------------------------------------------------ numbers and docs

fn pct(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut s = samples.to_vec();
    s.sort();
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    if v < 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Replaces the `heading` section (up to the next `## ` heading) of a
/// markdown file, or appends it; other sections are left as they are.
fn replace_section(path: &PathBuf, heading: &str, section: &str) -> Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text
        .match_indices(heading)
        .find(|(i, _)| *i == 0 || text[..*i].ends_with('\n'))
        .map(|(i, _)| i);
    let new = match start {
        Some(i) => {
            let after = i + heading.len();
            let end = text[after..]
                .find("\n## ")
                .map(|j| after + j + 1)
                .unwrap_or(text.len());
            let mut section = section.trim_end().to_string();
            section.push('\n');
            if end < text.len() {
                section.push('\n');
            }
            format!("{}{}{}", &text[..i], section, &text[end..])
        }
        None => format!("{}\n{}", text.trim_end(), section),
    };
    std::fs::write(path, new)?;
    Ok(())
}
