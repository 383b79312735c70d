//! Builds the service from its settings: keys, pages, pool, migrations,
//! listener, background purge and clock watch. Also how the tests start it (on port 0).

use crate::auth::{crypto::SecretBox, password::PasswordHashing, tokens::Csrf};
use crate::config::Settings;
use crate::db::{self, Db};
use crate::pages::Pages;
use crate::routes::{self, CookieNames};
use crate::{App, AppState};
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// CSRF tokens stay valid this long (the design asks for at least 10 minutes).
const CSRF_LIFETIME_S: u64 = 2 * 3600;

/// A running service.
pub struct Server {
    pub addr: SocketAddr,
    /// Where `/metrics` is served, if `metrics_listen` is set.
    pub metrics_addr: Option<SocketAddr>,
    metrics: Option<JoinHandle<()>>,
    pub app: App,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    purge: JoinHandle<()>,
    clock: JoinHandle<()>,
}

/// Everything but the listener: checks the configuration and the keys.
pub fn build_app(settings: Settings) -> Result<App> {
    let keys = settings.secret_keys()?;
    let secrets = SecretBox::new(&keys)?;
    let csrf = Csrf::new(secrets.derive("twofa csrf v1"), CSRF_LIFETIME_S);
    let device = crate::auth::device::DeviceKey::new(secrets.derive("twofa device v1"));
    let hashing = PasswordHashing::new(
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_parallelism,
        settings.hash_pool_options(),
    )?;
    let db = Db::connect(&settings)?;
    Ok(App::new(AppState {
        cookies: CookieNames::new(settings.cookie_secure),
        pages: Pages::load()?,
        settings,
        db,
        hashing,
        secrets,
        csrf,
        device,
        draining: Default::default(),
    }))
}

/// Applies migrations, waiting for the database up to the retry deadline
/// (at boot the database may still be electing a leader).
pub async fn migrate(app: &App) -> Result<usize> {
    let started = Instant::now();
    let mut retry = app.db.retry();
    loop {
        match app.db.conn().await {
            Ok(mut conn) => return db::migrations::run(&mut conn).await,
            Err(e) => {
                if !retry.again(&e).await {
                    return Err(anyhow::Error::from(e)).with_context(|| {
                        format!(
                            "cannot reach the database to migrate (tried for {:.0?})",
                            started.elapsed()
                        )
                    });
                }
            }
        }
    }
}

/// Migrates, binds `settings.listen` and serves in the background.
pub async fn start(settings: Settings) -> Result<Server> {
    let app = build_app(settings)?;
    let applied = migrate(&app).await?;
    if applied > 0 {
        tracing::info!(applied, "database migrated");
    }
    let listener = tokio::net::TcpListener::bind(app.settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", app.settings.listen))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = warp::serve(routes::routes(app.clone()))
        .incoming(listener)
        .graceful(async {
            let _ = stopped.await;
        });
    let (metrics_addr, metrics) = match app.settings.metrics_listen {
        Some(at) => {
            let listener = tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen on {at} for metrics"))?;
            let bound = listener.local_addr()?;
            let server = warp::serve(routes::metrics_routes(app.clone())).incoming(listener);
            tracing::info!(addr = %bound, "metrics listening");
            (Some(bound), Some(tokio::spawn(server.run())))
        }
        None => (None, None),
    };
    let task = tokio::spawn(server.run());
    let purge = tokio::spawn(purge_loop(app.clone()));
    let clock = tokio::spawn(crate::clock::watch());
    tracing::info!(%addr, "listening");
    Ok(Server {
        addr,
        metrics_addr,
        metrics,
        app,
        stop: Some(stop),
        task,
        purge,
        clock,
    })
}

impl Server {
    /// Drains: /readyz turns 503 for `drain_delay_ms` so the proxies move
    /// new requests elsewhere, then the listener closes and in-flight
    /// requests finish, all within `shutdown_timeout_s`.
    pub async fn shutdown(mut self) {
        let started = Instant::now();
        self.app.draining.store(true, Ordering::SeqCst);
        let bound = Duration::from_secs(self.app.settings.shutdown_timeout_s);
        let drain = Duration::from_millis(self.app.settings.drain_delay_ms).min(bound / 2);
        tokio::time::sleep(drain).await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.purge.abort();
        self.clock.abort();
        if let Some(metrics) = self.metrics.take() {
            metrics.abort();
        }
        let left = bound.saturating_sub(started.elapsed());
        if tokio::time::timeout(left, &mut self.task).await.is_err() {
            tracing::warn!("requests still running at the shutdown bound; stopping anyway");
            self.task.abort();
        }
        tracing::info!(took_ms = started.elapsed().as_millis() as u64, "stopped");
    }
}

async fn purge_loop(app: App) {
    let every = Duration::from_secs(app.settings.purge_interval_s.max(1));
    loop {
        tokio::time::sleep(every).await;
        match purge_once(&app).await {
            Ok(Some(p)) if p != Default::default() => tracing::info!(
                sessions = p.sessions,
                abandoned_logins = p.challenges,
                throttle = p.throttle,
                "purged expired rows"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purge failed; will try again"),
        }
    }
}

/// One purge pass; `None` if another app is purging right now.
pub async fn purge_once(app: &App) -> Result<Option<db::maintenance::Purged>, db::DbError> {
    let mut conn = app.db.conn().await?;
    let result = db::maintenance::purge(&mut conn).await;
    if result.is_err() {
        db::discard(conn);
    }
    Ok(result?)
}
