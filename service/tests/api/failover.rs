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
