//! `throttle`: counters shared by every app. Wrong passwords per account
//! name (an exponential delay, never a hard lock, so a stranger who knows an
//! e-mail cannot lock its owner out) and failed logins per source IP.

use super::GenericClient;
use tokio_postgres::Error;

/// Seconds until `key` may try again (0 = now).
pub async fn retry_after(c: &impl GenericClient, key: &str) -> Result<i64, Error> {
    let st = c
        .prepare_cached(
            "SELECT greatest(0, ceil(extract(epoch FROM blocked_until - now())))::bigint
             FROM throttle WHERE key = $1",
        )
        .await?;
    Ok(c.query_opt(&st, &[&key])
        .await?
        .and_then(|r| r.get::<_, Option<i64>>(0))
        .unwrap_or(0))
}

/// Counts a failure under `key`: after 5 in a row, a delay of 2 s that
/// doubles with each further failure, capped at 15 minutes.
pub async fn record_failure(c: &impl GenericClient, key: &str) -> Result<i32, Error> {
    let st = c
        .prepare_cached(
            "INSERT INTO throttle AS t (key, failures) VALUES ($1, 1)
             ON CONFLICT (key) DO UPDATE SET failures = t.failures + 1,
                 blocked_until = CASE WHEN t.failures + 1 >= 5
                     THEN now() + make_interval(secs => least(900, power(2, t.failures + 1 - 4)))
                     ELSE NULL END,
                 updated_at = now()
             RETURNING failures",
        )
        .await?;
    Ok(c.query_one(&st, &[&key]).await?.get(0))
}

pub async fn clear(c: &impl GenericClient, key: &str) -> Result<(), Error> {
    let st = c
        .prepare_cached("DELETE FROM throttle WHERE key = $1")
        .await?;
    c.execute(&st, &[&key]).await?;
    Ok(())
}

/// Failures under `key` in the current one-minute window, and the seconds
/// left in that window.
pub async fn window(c: &impl GenericClient, key: &str) -> Result<(i32, i64), Error> {
    let st = c
        .prepare_cached(
            "SELECT failures, greatest(1, ceil(60 - extract(epoch FROM now() - window_start)))::bigint
             FROM throttle WHERE key = $1 AND window_start > now() - interval '1 minute'",
        )
        .await?;
    Ok(c.query_opt(&st, &[&key])
        .await?
        .map_or((0, 0), |r| (r.get(0), r.get(1))))
}

/// Counts one failure in `key`'s one-minute window (a new window when the
/// old one is over).
pub async fn record_in_window(c: &impl GenericClient, key: &str) -> Result<i32, Error> {
    let st = c
        .prepare_cached(
            "INSERT INTO throttle AS t (key, failures) VALUES ($1, 1)
             ON CONFLICT (key) DO UPDATE SET
                 failures = CASE WHEN t.window_start > now() - interval '1 minute' THEN t.failures + 1 ELSE 1 END,
                 window_start = CASE WHEN t.window_start > now() - interval '1 minute' THEN t.window_start ELSE now() END,
                 updated_at = now()
             RETURNING failures",
        )
        .await?;
    Ok(c.query_one(&st, &[&key]).await?.get(0))
}

/// Takes one attempt under `key`'s delay before the work is done, in one
/// atomic statement: the attempt is counted as a failure now (a success
/// clears the key afterwards), unless the key must still wait. So N attempts
/// sent at once get exactly as many answers as the delay allows.
/// `None`: the attempt may go ahead; `Some(seconds)`: it must wait.
pub async fn claim_attempt(c: &impl GenericClient, key: &str) -> Result<Option<i64>, Error> {
    let st = c
        .prepare_cached(
            "INSERT INTO throttle AS t (key, failures) VALUES ($1, 1)
             ON CONFLICT (key) DO UPDATE SET failures = t.failures + 1,
                 blocked_until = CASE WHEN t.failures + 1 >= 5
                     THEN now() + make_interval(secs => least(900, power(2, t.failures + 1 - 4)))
                     ELSE NULL END,
                 updated_at = now()
             WHERE t.blocked_until IS NULL OR t.blocked_until <= now()
             RETURNING failures",
        )
        .await?;
    if c.query_opt(&st, &[&key]).await?.is_some() {
        return Ok(None);
    }
    Ok(Some(retry_after(c, key).await?.max(1)))
}

/// Takes one slot of `key`'s one-minute window of `cap` attempts before the
/// work is done, atomically (see [`claim_attempt`]). `None`: taken;
/// `Some(seconds)`: the window is full for that long.
pub async fn claim_in_window(
    c: &impl GenericClient,
    key: &str,
    cap: i32,
) -> Result<Option<i64>, Error> {
    let st = c
        .prepare_cached(
            "INSERT INTO throttle AS t (key, failures) VALUES ($1, 1)
             ON CONFLICT (key) DO UPDATE SET
                 failures = CASE WHEN t.window_start > now() - interval '1 minute' THEN t.failures + 1 ELSE 1 END,
                 window_start = CASE WHEN t.window_start > now() - interval '1 minute' THEN t.window_start ELSE now() END,
                 updated_at = now()
             WHERE t.window_start <= now() - interval '1 minute' OR t.failures < $2
             RETURNING failures",
        )
        .await?;
    match c.query_opt(&st, &[&key, &cap]).await? {
        Some(row) if row.get::<_, i32>(0) <= cap => Ok(None),
        _ => Ok(Some(window(c, key).await?.1.max(1))),
    }
}

/// Gives back an attempt taken with [`claim_attempt`] that was never judged
/// (its hash was shed). The count goes down; a delay already set stays, so
/// a refund can never open the door to attempts sent at the same time.
pub async fn refund_attempt(c: &impl GenericClient, key: &str) -> Result<(), Error> {
    let st = c
        .prepare_cached(
            "UPDATE throttle SET failures = greatest(0, failures - 1), updated_at = now()
             WHERE key = $1",
        )
        .await?;
    c.execute(&st, &[&key]).await?;
    Ok(())
}

/// Gives back a slot taken with [`claim_in_window`] (the attempt turned out
/// not to be a failure, or was refused for another reason).
pub async fn refund_in_window(c: &impl GenericClient, key: &str) -> Result<(), Error> {
    let st = c
        .prepare_cached(
            "UPDATE throttle SET failures = greatest(0, failures - 1)
             WHERE key = $1 AND window_start > now() - interval '1 minute'",
        )
        .await?;
    c.execute(&st, &[&key]).await?;
    Ok(())
}
