//! Logging: structured `tracing` events to stderr (text or JSON) or to
//! journald. Handlers never log passwords, codes, secrets or session ids;
//! a test captures the logs of a whole login and checks it.

use crate::config::Settings;
use anyhow::{Context, Result};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

pub fn init(settings: &Settings) -> Result<()> {
    let filter = EnvFilter::try_new(&settings.log)
        .with_context(|| format!("invalid log filter {:?}", settings.log))?;
    let registry = tracing_subscriber::registry().with(filter);
    match settings.log_format.as_str() {
        "journald" => registry
            .with(tracing_journald::layer().context("cannot reach journald")?)
            .try_init()?,
        "json" => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init()?,
        _ => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init()?,
    }
    Ok(())
}
