//! A database failover is a delay, not an error: connections that land on a
//! read-only node (SQLSTATE 25006) or die are dropped, and the request is
//! retried on a fresh connection until the deadline.

use crate::support::*;
use std::time::{Duration, Instant};

async fn set_read_only(admin: &tokio_postgres::Client, dbname: &str, on: bool) {
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {dbname} SET default_transaction_read_only = {on}"
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_read_only_database_delays_a_registration_instead_of_failing_it() {
    let app = TestApp::spawn_with(|s| s.db_retry_deadline_s = 20.0).await;
    let admin = connect(&admin_url()).await;
    let dbname = app.db_url.rsplit("dbname=").next().unwrap().to_string();
    let mut b = app.browser();
    b.get("/register").await;
    // Like a demoted leader: every connection made from now on is read-only,
    // and the pool's existing ones are cut (they reconnect read-only).
    set_read_only(&admin, &dbname, true).await;
    admin
        .execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", &[&dbname])
        .await
        .unwrap();
    let started = Instant::now();
    let request = tokio::spawn(async move { b.register("yuri@example.com", PASSWORD).await });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !request.is_finished(),
        "the request waits while no writable database answers"
    );
    // A new leader: writable connections again. Pooled read-only ones are
    // still in the pool and must be discarded on their first 25006.
    set_read_only(&admin, &dbname, false).await;
    let r = request.await.unwrap();
    assert_eq!((r.status, r.location()), (303, "/enroll"), "{}", r.body);
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(app.count("users").await, 1);
}

#[tokio::test]
async fn past_the_deadline_the_user_sees_a_plain_503_page() {
    let app = TestApp::spawn_with(|s| s.db_retry_deadline_s = 1.0).await;
    let admin = connect(&admin_url()).await;
    let dbname = app.db_url.rsplit("dbname=").next().unwrap().to_string();
    let mut b = app.browser();
    b.get("/register").await;
    set_read_only(&admin, &dbname, true).await;
    admin
        .execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", &[&dbname])
        .await
        .unwrap();
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
    set_read_only(&admin, &dbname, false).await;
}
