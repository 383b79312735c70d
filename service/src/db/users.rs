//! `users`: accounts, their password hashes and their wrong-code counters.

use super::GenericClient;
use tokio_postgres::Error;

pub struct User {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub locked: bool,
    /// Seconds until another code may be tried (0 = now).
    pub totp_retry_after_s: i64,
}

const COLUMNS: &str = "id, email, password_hash, locked, \
     greatest(0, ceil(extract(epoch FROM totp_blocked_until - now())))::bigint";

fn user(row: &tokio_postgres::Row) -> User {
    User {
        id: row.get(0),
        email: row.get(1),
        password_hash: row.get(2),
        locked: row.get(3),
        totp_retry_after_s: row.get::<_, Option<i64>>(4).unwrap_or(0),
    }
}

/// Inserts a new account; `None` when the e-mail is taken, in any case of
/// its local part's ASCII letters.
pub async fn insert(c: &impl GenericClient, email: &str, hash: &str) -> Result<Option<i64>, Error> {
    let st = c
        .prepare_cached(
            "INSERT INTO users (email, email_fold, password_hash)
             SELECT $1, $2, $3
             WHERE NOT EXISTS (SELECT 1 FROM users WHERE email_fold IS NULL
                 AND translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') = $2)
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .await?;
    let fold = crate::auth::fold_email(email);
    Ok(c.query_opt(&st, &[&email, &fold, &hash])
        .await?
        .map(|r| r.get(0)))
}

/// The account of this address: the one stored exactly so, else the one
/// whose folded address matches (at most one: accounts that collided
/// before folding have none and are found only exactly).
pub async fn by_email(c: &impl GenericClient, email: &str) -> Result<Option<User>, Error> {
    let st = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM users WHERE email = $1 OR email_fold = $2
             ORDER BY email = $1 DESC LIMIT 1"
        ))
        .await?;
    let fold = crate::auth::fold_email(email);
    Ok(c.query_opt(&st, &[&email, &fold]).await?.as_ref().map(user))
}

