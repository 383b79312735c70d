//! A database failover is a delay, not an error: connections that land on a
//! read-only node (SQLSTATE 25006) or die are dropped, and the request is
//! retried on a fresh connection until the deadline.

use crate::support::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_read_only_database_delays_a_registration_instead_of_failing_it() {
    let app = TestApp::spawn_with(|s| s.db_retry_deadline_s = 20.0).await;
    let mut b = app.browser();
    b.get("/register").await;
    read_only(&app.db_url, true).await;
    let started = Instant::now();
    let request = tokio::spawn(async move { b.register("yuri@example.com", PASSWORD).await });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !request.is_finished(),
        "the request waits while no writable database answers"
    );
    // A new leader: writable connections again. Pooled read-only ones are
    // still in the pool and must be discarded on their first 25006.
    read_only(&app.db_url, false).await;
    let r = request.await.unwrap();
    assert_eq!((r.status, r.location()), (303, "/enroll"), "{}", r.body);
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(app.count("users").await, 1);
}

#[tokio::test]
async fn past_the_deadline_the_user_sees_a_plain_503_page() {
    let app = TestApp::spawn_with(|s| s.db_retry_deadline_s = 1.0).await;
    let mut b = app.browser();
    b.get("/register").await;
    read_only(&app.db_url, true).await;
    let r = b.register("zed@example.com", PASSWORD).await;
    assert_eq!(r.status, 503);
    assert!(r.body.contains("role=\"alert\""));
    for internal in [
        "25006",
        "read-only",
        "SQL",
        "postgres",
        "/work/",
        "panicked",
    ] {
        assert!(!r.body.contains(internal), "response leaks {internal:?}");
    }
    assert_eq!(r.header("retry-after"), "5");
    read_only(&app.db_url, false).await;
}

/// A PostgreSQL server process stopped with SIGSTOP, as the kernel or a
/// hypervisor pauses one: its connections stay open and nothing answers.
/// Resumed when dropped, so a failing test leaves nothing stopped.
struct Paused(i32);

impl Paused {
    fn stop(pid: i32) -> Paused {
        signal(pid, "STOP");
        Paused(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

fn signal(pid: i32, sig: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{sig} {pid} failed");
}

/// Makes the first insert into `users` of this database sleep inside the
/// server (later inserts do not), so the test can find that backend while it
/// is in the middle of the query and pause it there.
async fn slow_first_registration(admin: &tokio_postgres::Client) {
    admin
        .batch_execute(
            "CREATE SEQUENCE slow_once;
             CREATE FUNCTION slow_once() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF nextval('slow_once') = 1 THEN PERFORM pg_sleep(30); END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER slow_once BEFORE INSERT ON users
                 FOR EACH ROW EXECUTE FUNCTION slow_once();",
        )
        .await
        .unwrap();
}

/// The backend running the app's INSERT INTO users, once it is running it.
async fn backend_inserting_a_user(admin: &tokio_postgres::Client) -> i32 {
    for _ in 0..400 {
        let row = admin
            .query_opt(
                "SELECT pid FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()
                   AND state = 'active' AND query ILIKE 'INSERT INTO users%'",
                &[],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            return row.get(0);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the app never started inserting the user");
}

/// Starts a registration and pauses the database process serving it while
/// it is inside its `INSERT INTO users`.
async fn registration_paused_mid_insert(
    app: &TestApp,
    email: &'static str,
) -> (tokio::task::JoinHandle<Resp>, Paused) {
    let admin = app.db().await;
    slow_first_registration(&admin).await;
    let mut b = app.browser();
    b.get("/register").await;
    let request = tokio::spawn(async move { b.register(email, PASSWORD).await });
    let paused = Paused::stop(backend_inserting_a_user(&admin).await);
    (request, paused)
}

#[tokio::test]
async fn a_database_process_that_stops_answering_mid_query_is_left_behind() {
    let app = TestApp::spawn_with(|s| {
        s.db_operation_timeout_ms = 1000;
        s.db_retry_deadline_s = 20.0;
    })
    .await;
    let (request, paused) = registration_paused_mid_insert(&app, "paused@example.com").await;
    // Nothing the server does can end this query now: its statement_timeout
    // cannot fire in a stopped process, and the kernel keeps the TCP
    // connection alive. Only the app's own deadline can.
    let r = tokio::time::timeout(Duration::from_secs(60), request)
        .await
        .expect("the request is still waiting on the paused database process")
        .unwrap();
    assert_eq!((r.status, r.location()), (303, "/enroll"), "{}", r.body);
    assert_eq!(app.count("users").await, 1, "registered exactly once");
    assert!(
        twofa::metrics::METRICS.db_operation_timeouts.get() > 0,
        "the abandoned work is counted"
    );
    drop(paused);
}

#[tokio::test]
async fn a_paused_database_with_no_other_to_go_to_ends_in_503_while_still_paused() {
    let app = TestApp::spawn_with(|s| {
        s.db_operation_timeout_ms = 500;
        s.db_retry_deadline_s = 3.0;
    })
    .await;
    let (request, paused) = registration_paused_mid_insert(&app, "stuck@example.com").await;
    // No other server either: new connections are refused from now on and
    // the pool's idle ones are cut (the paused process ends when resumed).
    allow_connections(&app.db_url, false).await;
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(60), request)
        .await
        .expect("the request is still waiting on the paused database process")
        .unwrap();
    eprintln!(
        "503 came {:.1} s after the pause (retry deadline 3 s, operation deadline 0.5 s)",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after"), "5");
    drop(paused);
    allow_connections(&app.db_url, true).await;
}

/// Like a database host whose server hangs: the kernel completes the TCP
/// handshake, and nothing ever answers the startup message.
async fn a_host_that_never_answers() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, task)
}

#[tokio::test]
async fn a_first_host_that_hangs_does_not_keep_the_app_from_the_next_one() {
    let (hung_port, hung) = a_host_that_never_answers().await;
    let db_url = fresh_database().await;
    // host=H port=P … → host=127.0.0.1,H port=<hung>,P …: the hung host first.
    let mut host = String::new();
    let mut port = String::new();
    let mut rest = Vec::new();
    for kv in db_url.split_whitespace() {
        if let Some(h) = kv.strip_prefix("host=") {
            host = h.to_string();
        } else if let Some(p) = kv.strip_prefix("port=") {
            port = p.to_string();
        } else {
            rest.push(kv);
        }
    }
    assert!(
        !host.is_empty() && !port.is_empty(),
        "test URL names host and port"
    );
    let multi = format!(
        "host=127.0.0.1,{host} port={hung_port},{port} connect_timeout=1 {}",
        rest.join(" ")
    );
    let key_dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&multi, key_dir.path());
    settings.db_retry_deadline_s = 20.0;
    // Starting migrates through the pool: it must get past the hung host.
    let server = tokio::time::timeout(Duration::from_secs(60), twofa::startup::start(settings))
        .await
        .expect("the service is still waiting on the host that never answers")
        .expect("service starts");
    let base = format!("http://{}", server.addr);
    let mut b = Browser::new(&base);
    b.get("/register").await;
    let r = b.register("second-host@example.com", PASSWORD).await;
    assert_eq!((r.status, r.location()), (303, "/enroll"), "{}", r.body);
    // Readiness too, asked the way HAProxy asks: each check abandoned
    // after 500 ms. The readiness connection must still get past the
    // hung host, or the proxies would take this app out for good.
    let checker = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let mut ready = false;
    for _ in 0..60 {
        if let Ok(r) = checker.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(ready, "/readyz never answered 200 behind a hung first host");
    hung.abort();
}
