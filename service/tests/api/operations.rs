//! Health, readiness, metrics, logs and shutdown of the real binary.

use crate::support::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app =
        TestApp::spawn_with(|s| s.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let mut b = app.browser();
    assert_eq!(b.get("/healthz").await.status, 200);
    assert_eq!(b.get("/readyz").await.status, 200);
    app.enrolled_user("vic@example.com").await;
    // Metrics are served on their own listener only.
    let metrics_addr = app.server.as_ref().unwrap().metrics_addr.unwrap();
    let m = Browser::new(&format!("http://{metrics_addr}"))
        .get("/metrics")
        .await;
    assert_eq!(m.status, 200);
    for series in [
        "twofa_logins_total{outcome=\"success\"}",
        "twofa_registrations_total",
        "twofa_argon2_waiting",
        "twofa_db_pool_connections{state=\"open\"}",
        "twofa_http_request_duration_seconds_bucket{route=\"/enroll\",method=\"POST\",le=\"0.01\"}",
    ] {
        assert!(m.body.contains(series), "{series} missing from\n{}", m.body);
    }
    app.app()
        .draining
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(b.get("/readyz").await.status, 503);
    assert_eq!(b.get("/healthz").await.status, 200);
}

/// The kernel's clock state as adjtimex(2) reports it, read here with libc
/// directly (not through the service's code): synchronised, estimated error.
fn kernel_clock() -> (bool, f64) {
    // SAFETY: modes = 0 (all zero) only reads; the kernel fills the struct.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut tx) };
    assert!(state >= 0, "adjtimex: {}", std::io::Error::last_os_error());
    let synchronized = state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0;
    (synchronized, tx.esterror as f64 / 1e6)
}

fn gauge(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} missing from\n{body}"))
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn metrics_export_the_kernel_clock_state_and_readiness_ignores_it() {
    let app =
        TestApp::spawn_with(|s| s.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let mut b = app.browser();
    let metrics_addr = app.server.as_ref().unwrap().metrics_addr.unwrap();
    let mut scraper = Browser::new(&format!("http://{metrics_addr}"));
    let before = kernel_clock();
    let m = scraper.get("/metrics").await;
    let after = kernel_clock();
    assert_eq!(m.status, 200);
    assert_eq!(gauge(&m.body, "twofa_clock_readable"), 1.0);
    let synced = gauge(&m.body, "twofa_clock_synchronized");
    assert!(synced == 0.0 || synced == 1.0, "{synced}");
    // The daemon may update the kernel between two reads: the service's
    // answer must be one of what the kernel said around the request.
    assert!(
        [before.0, after.0].contains(&(synced == 1.0)),
        "service says synchronized={synced}, kernel said {before:?} then {after:?}"
    );
    let est = gauge(&m.body, "twofa_clock_estimated_error_seconds");
    let (lo, hi) = (before.1.min(after.1), before.1.max(after.1));
    assert!(
        est >= lo - 1e-9 && est <= hi + 1e-9,
        "estimated error {est} outside the kernel's {lo}..{hi}"
    );
    assert!(gauge(&m.body, "twofa_clock_max_error_seconds") >= 0.0);
    gauge(&m.body, "twofa_clock_offset_seconds");
    // Whatever the clock says, readiness is about the database only.
    assert_eq!(b.get("/readyz").await.status, 200);
}

#[tokio::test]
async fn readiness_fails_when_the_database_does() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    assert_eq!(b.get("/readyz").await.status, 200);
    // Every connection of the app's pool is cut and new ones are refused.
    allow_connections(&app.db_url, false).await;
    assert_eq!(b.get("/readyz").await.status, 503);
    allow_connections(&app.db_url, true).await;
    assert_eq!(
        b.get("/readyz").await.status,
        200,
        "ready again once the database is back"
    );
}

