//! Passwords are hashed in Unicode NFKC form. Hashes made before that was
//! the rule hold the password as it was typed: when the normalised form
//! does not match and differs from what was typed, the typed form is tried,
//! and on success the hash is replaced by one of the normalised form, so the
//! account moves to the rule at its next login.

use super::password::normalize_password;
use crate::db::users;
use crate::{with_db, App};
use zeroize::Zeroizing;

/// Whether `typed` is the password of the hash `stored` (`None`: an unknown
/// account, same work, false). Upgrades a pre-NFKC hash of `user_id`.
pub async fn verify(
    app: &App,
    typed: Zeroizing<String>,
    stored: Option<String>,
    user_id: Option<i64>,
) -> Result<bool, crate::routes::AppError> {
    let normalized = normalize_password(&typed);
    if app
        .hashing
        .verify(normalized.clone(), stored.clone())
        .await?
    {
        return Ok(true);
    }
    let (Some(stored), Some(id)) = (stored, user_id) else {
        return Ok(false);
    };
    if *normalized == *typed || !app.hashing.verify(typed, Some(stored)).await? {
        return Ok(false);
    }
    let hash = app.hashing.hash(normalized).await?;
    with_db!(app.db, |c| Ok(users::set_password(&*c, id, &hash).await?))?;
    tracing::info!(user = id, "password hash moved to the NFKC form");
    Ok(true)
}
