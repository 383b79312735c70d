//! The account page's queries: what a signed-in person sees about their own
//! account, the one-time proofs that sensitive actions need, and the
//! actions themselves. Each action is one transaction.

use super::GenericClient;
use std::net::IpAddr;
use tokio_postgres::Error;

/// The signed-in session behind an account request.
pub struct AccountSession {
    pub user_id: i64,
    pub email: String,
}

/// Looks up a live session and records that it was just used, and from
/// where (at most one write a minute per session, or when the address
/// changes).
pub async fn touch_session(
    c: &impl GenericClient,
    id_hash: &[u8],
    ip: IpAddr,
) -> Result<Option<AccountSession>, Error> {
    let st = c
        .prepare_cached(
            "WITH s AS (
                 SELECT s.id_hash, s.user_id, u.email,
                        s.last_seen_at < now() - interval '1 minute'
                            OR s.last_seen_ip IS DISTINCT FROM $2 AS stale
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id_hash = $1 AND s.expires_at > now()),
             upd AS (
                 UPDATE sessions t SET last_seen_at = now(), last_seen_ip = $2
                 FROM s WHERE t.id_hash = s.id_hash AND s.stale)
             SELECT user_id, email FROM s",
        )
        .await?;
    Ok(c.query_opt(&st, &[&id_hash, &ip])
        .await?
        .map(|r| AccountSession {
            user_id: r.get(0),
            email: r.get(1),
        }))
}

/// One signed-in browser of the account, as listed on the page.
#[derive(serde::Serialize)]
pub struct SessionRow {
    /// A public handle (not the cookie, nor its stored hash).
    pub handle: String,
    pub started: String,
    pub last_seen: String,
    pub address: Option<String>,
    pub current: bool,
}

/// One audit event of the account.
#[derive(serde::Serialize)]
pub struct EventRow {
    pub at: String,
    pub address: Option<String>,
    pub event: String,
}

pub struct Overview {
    pub enrolled_at: Option<String>,
    pub recovery_codes_left: i64,
    pub sessions: Vec<SessionRow>,
    pub events: Vec<EventRow>,
    /// This session began with a recovery code and the authenticator was
    /// not replaced since.
    pub recovery_sign_in: bool,
}

/// Public handle of a session: 16 hex digits of the SHA-256 of its stored
/// hash, so the page never shows anything that opens the session.
const HANDLE: &str = "encode(substr(sha256(s.id_hash), 1, 8), 'hex')";
/// Times as shown: UTC, to the minute or second.
const MINUTE: &str = "'YYYY-MM-DD HH24:MI \"UTC\"'";

pub async fn overview(
    c: &impl GenericClient,
    user_id: i64,
    session_hash: &[u8],
) -> Result<Overview, Error> {
    let head = c
        .query_one(
            &format!(
                "SELECT
                   (SELECT to_char(min(confirmed_at) AT TIME ZONE 'UTC', {MINUTE})
                      FROM authenticators WHERE user_id = $1 AND confirmed_at IS NOT NULL),
                   (SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL),
                   EXISTS (
                     SELECT 1 FROM sessions s JOIN audit_log a
                       ON a.user_id = s.user_id AND a.at = s.created_at
                          AND a.event = 'login_recovery_code'
                     WHERE s.id_hash = $2
                       AND NOT EXISTS (SELECT 1 FROM audit_log r WHERE r.user_id = $1
                                       AND r.event = 'authenticator_replaced' AND r.at >= s.created_at))"
            ),
            &[&user_id, &session_hash],
        )
        .await?;
    // A session's sign-in address: the audit row written in the same
    // transaction that opened it (same now()).
    let sessions = c
        .query(
            &format!(
                "SELECT {HANDLE},
                        to_char(s.created_at AT TIME ZONE 'UTC', {MINUTE}),
                        to_char(s.last_seen_at AT TIME ZONE 'UTC', {MINUTE}),
                        coalesce(host(s.last_seen_ip),
                                 (SELECT host(a.ip) FROM audit_log a
                                  WHERE a.user_id = s.user_id AND a.at = s.created_at
                                    AND a.ip IS NOT NULL LIMIT 1)),
                        s.id_hash = $2
                 FROM sessions s WHERE s.user_id = $1 AND s.expires_at > now()
                 ORDER BY s.id_hash = $2 DESC, s.last_seen_at DESC"
            ),
            &[&user_id, &session_hash],
        )
        .await?
        .iter()
        .map(|r| SessionRow {
            handle: r.get(0),
            started: r.get(1),
            last_seen: r.get(2),
            address: r.get(3),
            current: r.get(4),
        })
        .collect();
    let events = c
        .query(
            "SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"'), host(ip), event
             FROM audit_log WHERE user_id = $1 ORDER BY at DESC, id DESC LIMIT 20",
            &[&user_id],
        )
        .await?
        .iter()
        .map(|r| EventRow {
            at: r.get(0),
            address: r.get(1),
            event: r.get(2),
        })
        .collect();
    Ok(Overview {
        enrolled_at: head.get(0),
        recovery_codes_left: head.get(1),
        sessions,
        events,
        recovery_sign_in: head.get(2),
    })
}

