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

/// Logins abandoned after the password step since `since` (epoch seconds).
pub async fn abandoned_since(
    c: &impl GenericClient,
    user_id: i64,
    since: Option<f64>,
) -> Result<i64, Error> {
    let st = c
        .prepare_cached(
            "SELECT count(*) FROM audit_log WHERE user_id = $1 AND event = 'login_abandoned'
             AND at > coalesce(to_timestamp($2), '-infinity')",
        )
        .await?;
    Ok(c.query_one(&st, &[&user_id, &since]).await?.get(0))
}
