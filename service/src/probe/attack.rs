//! Scenario helpers that attack the shared state across apps:
//! `probe replay` (one code, many apps, one instant) and `probe brute-force`
//! (wrong codes spread over the apps).

use super::flow::{self, Account, Browser, Failure};
use anyhow::{anyhow, Result};
use serde_json::json;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The apps' base URLs, comma-separated (the code goes to all of them).
    #[arg(long, value_delimiter = ',', required = true)]
    pub apps: Vec<String>,
    /// Independent trials, each with a fresh account.
    #[arg(long, default_value_t = 5)]
    pub trials: usize,
    /// Simultaneous submissions of the one code per trial, spread over the apps.
    #[arg(long, default_value_t = 6)]
    pub parallel: usize,
}

#[derive(clap::Args, Debug)]
pub struct BruteForceArgs {
    /// The apps' base URLs, comma-separated; wrong codes rotate over them.
    #[arg(long, value_delimiter = ',', required = true)]
    pub apps: Vec<String>,
    /// Upper bound on wrong codes sent per account.
    #[arg(long, default_value_t = 20)]
    pub max_attempts: usize,
}

fn http() -> Result<reqwest::Client> {
    flow::client(Duration::from_millis(500), Duration::from_secs(40))
}

async fn new_account(http: &reqwest::Client, base: &str, tag: &str) -> Result<Account> {
    let mut b = Browser::new(http, base, None, Duration::from_secs(20));
    let email = format!("{tag}-{}@example.test", flow::run_id());
    flow::register(&mut b, &email)
        .await
        .map_err(|f| anyhow!("registering {email}: {f}"))
}

