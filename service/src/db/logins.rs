//! The second step of a login, in two round trips: one query loads the
//! pending login with its user and authenticators, one statement proves the
//! factor (claims the TOTP step, or uses a recovery code), ends the pending
//! login and opens the session — atomically, so a transient failure retried
//! from the start never leaves half a login behind.

use super::GenericClient;
use std::net::IpAddr;
use tokio_postgres::Error;

pub struct PendingLogin {
    pub user_id: i64,
    /// The user still has to enrol (stage 'enroll').
    pub enrolling: bool,
    pub locked: bool,
    /// Seconds until another code may be tried (0 = now).
    pub retry_after_s: i64,
    /// Confirmed authenticators: (id, sealed secret, key id).
    pub authenticators: Vec<(i64, Vec<u8>, String)>,
}

pub async fn load(
    c: &impl GenericClient,
    challenge_hash: &[u8],
) -> Result<Option<PendingLogin>, Error> {
    let st = c
        .prepare_cached(
            "SELECT c.user_id, c.stage = 'enroll', u.locked,
                    greatest(0, ceil(extract(epoch FROM u.totp_blocked_until - now())))::bigint,
                    a.id, a.secret_ct, a.key_id
             FROM login_challenges c
             JOIN users u ON u.id = c.user_id
             LEFT JOIN authenticators a ON a.user_id = u.id AND a.confirmed_at IS NOT NULL
             WHERE c.id_hash = $1 AND c.expires_at > now()
             ORDER BY a.id",
        )
        .await?;
    let rows = c.query(&st, &[&challenge_hash]).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(PendingLogin {
        user_id: first.get(0),
        enrolling: first.get(1),
        locked: first.get(2),
        retry_after_s: first.get::<_, Option<i64>>(3).unwrap_or(0),
        authenticators: rows
            .iter()
            .filter_map(|r| Some((r.get::<_, Option<i64>>(4)?, r.get(5), r.get(6))))
            .collect(),
    }))
}

/// What proves the second factor.
pub enum Proof<'a> {
    /// Claim this step of this authenticator (the replay guard).
    Totp { authenticator_id: i64, step: i64 },
    /// Use this recovery code (its hash); also lifts a lock.
    RecoveryCode { code_hash: &'a [u8] },
}

pub struct Finished {
    /// The factor was accepted (false: wrong, replayed or used code).
    pub proved: bool,
    /// A session was opened (false if the pending login ended meanwhile).
    pub signed_in: bool,
}

#[allow(clippy::too_many_arguments)]
pub async fn finish(
    c: &impl GenericClient,
    challenge_hash: &[u8],
    user_id: i64,
    proof: Proof<'_>,
    session_hash: &[u8],
    session_ttl_s: i64,
    event: &str,
    ip: IpAddr,
) -> Result<Finished, Error> {
    let (auth_id, step, code_hash, unlock) = match proof {
        Proof::Totp {
            authenticator_id,
            step,
        } => {
            // The code attempt was counted (and a lock set at the 100th)
            // before the code was checked, and a locked account's codes are
            // refused before that: a lock seen here came with this very
            // count, and a right code lifts it.
            (Some(authenticator_id), Some(step), None, true)
        }
        Proof::RecoveryCode { code_hash } => (None, None, Some(code_hash), true),
    };
    let st = c
        .prepare_cached(
            "WITH totp_proof AS (
                 UPDATE authenticators SET last_totp_step = $5
                 WHERE id = $4 AND user_id = $2 AND last_totp_step < $5 RETURNING user_id),
             code_proof AS (
                 UPDATE recovery_codes SET used_at = now()
                 WHERE user_id = $2 AND code_hash = $6 AND used_at IS NULL RETURNING user_id),
             proof AS (SELECT user_id FROM totp_proof UNION ALL SELECT user_id FROM code_proof),
             fin AS (
                 DELETE FROM login_challenges
                 WHERE id_hash = $1 AND expires_at > now() AND user_id IN (SELECT user_id FROM proof)
                 RETURNING user_id),
             prev AS (SELECT u.id, u.last_login_at FROM users u JOIN fin ON fin.user_id = u.id),
             upd AS (
                 UPDATE users u SET last_login_at = now(), totp_failures = 0, totp_blocked_until = NULL,
                     locked = u.locked AND NOT $7
                 FROM prev WHERE u.id = prev.id RETURNING u.id),
             abandoned AS (
                 SELECT (SELECT count(*) FROM audit_log a, prev
                         WHERE a.user_id = prev.id AND a.event = 'login_abandoned'
                           AND a.at > coalesce(prev.last_login_at, '-infinity'))
                      + (SELECT count(*) FROM login_challenges l
                         WHERE l.user_id = $2 AND l.stage = 'totp' AND l.expires_at <= now()) AS n),
             sess AS (
                 INSERT INTO sessions (id_hash, user_id, expires_at, abandoned_logins)
                 SELECT $3, upd.id, now() + make_interval(secs => $8), least((SELECT n FROM abandoned), 2147483647)::int
                 FROM upd RETURNING user_id),
             audit AS (INSERT INTO audit_log (user_id, event, ip) SELECT user_id, $9, $10 FROM sess)
             SELECT (SELECT count(*) FROM proof), (SELECT count(*) FROM sess)",
        )
        .await?;
    let row = c
        .query_one(
            &st,
            &[
                &challenge_hash,
                &user_id,
                &session_hash,
                &auth_id,
                &step,
                &code_hash,
                &unlock,
                &(session_ttl_s as f64),
                &event,
                &ip,
            ],
        )
        .await?;
    Ok(Finished {
        proved: row.get::<_, i64>(0) > 0,
        signed_in: row.get::<_, i64>(1) > 0,
    })
}
