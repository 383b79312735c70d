//! `twofa probe load`: registers and enrols accounts, logs in continuously
//! through one URL (the VIP) for a bounded time and count, as browsers do
//! (no retry a browser would not make: every error a person would see is
//! counted and listed with its times), then checks through the same URL,
//! with a full login, that every account whose enrolment was acknowledged
//! still logs in.
//!
//! A driver that injects faults talks to the load through `--control-file`,
//! one line per event (docs: vm-tests/README.md, "The load's control file").

use super::figures::{self, Gap};
use super::flow::{self, Account, Attempt, Browser, Failure};
use anyhow::{bail, Result};
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// Base URL the load goes through, e.g. http://10.77.0.10
    #[arg(long = "base-url", alias = "url")]
    pub url: String,
    /// Base URLs used to register the initial accounts and the registration
    /// bursts before faults (the apps directly, so the proxy's per-IP rate
    /// limit is not spent on them); defaults to --url. Comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub direct: Vec<String>,
    /// Accounts registered and enrolled before the load starts. Each logs in
    /// at most once per 30-s TOTP step, so keep accounts ≥ 30 × rate.
    #[arg(long, default_value_t = 100)]
    pub accounts: usize,
    /// Concurrent logins.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Logins started per second (paced; bounded by the proxy's rate limit).
    #[arg(long, default_value_t = 3.0)]
    pub rate: f64,
    /// Every n-th operation registers a new account instead (0: never).
    #[arg(long, default_value_t = 10)]
    pub register_every: u64,
    /// How long the load runs.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Upper bound on logins, whatever the time.
    #[arg(long, default_value_t = 100_000)]
    pub max_logins: u64,
    /// Connect timeout. A browser waits for a connection (the kernel sends
    /// the SYN again after 1 s and 3 s), so a lost SYN is a delay, not an
    /// error; a refused connection fails at once whatever this is.
    #[arg(long, default_value_t = 10_000)]
    pub connect_timeout_ms: u64,
    /// Whole-request timeout: longer than the proxy's `timeout server`, so a
    /// request delayed by a database failover is slow, not failed.
    #[arg(long, default_value_t = 40)]
    pub request_timeout_s: u64,
    /// How long the setup and the final check may retry requests that
    /// reached no one (the load itself never retries).
    #[arg(long, default_value_t = 30)]
    pub patience_s: u64,
    /// After an error, how many times the person presses reload (a new
    /// login, one second later). Reloads are counted on their own; the
    /// error stays counted.
    #[arg(long, default_value_t = 1)]
    pub reloads: u32,
    /// Print the JSON report on standard output (the default; the human
    /// summary always goes to standard error).
    #[arg(long)]
    pub json: bool,
    /// Keep accounts across runs: enrolled accounts are read from this file
    /// (instead of registering that many) and every acknowledged account is
    /// written back at the end, so a later run re-checks them all.
    #[arg(long)]
    pub accounts_file: Option<std::path::PathBuf>,
    /// Write the JSON report to this file instead of standard output.
    #[arg(long)]
    pub json_out: Option<std::path::PathBuf>,
    /// A file the driver appends events to: `burst`, `fault <unix ms>
    /// <node> <role>`, `injected <unix ms> <node> <role>` (the fault's
    /// injection ended), `heal <unix ms> <node> <role>`, `verify`. With it,
    /// the final check waits for `verify` (sent once the cluster is healthy).
    #[arg(long)]
    pub control_file: Option<std::path::PathBuf>,
    /// Concurrent registrations of a `burst` (sent just before a fault), on
    /// the --direct URLs.
    #[arg(long, default_value_t = 6)]
    pub burst_registrants: usize,
    /// Upper bound on a burst's length; it also ends at the next fault line.
    #[arg(long, default_value_t = 3000)]
    pub burst_ms: u64,
    /// Upper bound on the wait for `verify` after the load.
    #[arg(long, default_value_t = 900)]
    pub verify_wait_s: u64,
    /// Source addresses for the final check (comma-separated), one per
    /// checking browser: the proxy's per-address rate limit then applies
    /// to each, as to that many people, instead of making one address wait
    /// out its 429s. The addresses must be the client's. Without it, every
    /// check goes from the client's own address.
    #[arg(long, value_delimiter = ',')]
    pub verify_from: Vec<std::net::IpAddr>,
}

struct Pool {
    /// Idle accounts, least recently used first.
    idle: VecDeque<Account>,
}

