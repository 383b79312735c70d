//! `twofa probe …`: the HTTP client used by health checks, the lab and the
//! benchmarks. It speaks only the public HTTP contract (docs/architecture.md §3).

mod account;
mod attack;
mod figures;
pub mod flow;
mod load;
mod proxy;

use anyhow::Result;

#[derive(clap::Subcommand, Debug)]
pub enum ProbeCommand {
    /// Exit 0 when GET <url> answers 200 within the timeout (health checks).
    Http {
        /// The URL to fetch, e.g. http://127.0.0.1:8404/healthz
        url: String,
        #[arg(long, default_value_t = 900)]
        timeout_ms: u64,
    },
    /// Register accounts, then log in continuously for a bounded time and
    /// count; report failures, longest outage, latency and lost accounts (JSON).
    Load(load::LoadArgs),
    /// Send one TOTP code to every app at the same instant: exactly one may succeed.
    Replay(attack::ReplayArgs),
    /// Spread wrong codes over the apps: the throttle must engage as on one app.
    BruteForce(attack::BruteForceArgs),
    /// Replace a new account's authenticator on the account page; exit 0
    /// when the old code is refused afterwards and the new one signs in.
    ReplaceAuthenticator(account::ReplaceArgs),
    /// Through the proxies, forge X-Forwarded-For: the per-source cap must
    /// still count the real client; /metrics must be refused.
    ForgedIp(proxy::ForgedIpArgs),
}

pub async fn run(cmd: ProbeCommand) -> Result<i32> {
    match cmd {
        ProbeCommand::Http { url, timeout_ms } => {
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_millis(timeout_ms))
                .build()?;
            match client.get(&url).send().await {
                Ok(r) if r.status().is_success() => Ok(0),
                Ok(r) => {
                    eprintln!("{url}: {}", r.status());
                    Ok(1)
                }
                Err(e) => {
                    eprintln!("{url}: {e}");
                    Ok(1)
                }
            }
        }
        ProbeCommand::Load(args) => load::run(args).await,
        ProbeCommand::Replay(args) => attack::replay(args).await,
        ProbeCommand::BruteForce(args) => attack::brute_force(args).await,
        ProbeCommand::ReplaceAuthenticator(args) => account::replace(args).await,
        ProbeCommand::ForgedIp(args) => proxy::forged_ip(args).await,
    }
}
