//! `twofa probe …`: the HTTP client used by health checks, the lab and the
//! benchmarks. It speaks only the public HTTP contract (DESIGN.md §3).

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
    }
}