/// One error a person saw: the request that failed, when, where and why.
#[derive(Debug, Clone, Serialize)]
struct FailureRecord {
    /// `login`, `registration` or `reload` (a login after an error).
    op: &'static str,
    start_ms: u64,
    end_ms: u64,
    step: String,
    cause: String,
    node: String,
}

#[derive(Debug, Clone, Serialize)]
struct Mark {
    at_ms: u64,
    node: String,
    role: String,
    /// A fault's `injected` line: when the driver's command that cut the
    /// node off returned (a crash's or a cut cable's few milliseconds).
    done_ms: Option<u64>,
}

/// A login made on purpose just before a fault: its code is submitted again
/// after the failover and must be refused.
#[derive(Clone)]
struct Sentinel {
    account: Account,
    step: u64,
    accepted_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
struct ReplayCheck {
    /// `failover` (after the first write following the fault) or `heal`.
    after: &'static str,
    fault_ms: Option<u64>,
    at_ms: u64,
    /// `refused`, `accepted` (a consumed step was lost), or `not checkable`
    /// (the code had left the accepted window, or no sentinel existed).
    result: String,
    detail: String,
}

#[derive(Default)]
struct Control {
    lines_seen: usize,
    faults: Vec<Mark>,
    heals: Vec<Mark>,
    verify: bool,
}

#[derive(Default)]
struct Stats {
    logins_ok: u64,
    logins_failed: u64,
    registrations_ok: u64,
    registrations_failed: u64,
    reloads: u64,
    reloads_ok: u64,
    reloads_failed: u64,
    burst_registrations_ok: u64,
    burst_registrations_failed: u64,
    starved: u64,
    latencies_ms: Vec<f64>,
    slowest_login_ms: f64,
    failures: BTreeMap<String, u64>,
    examples: Vec<String>,
    list: Vec<FailureRecord>,
    /// Completion times of successful requests of the load (unix ms).
    successes_ms: Vec<u64>,
    /// Every request of the load: (completion, ok).
    requests: Vec<(u64, bool)>,
    /// Acknowledged writes: logins, enrolments (unix ms).
    writes_ms: Vec<u64>,
    /// Acknowledged enrolments of every stream (unix ms).
    enrolments_ms: Vec<u64>,
    sentinels: Vec<Sentinel>,
    sentinel_failures: u64,
    replays: Vec<ReplayCheck>,
}

const MAX_LISTED: usize = 5000;

impl Stats {
    fn fail(&mut self, op: &'static str, f: &Failure, b: &Browser) {
        *self.failures.entry(f.kind()).or_default() += 1;
        if self.examples.len() < 10 {
            self.examples.push(f.to_string());
        }
        let last = b.attempts.last();
        if self.list.len() < MAX_LISTED {
            self.list.push(FailureRecord {
                op,
                start_ms: last.map_or(0, |a| a.start_ms),
                end_ms: last.map_or(0, |a| a.end_ms),
                step: last.map_or_else(String::new, |a| a.step.clone()),
                cause: f.to_string(),
                node: last.map_or_else(|| b.base().to_string(), |a| a.node.clone()),
            });
        }
    }

    fn requests(&mut self, attempts: &[Attempt]) {
        for a in attempts {
            self.requests.push((a.end_ms, a.cause.is_none()));
            if a.cause.is_none() {
                self.successes_ms.push(a.end_ms);
            }
        }
    }
}

/// What every task of the load shares.
struct Ctx {
    http: reqwest::Client,
    url: String,
    direct: Vec<String>,
    run_id: String,
    pool: Mutex<Pool>,
    stats: Mutex<Stats>,
    /// Every account whose enrolment was acknowledged, by e-mail.
    acknowledged: Mutex<Vec<String>>,
    /// Accounts out of the pool (sentinels), still checked at the end.
    held: Mutex<Vec<Account>>,
    control: Mutex<Control>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    registrations: AtomicU64,
    /// The load's workers are done: no write will come from them any more.
    load_over: AtomicBool,
    burst_registrants: usize,
    burst_ms: u64,
}

impl Ctx {
    /// An acknowledged enrolment. Only the load's own, through the VIP, is
    /// a write of the write-outage figure: a burst's go to the apps directly
    /// and would hide a proxy's outage.
    fn acknowledge(&self, a: Account, at_ms: u64, through_vip: bool) {
        self.acknowledged.lock().unwrap().push(a.email.clone());
        {
            let mut s = self.stats.lock().unwrap();
            s.enrolments_ms.push(at_ms);
            if through_vip {
                s.writes_ms.push(at_ms);
            }
        }
        self.pool.lock().unwrap().idle.push_back(a);
    }

