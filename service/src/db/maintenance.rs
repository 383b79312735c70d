//! Background purge of expired rows, by one app at a time.

use super::GenericClient;
use tokio_postgres::Error;

pub const PURGE_LOCK: i64 = 0x7477_6f66_615f_7075;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    pub challenges: u64,
    pub throttle: u64,
}

/// Deletes expired sessions, challenges and idle throttle rows; `None` when
/// another app holds the purge lock. Abandoned password-step logins become
/// `login_abandoned` audit events dated when the password was accepted, so
/// the user is told at the next login.
pub async fn purge(c: &mut deadpool_postgres::Object) -> Result<Option<Purged>, Error> {
    let tx = c.transaction().await?;
    let got: bool = tx
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PURGE_LOCK])
        .await?
        .get(0);
    if !got {
        return Ok(None);
    }
    let sessions = tx
        .execute("DELETE FROM sessions WHERE expires_at <= now()", &[])
        .await?;
    let challenges = tx
        .execute(
            "WITH gone AS (DELETE FROM login_challenges WHERE expires_at <= now() RETURNING user_id, stage, ip, created_at)
             INSERT INTO audit_log (user_id, event, ip, at)
             SELECT user_id, 'login_abandoned', ip, created_at FROM gone WHERE stage = 'totp'",
            &[],
        )
        .await?;
    let throttle = tx
        .execute(
            "DELETE FROM throttle WHERE updated_at < now() - interval '1 hour'
             AND (blocked_until IS NULL OR blocked_until < now())",
            &[],
        )
        .await?;
    tx.commit().await?;
    Ok(Some(Purged {
        sessions,
        challenges,
        throttle,
    }))
}