/// Runs the real binary: READY=1 over the notify socket, no secret in the
/// JSON logs of a whole login, SIGTERM drains and exits within the bound.
#[tokio::test]
async fn the_binary_notifies_logs_nothing_secret_and_drains() {
    wait_for_fresh_step(10).await;
    let db_url = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    let key_hex = hex::encode(rand::random::<[u8; 32]>());
    std::fs::write(&key_file, format!("{key_hex}\n")).unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_twofa"))
        .arg("serve")
        .env_clear()
        .env("TWOFA_LISTEN", format!("127.0.0.1:{port}"))
        .env("TWOFA_DATABASE_URL", &db_url)
        .env("TWOFA_SECRET_KEY_FILE", &key_file)
        .env("TWOFA_LOG_FORMAT", "json")
        .env("TWOFA_LOG", "debug")
        .env("TWOFA_ARGON2_MEMORY_KIB", "1024")
        .env("TWOFA_DRAIN_DELAY_MS", "1500")
        .env("NOTIFY_SOCKET", &notify_path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = notify.recv(&mut buf).expect("READY=1 within 30 s");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    eprintln!("READY after {:?}", started.elapsed());
    let stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });

    let base = format!("http://127.0.0.1:{port}");
    let mut b = Browser::new(&base);
    let mut secrets = vec![PASSWORD.to_string(), key_hex];
    assert_eq!(b.register("wes@example.com", PASSWORD).await.status, 303);
    let secret = b.get("/enroll").await.secret();
    let code = totp_now(&secret);
    assert_eq!(b.post("/enroll", &[("code", &code)]).await.status, 303);
    let codes = b.get("/recovery-codes").await.recovery_codes();
    b.post("/logout", &[]).await;
    b.login("wes@example.com", PASSWORD).await;
    let code2 = totp_at(&secret, 1);
    assert_eq!(b.code(&code2).await.status, 303);
    secrets.push(secret.clone());
    secrets.push(code);
    secrets.push(code2);
    secrets.extend(codes.iter().map(|c| c.replace(' ', "")));
    secrets.extend(b.cookies.values().cloned());
    b.login("wes@example.com", "a wrong password!").await;
    secrets.push("a wrong password!".into());

    // SIGTERM: /readyz turns 503 while in-flight work finishes.
    let term_at = Instant::now();
    unsafe_kill(child.id(), 15);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.get("/readyz").await.status, 503, "draining");
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            term_at.elapsed() < Duration::from_secs(10),
            "exits within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    let logs = logs.join().unwrap();
    assert!(
        logs.iter().any(|l| l.contains("login completed")),
        "logs captured: {logs:?}"
    );
    // The clock watch looked at the kernel's clock at start-up and warns
    // exactly when the kernel says it is unsynchronised.
    let (synced, _) = kernel_clock();
    let warned = logs.iter().any(|l| {
        l.contains("the system clock is not synchronised") && l.contains("\"level\":\"WARN\"")
    });
    assert_eq!(
        warned, !synced,
        "clock synchronised: {synced}; logs: {logs:?}"
    );
    for line in &logs {
        for s in &secrets {
            assert!(!line.contains(s.as_str()), "log line leaks {s:?}: {line}");
        }
        assert!(!line.contains(&secret.to_lowercase()));
    }
}

fn unsafe_kill(pid: u32, signal: i32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn configuration_layers_and_refuses_mistakes() {
    use twofa::config::Settings;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twofa.toml");
    std::fs::write(
        &file,
        "listen = \"0.0.0.0:9000\"\nallow_signup = false\ndb_pool_size = 4\n",
    )
    .unwrap();
    let env = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let s = Settings::load_from(
        Some(&file),
        env(&[
            ("TWOFA_DB_POOL_SIZE", "7"),
            ("TWOFA_TRUSTED_PROXIES", "10.0.0.1, 10.0.0.0/24"),
        ]),
    )
    .unwrap();
    assert_eq!(s.listen.to_string(), "0.0.0.0:9000", "file over default");
    assert!(!s.allow_signup);
    assert_eq!(s.db_pool_size, 7, "environment over file");
    assert_eq!(
        s.trusted_proxies,
        vec![
            "10.0.0.1/32".parse().unwrap(),
            "10.0.0.0/24".parse().unwrap()
        ]
    );
    assert!(Settings::load_from(None, env(&[("TWOFA_TRUSTED_PROXIES", "not-an-ip")])).is_err());
    assert!(Settings::load_from(None, env(&[("TWOFA_LISTN", "x")]))
        .unwrap_err()
        .to_string()
        .contains("unknown environment variable"));
    std::fs::write(&file, "nonsense = 1\n").unwrap();
    assert!(Settings::load_from(Some(&file), env(&[])).is_err());
    let key = dir.path().join("key");
    std::fs::write(&key, "abc\n").unwrap();
    let s = Settings::load_from(
        None,
        env(&[("TWOFA_SECRET_KEY_FILE", key.to_str().unwrap())]),
    )
    .unwrap();
    assert!(s.secret_keys().unwrap_err().to_string().contains("64 hex"));
    std::fs::write(&key, format!("{}\n", "ab".repeat(32))).unwrap();
    assert_eq!(s.secret_keys().unwrap().len(), 1);
}

#[tokio::test]
async fn purge_removes_expired_rows_once_across_apps() {
    let app = TestApp::spawn().await;
    app.enrolled_user("xia@example.com").await;
    let db = app.db().await;
    db.execute(
        "UPDATE sessions SET expires_at = now() - interval '1 minute'",
        &[],
    )
    .await
    .unwrap();
    db.execute("INSERT INTO throttle (key, failures, updated_at) VALUES ('ip:192.0.2.5', 3, now() - interval '2 hours')", &[]).await.unwrap();
    // Another app holding the purge lock: this one skips.
    let mut holder = connect(&app.db_url).await;
    let tx = holder.transaction().await.unwrap();
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&twofa::db::maintenance::PURGE_LOCK],
    )
    .await
    .unwrap();
    assert!(twofa::startup::purge_once(app.app())
        .await
        .unwrap()
        .is_none());
    tx.rollback().await.unwrap();
    let purged = twofa::startup::purge_once(app.app())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((purged.sessions, purged.throttle), (1, 1));
    assert_eq!(app.count("sessions").await, 0);
}

