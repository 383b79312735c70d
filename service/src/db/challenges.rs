//! `login_challenges`: a login between the password and the code, or a
//! user who must enrol an authenticator first. Lives 5 minutes.

use super::GenericClient;
use std::net::IpAddr;
use tokio_postgres::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Totp,
    Enroll,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Totp => "totp",
            Stage::Enroll => "enroll",
        }
    }
}

pub struct Challenge {
    pub user_id: i64,
    pub stage: Stage,
}

pub async fn create(
    c: &impl GenericClient,
    id_hash: &[u8],
    user_id: i64,
    stage: Stage,
    ttl_s: i64,
    ip: IpAddr,
) -> Result<(), Error> {
    let st = c
        .prepare_cached(
            "INSERT INTO login_challenges (id_hash, user_id, stage, expires_at, ip)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5)",
        )
        .await?;
    c.execute(
        &st,
        &[&id_hash, &user_id, &stage.as_str(), &(ttl_s as f64), &ip],
    )
    .await?;
    Ok(())
}

/// The live challenge with this id, if any.
pub async fn get(c: &impl GenericClient, id_hash: &[u8]) -> Result<Option<Challenge>, Error> {
    let st = c
        .prepare_cached(
            "SELECT user_id, stage FROM login_challenges WHERE id_hash = $1 AND expires_at > now()",
        )
        .await?;
    Ok(c.query_opt(&st, &[&id_hash]).await?.map(|row| Challenge {
        user_id: row.get(0),
        stage: if row.get::<_, &str>(1) == "enroll" {
            Stage::Enroll
        } else {
            Stage::Totp
        },
    }))
}

/// Ends a challenge; true if this call ended it (it was live).
pub async fn finish(c: &impl GenericClient, id_hash: &[u8]) -> Result<bool, Error> {
    let st = c
        .prepare_cached("DELETE FROM login_challenges WHERE id_hash = $1 AND expires_at > now()")
        .await?;
    Ok(c.execute(&st, &[&id_hash]).await? == 1)
}

/// Ends every pending enrolment of the account (stage 'enroll'): once an
/// authenticator is confirmed, no other browser may add one.
pub async fn end_enrolments(c: &impl GenericClient, user_id: i64) -> Result<u64, Error> {
    let st = c
        .prepare_cached("DELETE FROM login_challenges WHERE user_id = $1 AND stage = 'enroll'")
        .await?;
    c.execute(&st, &[&user_id]).await
}
