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
