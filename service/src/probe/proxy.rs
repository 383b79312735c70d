//! `probe forged-ip`: through the proxies, a client that writes its own
//! `X-Forwarded-For` (a new address each time) must still be counted as
//! itself: the per-source cap of failed logins stops it after exactly `cap`
//! wrong passwords. Also checks that the proxies refuse `/metrics`.

use super::flow;
use anyhow::{anyhow, Context, Result};
use serde_json::json;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct ForgedIpArgs {
    /// The VIP's base URL.
    #[arg(long)]
    pub url: String,
    /// The apps' `TWOFA_IP_FAILED_LOGINS_PER_MINUTE`.
    #[arg(long, default_value_t = 30)]
    pub cap: usize,
    /// Send from this address of the machine, one nothing else uses: its
    /// window of failed logins is then fresh and the count starts at once,
    /// with no minute waited before it or after it. Without it the probe
    /// shares the machine's address with whatever else signs in from it.
    #[arg(long)]
    pub source: Option<std::net::IpAddr>,
}

pub async fn forged_ip(args: ForgedIpArgs) -> Result<i32> {
    let http = crate::client::http(&crate::client::Options {
        connect_timeout: Some(Duration::from_millis(500)),
        timeout: Some(Duration::from_secs(20)),
        max_idle_per_host: 0,
        local_address: args.source,
    })?;
    let base = args.url.trim_end_matches('/');
    let page = http.get(format!("{base}/login")).send().await?;
    let cookies: Vec<String> = page
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
        .collect();
    let body = page.text().await?;
    let csrf =
        crate::client::hidden(&body, "csrf_token").context("GET /login has no csrf_token")?;
    let run = flow::run_id();
    let mut trace = Vec::new();
    let mut attempt = 0usize;
    // One wrong password with a forged X-Forwarded-For: its status and
    // Retry-After.
    let mut wrong_password = || {
        attempt += 1;
        let i = attempt;
        let form = [
            ("csrf_token", csrf.clone()),
            ("email", format!("forged-{run}-{i}@example.test")),
            ("password", "not the password at all".to_string()),
        ];
        let request = http
            .post(format!("{base}/login"))
            .header(reqwest::header::COOKIE, cookies.join("; "))
            // What a client may claim: another address in each request,
            // both as a line of its own and as a list.
            .header("x-forwarded-for", format!("203.0.113.{}", i % 250))
            .header(
                "x-forwarded-for",
                format!("198.51.100.{}, 10.0.0.1", i % 250),
            )
            .form(&form);
        async move {
            let response = request.send().await?;
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let status = response.status().as_u16();
            match status {
                401 | 429 => Ok((status, retry_after)),
                s => Err(anyhow!("unexpected {s} on attempt {i}")),
            }
        }
    };
    // This source's window of failed logins runs a minute from the claim
    // that opened it, and every sign-in from this address (the load's, the
    // steps before) opens one. A window opened before this probe could
    // lapse in the middle of the count and start a new one at 1, so the
    // count is made in a window this probe opens: fill whatever window is
    // open until the first 429, wait until it has passed, then count. An
    // address of the probe's own (--source) has no such window.
    let mut filled = 0;
    while args.source.is_none() {
        let (status, retry_after) = wrong_password().await?;
        trace.push(status.to_string());
        if status == 429 {
            let wait = retry_after.unwrap_or(60).min(61) + 1;
            eprintln!("probe forged-ip: a window was open ({filled} more wrong passwords filled it); waiting {wait} s for a fresh one");
            trace.push(format!("wait {wait}s"));
            tokio::time::sleep(Duration::from_secs(wait)).await;
            break;
        }
        filled += 1;
        // Two windows back to back cannot take more than twice the cap.
        if filled > 2 * args.cap + 2 {
            return Err(anyhow!(
                "{filled} wrong passwords from one source and never a 429 (cap {} a minute)",
                args.cap
            ));
        }
    }
    let mut failures = 0;
    let mut first_429 = None;
    let mut retry_after: Option<u64> = None;
    let mut recounts = 0;
    let mut i = 0;
    while i < args.cap + 5 {
        i += 1;
        let (status, after) = wrong_password().await?;
        trace.push(status.to_string());
        if status != 429 {
            failures += 1;
            continue;
        }
        // Fewer than the cap from an address of our own: an earlier run
        // from it less than a minute ago left its window full. Wait that
        // window out once and count again in a fresh one. (A full count
        // cannot hide an old window: one that lapsed mid-count would let
        // more than the cap through, one that did not would let fewer.)
        if args.source.is_some() && failures < args.cap && recounts == 0 {
            let wait = after.unwrap_or(60).min(61) + 1;
            eprintln!("probe forged-ip: {failures} before a 429, so a window of this address was still open; waiting {wait} s for a fresh one");
            trace.push(format!("wait {wait}s"));
            tokio::time::sleep(Duration::from_secs(wait)).await;
            recounts += 1;
            (failures, i) = (0, 0);
            continue;
        }
        first_429 = Some(i);
        retry_after = after;
        break;
    }
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .status()
        .as_u16();
    let ok = failures == args.cap && metrics == 403;
    let report = json!({
        "cap": args.cap,
        "failures_before_throttle": failures,
        "throttled_at": first_429,
        "metrics_status": metrics,
        "source": args.source.map(|a| a.to_string()),
        "mismatch": u8::from(!ok),
        "trace": trace.join(" "),
    });
    eprintln!(
        "probe forged-ip: {failures} wrong passwords with forged X-Forwarded-For before 429 (cap {}, from {}); /metrics through the VIP: {metrics}",
        args.cap,
        args.source.map_or("this machine's address".to_string(), |a| a.to_string())
    );
    println!("{}", serde_json::to_string(&report)?);
    // This source is now at its cap of failed logins for up to a minute:
    // when it is the machine's own address, wait it out, so that whatever
    // runs next from it (the next scenario's load) is not refused for what
    // this check did. An address of our own is left to lapse unused.
    if let (Some(wait), None) = (retry_after, args.source) {
        let wait = wait.min(61) + 1;
        eprintln!("probe forged-ip: waiting {wait} s for this source's window to pass");
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    }
    Ok(if ok { 0 } else { 1 })
}
