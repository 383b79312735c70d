//! `twofa probe load`: registers and enrols accounts, logs in continuously
//! through one URL (the VIP) for a bounded time and count, then checks that
//! every account whose registration was acknowledged still logs in.

use super::flow::{self, Account, Browser, Events, Failure};
use anyhow::{bail, Result};
use serde_json::json;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// Base URL the load goes through, e.g. http://10.77.0.10
    #[arg(long = "base-url", alias = "url")]
    pub url: String,
    /// Base URLs used to register the initial accounts and for the final
    /// check (the apps directly, so the proxy's per-IP rate limit is not
    /// spent on them); defaults to --url. Comma-separated.
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
    /// Connect timeout: small, so a dead proxy is noticed within it.
    #[arg(long, default_value_t = 150)]
    pub connect_timeout_ms: u64,
    /// Whole-request timeout: longer than the proxy's `timeout server`, so a
    /// request delayed by a database failover is not counted as failed.
    #[arg(long, default_value_t = 40)]
    pub request_timeout_s: u64,
    /// How long one login may keep retrying requests that reached no one.
    #[arg(long, default_value_t = 30)]
    pub patience_s: u64,
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
}

struct Pool {
    /// Idle accounts, least recently used first.
    idle: VecDeque<Account>,
}

#[derive(Default)]
struct Stats {
    logins_ok: u64,
    logins_failed: u64,
    registrations_ok: u64,
    registrations_failed: u64,
    starved: u64,
    connect_retries: u64,
    latencies_ms: Vec<f64>,
    failures: BTreeMap<String, u64>,
    /// Completion times of acknowledged writes (logins and registrations).
    writes: Vec<Instant>,
    examples: Vec<String>,
}