/// What a proof allows and carries.
pub struct Proof {
    pub action: String,
    pub pending_secret_ct: Option<Vec<u8>>,
    pub pending_key_id: Option<String>,
    pub replaces: Vec<i64>,
    pub new_recovery_codes: bool,
}

/// What an authenticator replacement starts from.
pub struct Replacement<'a> {
    pub secret_ct: &'a [u8],
    pub key_id: &'a str,
    pub new_recovery_codes: bool,
}

/// Stores a proof for one action of one session, valid `ttl_s` seconds;
/// drops this session's expired proofs on the way.
pub async fn create_proof(
    c: &impl GenericClient,
    id_hash: &[u8],
    session_hash: &[u8],
    user_id: i64,
    action: &str,
    ttl_s: i64,
    replacement: Option<Replacement<'_>>,
) -> Result<(), Error> {
    c.execute(
        "DELETE FROM account_proofs WHERE session_hash = $1 AND expires_at <= now()",
        &[&session_hash],
    )
    .await?;
    let (ct, key_id, fresh_codes) = match &replacement {
        Some(r) => (Some(r.secret_ct), Some(r.key_id), r.new_recovery_codes),
        None => (None, None, false),
    };
    c.execute(
        "INSERT INTO account_proofs (id_hash, session_hash, user_id, action, expires_at,
                                     pending_secret_ct, pending_key_id, replaces, new_recovery_codes)
         SELECT $1, $2, $3, $4, now() + make_interval(secs => $5), $6, $7,
                CASE WHEN $6::bytea IS NULL THEN NULL ELSE
                  coalesce((SELECT array_agg(id ORDER BY id) FROM authenticators
                            WHERE user_id = $3 AND confirmed_at IS NOT NULL), '{}') END,
                $8",
        &[
            &id_hash,
            &session_hash,
            &user_id,
            &action,
            &(ttl_s as f64),
            &ct,
            &key_id,
            &fresh_codes,
        ],
    )
    .await?;
    Ok(())
}

/// The live proof with this token hash for this session and action, if any,
/// without using it up (`lock`: hold it until the transaction ends).
pub async fn get_proof(
    c: &impl GenericClient,
    id_hash: &[u8],
    session_hash: &[u8],
    action: &str,
    lock: bool,
) -> Result<Option<Proof>, Error> {
    let sql = format!(
        "SELECT action, pending_secret_ct, pending_key_id, coalesce(replaces, '{{}}'), new_recovery_codes
         FROM account_proofs
         WHERE id_hash = $1 AND session_hash = $2 AND action = $3 AND expires_at > now(){}",
        if lock { " FOR UPDATE" } else { "" }
    );
    Ok(c.query_opt(&sql, &[&id_hash, &session_hash, &action])
        .await?
        .map(|r| Proof {
            action: r.get(0),
            pending_secret_ct: r.get(1),
            pending_key_id: r.get(2),
            replaces: r.get(3),
            new_recovery_codes: r.get(4),
        }))
}

