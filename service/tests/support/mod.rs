//! Test harness: a real twofa on 127.0.0.1:0 against a fresh PostgreSQL
//! database, and a small browser (cookie jar, forms, no redirects followed)
//! that speaks the HTTP contract.
//!
//! `TWOFA_TEST_DATABASE_URL` names a PostgreSQL superuser connection;
//! `cargo xtask test` starts a throwaway cluster and sets it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use twofa::config::Settings;
use twofa::startup::{self, Server};

pub fn admin_url() -> String {
    std::env::var("TWOFA_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "TWOFA_TEST_DATABASE_URL is not set. Run the tests with `cargo xtask test`, \
             or start a database with `cargo xtask pg` and export the variable it prints."
        )
    })
}

/// Connects with a libpq-style string.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test database ({e})"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Creates an empty database and returns its connection string.
pub async fn fresh_database() -> String {
    let admin = connect(&admin_url()).await;
    let name = format!(
        "twofa_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        rand::random::<u32>()
    );
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    with_dbname(&admin_url(), &name)
}

fn with_dbname(url: &str, dbname: &str) -> String {
    let kept: Vec<&str> = url
        .split_whitespace()
        .filter(|kv| !kv.starts_with("dbname="))
        .collect();
    format!("{} dbname={dbname}", kept.join(" "))
}

pub struct TestApp {
    pub base: String,
    pub db_url: String,
    pub server: Option<Server>,
    pub key_dir: std::sync::Arc<tempfile::TempDir>,
}

/// Settings for a test instance: small argon2 cost (the logic is under
/// test, not the cost), production cookie settings.
pub fn test_settings(db_url: &str, key_dir: &std::path::Path) -> Settings {
    let key_file = key_dir.join("secret-key");
    if !key_file.exists() {
        std::fs::write(
            &key_file,
            format!("{}\n", hex::encode(rand::random::<[u8; 32]>())),
        )
        .unwrap();
    }
    Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: db_url.to_string(),
        secret_key_file: Some(key_file),
        argon2_memory_kib: 1024,
        argon2_iterations: 1,
        db_retry_deadline_s: 5.0,
        drain_delay_ms: 100,
        ..Settings::default()
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let db_url = fresh_database().await;
        let key_dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
        Self::start(db_url, key_dir, tweak).await
    }

    /// An instance on a database URL of the test's own making.
    pub async fn start_on(db_url: String, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let key_dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
        Self::start(db_url, key_dir, tweak).await
    }

    /// A second instance sharing this one's database and keys: two apps
    /// behind one proxy.
    pub async fn sibling(&self) -> TestApp {
        Self::start(self.db_url.clone(), self.key_dir.clone(), |_| {}).await
    }

    pub async fn sibling_with(&self, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        Self::start(self.db_url.clone(), self.key_dir.clone(), tweak).await
    }

    async fn start(
        db_url: String,
        key_dir: std::sync::Arc<tempfile::TempDir>,
        tweak: impl FnOnce(&mut Settings),
    ) -> TestApp {
        let mut settings = test_settings(&db_url, key_dir.path());
        tweak(&mut settings);
        let server = startup::start(settings).await.expect("service starts");
        TestApp {
            base: format!("http://{}", server.addr),
            db_url,
            server: Some(server),
            key_dir,
        }
    }

    pub fn app(&self) -> &twofa::App {
        &self.server.as_ref().unwrap().app
    }

    pub async fn db(&self) -> tokio_postgres::Client {
        connect(&self.db_url).await
    }

    pub fn key_file(&self) -> PathBuf {
        self.key_dir.path().join("secret-key")
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }

    /// A browser pointed at this app that shares `other`'s cookies.
    pub fn browser_like(&self, other: &Browser) -> Browser {
        let mut b = Browser::new(&self.base);
        b.cookies = other.cookies.clone();
        b
    }

    /// Registers and enrols an account; returns the browser (signed in,
    /// recovery codes acknowledged), the base32 secret and the codes.
    pub async fn enrolled_user(&self, email: &str) -> (Browser, String, Vec<String>) {
        let mut b = self.browser();
        let r = b.register(email, PASSWORD).await;
        assert_eq!(r.status, 303, "register: {}", r.body);
        let page = b.get("/enroll").await;
        assert_eq!(page.status, 200);
        let secret = page.secret();
        let code = totp_now(&secret);
        let r = b.post("/enroll", &[("code", &code)]).await;
        assert_eq!(r.status, 303, "enroll: {}", r.body);
        assert_eq!(r.location(), "/recovery-codes");
        let codes = b.get("/recovery-codes").await.recovery_codes();
        assert_eq!(codes.len(), 10);
        let r = b.post("/recovery-codes", &[]).await;
        assert_eq!(r.location(), "/welcome");
        (b, secret, codes)
    }

    pub async fn count(&self, table: &str) -> i64 {
        self.db()
            .await
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0)
    }

    /// Every row of the tables a request could change, for "changes nothing" checks.
    pub async fn snapshot(&self) -> String {
        let db = self.db().await;
        let mut out = String::new();
        for table in [
            "users",
            "authenticators",
            "recovery_codes",
            "login_challenges",
            "sessions",
            "throttle",
            "audit_log",
        ] {
            let rows = db
                .query(
                    &format!("SELECT row_to_json(t)::text FROM {table} t ORDER BY 1"),
                    &[],
                )
                .await
                .unwrap();
            out.push_str(table);
            for r in rows {
                out.push('\n');
                out.push_str(r.get::<_, &str>(0));
            }
            out.push('\n');
        }
        out
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

pub const PASSWORD: &str = "correct horse battery staple";

/// The current code for a base32 secret, computed by Debian's `oathtool`
/// rather than by our own TOTP code.
pub fn oathtool(secret_b32: &str) -> String {
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", secret_b32])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run oathtool ({e}); install it: apt-get install oathtool")
        });
    assert!(
        out.status.success(),
        "oathtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub fn totp_now(secret_b32: &str) -> String {
    totp_at(secret_b32, 0)
}