    fn spawn<F: std::future::Future<Output = ()> + Send + 'static>(&self, f: F) {
        self.tasks.lock().unwrap().push(tokio::spawn(f));
    }
}

pub async fn run(args: LoadArgs) -> Result<i32> {
    if args.accounts == 0 || args.concurrency == 0 || args.rate <= 0.0 {
        bail!("--accounts, --concurrency and --rate must be positive");
    }
    let http = flow::client(
        Duration::from_millis(args.connect_timeout_ms),
        Duration::from_secs(args.request_timeout_s),
    )?;
    let direct = if args.direct.is_empty() {
        vec![args.url.clone()]
    } else {
        args.direct.clone()
    };
    let run_id = flow::run_id();
    let patience = Duration::from_secs(args.patience_s);

    // 1. Accounts, registered directly on the apps, a few at a time.
    let setup_start = Instant::now();
    let mut accounts: Vec<Account> = match &args.accounts_file {
        Some(p) if p.exists() => serde_json::from_str(&std::fs::read_to_string(p)?)?,
        _ => Vec::new(),
    };
    let kept = accounts.len();
    let mut set = tokio::task::JoinSet::new();
    let next = Arc::new(AtomicU64::new(kept as u64));
    for w in 0..args.concurrency.max(3) {
        let (http, direct, next, run_id) =
            (http.clone(), direct.clone(), next.clone(), run_id.clone());
        let n = args.accounts as u64;
        set.spawn(async move {
            let mut made = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    return Ok::<_, anyhow::Error>(made);
                }
                // A transient failure (an app restarting) is retried with a
                // new address on the next app; three in a row end the run.
                let mut tries = 0;
                loop {
                    let base = &direct[(i as usize + w + tries) % direct.len()];
                    let mut b = Browser::new(&http, base, None, patience * 4);
                    b.retry_throttled = true;
                    let email = format!("load-{run_id}-{i}-{tries}@example.test");
                    match flow::register(&mut b, &email).await {
                        Ok(a) => {
                            made.push(a);
                            break;
                        }
                        Err(f) if tries >= 2 => {
                            bail!("registering {email} on {base} before the load failed: {f}")
                        }
                        Err(_) => tries += 1,
                    }
                }
            }
        });
    }
    while let Some(r) = set.join_next().await {
        accounts.extend(r??);
    }
    let setup_s = setup_start.elapsed().as_secs_f64();
    let ctx = Arc::new(Ctx {
        http: http.clone(),
        url: args.url.clone(),
        direct: direct.clone(),
        run_id: run_id.clone(),
        acknowledged: Mutex::new(accounts.iter().map(|a| a.email.clone()).collect()),
        pool: Mutex::new(Pool {
            idle: accounts.into(),
        }),
        stats: Mutex::new(Stats::default()),
        held: Mutex::new(Vec::new()),
        control: Mutex::new(Control::default()),
        tasks: Mutex::new(Vec::new()),
        registrations: AtomicU64::new(0),
        load_over: AtomicBool::new(false),
        burst_registrants: args.burst_registrants,
        burst_ms: args.burst_ms,
    });
    let control_stop = Arc::new(AtomicBool::new(false));
    let control_reader = args.control_file.clone().map(|path| {
        let (ctx, stop) = (ctx.clone(), control_stop.clone());
        tokio::spawn(read_control(ctx, path, stop))
    });
    // Drivers wait for this line before injecting a fault.
    eprintln!(
        "probe load: {} accounts ready in {setup_s:.1} s; load for {} s at {} logins/s",
        ctx.acknowledged.lock().unwrap().len(),
        args.seconds,
        args.rate
    );

    // 2. The load.
    let pacer = Arc::new(tokio::sync::Mutex::new({
        let mut i = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    }));
    let started = Instant::now();
    let start_ms = flow::unix_ms();
    let end = started + Duration::from_secs(args.seconds);
    let ops = Arc::new(AtomicU64::new(0));
    let logins = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (ctx, pacer, ops, logins, stop) = (
            ctx.clone(),
            pacer.clone(),
            ops.clone(),
            logins.clone(),
            stop.clone(),
        );
        let (register_every, max_logins, reloads) =
            (args.register_every, args.max_logins, args.reloads);
        workers.spawn(async move {
            loop {
                pacer.lock().await.tick().await;
                if Instant::now() >= end || stop.load(Ordering::SeqCst) {
                    return;
                }
                let op = ops.fetch_add(1, Ordering::SeqCst) + 1;
                if register_every > 0 && op % register_every == 0 {
                    register_through(&ctx, &format!("n{op}")).await;
                    continue;
                }
                if logins.fetch_add(1, Ordering::SeqCst) >= max_logins {
                    stop.store(true, Ordering::SeqCst);
                    return;
                }
                let Some((mut a, step)) = take_account(&ctx) else {
                    ctx.stats.lock().unwrap().starved += 1;
                    logins.fetch_sub(1, Ordering::SeqCst);
                    continue;
                };
                let mut ok = login_once(&ctx, &mut a, step, "login").await;
                // A person who saw an error presses reload.
                let mut r = 0;
                while !ok && r < reloads && Instant::now() < end {
                    r += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let Some(step) = flow::usable_step(&a) else {
                        break;
                    };
                    ctx.stats.lock().unwrap().reloads += 1;
                    ok = login_once(&ctx, &mut a, step, "reload").await;
                }
                ctx.pool.lock().unwrap().idle.push_back(a);
            }
        });
    }
    while workers.join_next().await.is_some() {}
    ctx.load_over.store(true, Ordering::SeqCst);
    let load_s = started.elapsed().as_secs_f64();
    // The load ends when it stops starting logins, or when the last request
    // in flight then ends, not when every worker has taken its last turn at
    // the pacer (up to concurrency × 1/rate later, which is no outage).
    let end_ms = {
        let s = ctx.stats.lock().unwrap();
        let last = s.requests.iter().map(|r| r.0).max().unwrap_or(start_ms);
        (start_ms + args.seconds * 1000).max(last)
    };
    eprintln!("probe load: load finished after {load_s:.1} s");

    // 3. The final check waits for the driver's `verify` (the cluster is
    // healthy again), and for the replay checks and bursts still running.
    let mut verify_waited_out = false;
    if args.control_file.is_some() {
        let deadline = Instant::now() + Duration::from_secs(args.verify_wait_s);
        while !ctx.control.lock().unwrap().verify {
            if Instant::now() > deadline {
                verify_waited_out = true;
                eprintln!(
                    "probe load: no `verify` within {} s; checking anyway",
                    args.verify_wait_s
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Replays still waiting for a write go ahead now.
    ctx.control.lock().unwrap().verify = true;
    control_stop.store(true, Ordering::SeqCst);
    if let Some(h) = control_reader {
        let _ = h.await;
    }
    loop {
        let Some(h) = ctx.tasks.lock().unwrap().pop() else {
            break;
        };
        let _ = h.await;
    }

    // 4. Nothing lost: every acknowledged account logs in once more,
    // through the VIP, with a full login.
    let verify_start = Instant::now();
    let ack: Vec<String> = ctx.acknowledged.lock().unwrap().clone();
    let mut by_email: BTreeMap<String, Account> = ctx
        .pool
        .lock()
        .unwrap()
        .idle
        .drain(..)
        .chain(ctx.held.lock().unwrap().drain(..))
        .map(|a| (a.email.clone(), a))
        .collect();
    let queue = Arc::new(Mutex::new(
        ack.iter()
            .filter_map(|e| by_email.remove(e))
            .collect::<VecDeque<Account>>(),
    ));
    let missing_from_pool = ack.len() - queue.lock().unwrap().len();
    let lost_shared = Arc::new(Mutex::new(Vec::<String>::new()));
    let checked = Arc::new(Mutex::new(Vec::<Account>::new()));
    let sources: Vec<reqwest::Client> = if args.verify_from.is_empty() {
        vec![http.clone()]
    } else {
        args.verify_from
            .iter()
            .map(|a| {
                flow::client_from(
                    Duration::from_millis(args.connect_timeout_ms),
                    Duration::from_secs(args.request_timeout_s),
                    Some(*a),
                )
            })
            .collect::<Result<_>>()?
    };
    let mut checkers = tokio::task::JoinSet::new();
    for i in 0..args.concurrency.max(3).max(sources.len()) {
        let (http, url, queue, lost, checked) = (
            sources[i % sources.len()].clone(),
            args.url.clone(),
            queue.clone(),
            lost_shared.clone(),
            checked.clone(),
        );
        checkers.spawn(async move {
            loop {
                let Some(mut a) = queue.lock().unwrap().pop_front() else {
                    return;
                };
                let mut ok = false;
                for _ in 0..4 {
                    // Both this step's and the next code spent: wait for
                    // the next step rather than prove less than a login.
                    let step = loop {
                        match flow::usable_step(&a) {
                            Some(s) => break s,
                            None => tokio::time::sleep(Duration::from_millis(500)).await,
                        }
                    };
                    let mut b = Browser::new(&http, &url, None, Duration::from_secs(60));
                    b.retry_throttled = true;
                    if flow::login(&mut b, &mut a, step).await.is_ok() {
                        ok = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                if !ok {
                    lost.lock().unwrap().push(a.email.clone());
                }
                checked.lock().unwrap().push(a);
            }
        });
    }
    while checkers.join_next().await.is_some() {}
    let lost: Vec<String> = lost_shared.lock().unwrap().drain(..).collect();
    let verify_s = verify_start.elapsed().as_secs_f64();

    if let Some(p) = &args.accounts_file {
        let lost_now: BTreeSet<&String> = lost.iter().collect();
        let checked = checked.lock().unwrap();
        let keep: Vec<&Account> = ack
            .iter()
            .filter(|e| !lost_now.contains(e))
            .filter_map(|e| checked.iter().find(|a| &a.email == e))
            .collect();
        std::fs::write(p, serde_json::to_string(&keep)?)?;
    }

    // 5. Figures.
    let s = ctx.stats.lock().unwrap();
    let control = ctx.control.lock().unwrap();
    let mut lat = s.latencies_ms.clone();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let outage = figures::longest_gap(start_ms, end_ms, &s.successes_ms);
    let write_outage = figures::longest_gap(start_ms, end_ms, &s.writes_ms);
    let windows = figures::failure_windows(start_ms, end_ms, &s.requests, 100);
    let faults: Vec<serde_json::Value> = control
        .faults
        .iter()
        .map(|f| {
            let first = |times: &[u64]| match figures::recovery_ms(f.at_ms, times) {
                Some(ms) => json!(ms),
                None => json!(null),
            };
            json!({
                "at_ms": f.at_ms,
                "done_ms": f.done_ms.unwrap_or(f.at_ms),
                "node": f.node,
                "role": f.role,
                "first_success_after_ms": first(&s.successes_ms),
                "first_write_after_ms": first(&s.writes_ms),
                "enrolments_in_second_before": figures::in_second_before(f.at_ms, &s.enrolments_ms),
            })
        })
        .collect();
    let fewest_before = control
        .faults
        .iter()
        .map(|f| figures::in_second_before(f.at_ms, &s.enrolments_ms))
        .min();
    let attempted = s.logins_ok + s.logins_failed + s.registrations_ok + s.registrations_failed;
    let ratio = if attempted == 0 {
        0.0
    } else {
        (s.logins_ok + s.registrations_ok) as f64 / attempted as f64
    };
    let login_ratio = if s.logins_ok + s.logins_failed == 0 {
        0.0
    } else {
        s.logins_ok as f64 / (s.logins_ok + s.logins_failed) as f64
    };
    let accounts_lost = lost.len() + missing_from_pool;
    let replays_accepted = s.replays.iter().filter(|r| r.result == "accepted").count();
    let replays_refused = s.replays.iter().filter(|r| r.result == "refused").count();
    let gap_json = |g: &Gap| json!({"from_ms": g.from_ms, "to_ms": g.to_ms});
    let mut report = json!({
        "url": args.url,
        "logins_ok": s.logins_ok,
        "logins_failed": s.logins_failed,
        "failed_logins": s.logins_failed,
        "success_ratio": (ratio * 10000.0).round() / 10000.0,
        "login_success_ratio": (login_ratio * 10000.0).round() / 10000.0,
        "registrations_ok": s.registrations_ok,
        "registrations_failed": s.registrations_failed,
        "errors_seen": s.failures.values().sum::<u64>(),
        "reloads": s.reloads,
        "reloads_ok": s.reloads_ok,
        "reloads_failed": s.reloads_failed,
        "accounts_acknowledged": ack.len(),
        "accounts_lost": accounts_lost,
        "lost_accounts": lost.iter().take(10).collect::<Vec<_>>(),
        "longest_outage_ms": outage.ms(),
        "longest_outage": gap_json(&outage),
        "outages_over_100ms": windows.len(),
        "write_outage_ms": write_outage.ms(),
        "write_outage": gap_json(&write_outage),
        "p50_ms": flow::percentile(&lat, 50.0).round(),
        "p99_ms": flow::percentile(&lat, 99.0).round(),
        "max_ms": lat.last().copied().unwrap_or(0.0).round(),
        "slowest_login_ms": s.slowest_login_ms.round(),
        "connect_retries": 0,
        "starved": s.starved,
        "failures_by_kind": s.failures,
    });
    let more = json!({
        "failure_examples": s.examples,
        "failures": s.list,
        "failures_listed_all": s.list.len() < MAX_LISTED,
        "faults": faults,
        "burst_registrations_ok": s.burst_registrations_ok,
        "burst_registrations_failed": s.burst_registrations_failed,
        "sentinel_logins": s.sentinels.len(),
        "sentinel_failures": s.sentinel_failures,
        "replay_checks": s.replays,
        "replays_accepted": replays_accepted,
        "replays_refused": replays_refused,
        "replays_not_checkable": s.replays.len() - replays_accepted - replays_refused,
        "verified_full_login": ack.len() - accounts_lost,
        "verified_through": args.url,
        "verify_waited_out": verify_waited_out,
        "load_start_ms": start_ms,
        "load_end_ms": end_ms,
        "setup_s": (setup_s * 10.0).round() / 10.0,
        "load_s": (load_s * 10.0).round() / 10.0,
        "verify_s": (verify_s * 10.0).round() / 10.0,
        "verify_sources": sources.len(),
    });
    if let (Some(r), serde_json::Value::Object(m)) = (report.as_object_mut(), more) {
        r.extend(m);
    }
    if let Some(n) = fewest_before {
        report["fewest_enrolments_before_fault"] = json!(n);
    }
    let text = serde_json::to_string_pretty(&report)?;
    match &args.json_out {
        Some(p) => std::fs::write(p, &text)?,
        None => println!("{text}"),
    }
    eprintln!(
        "probe load: {} ok, {} failed ({:.2} % of logins and registrations ok), {} reloads, longest outage {} ms, write outage {} ms, p50 {} ms, p99 {} ms, slowest {} ms, {} registrations, {} of {} accounts lost, replays: {} refused, {} accepted, {} not checkable",
        s.logins_ok,
        s.logins_failed,
        ratio * 100.0,
        s.reloads,
        outage.ms(),
        write_outage.ms(),
        flow::percentile(&lat, 50.0).round(),
        flow::percentile(&lat, 99.0).round(),
        s.slowest_login_ms.round(),
        s.registrations_ok,
        accounts_lost,
        ack.len(),
        replays_refused,
        replays_accepted,
        s.replays.len() - replays_accepted - replays_refused,
    );
    Ok(if accounts_lost == 0 && replays_accepted == 0 {
        0
    } else {
        1
    })
}

/// An idle account and the step of its next unused code: the current one
/// when unused, else the next (accepted as t+1).
fn take_account(ctx: &Ctx) -> Option<(Account, u64)> {
    let now = flow::step_now();
    let mut p = ctx.pool.lock().unwrap();
    let pos = p
        .idle
        .iter()
        .position(|a| a.last_step < now)
        .or_else(|| p.idle.iter().position(|a| a.last_step == now))?;
    let a = p.idle.remove(pos)?;
    match flow::usable_step(&a) {
        Some(s) => Some((a, s)),
        None => {
            p.idle.push_back(a);
            None
        }
    }
}

/// One login through the VIP with a browser that never retries.
async fn login_once(ctx: &Ctx, a: &mut Account, step: u64, op: &'static str) -> bool {
    let mut b = Browser::strict(&ctx.http, &ctx.url, None);
    let t = Instant::now();
    let res = flow::login(&mut b, a, step).await;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let mut s = ctx.stats.lock().unwrap();
    s.requests(&b.attempts);
    s.slowest_login_ms = s.slowest_login_ms.max(ms);
    let reload = op == "reload";
    match res {
        Ok(()) => {
            if reload {
                s.reloads_ok += 1;
            } else {
                s.logins_ok += 1;
            }
            s.latencies_ms.push(ms);
            s.writes_ms
                .push(b.attempts.last().map_or_else(flow::unix_ms, |a| a.end_ms));
            true
        }
        Err(f) => {
            if reload {
                s.reloads_failed += 1;
            } else {
                s.logins_failed += 1;
            }
            s.fail(op, &f, &b);
            false
        }
    }
}

/// A registration of the load, through the VIP, as a person makes it.
async fn register_through(ctx: &Ctx, tag: &str) {
    let email = format!("load-{}-{tag}@example.test", ctx.run_id);
    let mut b = Browser::strict(&ctx.http, &ctx.url, None);
    let res = flow::enrol(&mut b, &email).await;
    let res = match res {
        Ok(a) => {
            let at = b.attempts.last().map_or_else(flow::unix_ms, |x| x.end_ms);
            ctx.acknowledge(a, at, true);
            flow::acknowledge_recovery_codes(&mut b).await
        }
        Err(f) => Err(f),
    };
    let mut s = ctx.stats.lock().unwrap();
    s.requests(&b.attempts);
    match res {
        Ok(()) => s.registrations_ok += 1,
        Err(f) => {
            s.registrations_failed += 1;
            s.fail("registration", &f, &b);
        }
    }
}

/// Follows the control file until `stop`, acting on each new line.
async fn read_control(ctx: Arc<Ctx>, path: std::path::PathBuf, stop: Arc<AtomicBool>) {
    loop {
        let done = stop.load(Ordering::SeqCst);
        let text = tokio::fs::read_to_string(&path).await.unwrap_or_default();
        // Only whole lines: a driver may be in the middle of writing one.
        let lines: Vec<String> = text
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .map(|l| l.trim().to_string())
            .collect();
        let new: Vec<String> = {
            let mut c = ctx.control.lock().unwrap();
            let new = lines.iter().skip(c.lines_seen).cloned().collect();
            c.lines_seen = lines.len().max(c.lines_seen);
            new
        };
        for line in new {
            let words: Vec<&str> = line.split_whitespace().collect();
            let mark = || -> Option<Mark> {
                Some(Mark {
                    at_ms: words.get(1)?.parse().ok()?,
                    node: words.get(2).unwrap_or(&"").to_string(),
                    role: words.get(3).unwrap_or(&"").to_string(),
                    done_ms: None,
                })
            };
            match words.first().copied() {
                Some("burst") => {
                    let c = ctx.clone();
                    ctx.spawn(async move { burst(c).await });
                }
                Some("fault") => match mark() {
                    Some(m) => {
                        let db = m.role == "db";
                        let at = m.at_ms;
                        ctx.control.lock().unwrap().faults.push(m);
                        if db {
                            let c = ctx.clone();
                            ctx.spawn(async move { replay(c, "failover", at).await });
                        }
                    }
                    None => eprintln!("probe load: control line {line:?} not understood"),
                },
                Some("heal") => match mark() {
                    Some(m) => {
                        let db = m.role == "db";
                        let at = m.at_ms;
                        ctx.control.lock().unwrap().heals.push(m);
                        if db {
                            let c = ctx.clone();
                            ctx.spawn(async move { replay(c, "heal", at).await });
                        }
                    }
                    None => eprintln!("probe load: control line {line:?} not understood"),
                },
                // The end of the last fault's injection on that node.
                Some("injected") => match mark() {
                    Some(m) => {
                        let mut c = ctx.control.lock().unwrap();
                        match c.faults.iter_mut().rev().find(|f| f.node == m.node) {
                            Some(f) => f.done_ms = Some(m.at_ms.max(f.at_ms)),
                            None => eprintln!("probe load: {line:?} names no earlier fault"),
                        }
                    }
                    None => eprintln!("probe load: control line {line:?} not understood"),
                },
                Some("verify") => ctx.control.lock().unwrap().verify = true,
                Some(_) => eprintln!("probe load: control line {line:?} not understood"),
                None => {}
            }
        }
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Just before a fault: one sentinel login whose code is replayed after the
/// failover, and enrolments on the apps directly, back to back, until the
/// fault line arrives, so several are acknowledged in the second before it.
async fn burst(ctx: Arc<Ctx>) {
    let begun_ms = flow::unix_ms();
    let fault_after_begin = move |ctx: &Ctx| {
        ctx.control
            .lock()
            .unwrap()
            .faults
            .iter()
            .any(|f| f.at_ms >= begun_ms)
    };
    let until = Instant::now() + Duration::from_millis(ctx.burst_ms);
    let mut set = tokio::task::JoinSet::new();
    for w in 0..ctx.burst_registrants {
        let ctx = ctx.clone();
        set.spawn(async move {
            while Instant::now() < until && !fault_after_begin(&ctx) {
                let n = ctx.registrations.fetch_add(1, Ordering::SeqCst);
                let base = ctx.direct[(n as usize + w) % ctx.direct.len()].clone();
                let email = format!("burst-{}-{n}@example.test", ctx.run_id);
                let mut b = Browser::strict(&ctx.http, &base, None);
                match flow::enrol(&mut b, &email).await {
                    Ok(a) => {
                        let at = b.attempts.last().map_or_else(flow::unix_ms, |x| x.end_ms);
                        ctx.acknowledge(a, at, false);
                        let acked = flow::acknowledge_recovery_codes(&mut b).await.is_ok();
                        let mut s = ctx.stats.lock().unwrap();
                        if acked {
                            s.burst_registrations_ok += 1;
                        } else {
                            s.burst_registrations_failed += 1;
                        }
                    }
                    Err(_) => {
                        ctx.stats.lock().unwrap().burst_registrations_failed += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
    // The sentinel: a code for the next step (accepted as t+1), so it stays
    // inside the accepted window for 30–60 s longer than the current one.
    let taken = {
        let next = flow::step_now() + 1;
        let mut p = ctx.pool.lock().unwrap();
        let pos = p.idle.iter().position(|a| a.last_step < next);
        pos.and_then(|i| p.idle.remove(i)).map(|a| (a, next))
    };
    if let Some((mut a, step)) = taken {
        let mut b = Browser::strict(&ctx.http, &ctx.url, None);
        match flow::login(&mut b, &mut a, step).await {
            Ok(()) => {
                let accepted_ms = b.attempts.last().map_or_else(flow::unix_ms, |x| x.end_ms);
                ctx.stats.lock().unwrap().sentinels.push(Sentinel {
                    account: a.clone(),
                    step,
                    accepted_ms,
                });
                // Out of the load, so no later login moves its step on;
                // still checked at the end.
                ctx.held.lock().unwrap().push(a);
            }
            Err(_) => {
                ctx.stats.lock().unwrap().sentinel_failures += 1;
                ctx.pool.lock().unwrap().idle.push_back(a);
            }
        }
    }
    while set.join_next().await.is_some() {}
}

/// After a database fault (`failover`: once a write is acknowledged after
/// it) or a heal: the sentinel code accepted before the fault is sent again
/// through the VIP and must be refused.
async fn replay(ctx: Arc<Ctx>, after: &'static str, trigger_ms: u64) {
    let fault_ms = ctx
        .control
        .lock()
        .unwrap()
        .faults
        .iter()
        .filter(|f| f.role == "db" && f.at_ms <= trigger_ms)
        .map(|f| f.at_ms)
        .max();
    let record = |result: &str, detail: String| {
        ctx.stats.lock().unwrap().replays.push(ReplayCheck {
            after,
            fault_ms,
            at_ms: flow::unix_ms(),
            result: result.to_string(),
            detail,
        });
    };
    let Some(fault_ms) = fault_ms else {
        record("not checkable", "no database fault before it".into());
        return;
    };
    let sentinel = ctx
        .stats
        .lock()
        .unwrap()
        .sentinels
        .iter()
        .filter(|s| s.accepted_ms < fault_ms)
        .max_by_key(|s| s.accepted_ms)
        .cloned();
    let Some(sentinel) = sentinel else {
        record(
            "not checkable",
            "no code was accepted on purpose before the fault (no `burst` line)".into(),
        );
        return;
    };
    // Wait for the database to take writes again: a write of the load
    // after the trigger or, when the load ended first, the driver's
    // `verify` (the cluster is healthy).
    loop {
        let written = ctx
            .stats
            .lock()
            .unwrap()
            .writes_ms
            .iter()
            .any(|&t| t > trigger_ms);
        let healthy_after_load =
            ctx.load_over.load(Ordering::SeqCst) && ctx.control.lock().unwrap().verify;
        if written || healthy_after_load {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut a = sentinel.account.clone();
    let mut b = Browser::new(&ctx.http, &ctx.url, None, Duration::from_secs(30));
    b.retry_throttled = true;
    if let Err(f) = flow::password_step(&mut b, &a).await {
        record("not checkable", format!("the password step failed: {f}"));
        return;
    }
    // The code is accepted while the current step is at most its step + 1;
    // keep two seconds from the edge for clock differences.
    let checkable = (flow::now_unix() + 2) / 30 <= sentinel.step + 1;
    let code = flow::totp(&a.secret, sentinel.step);
    a.last_step = sentinel.step;
    let detail = format!(
        "step {} accepted at {}; sent again {} ms after the fault",
        sentinel.step,
        sentinel.accepted_ms,
        flow::unix_ms().saturating_sub(fault_ms)
    );
    match flow::code_step(&mut b, &code).await {
        Ok(ans) if ans.status == 303 && ans.location().ends_with("/welcome") => {
            record("accepted", detail)
        }
        Ok(_) if checkable => record("refused", detail),
        Ok(_) => record(
            "not checkable",
            format!("{detail}; the code had left the accepted window"),
        ),
        Err(f) => record("not checkable", format!("{detail}; {f}")),
    }
}