/// Uses a proof up; true if it was live (only one caller ever gets true).
pub async fn take_proof(
    c: &impl GenericClient,
    id_hash: &[u8],
    session_hash: &[u8],
    action: &str,
) -> Result<bool, Error> {
    Ok(c.execute(
        "DELETE FROM account_proofs
         WHERE id_hash = $1 AND session_hash = $2 AND action = $3 AND expires_at > now()",
        &[&id_hash, &session_hash, &action],
    )
    .await?
        == 1)
}

/// Uses a recovery code as a proof (once, like at sign-in).
pub async fn use_recovery_code(
    c: &impl GenericClient,
    user_id: i64,
    code_hash: &[u8],
) -> Result<bool, Error> {
    Ok(c.execute(
        "UPDATE recovery_codes SET used_at = now()
         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        &[&user_id, &code_hash],
    )
    .await?
        == 1)
}

/// Ends every session of the user but `keep`; returns how many.
pub async fn end_other_sessions(
    c: &impl GenericClient,
    user_id: i64,
    keep: &[u8],
) -> Result<u64, Error> {
    c.execute(
        "DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2",
        &[&user_id, &keep],
    )
    .await
}

/// Ends one other session of the user, by its public handle.
pub async fn end_session(
    c: &impl GenericClient,
    user_id: i64,
    handle: &str,
    keep: &[u8],
) -> Result<bool, Error> {
    Ok(c.execute(
        &format!(
            "DELETE FROM sessions s WHERE s.user_id = $1 AND s.id_hash <> $3 AND {HANDLE} = $2"
        ),
        &[&user_id, &handle, &keep],
    )
    .await?
        == 1)
}

/// Locks the account row so that account changes happen one at a time;
/// false when the account is gone.
pub async fn lock_user(c: &impl GenericClient, user_id: i64) -> Result<bool, Error> {
    Ok(
        c.query_opt("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", &[&user_id])
            .await?
            .is_some(),
    )
}

/// The confirmed authenticators' ids, in order.
pub async fn confirmed_authenticators(
    c: &impl GenericClient,
    user_id: i64,
) -> Result<Vec<i64>, Error> {
    Ok(c.query(
        "SELECT id FROM authenticators WHERE user_id = $1 AND confirmed_at IS NOT NULL ORDER BY id",
        &[&user_id],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

/// Puts a confirmed authenticator in place of every other one of the user
/// (`step` is the code that confirmed it: the replay guard starts there).
pub async fn install_authenticator(
    c: &impl GenericClient,
    user_id: i64,
    secret_ct: &[u8],
    key_id: &str,
    step: i64,
) -> Result<(), Error> {
    c.execute("DELETE FROM authenticators WHERE user_id = $1", &[&user_id])
        .await?;
    c.execute(
        "INSERT INTO authenticators (user_id, label, secret_ct, key_id, last_totp_step, confirmed_at)
         VALUES ($1, 'phone', $2, $3, $4, now())",
        &[&user_id, &secret_ct, &key_id, &step],
    )
    .await?;
    Ok(())
}

/// Every recovery code of the user stops working now; the session may show
/// a new set once (`/recovery-codes` makes it).
pub async fn reset_recovery_codes(
    c: &impl GenericClient,
    user_id: i64,
    session_hash: &[u8],
) -> Result<(), Error> {
    c.execute("DELETE FROM recovery_codes WHERE user_id = $1", &[&user_id])
        .await?;
    c.execute(
        "UPDATE sessions SET show_recovery_codes = true WHERE id_hash = $1",
        &[&session_hash],
    )
    .await?;
    Ok(())
}

/// Deletes the account with every row that belongs to it (its audit trail
/// and its password throttle included) and leaves one audit row, without
/// the e-mail, saying that an account was deleted.
pub async fn delete_account(
    c: &impl GenericClient,
    user_id: i64,
    password_throttle_key: &str,
    ip: IpAddr,
) -> Result<bool, Error> {
    c.execute("DELETE FROM audit_log WHERE user_id = $1", &[&user_id])
        .await?;
    c.execute(
        "DELETE FROM throttle WHERE key = $1",
        &[&password_throttle_key],
    )
    .await?;
    let gone = c
        .execute("DELETE FROM users WHERE id = $1", &[&user_id])
        .await?
        == 1;
    if gone {
        super::audit::record(c, None, "account_deleted", Some(ip)).await?;
    }
    Ok(gone)
}