/// The code `offset` steps from now.
pub fn totp_at(secret_b32: &str, offset: i64) -> String {
    let secret = twofa::auth::totp::base32_decode(secret_b32).expect("base32 secret");
    let step = twofa::auth::totp::step_at(twofa::auth::totp::now_unix()) + offset;
    twofa::auth::totp::code_for_step(&secret, step)
}

/// Waits until the current TOTP step has at least `secs` seconds left, so a
/// test's codes do not straddle a step boundary.
pub async fn wait_for_fresh_step(secs: u64) {
    let left = 30 - twofa::auth::totp::now_unix() % 30;
    if left < secs {
        tokio::time::sleep(std::time::Duration::from_secs(left + 1)).await;
    }
}

/// An answer, read with the shared client's extraction (`twofa::client::Page`).
pub type Resp = twofa::client::Page;

/// Decodes the entities the templates' escaping produces.
pub fn html_unescape(s: &str) -> String {
    twofa::client::unescape(s)
}

/// What the tests read off a page beyond the shared client.
pub trait PageExt {
    /// The enrolment secret (`#totp-secret`), spaces removed; panics without one.
    fn secret(&self) -> String;
}

impl PageExt for Resp {
    fn secret(&self) -> String {
        self.totp_secret().expect("enrolment page shows the secret")
    }
}

/// A browser without JavaScript (`twofa::client::Browser`: cookie jar,
/// forms with their CSRF token, redirects not followed by themselves) that
/// panics when a request gets no answer: every test expects one.
#[derive(Clone)]
pub struct Browser(pub twofa::client::Browser);

impl std::ops::Deref for Browser {
    type Target = twofa::client::Browser;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Browser {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        let http = twofa::client::http(&Default::default()).expect("an HTTP client");
        Browser(twofa::client::Browser::new(&http, base))
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.0
            .get(path)
            .await
            .unwrap_or_else(|f| panic!("GET {path}: request reaches the service ({f})"))
    }

    /// Submits a form with the CSRF token of the last page (fetching the
    /// login page first if no page was seen yet).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        if self.csrf.is_none() {
            self.get("/login").await;
        }
        self.0
            .submit(path, fields)
            .await
            .unwrap_or_else(|f| panic!("POST {path}: request reaches the service ({f})"))
    }

    pub async fn post_raw(&mut self, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
        self.0
            .post_raw(path, content_type, body)
            .await
            .unwrap_or_else(|f| panic!("POST {path}: request reaches the service ({f})"))
    }

    pub async fn register(&mut self, email: &str, password: &str) -> Resp {
        self.get("/register").await;
        self.post(
            "/register",
            &[
                ("email", email),
                ("password", password),
                ("password_confirm", password),
            ],
        )
        .await
    }

    pub async fn login(&mut self, email: &str, password: &str) -> Resp {
        self.get("/login").await;
        self.post("/login", &[("email", email), ("password", password)])
            .await
    }

    pub async fn code(&mut self, code: &str) -> Resp {
        self.post("/login/totp", &[("code", code)]).await
    }
}

/// The database name in a libpq key=value string.
pub fn dbname(db_url: &str) -> String {
    db_url.rsplit("dbname=").next().unwrap().trim().to_string()
}

/// Like a dead database server: new connections refused and every existing
/// one cut (`allow = false`), or back (`allow = true`).
pub async fn allow_connections(db_url: &str, allow: bool) {
    let admin = connect(&admin_url()).await;
    let name = dbname(db_url);
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}"))
        .await
        .unwrap();
    if !allow {
        terminate_connections(&admin, &name).await;
    }
}

/// Like a demoted leader: every connection made from now on is read-only
/// (`on = true`), and the existing ones are cut so that the pool reconnects.
pub async fn read_only(db_url: &str, on: bool) {
    let admin = connect(&admin_url()).await;
    let name = dbname(db_url);
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} SET default_transaction_read_only = {on}"
        ))
        .await
        .unwrap();
    if on {
        terminate_connections(&admin, &name).await;
    }
}

async fn terminate_connections(admin: &tokio_postgres::Client, name: &str) {
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .await
        .unwrap();
}
