//! PostgreSQL: the pool, the failover-aware retry, migrations, and one module
//! per table holding that table's SQL.
//!
//! A database failover is a delay, not an error: work that fails because no
//! writable leader answers (connection lost, read-only node, shutting down) is
//! retried with backoff until `db_retry_deadline_s`, on a fresh connection.

pub mod audit;
pub mod authenticators;
pub mod challenges;
pub mod logins;
pub mod maintenance;
pub mod migrations;
pub mod recovery;
pub mod sessions;
pub mod throttle;
pub mod users;

use crate::config::Settings;
use anyhow::{Context, Result};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

pub use deadpool_postgres::GenericClient;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("database: {0}")]
    Pg(#[from] tokio_postgres::Error),
}

impl DbError {
    /// Errors a failover causes, worth retrying on another connection.
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Pool(_) => true,
            DbError::Pg(e) => {
                if e.is_closed() {
                    return true;
                }
                match e.code() {
                    // No SQLSTATE: an I/O error or a timeout talking to the server.
                    None => true,
                    Some(code) => {
                        *code == SqlState::READ_ONLY_SQL_TRANSACTION
                            || *code == SqlState::ADMIN_SHUTDOWN
                            || *code == SqlState::CRASH_SHUTDOWN
                            || *code == SqlState::CANNOT_CONNECT_NOW
                            || *code == SqlState::T_R_SERIALIZATION_FAILURE
                            || *code == SqlState::T_R_DEADLOCK_DETECTED
                            || *code == SqlState::TOO_MANY_CONNECTIONS
                            || *code == SqlState::QUERY_CANCELED
                            || code.code().starts_with("08")
                    }
                }
            }
        }
    }

    /// Whether the connection that produced this error must not go back to
    /// the pool: a read-only node (the old leader after a failover) passes the
    /// pool's liveness check, so it has to be thrown away explicitly.
    pub fn poisons_connection(&self) -> bool {
        matches!(self, DbError::Pg(_)) && self.is_transient()
    }
}

#[derive(Clone)]
pub struct Db {
    pool: Pool,
    retry_deadline: Duration,
    /// The health checks' own connection, outside the pool: a check must
    /// not queue behind request load for a pooled connection, or an app
    /// busy shedding password posts would look down to its proxies.
    health: std::sync::Arc<tokio::sync::Mutex<Option<tokio_postgres::Client>>>,
    config: tokio_postgres::Config,
}

impl Db {
    pub fn connect(settings: &Settings) -> Result<Db> {
        let mut config: tokio_postgres::Config = settings
            .database_url
            .parse()
            .context("TWOFA_DATABASE_URL is not a valid libpq connection string")?;
        if let Some(password) = settings.database_password()? {
            config.password(password.as_bytes());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(2));
        }
        if config.get_tcp_user_timeout().is_none() {
            // Without it a query to a partitioned leader waits for minutes.
            config.tcp_user_timeout(Duration::from_secs(2));
        }
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(1))
            .keepalives_interval(Duration::from_secs(1))
            .keepalives_retries(2);
        if config.get_application_name().is_none() {
            config.application_name("twofa");
        }
        let timeout = format!("-c statement_timeout={}", settings.db_statement_timeout_ms);
        let options = match config.get_options() {
            Some(existing) => format!("{existing} {timeout}"),
            None => timeout,
        };
        config.options(options);
        let health_config = config.clone();
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.db_pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(5)))
            .recycle_timeout(Some(Duration::from_secs(2)))
            .build()
            .context("cannot build the database pool")?;
        Ok(Db {
            pool,
            retry_deadline: settings.db_retry_deadline(),
            health: Default::default(),
            config: health_config,
        })
    }

    pub async fn conn(&self) -> Result<Object, DbError> {
        Ok(self.pool.get().await?)
    }

    pub fn retry(&self) -> Retry {
        Retry {
            started: Instant::now(),
            deadline: self.retry_deadline,
            attempt: 0,
        }
    }

    pub fn pool_status(&self) -> deadpool_postgres::Status {
        self.pool.status()
    }

    /// Whether the pool gives a connection that answers a trivial query on
    /// a writable node (the watchdog's and `check-config`'s test).
    pub async fn ping(&self) -> bool {
        let check = async {
            let c = self.conn().await?;
            let row = c
                .query_one("SELECT pg_is_in_recovery()", &[])
                .await
                .map_err(DbError::from)?;
            let in_recovery: bool = row.get(0);
            if in_recovery {
                discard(c);
                return Ok::<bool, DbError>(false);
            }
            Ok(true)
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), check).await,
            Ok(Ok(true))
        )
    }

    /// Whether the database answers a trivial query on a writable node, for
    /// `/readyz`. Uses the health checks' own connection (made again when
    /// it broke or reached a read-only node), never one of the pool's, so a
    /// readiness check does not queue behind request load.
    pub async fn ping_for_readiness(&self) -> bool {
        let check = async {
            let mut health = self.health.lock().await;
            if health.as_ref().is_none_or(|c| c.is_closed()) {
                let (client, conn) = self.config.connect(NoTls).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                *health = Some(client);
            }
            let client = health.as_ref().expect("connected above");
            let writable = match client.query_one("SELECT pg_is_in_recovery()", &[]).await {
                Ok(row) => !row.get::<_, bool>(0),
                Err(e) => {
                    *health = None;
                    return Err(DbError::from(e));
                }
            };
            if !writable {
                // The old leader after a failover: look for the new one next time.
                *health = None;
            }
            Ok::<bool, DbError>(writable)
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), check).await,
            Ok(Ok(true))
        )
    }
}

/// Drops a connection instead of returning it to the pool.
pub fn discard(conn: Object) {
    drop(Object::take(conn));
}

/// Backoff state of one piece of database work.
pub struct Retry {
    started: Instant,
    deadline: Duration,
    attempt: u32,
}

impl Retry {
    /// Sleeps and returns true if the error is transient and time remains.
    pub async fn again(&mut self, err: &DbError) -> bool {
        if !err.is_transient() {
            return false;
        }
        let elapsed = self.started.elapsed();
        if elapsed >= self.deadline {
            tracing::warn!(attempts = self.attempt + 1, error = %err, "database work gave up after the retry deadline");
            return false;
        }
        self.attempt += 1;
        let backoff = Duration::from_millis((50u64 << self.attempt.min(5)).min(1000));
        let sleep = backoff.min(self.deadline - elapsed);
        if self.attempt == 1 {
            tracing::warn!(error = %err, "database unavailable; retrying");
        }
        crate::metrics::METRICS.db_retries.inc();
        tokio::time::sleep(sleep).await;
        true
    }
}

/// Runs `$body` with `$c: &mut Object`, retrying it from the start on a
/// fresh connection while the error is transient and the deadline allows.
/// The body must be safe to run again: each run is one transaction, or
/// statements whose repetition changes nothing.
#[macro_export]
macro_rules! with_db {
    ($db:expr, |$c:ident| $body:expr) => {{
        let db: &$crate::db::Db = &$db;
        let mut retry = db.retry();
        loop {
            let result = match db.conn().await {
                Ok(mut conn) => {
                    let result: ::std::result::Result<_, $crate::db::DbError> = async {
                        #[allow(unused_mut)]
                        let mut $c = &mut conn;
                        $body
                    }
                    .await;
                    if let Err(e) = &result {
                        if e.poisons_connection() {
                            $crate::db::discard(conn);
                        }
                    }
                    result
                }
                Err(e) => Err(e),
            };
            match result {
                Err(e) if retry.again(&e).await => continue,
                other => break other,
            }
        }
    }};
}
