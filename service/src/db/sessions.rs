//! `sessions`: signed-in browsers, by the SHA-256 of their random id.

use super::GenericClient;
use tokio_postgres::Error;

pub struct Session {
    pub user_id: i64,
    pub email: String,
    pub show_recovery_codes: bool,
    pub abandoned_logins: i32,
}

pub async fn create(
    c: &impl GenericClient,
    id_hash: &[u8],
    user_id: i64,
    ttl_s: i64,
    show_recovery_codes: bool,
    abandoned_logins: i32,
) -> Result<(), Error> {
    let st = c
        .prepare_cached(
            "INSERT INTO sessions (id_hash, user_id, expires_at, show_recovery_codes, abandoned_logins)
             VALUES ($1, $2, now() + make_interval(secs => $3), $4, $5)",
        )
        .await?;
    c.execute(
        &st,
        &[
            &id_hash,
            &user_id,
            &(ttl_s as f64),
            &show_recovery_codes,
            &abandoned_logins,
        ],
    )
    .await?;
    Ok(())
}

pub async fn get(c: &impl GenericClient, id_hash: &[u8]) -> Result<Option<Session>, Error> {
    let st = c
        .prepare_cached(
            "SELECT s.user_id, u.email, s.show_recovery_codes, s.abandoned_logins
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id_hash = $1 AND s.expires_at > now()",
        )
        .await?;
    Ok(c.query_opt(&st, &[&id_hash]).await?.map(|row| Session {
        user_id: row.get(0),
        email: row.get(1),
        show_recovery_codes: row.get(2),
        abandoned_logins: row.get(3),
    }))
}

/// Takes the one-time permission to show recovery codes; true only once.
pub async fn take_recovery_display(c: &impl GenericClient, id_hash: &[u8]) -> Result<bool, Error> {
    let st = c
        .prepare_cached(
            "UPDATE sessions SET show_recovery_codes = false
             WHERE id_hash = $1 AND show_recovery_codes AND expires_at > now()",
        )
        .await?;
    Ok(c.execute(&st, &[&id_hash]).await? == 1)
}

/// Keeps the sealed recovery codes made at enrolment with the session
/// until the recovery codes page shows them.
pub async fn stash_recovery_codes(
    c: &impl GenericClient,
    id_hash: &[u8],
    sealed: &[u8],
    key_id: &str,
) -> Result<(), Error> {
    c.execute(
        "UPDATE sessions SET recovery_codes_ct = $2, recovery_codes_key = $3 WHERE id_hash = $1",
        &[&id_hash, &sealed, &key_id],
    )
    .await?;
    Ok(())
}

/// Takes the stashed sealed recovery codes (sealed text, key id), once.
pub async fn take_recovery_codes(
    c: &impl GenericClient,
    id_hash: &[u8],
) -> Result<Option<(Vec<u8>, String)>, Error> {
    let row = c
        .query_opt(
            "UPDATE sessions s SET recovery_codes_ct = NULL, recovery_codes_key = NULL
             FROM (SELECT recovery_codes_ct, recovery_codes_key FROM sessions
                   WHERE id_hash = $1 FOR UPDATE) old
             WHERE s.id_hash = $1 AND old.recovery_codes_ct IS NOT NULL
             RETURNING old.recovery_codes_ct, old.recovery_codes_key",
            &[&id_hash],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

pub async fn delete(c: &impl GenericClient, id_hash: &[u8]) -> Result<bool, Error> {
    let st = c
        .prepare_cached("DELETE FROM sessions WHERE id_hash = $1")
        .await?;
    Ok(c.execute(&st, &[&id_hash]).await? == 1)
}

pub async fn delete_for_user(c: &impl GenericClient, user_id: i64) -> Result<u64, Error> {
    c.execute("DELETE FROM sessions WHERE user_id = $1", &[&user_id])
        .await
}
