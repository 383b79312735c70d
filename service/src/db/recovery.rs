//! `recovery_codes`: single-use codes, stored as SHA-256 hashes (120 random
//! bits each, so a fast hash is enough: ASVS 6.5.2).

use super::GenericClient;
use tokio_postgres::Error;

/// Replaces every code of the user with new ones.
pub async fn replace(
    c: &impl GenericClient,
    user_id: i64,
    hashes: &[Vec<u8>],
) -> Result<(), Error> {
    c.execute("DELETE FROM recovery_codes WHERE user_id = $1", &[&user_id])
        .await?;
    let st = c
        .prepare_cached("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
        .await?;
    for hash in hashes {
        c.execute(&st, &[&user_id, hash]).await?;
    }
    Ok(())
}

/// Uses a code: true only the first time, even with two apps racing.
pub async fn consume(c: &impl GenericClient, user_id: i64, hash: &[u8]) -> Result<bool, Error> {
    let st = c
        .prepare_cached(
            "UPDATE recovery_codes SET used_at = now()
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .await?;
    Ok(c.execute(&st, &[&user_id, &hash]).await? == 1)
}

pub async fn remaining(c: &impl GenericClient, user_id: i64) -> Result<i64, Error> {
    let st = c
        .prepare_cached(
            "SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .await?;
    Ok(c.query_one(&st, &[&user_id]).await?.get(0))
}