/// Addresses that are one after folding but were registered apart before
/// the rule: each group is left as it is for an operator to resolve.
pub async fn fold_collisions(c: &impl GenericClient) -> Result<Vec<Vec<String>>, Error> {
    let rows = c
        .query(
            "SELECT array_agg(email ORDER BY id) FROM users WHERE email_fold IS NULL
             GROUP BY translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
             HAVING count(*) > 1 ORDER BY 1",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub async fn by_id(c: &impl GenericClient, id: i64) -> Result<Option<User>, Error> {
    let st = c
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .await?;
    Ok(c.query_opt(&st, &[&id]).await?.as_ref().map(user))
}

/// What a wrong code did to the account.
pub struct CodeFailure {
    pub failures: i32,
    pub locked: bool,
}

/// Counts a wrong (or replayed) code. After 5 in a row every further attempt
/// waits 2 s, doubling up to 15 minutes; the 100th locks the account
/// (NIST SP 800-63B). One atomic statement, so every app counts toward it.
pub async fn record_code_failure(c: &impl GenericClient, id: i64) -> Result<CodeFailure, Error> {
    let st = c
        .prepare_cached(
            "UPDATE users SET totp_failures = totp_failures + 1,
                 totp_blocked_until = CASE WHEN totp_failures + 1 >= 5
                     THEN now() + make_interval(secs => least(900, power(2, totp_failures + 1 - 4)))
                     ELSE NULL END,
                 locked = locked OR totp_failures + 1 >= 100
             WHERE id = $1 RETURNING totp_failures, locked",
        )
        .await?;
    let row = c.query_one(&st, &[&id]).await?;
    Ok(CodeFailure {
        failures: row.get(0),
        locked: row.get(1),
    })
}

/// Why a code may not be tried now.
pub enum CodeRefusal {
    Throttled(i64),
    Locked,
}

/// Takes one code attempt before the code is checked, in one atomic
/// statement: counted as a wrong code now (a right one clears the counter),
/// unless the account must wait or is locked (`allow_locked`: a recovery
/// code, the way out of the lock). The 100th attempt sets the lock.
/// `Ok(failures)`: the attempt may go ahead.
pub async fn claim_code_attempt(
    c: &impl GenericClient,
    id: i64,
    allow_locked: bool,
) -> Result<Result<i32, CodeRefusal>, Error> {
    let st = c
        .prepare_cached(
            "UPDATE users SET totp_failures = totp_failures + 1,
                 totp_blocked_until = CASE WHEN totp_failures + 1 >= 5
                     THEN now() + make_interval(secs => least(900, power(2, totp_failures + 1 - 4)))
                     ELSE NULL END,
                 locked = locked OR totp_failures + 1 >= 100
             WHERE id = $1 AND (totp_blocked_until IS NULL OR totp_blocked_until <= now())
               AND (NOT locked OR $2)
             RETURNING totp_failures",
        )
        .await?;
    if let Some(row) = c.query_opt(&st, &[&id, &allow_locked]).await? {
        return Ok(Ok(row.get(0)));
    }
    let Some(user) = by_id(c, id).await? else {
        return Ok(Err(CodeRefusal::Locked));
    };
    Ok(Err(if user.locked && !allow_locked {
        CodeRefusal::Locked
    } else {
        CodeRefusal::Throttled(user.totp_retry_after_s.max(1))
    }))
}

/// Whether the account is locked (read after a claimed attempt failed).
pub async fn is_locked(c: &impl GenericClient, id: i64) -> Result<bool, Error> {
    Ok(by_id(c, id).await?.is_some_and(|u| u.locked))
}

/// A right code or a recovery code: the counter starts again. A recovery
/// code also lifts the lock (`unlock`).
pub async fn clear_code_failures(
    c: &impl GenericClient,
    id: i64,
    unlock: bool,
) -> Result<(), Error> {
    let st = c
        .prepare_cached(
            "UPDATE users SET totp_failures = 0, totp_blocked_until = NULL,
                 locked = locked AND NOT $2 WHERE id = $1",
        )
        .await?;
    c.execute(&st, &[&id, &unlock]).await?;
    Ok(())
}

/// Records a completed login; returns when the previous one was (epoch s).
pub async fn mark_login(c: &impl GenericClient, id: i64) -> Result<Option<f64>, Error> {
    let st = c
        .prepare_cached(
            "UPDATE users u SET last_login_at = now() FROM (SELECT last_login_at FROM users WHERE id = $1 FOR UPDATE) prev
             WHERE u.id = $1 RETURNING extract(epoch FROM prev.last_login_at)::float8",
        )
        .await?;
    Ok(c.query_opt(&st, &[&id]).await?.and_then(|r| r.get(0)))
}

pub async fn set_password(c: &impl GenericClient, id: i64, hash: &str) -> Result<bool, Error> {
    Ok(c.execute(
        "UPDATE users SET password_hash = $2 WHERE id = $1",
        &[&id, &hash],
    )
    .await?
        == 1)
}

pub async fn unlock(c: &impl GenericClient, email: &str) -> Result<bool, Error> {
    Ok(c.execute(
        "UPDATE users SET locked = false, totp_failures = 0, totp_blocked_until = NULL
             WHERE id = (SELECT id FROM users WHERE email = $1 OR email_fold = $2
                         ORDER BY email = $1 DESC LIMIT 1)",
        &[&email, &crate::auth::fold_email(email)],
    )
    .await?
        == 1)
}

pub async fn delete(c: &impl GenericClient, email: &str) -> Result<bool, Error> {
    Ok(c.execute(
        "DELETE FROM users WHERE id = (SELECT id FROM users WHERE email = $1 OR email_fold = $2
                                       ORDER BY email = $1 DESC LIMIT 1)",
        &[&email, &crate::auth::fold_email(email)],
    )
    .await?
        == 1)
}
