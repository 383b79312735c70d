//! Throttling: wrong passwords, wrong codes, per source address.

use crate::flow::other_code;
use crate::support::*;

#[tokio::test]
async fn wrong_passwords_delay_the_account_but_never_lock_it() {
    let app = TestApp::spawn().await;
    let (_, secret, _) = app.enrolled_user("lee@example.com").await;
    let mut b = app.browser();
    for _ in 0..5 {
        assert_eq!(
            b.login("lee@example.com", "wrong password here")
                .await
                .status,
            401
        );
    }
    let r = b.login("lee@example.com", PASSWORD).await;
    assert_eq!(r.status, 429, "even the right password waits out the delay");
    let wait: u64 = r.header("retry-after").parse().unwrap();
    assert!((1..=2).contains(&wait), "first delay is 2 s: {wait}");
    // Unknown e-mails are throttled the same way: no enumeration.
    for _ in 0..5 {
        b.login("ghost@example.com", "wrong password here").await;
    }
    assert_eq!(
        b.login("ghost@example.com", "wrong password here")
            .await
            .status,
        429
    );
    // After the delay the owner gets in: a delay, never a hard lock.
    tokio::time::sleep(std::time::Duration::from_secs(wait + 1)).await;
    wait_for_fresh_step(5).await;
    let mut owner = app.browser();
    assert_eq!(owner.login("lee@example.com", PASSWORD).await.status, 303);
    assert_eq!(owner.code(&totp_at(&secret, 1)).await.status, 303);
    // Success resets the counter.
    let n = app.count("throttle WHERE key LIKE 'pw:%'").await;
    assert_eq!(n, 1, "only the unknown e-mail still has a counter");
}

#[tokio::test]
async fn the_delay_doubles_and_is_capped() {
    let app = TestApp::spawn().await;
    let db = app.db().await;
    for (failures, expected) in [(5, 2.0), (6, 4.0), (9, 32.0), (30, 900.0)] {
        db.execute("DELETE FROM throttle", &[]).await.unwrap();
        db.execute(
            "INSERT INTO throttle (key, failures) VALUES ('pw:x', $1)",
            &[&(failures - 1)],
        )
        .await
        .unwrap();
        let conn = app.app().db.conn().await.unwrap();
        let n = twofa::db::throttle::record_failure(&conn, "pw:x")
            .await
            .unwrap();
        assert_eq!(n, failures);
        let secs: f64 = db
            .query_one(
                "SELECT extract(epoch FROM blocked_until - now())::float8 FROM throttle",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(
            (secs - expected).abs() < 1.5,
            "{failures} failures: {secs} s, expected {expected}"
        );
    }
}

#[tokio::test]
async fn failed_logins_per_source_address_are_capped() {
    let app = TestApp::spawn_with(|s| s.ip_failed_logins_per_minute = 3).await;
    let mut b = app.browser();
    for i in 0..3 {
        // Different accounts, so only the per-address cap can stop this.
        assert_eq!(
            b.login(&format!("u{i}@example.com"), "wrong password here")
                .await
                .status,
            401
        );
    }
    let r = b.login("u9@example.com", "wrong password here").await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").parse::<u64>().unwrap() <= 60);
    // X-Forwarded-For from an untrusted peer changes nothing.
    b.headers
        .push(("x-forwarded-for".into(), "192.0.2.99".into()));
    assert_eq!(
        b.login("u8@example.com", "wrong password here")
            .await
            .status,
        429
    );
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_names_the_client() {
    let app = TestApp::spawn_with(|s| {
        s.ip_failed_logins_per_minute = 2;
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let mut b = app.browser();
    b.headers
        .push(("x-forwarded-for".into(), "192.0.2.1".into()));
    for _ in 0..2 {
        b.login("v@example.com", "wrong password here").await;
    }
    assert_eq!(
        b.login("w@example.com", "wrong password here").await.status,
        429
    );
    let mut other = app.browser();
    other
        .headers
        .push(("x-forwarded-for".into(), "192.0.2.2".into()));
    assert_eq!(
        other
            .login("w@example.com", "wrong password here")
            .await
            .status,
        401
    );
    assert_eq!(app.count("throttle WHERE key = 'ip:192.0.2.1'").await, 1);
}

#[tokio::test]
async fn a_hundred_wrong_codes_lock_until_a_recovery_code() {
    let app = TestApp::spawn().await;
    let (_, secret, codes) = app.enrolled_user("max@example.com").await;
    let db = app.db().await;
    // 99 wrong codes so far (the delays between them are tested elsewhere).
    db.execute("UPDATE users SET totp_failures = 99", &[])
        .await
        .unwrap();
    let mut b = app.browser();
    b.login("max@example.com", PASSWORD).await;
    let r = b.code(&other_code(&secret)).await;
    assert_eq!(r.status, 429, "the hundredth locks");
    let locked: bool = db
        .query_one("SELECT locked FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert!(locked);
    db.execute("UPDATE users SET totp_blocked_until = NULL", &[])
        .await
        .unwrap();
    let r = b.code(&totp_at(&secret, 1)).await;
    assert_eq!(r.status, 429, "even the right code is refused while locked");
    assert!(r.body.contains("recovery"));
    b.get("/login/recovery").await;
    let r = b
        .post("/login/recovery", &[("recovery_code", &codes[0])])
        .await;
    assert_eq!((r.status, r.location()), (303, "/welcome"));
    let locked: bool = db
        .query_one("SELECT locked FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!locked, "a recovery code lifts the lock");
}

#[tokio::test]
async fn admin_unlock_and_reset() {
    let app = TestApp::spawn().await;
    let (_, _, _) = app.enrolled_user("ned@example.com").await;
    let db = app.db().await;
    db.execute("UPDATE users SET locked = true, totp_failures = 100", &[])
        .await
        .unwrap();
    twofa::admin::unlock(app.app(), "ned@example.com")
        .await
        .unwrap();
    let (locked, failures): (bool, i32) = {
        let r = db
            .query_one("SELECT locked, totp_failures FROM users", &[])
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert!(!locked && failures == 0);
    twofa::admin::reset_totp(app.app(), "ned@example.com")
        .await
        .unwrap();
    assert_eq!(app.count("authenticators").await, 0);
    let mut b = app.browser();
    assert_eq!(
        b.login("ned@example.com", PASSWORD).await.location(),
        "/enroll"
    );
    twofa::admin::delete(app.app(), "ned@example.com")
        .await
        .unwrap();
    assert_eq!(app.count("users").await, 0);
    assert!(twofa::admin::unlock(app.app(), "ned@example.com")
        .await
        .is_err());
    twofa::admin::add(
        app.app(),
        "olga@example.com",
        zeroize::Zeroizing::new(PASSWORD.into()),
    )
    .await
    .unwrap();
    assert!(twofa::admin::add(
        app.app(),
        "olga@example.com",
        zeroize::Zeroizing::new(PASSWORD.into())
    )
    .await
    .is_err());
    assert!(twofa::admin::add(
        app.app(),
        "p@example.com",
        zeroize::Zeroizing::new("short".into())
    )
    .await
    .is_err());
}
