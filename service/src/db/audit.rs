//! `audit_log`: what happened to an account, for operators and the user.

use super::GenericClient;
use std::net::IpAddr;
use tokio_postgres::Error;

pub async fn record(
    c: &impl GenericClient,
    user_id: Option<i64>,
    event: &str,
    ip: Option<IpAddr>,
) -> Result<(), Error> {
    let st = c
        .prepare_cached("INSERT INTO audit_log (user_id, event, ip) VALUES ($1, $2, $3)")
        .await?;
    c.execute(&st, &[&user_id, &event, &ip]).await?;
    Ok(())
}