#[tokio::test]
async fn migrations_run_once_with_three_apps_booting_together() {
    let db_url = fresh_database().await;
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let boots: Vec<_> = (0..3)
        .map(|_| {
            let settings = test_settings(&db_url, dir.path());
            tokio::spawn(async move { twofa::startup::start(settings).await.map(|s| s.addr) })
        })
        .collect();
    for b in boots {
        b.await.unwrap().expect("every app starts");
    }
    let db = connect(&db_url).await;
    let n: i64 = db
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, twofa::db::migrations::count() as i64);
}

#[tokio::test]
async fn rotated_keys_keep_secrets_readable_and_reseal_them_at_login() {
    wait_for_fresh_step(6).await;
    let old = TestApp::spawn().await;
    let (_, secret, _) = old.enrolled_user("yan@example.com").await;
    let old_id: String = old
        .db()
        .await
        .query_one("SELECT key_id FROM authenticators", &[])
        .await
        .unwrap()
        .get(0);
    let new_key = old.key_dir.path().join("new-key");
    std::fs::write(&new_key, hex::encode(rand::random::<[u8; 32]>())).unwrap();
    // Without the old key the secret cannot be opened: the login fails closed.
    let forgetful = old
        .sibling_with(|s| s.secret_key_file = Some(new_key.clone()))
        .await;
    let mut b = forgetful.browser();
    b.login("yan@example.com", PASSWORD).await;
    assert_eq!(b.code(&totp_at(&secret, 1)).await.status, 401);
    // With the old key listed as previous, the login works and re-seals.
    let rotated = old
        .sibling_with(|s| {
            s.previous_secret_key_files = vec![s.secret_key_file.clone().unwrap()];
            s.secret_key_file = Some(new_key.clone());
        })
        .await;
    let mut b = rotated.browser();
    b.login("yan@example.com", PASSWORD).await;
    // The failed attempt above counted; wait out nothing (one failure < 5).
    assert_eq!(b.code(&totp_at(&secret, 1)).await.status, 303);
    let new_id: String = old
        .db()
        .await
        .query_one("SELECT key_id FROM authenticators", &[])
        .await
        .unwrap()
        .get(0);
    assert_ne!(new_id, old_id);
    assert_eq!(new_id, rotated.app().secrets.current_key_id());
}

/// The watchdog pings while the pool works, stops when no database
/// connection has worked for the grace period (systemd then restarts the
/// app), and resumes when the database is back.
#[tokio::test]
async fn the_watchdog_stops_when_the_pool_is_broken_and_resumes() {
    let db_url = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, hex::encode(rand::random::<[u8; 32]>())).unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // WATCHDOG_PID must be the service's own pid: exec keeps the shell's.
    let mut child = Command::new("sh")
        .args([
            "-c",
            "WATCHDOG_PID=$$ exec \"$0\" serve",
            env!("CARGO_BIN_EXE_twofa"),
        ])
        .env_clear()
        .env("TWOFA_LISTEN", "127.0.0.1:0")
        .env("TWOFA_DATABASE_URL", &db_url)
        .env("TWOFA_SECRET_KEY_FILE", &key_file)
        .env("TWOFA_WATCHDOG_DB_GRACE_S", "2")
        .env("TWOFA_DB_RETRY_DEADLINE_S", "1")
        .env("WATCHDOG_USEC", "600000")
        .env("NOTIFY_SOCKET", &notify_path)
        .spawn()
        .unwrap();
    // Counts the WATCHDOG=1 datagrams arriving within `window`.
    let pings = |window: Duration| {
        let until = Instant::now() + window;
        let mut n = 0;
        let mut buf = [0u8; 128];
        while Instant::now() < until {
            if let Ok(len) = notify.recv(&mut buf) {
                n += usize::from(String::from_utf8_lossy(&buf[..len]).contains("WATCHDOG=1"));
            }
        }
        n
    };
    assert!(
        pings(Duration::from_secs(20)) > 0,
        "pings while the database works"
    );
    allow_connections(&db_url, false).await;
    // Past the grace period the pings stop.
    pings(Duration::from_secs(4));
    assert_eq!(
        pings(Duration::from_secs(3)),
        0,
        "no pings without a working database"
    );
    allow_connections(&db_url, true).await;
    assert!(
        pings(Duration::from_secs(20)) > 0,
        "pings resume with the database"
    );
    child.kill().unwrap();
    let _ = child.wait();
}