impl Stats {
    fn fail(&mut self, f: &Failure) {
        *self.failures.entry(f.kind()).or_default() += 1;
        if self.examples.len() < 10 {
            self.examples.push(f.to_string());
        }
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
    // Drivers wait for this line before injecting a fault.
    eprintln!(
        "probe load: {} accounts ready in {setup_s:.1} s; load for {} s at {} logins/s",
        accounts.len(),
        args.seconds,
        args.rate
    );
    // 2. The load.
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(
        accounts.iter().map(|a| a.email.clone()).collect(),
    ));
    let pool = Arc::new(Mutex::new(Pool {
        idle: accounts.into(),
    }));
    let stats = Arc::new(Mutex::new(Stats::default()));
    let events: Events = Arc::new(Mutex::new(Vec::new()));
    let pacer = Arc::new(tokio::sync::Mutex::new({
        let mut i = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    }));
    let started = Instant::now();
    let end = started + Duration::from_secs(args.seconds);
    let ops = Arc::new(AtomicU64::new(0));
    let logins = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (http, url, pool, stats, events, pacer, ops, logins, stop, ack, run_id) = (
            http.clone(),
            args.url.clone(),
            pool.clone(),
            stats.clone(),
            events.clone(),
            pacer.clone(),
            ops.clone(),
            logins.clone(),
            stop.clone(),
            acknowledged.clone(),
            run_id.clone(),
        );
        let (register_every, max_logins) = (args.register_every, args.max_logins);
        workers.spawn(async move {
            loop {
                pacer.lock().await.tick().await;
                if Instant::now() >= end || stop.load(Ordering::SeqCst) {
                    return;
                }
                let op = ops.fetch_add(1, Ordering::SeqCst) + 1;
                let mut b = Browser::new(&http, &url, Some(events.clone()), patience);
                if register_every > 0 && op % register_every == 0 {
                    let email = format!("load-{run_id}-n{op}@example.test");
                    let res = flow::register(&mut b, &email).await;
                    let mut s = stats.lock().unwrap();
                    s.connect_retries += b.connect_retries;
                    match res {
                        Ok(a) => {
                            s.registrations_ok += 1;
                            s.writes.push(Instant::now());
                            ack.lock().unwrap().push(a.email.clone());
                            pool.lock().unwrap().idle.push_back(a);
                        }
                        Err(f) => {
                            s.registrations_failed += 1;
                            s.fail(&f);
                        }
                    }
                    continue;
                }
                if logins.fetch_add(1, Ordering::SeqCst) >= max_logins {
                    stop.store(true, Ordering::SeqCst);
                    return;
                }
                let now = flow::step_now();
                let picked = {
                    let mut p = pool.lock().unwrap();
                    // Prefer an account whose current code is unused; else
                    // one whose next code (accepted as t+1) is.
                    let pos = p
                        .idle
                        .iter()
                        .position(|a| a.last_step < now)
                        .or_else(|| p.idle.iter().position(|a| a.last_step == now));
                    pos.and_then(|i| p.idle.remove(i))
                };
                let Some((mut a, step)) =
                    picked.and_then(|a| flow::usable_step(&a).map(|s| (a, s)))
                else {
                    stats.lock().unwrap().starved += 1;
                    logins.fetch_sub(1, Ordering::SeqCst);
                    continue;
                };
                let t = Instant::now();
                let res = flow::login(&mut b, &mut a, step).await;
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                {
                    let mut s = stats.lock().unwrap();
                    s.connect_retries += b.connect_retries;
                    match res {
                        Ok(()) => {
                            s.logins_ok += 1;
                            s.latencies_ms.push(ms);
                            s.writes.push(Instant::now());
                        }
                        Err(f) => {
                            s.logins_failed += 1;
                            s.fail(&f);
                        }
                    }
                }
                pool.lock().unwrap().idle.push_back(a);
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let load_s = started.elapsed().as_secs_f64();

    // 3. Nothing lost: every acknowledged account logs in once more.
    let verify_start = Instant::now();
    let all: Vec<Account> = pool.lock().unwrap().idle.drain(..).collect();
    let ack: Vec<String> = acknowledged.lock().unwrap().clone();
    let mut by_email: BTreeMap<String, Account> =
        all.into_iter().map(|a| (a.email.clone(), a)).collect();
    let mut lost: Vec<String> = Vec::new();
    let queue = Arc::new(Mutex::new(
        ack.iter()
            .filter_map(|e| by_email.remove(e))
            .collect::<VecDeque<Account>>(),
    ));
    let missing_from_pool = ack.len() - queue.lock().unwrap().len();
    let lost_shared = Arc::new(Mutex::new(Vec::<String>::new()));
    let checked = Arc::new(Mutex::new(Vec::<Account>::new()));
    let counts = Arc::new(Mutex::new((0u64, 0u64)));
    let mut checkers = tokio::task::JoinSet::new();
    for w in 0..(args.concurrency * 2).max(3) {
        let (http, direct, queue, lost, checked, counts) = (
            http.clone(),
            direct.clone(),
            queue.clone(),
            lost_shared.clone(),
            checked.clone(),
            counts.clone(),
        );
        checkers.spawn(async move {
            loop {
                let Some(mut a) = queue.lock().unwrap().pop_front() else {
                    return;
                };
                let mut ok = false;
                for attempt in 0..4 {
                    let base = &direct[(w + attempt) % direct.len()];
                    let mut b = Browser::new(&http, base, None, Duration::from_secs(60));
                    b.retry_throttled = true;
                    // A full login when a code is still unspent; otherwise
                    // (both this step's and the next code used) the password
                    // step, whose 303 to /login/totp, not /enroll, proves the
                    // account and its confirmed authenticator exist.
                    let res = match flow::usable_step(&a) {
                        Some(step) => flow::login(&mut b, &mut a, step).await.map(|_| true),
                        None => flow::password_step(&mut b, &a).await.map(|_| false),
                    };
                    if let Ok(full) = res {
                        ok = true;
                        let mut c = counts.lock().unwrap();
                        if full {
                            c.0 += 1;
                        } else {
                            c.1 += 1;
                        }
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
    lost.extend(lost_shared.lock().unwrap().drain(..));
    let verify_s = verify_start.elapsed().as_secs_f64();

    if let Some(p) = &args.accounts_file {
        let mut keep: Vec<Account> = Vec::new();
        let lost_now: std::collections::BTreeSet<&String> = lost.iter().collect();
        for e in &ack {
            if let Some(a) = checked.lock().unwrap().iter().find(|a| &a.email == e) {
                if !lost_now.contains(e) {
                    keep.push(a.clone());
                }
            }
        }
        std::fs::write(p, serde_json::to_string(&keep)?)?;
    }

    // 4. Figures.
    let s = stats.lock().unwrap();
    let mut lat = s.latencies_ms.clone();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut ev = events.lock().unwrap().clone();
    ev.sort_by_key(|e| e.0);
    let (outage_ms, outages) = longest_outage(started, &ev);
    let mut writes = s.writes.clone();
    writes.sort();
    let write_outage_ms = writes
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1000.0)
        .fold(0.0, f64::max);
    let attempted = s.logins_ok + s.logins_failed;
    let ratio = if attempted == 0 {
        0.0
    } else {
        s.logins_ok as f64 / attempted as f64
    };
    let accounts_lost = lost.len() + missing_from_pool;
    let report = json!({
        "url": args.url,
        "logins_ok": s.logins_ok,
        "logins_failed": s.logins_failed,
        "failed_logins": s.logins_failed,
        "success_ratio": (ratio * 10000.0).round() / 10000.0,
        "registrations_ok": s.registrations_ok,
        "registrations_failed": s.registrations_failed,
        "accounts_acknowledged": ack.len(),
        "accounts_lost": accounts_lost,
        "lost_accounts": lost.iter().take(10).collect::<Vec<_>>(),
        "longest_outage_ms": outage_ms.round(),
        "outages_over_100ms": outages,
        "write_outage_ms": write_outage_ms.round(),
        "p50_ms": flow::percentile(&lat, 50.0).round(),
        "p99_ms": flow::percentile(&lat, 99.0).round(),
        "max_ms": lat.last().copied().unwrap_or(0.0).round(),
        "connect_retries": s.connect_retries,
        "starved": s.starved,
        "failures_by_kind": s.failures,
        "verified_full_login": counts.lock().unwrap().0,
        "verified_password_step": counts.lock().unwrap().1,
        "failure_examples": s.examples,
        "setup_s": (setup_s * 10.0).round() / 10.0,
        "load_s": (load_s * 10.0).round() / 10.0,
        "verify_s": (verify_s * 10.0).round() / 10.0,
    });
    let text = serde_json::to_string_pretty(&report)?;
    match &args.json_out {
        Some(p) => std::fs::write(p, &text)?,
        None => println!("{text}"),
    }
    eprintln!(
        "probe load: {} ok, {} failed ({:.2} %), longest outage {} ms, write outage {} ms, p50 {} ms, p99 {} ms, {} registrations, {} of {} accounts lost",
        s.logins_ok,
        s.logins_failed,
        ratio * 100.0,
        outage_ms.round(),
        write_outage_ms.round(),
        flow::percentile(&lat, 50.0).round(),
        flow::percentile(&lat, 99.0).round(),
        s.registrations_ok,
        accounts_lost,
        ack.len()
    );
    Ok(if accounts_lost == 0 { 0 } else { 1 })
}

/// The longest window from the last success before a failed request to the
/// first success after it, and how many windows exceeded 100 ms.
fn longest_outage(start: Instant, events: &[(Instant, bool)]) -> (f64, u64) {
    let mut last_ok = start;
    let mut outage_from: Option<Instant> = None;
    let mut longest = 0.0f64;
    let mut count = 0;
    for &(t, ok) in events {
        if ok {
            if let Some(from) = outage_from.take() {
                let ms = (t - from).as_secs_f64() * 1000.0;
                longest = longest.max(ms);
                if ms > 100.0 {
                    count += 1;
                }
            }
            last_ok = t;
        } else if outage_from.is_none() {
            outage_from = Some(last_ok);
        }
    }
    if let (Some(from), Some(&(t, _))) = (outage_from, events.last()) {
        longest = longest.max((t - from).as_secs_f64() * 1000.0);
    }
    (longest, count)
}
