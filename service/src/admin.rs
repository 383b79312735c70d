//! `twofa user …`: what an operator does to one account.

use crate::auth::normalize_email;
use crate::auth::password::check_new_password;
use crate::db::{audit, authenticators, recovery, sessions, users};
use crate::{with_db, App};
use anyhow::{bail, Context, Result};
use zeroize::Zeroizing;

/// Creates an account; it enrols an authenticator at its first login.
pub async fn add(app: &App, email: &str, password: Zeroizing<String>) -> Result<()> {
    let email = normalize_email(email).context("not a valid e-mail address")?;
    let password = crate::auth::password::normalize_password(&password);
    if let Some(weak) = check_new_password(&password) {
        bail!("password refused: {weak:?} (at least 12 characters, not a common password)");
    }
    let hash = app.hashing.hash(password).await?;
    let id = with_db!(app.db, |c| {
        let tx = c.transaction().await?;
        let id = users::insert(&tx, &email, &hash).await?;
        if let Some(id) = id {
            audit::record(&tx, Some(id), "created_by_admin", None).await?;
        }
        tx.commit().await?;
        Ok(id)
    })?;
    if id.is_none() {
        bail!("an account with that e-mail exists already");
    }
    Ok(())
}

/// Removes the user's authenticators, recovery codes and sessions: the next
/// login enrols a new authenticator.
pub async fn reset_totp(app: &App, email: &str) -> Result<()> {
    let email = normalize_email(email).context("not a valid e-mail address")?;
    let found = with_db!(app.db, |c| {
        let tx = c.transaction().await?;
        let Some(user) = users::by_email(&tx, &email).await? else {
            return Ok(false);
        };
        authenticators::delete_for_user(&tx, user.id).await?;
        recovery::replace(&tx, user.id, &[]).await?;
        sessions::delete_for_user(&tx, user.id).await?;
        users::clear_code_failures(&tx, user.id, true).await?;
        audit::record(&tx, Some(user.id), "totp_reset_by_admin", None).await?;
        tx.commit().await?;
        Ok(true)
    })?;
    if !found {
        bail!("no account with that e-mail");
    }
    Ok(())
}

pub async fn unlock(app: &App, email: &str) -> Result<()> {
    let email = normalize_email(email).context("not a valid e-mail address")?;
    if !with_db!(app.db, |c| Ok(users::unlock(&*c, &email).await?))? {
        bail!("no account with that e-mail");
    }
    Ok(())
}

pub async fn delete(app: &App, email: &str) -> Result<()> {
    let email = normalize_email(email).context("not a valid e-mail address")?;
    if !with_db!(app.db, |c| Ok(users::delete(&*c, &email).await?))? {
        bail!("no account with that e-mail");
    }
    Ok(())
}

/// Accounts whose addresses collide once the local part's case is folded
/// (registered apart before that rule): reported, never merged.
pub async fn fold_collisions(app: &App) -> Result<Vec<Vec<String>>> {
    Ok(with_db!(
        app.db,
        |c| Ok(users::fold_collisions(&*c).await?)
    )?)
}
