//! PostgreSQL: the pool, the failover-aware retry, migrations, and one module
//! per table holding that table's SQL.
//!
//! A database failover is a delay, not an error: work that fails because no
//! writable leader answers (connection lost, read-only node, shutting down) is
//! retried with backoff until `db_retry_deadline_s`, on a fresh connection.
//!
//! A server that hangs (paused, stuck on I/O) is the harder case: the kernel
//! keeps accepting and acknowledging for it, so neither TCP timeouts nor
//! keepalives fire and a server-side `statement_timeout` never runs. Only
//! the client can notice, so every piece of work has a client-side deadline
//! (`db_operation_timeout_ms`) after which its connection is thrown away,
//! and every connection attempt is bounded per host (see [`PerHostConnect`]).

pub mod account;
pub mod audit;
pub mod authenticators;
pub mod challenges;
pub mod logins;
pub mod maintenance;
pub mod migrations;
pub mod recovery;
pub mod sessions;
pub mod throttle;
pub mod tls;
pub mod users;

use crate::config::Settings;
use anyhow::{Context, Result};
use deadpool_postgres::{Connect, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use futures_util::future::BoxFuture;
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{Config as PgConfig, Socket};

pub use deadpool_postgres::GenericClient;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("database: {0}")]
    Pg(#[from] tokio_postgres::Error),
    #[error("database work did not finish within {0:?} (the server stopped answering)")]
    Deadline(Duration),
}

impl DbError {
    /// Errors a failover causes, worth retrying on another connection.
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Pool(_) | DbError::Deadline(_) => true,
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
        matches!(self, DbError::Pg(_) | DbError::Deadline(_)) && self.is_transient()
    }
}

/// Without a `connect_timeout` in the URL, each host gets this long to
/// complete a whole connection (TCP, startup, authentication, the
/// read-write check).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Db {
    pool: Pool,
    retry_deadline: Duration,
    operation_timeout: Duration,
    /// The health checks' own connection, outside the pool: a check must
    /// not queue behind request load for a pooled connection, or an app
    /// busy shedding password posts would look down to its proxies.
    health: std::sync::Arc<tokio::sync::Mutex<Option<tokio_postgres::Client>>>,
    /// Whether a task is making the health connection right now.
    health_connecting: std::sync::Arc<std::sync::atomic::AtomicBool>,
    config: tokio_postgres::Config,
    /// Each host's bound for a whole connection (see [`PerHostConnect`]).
    connect_per_host: Duration,
    /// The TLS side of every connection, the health connection's too.
    tls: tls::MakeRustls,
}

