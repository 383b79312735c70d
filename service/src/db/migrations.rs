//! Embedded, forward-only migrations, applied under an advisory lock so that
//! three apps booting at once migrate once.

use anyhow::{bail, Context, Result};
use tokio_postgres::Client;

/// (version, name, SQL). Append only.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "init", include_str!("../../migrations/0001_init.sql")),
    (
        2,
        "security",
        include_str!("../../migrations/0002_security.sql"),
    ),
    (
        3,
        "account",
        include_str!("../../migrations/0003_account.sql"),
    ),
];

/// Arbitrary constant naming twofa's migration lock.
const MIGRATION_LOCK: i64 = 0x7477_6f66_615f_6d69;

pub fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// How many migrations this twofa carries (versions may have gaps).
pub fn count() -> usize {
    MIGRATIONS.len()
}

/// Applies the missing migrations; returns how many it applied.
pub async fn run(client: &mut Client) -> Result<usize> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .context("cannot take the migration lock")?;
    let result = apply(client).await;
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let applied = result?;
    unlock.context("cannot release the migration lock")?;
    Ok(applied)
}

async fn apply(client: &mut Client) -> Result<usize> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version integer PRIMARY KEY,
                 name text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .context("cannot create schema_migrations")?;
    let current: i32 = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    // Versions are applied by presence, not only above the highest: a
    // migration numbered below one already applied (branches merged in
    // another order) still runs once.
    let done: Vec<i32> = client
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if current > latest_version() {
        bail!(
            "the database is at schema version {current}, newer than this twofa ({}); \
             run the newer twofa or restore a matching backup",
            latest_version()
        );
    }
    let mut applied = 0;
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| !done.contains(&m.0)) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("migration {version} ({name}) failed"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, name, "applied migration");
        applied += 1;
    }
    Ok(applied)
}