/// Of N simultaneous submissions of one code across the apps, exactly one
/// may succeed: the replay guard is a compare-and-set in PostgreSQL.
pub async fn replay(args: ReplayArgs) -> Result<i32> {
    let http = http()?;
    let mut per_trial = Vec::new();
    for trial in 0..args.trials {
        let mut a = new_account(&http, &args.apps[0], "replay").await?;
        // N pending logins, each its own browser, password already accepted.
        let mut browsers = Vec::new();
        for i in 0..args.parallel {
            let mut b = Browser::new(
                &http,
                &args.apps[i % args.apps.len()],
                None,
                Duration::from_secs(10),
            );
            flow::password_step(&mut b, &a)
                .await
                .map_err(|f| anyhow!("password step: {f}"))?;
            browsers.push(b);
        }
        // Fetch every form's token first, so the POSTs leave together.
        let mut tokens = Vec::new();
        for b in browsers.iter_mut() {
            let (csrf, _) = b.form("/login/totp").await.map_err(|f| anyhow!("{f}"))?;
            tokens.push(csrf);
        }
        let step = flow::usable_step(&a).ok_or_else(|| anyhow!("no usable step"))?;
        a.last_step = step;
        let code = flow::totp(&a.secret, step);
        let sends = browsers.iter_mut().zip(tokens.iter()).map(|(b, csrf)| {
            let code = code.clone();
            async move {
                b.send(
                    Some(&[("csrf_token", csrf.as_str()), ("code", code.as_str())]),
                    "/login/totp",
                )
                .await
            }
        });
        let results = futures_util::future::join_all(sends).await;
        let mut successes = 0;
        let mut statuses = Vec::new();
        for r in &results {
            match r {
                Ok(ans) if ans.status == 303 && ans.location().ends_with("/welcome") => {
                    successes += 1;
                    statuses.push("303".to_string());
                }
                Ok(ans) => statuses.push(ans.status.to_string()),
                Err(Failure::Status(c, _)) => statuses.push(c.to_string()),
                Err(f) => statuses.push(f.kind()),
            }
        }
        eprintln!(
            "probe replay: trial {}: {successes} of {} succeeded ({})",
            trial + 1,
            args.parallel,
            statuses.join(" ")
        );
        per_trial.push((successes, statuses));
    }
    let violations = per_trial.iter().filter(|(s, _)| *s != 1).count();
    let report = json!({
        "trials": args.trials,
        "parallel": args.parallel,
        "apps": args.apps.len(),
        "violations": violations,
        "max_successes": per_trial.iter().map(|t| t.0).max().unwrap_or(0),
        "min_successes": per_trial.iter().map(|t| t.0).min().unwrap_or(0),
        "statuses": per_trial.iter().map(|t| t.1.join(" ")).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string(&report)?);
    Ok(if violations == 0 { 0 } else { 1 })
}

/// A code that is wrong in every accepted step (t-1..t+1).
fn wrong_code(a: &Account, salt: u32) -> String {
    let now = flow::step_now();
    let valid: Vec<String> = (now.saturating_sub(1)..=now + 2)
        .map(|s| flow::totp(&a.secret, s))
        .collect();
    let mut n = (salt.wrapping_mul(7919).wrapping_add(123_457)) % 1_000_000;
    loop {
        let c = format!("{n:06}");
        if !valid.contains(&c) {
            return c;
        }
        n = (n + 1) % 1_000_000;
    }
}

/// Wrong codes over `apps` (rotating) until the first 429; returns how many
/// were refused as wrong (401) before it, and the Retry-After hint.
async fn attack(
    http: &reqwest::Client,
    apps: &[String],
    max: usize,
) -> Result<(usize, Option<String>, Vec<String>)> {
    let a = new_account(http, &apps[0], "brute").await?;
    let mut failures = 0;
    let mut trace = Vec::new();
    let mut b = Browser::new(http, &apps[0], None, Duration::from_secs(10));
    flow::password_step(&mut b, &a)
        .await
        .map_err(|f| anyhow!("password step: {f}"))?;
    for i in 0..max {
        let app = &apps[i % apps.len()];
        // Same browser (cookies), next app: the pending login lives in PostgreSQL.
        b.web.base = app.trim_end_matches('/').to_string();
        let (csrf, page) = match b.form("/login/totp").await {
            Ok(x) => x,
            Err(Failure::Status(303, _)) => {
                flow::password_step(&mut b, &a)
                    .await
                    .map_err(|f| anyhow!("{f}"))?;
                b.form("/login/totp").await.map_err(|f| anyhow!("{f}"))?
            }
            Err(f) => return Err(anyhow!("GET /login/totp on {app}: {f}")),
        };
        let _ = page;
        let ans = b
            .send(
                Some(&[
                    ("csrf_token", csrf.as_str()),
                    ("code", &wrong_code(&a, i as u32)),
                ]),
                "/login/totp",
            )
            .await
            .map_err(|f| anyhow!("POST /login/totp on {app}: {f}"))?;
        trace.push(format!("{}:{}", i % apps.len() + 1, ans.status));
        match ans.status {
            401 => failures += 1,
            429 => {
                return Ok((
                    failures,
                    Some(ans.retry_after().unwrap_or_default().to_string()),
                    trace,
                ))
            }
            303 if ans.location().ends_with("/login") => {
                // The pending login ended; start another and go on.
                flow::password_step(&mut b, &a)
                    .await
                    .map_err(|f| anyhow!("{f}"))?;
            }
            s => return Err(anyhow!("unexpected {s} on wrong code {} at {app}", i + 1)),
        }
    }
    Ok((failures, None, trace))
}

/// The code throttle engages after the same number of wrong codes whether
/// they all hit one app or are spread over every app.
pub async fn brute_force(args: BruteForceArgs) -> Result<i32> {
    let http = http()?;
    let (spread, spread_429, spread_trace) = attack(&http, &args.apps, args.max_attempts).await?;
    let (single, single_429, single_trace) =
        attack(&http, &args.apps[..1], args.max_attempts).await?;
    let report = json!({
        "apps": args.apps.len(),
        "spread_failures_before_throttle": spread,
        "single_failures_before_throttle": single,
        "spread_throttled": spread_429.is_some(),
        "single_throttled": single_429.is_some(),
        "mismatch": u8::from(spread != single || spread_429.is_none()),
        "spread_retry_after_s": spread_429,
        "single_retry_after_s": single_429,
        "spread_trace": spread_trace.join(" "),
        "single_trace": single_trace.join(" "),
    });
    eprintln!(
        "probe brute-force: throttled after {spread} wrong codes spread over {} apps, after {single} on one app",
        args.apps.len()
    );
    println!("{}", serde_json::to_string(&report)?);
    Ok(if spread == single && spread_429.is_some() {
        0
    } else {
        1
    })
}