impl Db {
    pub fn connect(settings: &Settings) -> Result<Db> {
        let plan = tls::Plan::new(&settings.database_url, settings.database_ca().as_deref())
            .context("TWOFA_DATABASE_URL: TLS settings")?;
        let tls = plan.connector()?;
        let mut config: tokio_postgres::Config = plan
            .rest
            .parse()
            .context("TWOFA_DATABASE_URL is not a valid libpq connection string")?;
        config.ssl_mode(plan.driver_mode());
        if let Some(password) = settings.database_password()? {
            config.password(password.as_bytes());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        let per_host = *config
            .get_connect_timeout()
            .unwrap_or(&DEFAULT_CONNECT_TIMEOUT);
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
        let manager = Manager::from_connect(
            config,
            PerHostConnect {
                tls: tls.clone(),
                per_host,
            },
            ManagerConfig {
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.db_pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(5)))
            // Hosts are tried at once, each within its own bound.
            .create_timeout(Some(per_host + Duration::from_secs(1)))
            .recycle_timeout(Some(Duration::from_secs(2)))
            .build()
            .context("cannot build the database pool")?;
        Ok(Db {
            pool,
            retry_deadline: settings.db_retry_deadline(),
            operation_timeout: settings.db_operation_timeout(),
            health: Default::default(),
            health_connecting: Default::default(),
            config: health_config,
            connect_per_host: per_host,
            tls,
        })
    }

    /// The client-side bound on one attempt of a piece of work.
    pub fn operation_timeout(&self) -> Duration {
        self.operation_timeout
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
    /// a writable node (the watchdog's and `check-config`'s test). A
    /// connection that does not answer within the bound is discarded, not
    /// handed back to the pool for the next request to wait on.
    pub async fn ping(&self) -> bool {
        let bound = Duration::from_secs(2);
        let Ok(Ok(c)) = tokio::time::timeout(bound, self.conn()).await else {
            return false;
        };
        match tokio::time::timeout(bound, c.query_one("SELECT pg_is_in_recovery()", &[])).await {
            Ok(Ok(row)) => {
                let in_recovery: bool = row.get(0);
                if in_recovery {
                    discard(c);
                }
                !in_recovery
            }
            Ok(Err(e)) => {
                if DbError::from(e).poisons_connection() {
                    discard(c);
                }
                false
            }
            Err(_) => {
                discard(c);
                false
            }
        }
    }

    /// One connection from the pool asked whether it is on a writable node,
    /// with the error if there is none (`twofa check-config --connect`: a
    /// refused certificate must be named, not reported as "unreachable").
    pub async fn check_writable(&self) -> Result<bool, DbError> {
        let c = self.conn().await?;
        let row = tokio::time::timeout(
            Duration::from_secs(5),
            c.query_one("SELECT pg_is_in_recovery()", &[]),
        )
        .await
        .map_err(|_| DbError::Deadline(Duration::from_secs(5)))??;
        Ok(!row.get::<_, bool>(0))
    }

    /// Whether the database answers a trivial query on a writable node, for
    /// `/readyz`. Uses the health checks' own connection (made again when
    /// it broke or reached a read-only node), never one of the pool's, so a
    /// readiness check does not queue behind request load.
    pub async fn ping_for_readiness(&self) -> bool {
        let bound = Duration::from_secs(2);
        let started = Instant::now();
        loop {
            {
                let mut slot = self.health.lock().await;
                if let Some(client) = slot.as_ref().filter(|c| !c.is_closed()) {
                    let left = bound.saturating_sub(started.elapsed());
                    match tokio::time::timeout(
                        left,
                        client.query_one("SELECT pg_is_in_recovery()", &[]),
                    )
                    .await
                    {
                        Ok(Ok(row)) if !row.get::<_, bool>(0) => return true,
                        // Broken, hung or read-only (the old leader): drop
                        // it; a fresh one is looked for below.
                        _ => *slot = None,
                    }
                }
            }
            self.connect_health_in_background();
            if started.elapsed() >= bound {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Makes the health connection in a task of its own (every host at once,
    /// each within its own bound). A check cannot do it itself: HAProxy gives
    /// up on a check after a fraction of a second and drops it, so a host
    /// that swallows packets (a partitioned leader) would cut every attempt
    /// short, and readiness would stay down for as long as the partition
    /// lasts.
    fn connect_health_in_background(&self) {
        use std::sync::atomic::Ordering;
        if self.health_connecting.swap(true, Ordering::SeqCst) {
            return;
        }
        let db = self.clone();
        tokio::spawn(async move {
            let connect = PerHostConnect {
                tls: db.tls.clone(),
                per_host: db.connect_per_host,
            };
            if let Ok((client, _connection_task)) = connect.connect(&db.config).await {
                *db.health.lock().await = Some(client);
            }
            db.health_connecting.store(false, Ordering::SeqCst);
        });
    }
}

/// Connects to every host of a (multi-host) URL at once and keeps the first
/// that accepts (with `target_session_attrs=read-write`, the writable one),
/// giving each host its `connect_timeout` for the whole connection.
///
/// tokio-postgres tries hosts in order and bounds only the TCP connect: a
/// host whose server hangs accepts the connection and then never answers
/// the startup message, so every new connection would wait on that first
/// host forever and never reach the new leader behind it. In order, even a
/// dead host costs its whole timeout before the next is tried; at once, the
/// apps find a newly promoted leader as soon as it accepts writes.
pub struct PerHostConnect<T> {
    pub tls: T,
    pub per_host: Duration,
}

impl<T> Connect for PerHostConnect<T>
where
    T: MakeTlsConnect<Socket> + Clone + Sync + Send + 'static,
    T::Stream: Sync + Send,
    T::TlsConnect: Sync + Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    fn connect(
        &self,
        pg_config: &PgConfig,
    ) -> BoxFuture<
        '_,
        Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>,
    > {
        use futures_util::stream::{FuturesUnordered, StreamExt};
        let mut attempts: FuturesUnordered<_> = split_hosts(pg_config)
            .into_iter()
            .map(|config| {
                let tls = self.tls.clone();
                let per_host = self.per_host;
                async move {
                    match tokio::time::timeout(per_host, config.connect(tls)).await {
                        Ok(result) => result,
                        Err(_) => {
                            tracing::warn!(
                                host = ?config.get_hosts().first(),
                                "database host accepted the connection but did not answer in time"
                            );
                            Err(tokio_postgres::Error::__private_api_timeout())
                        }
                    }
                }
            })
            .collect();
        Box::pin(async move {
            let mut last = None;
            // The first host to accept wins; dropping the others closes them.
            while let Some(result) = attempts.next().await {
                match result {
                    Ok((client, connection)) => {
                        let task = tokio::spawn(async move {
                            if let Err(e) = connection.await {
                                tracing::debug!(error = %e, "database connection ended");
                            }
                        });
                        return Ok((client, task));
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(tokio_postgres::Error::__private_api_timeout))
        })
    }
}

/// One configuration per host of `config`, in order, each with every other
/// setting of the original. A configuration without hosts is returned as
/// it is, so tokio-postgres reports what is missing.
pub fn split_hosts(config: &PgConfig) -> Vec<PgConfig> {
    let hosts = config.get_hosts();
    let addrs = config.get_hostaddrs();
    let ports = config.get_ports();
    let n = hosts.len().max(addrs.len());
    if n <= 1 {
        return vec![config.clone()];
    }
    (0..n)
        .map(|i| {
            let mut c = PgConfig::new();
            if let Some(user) = config.get_user() {
                c.user(user);
            }
            if let Some(password) = config.get_password() {
                c.password(password);
            }
            if let Some(dbname) = config.get_dbname() {
                c.dbname(dbname);
            }
            if let Some(options) = config.get_options() {
                c.options(options);
            }
            if let Some(name) = config.get_application_name() {
                c.application_name(name);
            }
            c.ssl_mode(config.get_ssl_mode())
                .ssl_negotiation(config.get_ssl_negotiation())
                .channel_binding(config.get_channel_binding())
                .target_session_attrs(config.get_target_session_attrs())
                .keepalives(config.get_keepalives())
                .keepalives_idle(config.get_keepalives_idle());
            if let Some(t) = config.get_connect_timeout() {
                c.connect_timeout(*t);
            }
            if let Some(t) = config.get_tcp_user_timeout() {
                c.tcp_user_timeout(*t);
            }
            if let Some(t) = config.get_keepalives_interval() {
                c.keepalives_interval(t);
            }
            if let Some(r) = config.get_keepalives_retries() {
                c.keepalives_retries(r);
            }
            match hosts.get(i) {
                Some(tokio_postgres::config::Host::Tcp(h)) => {
                    c.host(h);
                }
                #[cfg(unix)]
                Some(tokio_postgres::config::Host::Unix(p)) => {
                    c.host_path(p);
                }
                None => {}
            }
            if let Some(addr) = addrs.get(i) {
                c.hostaddr(*addr);
            }
            if let Some(port) = ports.get(i).or_else(|| ports.first()) {
                c.port(*port);
            }
            c
        })
        .collect()
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
        // At most half a second between tries: once a new leader is
        // promoted, the waiting requests find it within that.
        let backoff = Duration::from_millis((50u64 << self.attempt.min(5)).min(500));
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
                    // A server that stops answering mid-work leaves this
                    // future pending forever: bound it on the client side.
                    let work = async {
                        #[allow(unused_mut)]
                        let mut $c = &mut conn;
                        $body
                    };
                    let result: ::std::result::Result<_, $crate::db::DbError> =
                        match ::tokio::time::timeout(db.operation_timeout(), work).await {
                            Ok(done) => done,
                            Err(_) => {
                                $crate::metrics::METRICS.db_operation_timeouts.inc();
                                Err($crate::db::DbError::Deadline(db.operation_timeout()))
                            }
                        };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_host_url_becomes_one_config_per_host_with_every_other_setting() {
        let url = "host=db1,db2,/run/postgresql port=5432,5433,5434 user=twofa password=pw \
                   dbname=twofa target_session_attrs=read-write connect_timeout=3 \
                   application_name=app1 options='-c statement_timeout=5000' \
                   keepalives_idle=7 tcp_user_timeout=4";
        let config: PgConfig = url.parse().unwrap();
        let parts = split_hosts(&config);
        assert_eq!(parts.len(), 3);
        for (i, part) in parts.iter().enumerate() {
            assert_eq!(part.get_hosts(), &config.get_hosts()[i..=i]);
            assert_eq!(part.get_ports(), &[5432 + i as u16]);
            assert_eq!(part.get_user(), Some("twofa"));
            assert_eq!(part.get_password(), Some(&b"pw"[..]));
            assert_eq!(part.get_dbname(), Some("twofa"));
            assert_eq!(part.get_application_name(), Some("app1"));
            assert_eq!(part.get_options(), Some("-c statement_timeout=5000"));
            assert_eq!(
                part.get_target_session_attrs(),
                tokio_postgres::config::TargetSessionAttrs::ReadWrite
            );
            assert_eq!(part.get_connect_timeout(), Some(&Duration::from_secs(3)));
            assert_eq!(part.get_tcp_user_timeout(), Some(&Duration::from_secs(4)));
            assert_eq!(part.get_keepalives_idle(), Duration::from_secs(7));
            assert_eq!(part.get_ssl_mode(), config.get_ssl_mode());
        }
    }

    #[test]
    fn one_port_serves_every_host_and_a_single_host_is_kept_as_it_is() {
        let config: PgConfig = "host=a,b port=6000 dbname=x".parse().unwrap();
        let parts = split_hosts(&config);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.get_ports() == [6000]));
        let single: PgConfig = "host=a port=6000 dbname=x".parse().unwrap();
        let parts = split_hosts(&single);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].get_hosts(), single.get_hosts());
    }

    #[test]
    fn work_abandoned_at_the_deadline_is_retried_on_a_fresh_connection() {
        let e = DbError::Deadline(Duration::from_secs(1));
        assert!(e.is_transient());
        assert!(e.poisons_connection());
    }
}
