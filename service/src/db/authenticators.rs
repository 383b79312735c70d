//! `authenticators`: encrypted TOTP secrets and their replay guards.

use super::GenericClient;
use tokio_postgres::Error;

pub struct Authenticator {
    pub id: i64,
    pub secret_ct: Vec<u8>,
    pub key_id: String,
    pub confirmed: bool,
}

fn authenticator(row: &tokio_postgres::Row) -> Authenticator {
    Authenticator {
        id: row.get(0),
        secret_ct: row.get(1),
        key_id: row.get(2),
        confirmed: row.get(3),
    }
}

/// The user's authenticators, confirmed ones first, oldest first.
pub async fn for_user(c: &impl GenericClient, user_id: i64) -> Result<Vec<Authenticator>, Error> {
    let st = c
        .prepare_cached(
            "SELECT id, secret_ct, key_id, confirmed_at IS NOT NULL FROM authenticators
             WHERE user_id = $1 ORDER BY confirmed_at IS NULL, id",
        )
        .await?;
    Ok(c.query(&st, &[&user_id])
        .await?
        .iter()
        .map(authenticator)
        .collect())
}

pub async fn has_confirmed(c: &impl GenericClient, user_id: i64) -> Result<bool, Error> {
    let st = c
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM authenticators WHERE user_id = $1 AND confirmed_at IS NOT NULL)",
        )
        .await?;
    Ok(c.query_one(&st, &[&user_id]).await?.get(0))
}

/// Stores a new, not yet confirmed authenticator unless one is pending
/// already (two tabs, or two apps, must show the same secret). Returns the
/// pending one either way.
pub async fn insert_pending(
    c: &impl GenericClient,
    user_id: i64,
    label: &str,
    secret_ct: &[u8],
    key_id: &str,
) -> Result<Authenticator, Error> {
    // Serialise per user so two concurrent first visits cannot both insert.
    c.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", &[&user_id])
        .await?;
    let existing = for_user(c, user_id).await?;
    if let Some(pending) = existing.into_iter().find(|a| !a.confirmed) {
        return Ok(pending);
    }
    let st = c
        .prepare_cached(
            "INSERT INTO authenticators (user_id, label, secret_ct, key_id) VALUES ($1, $2, $3, $4)
             RETURNING id, secret_ct, key_id, false",
        )
        .await?;
    Ok(authenticator(
        &c.query_one(&st, &[&user_id, &label, &secret_ct, &key_id])
            .await?,
    ))
}

/// The replay guard: claims `step` for this authenticator only if no equal
/// or later step was accepted before. Atomic, so of two apps racing with the
/// same code exactly one wins. Confirms a pending authenticator on success.
pub async fn claim_step(c: &impl GenericClient, id: i64, step: i64) -> Result<bool, Error> {
    let st = c
        .prepare_cached(
            "UPDATE authenticators SET last_totp_step = $2, confirmed_at = coalesce(confirmed_at, now())
             WHERE id = $1 AND last_totp_step < $2",
        )
        .await?;
    Ok(c.execute(&st, &[&id, &step]).await? == 1)
}

/// Re-encrypts a secret under the current key (key rotation).
pub async fn rewrap(
    c: &impl GenericClient,
    id: i64,
    secret_ct: &[u8],
    key_id: &str,
) -> Result<(), Error> {
    c.execute(
        "UPDATE authenticators SET secret_ct = $2, key_id = $3 WHERE id = $1",
        &[&id, &secret_ct, &key_id],
    )
    .await?;
    Ok(())
}

pub async fn delete_for_user(c: &impl GenericClient, user_id: i64) -> Result<u64, Error> {
    c.execute("DELETE FROM authenticators WHERE user_id = $1", &[&user_id])
        .await
}

/// Drops the account's authenticators that were never confirmed.
pub async fn delete_pending(c: &impl GenericClient, user_id: i64) -> Result<u64, Error> {
    let st = c
        .prepare_cached("DELETE FROM authenticators WHERE user_id = $1 AND confirmed_at IS NULL")
        .await?;
    c.execute(&st, &[&user_id]).await
}
