//! The findings of the outside penetration test (issue 12), each with the
//! attack that worked before its fix. Limits are attacked with many requests
//! sent at once and must give exactly as many answers as they allow.

use crate::flow::other_code;
use crate::support::*;

/// How many requests go out at once in every burst.
const BURST: usize = 40;

/// Sends one request per browser, all at once; returns the statuses.
async fn burst<F, Fut>(browsers: Vec<Browser>, send: F) -> Vec<u16>
where
    F: Fn(Browser, usize) -> Fut,
    Fut: std::future::Future<Output = u16> + Send + 'static,
{
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(browsers.len()));
    let tasks: Vec<_> = browsers
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let start = start.clone();
            let fut = send(b, i);
            tokio::spawn(async move {
                start.wait().await;
                fut.await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// A browser that has its CSRF cookie and token, ready to post `path`.
async fn ready(app: &TestApp, page: &str) -> Browser {
    let mut b = app.browser();
    b.get(page).await;
    b
}

/// A copy of `b` whose requests come from `ip` through a trusted proxy.
fn from(b: &Browser, ip: &str) -> Browser {
    let mut b = b.clone();
    b.headers.retain(|(k, _)| k != "x-forwarded-for");
    b.headers.push(("x-forwarded-for".into(), ip.into()));
    b
}

fn behind_proxy(s: &mut twofa::config::Settings) {
    s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    patient(s);
}

/// A burst on a shared 2-core machine can queue for the pool longer than
/// the tests' usual 5 s retry deadline; a 503 would spoil the exact count.
fn patient(s: &mut twofa::config::Settings) {
    s.db_retry_deadline_s = 120.0;
}

// Finding 1: the client chose its own address behind HAProxy.

#[tokio::test]
async fn a_forged_forwarded_for_line_does_not_change_the_source() {
    let app = TestApp::spawn_with(|s| {
        behind_proxy(s);
        s.ip_failed_logins_per_minute = 2;
    })
    .await;
    // The client sends its own X-Forwarded-For line, a new address each
    // time; the proxy appends a second line with the address it saw.
    for i in 0..3 {
        let mut b = app.browser();
        b.headers
            .push(("x-forwarded-for".into(), format!("203.0.113.{i}")));
        b.headers
            .push(("x-forwarded-for".into(), "192.0.2.1".into()));
        let r = b
            .login(&format!("f{i}@example.com"), "wrong password here")
            .await;
        assert_eq!(r.status, if i < 2 { 401 } else { 429 }, "attempt {i}");
    }
    assert_eq!(app.count("throttle WHERE key = 'ip:192.0.2.1'").await, 1);
    assert_eq!(app.count("throttle WHERE key LIKE 'ip:203.%'").await, 0);
}

#[tokio::test]
async fn the_audit_log_records_the_proxied_address() {
    let app = TestApp::spawn_with(behind_proxy).await;
    let mut b = app.browser();
    b.headers
        .push(("x-forwarded-for".into(), "203.0.113.50".into()));
    b.headers
        .push(("x-forwarded-for".into(), "192.0.2.7".into()));
    assert_eq!(b.register("audit@example.com", PASSWORD).await.status, 303);
    let ip: String = app
        .db()
        .await
        .query_one(
            "SELECT host(ip) FROM audit_log WHERE event = 'registered'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ip, "192.0.2.7");
}

// Finding 2: every limit could be beaten by sending attempts at once.

#[tokio::test]
async fn failed_logins_from_one_source_sent_at_once_stop_at_the_cap() {
    let app = TestApp::spawn_with(patient).await; // the default cap: 30 a minute
    let b = ready(&app, "/login").await;
    let statuses = burst(vec![b; 45], |mut b, i| async move {
        b.post(
            "/login",
            &[
                ("email", &format!("burst{i}@example.com")),
                ("password", "wrong password here"),
            ],
        )
        .await
        .status
    })
    .await;
    assert_eq!(count(&statuses, 401), 30, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 15, "{statuses:?}");
}

#[tokio::test]
async fn wrong_passwords_for_one_account_sent_at_once_stop_at_five() {
    let app = TestApp::spawn_with(behind_proxy).await;
    app.enrolled_user("amy@example.com").await;
    let b = ready(&app, "/login").await;
    // From many sources, so that only the account's delay can stop them.
    let browsers = (0..BURST)
        .map(|i| from(&b, &format!("198.51.100.{i}")))
        .collect();
    let statuses = burst(browsers, |mut b, _| async move {
        b.post(
            "/login",
            &[
                ("email", "amy@example.com"),
                ("password", "wrong password here"),
            ],
        )
        .await
        .status
    })
    .await;
    assert_eq!(count(&statuses, 401), 5, "{statuses:?}");
    assert_eq!(count(&statuses, 429), BURST - 5, "{statuses:?}");
}

#[tokio::test]
async fn wrong_codes_sent_at_once_stop_at_five() {
    let app = TestApp::spawn_with(patient).await;
    let (_, secret, _) = app.enrolled_user("bea@example.com").await;
    let mut b = app.browser();
    assert_eq!(b.login("bea@example.com", PASSWORD).await.status, 303);
    b.get("/login/totp").await;
    let wrong = other_code(&secret);
    let statuses = burst(vec![b; BURST], |mut b, _| {
        let wrong = wrong.clone();
        async move { b.code(&wrong).await.status }
    })
    .await;
    assert_eq!(count(&statuses, 401), 5, "{statuses:?}");
    assert_eq!(count(&statuses, 429), BURST - 5, "{statuses:?}");
    let failures: i32 = app
        .db()
        .await
        .query_one("SELECT totp_failures FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(failures, 5);
}

#[tokio::test]
async fn wrong_recovery_codes_sent_at_once_stop_at_five() {
    let app = TestApp::spawn_with(patient).await;
    app.enrolled_user("cy@example.com").await;
    let mut b = app.browser();
    assert_eq!(b.login("cy@example.com", PASSWORD).await.status, 303);
    b.get("/login/recovery").await;
    let statuses = burst(vec![b; BURST], |mut b, _| async move {
        b.post(
            "/login/recovery",
            &[("recovery_code", "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF")],
        )
        .await
        .status
    })
    .await;
    assert_eq!(count(&statuses, 401), 5, "{statuses:?}");
    assert_eq!(count(&statuses, 429), BURST - 5, "{statuses:?}");
}

#[tokio::test]
async fn wrong_enrolment_codes_sent_at_once_stop_at_five() {
    let app = TestApp::spawn_with(patient).await;
    let mut b = app.browser();
    assert_eq!(b.register("dee@example.com", PASSWORD).await.status, 303);
    let secret = b.get("/enroll").await.secret();
    let wrong = other_code(&secret);
    let statuses = burst(vec![b; BURST], |mut b, _| {
        let wrong = wrong.clone();
        async move { b.post("/enroll", &[("code", &wrong)]).await.status }
    })
    .await;
    assert_eq!(count(&statuses, 401), 5, "{statuses:?}");
    assert_eq!(count(&statuses, 429), BURST - 5, "{statuses:?}");
}

#[tokio::test]
async fn the_hundredth_wrong_code_locks_however_many_arrive_at_once() {
    let app = TestApp::spawn_with(patient).await;
    let (_, secret, _) = app.enrolled_user("eve@example.com").await;
    let db = app.db().await;
    db.execute("UPDATE users SET totp_failures = 99", &[])
        .await
        .unwrap();
    let mut b = app.browser();
    assert_eq!(b.login("eve@example.com", PASSWORD).await.status, 303);
    b.get("/login/totp").await;
    let wrong = other_code(&secret);
    let statuses = burst(vec![b; BURST], |mut b, _| {
        let wrong = wrong.clone();
        async move { b.code(&wrong).await.status }
    })
    .await;
    assert_eq!(count(&statuses, 429), BURST, "{statuses:?}");
    let row = db
        .query_one("SELECT totp_failures, locked FROM users", &[])
        .await
        .unwrap();
    let (failures, locked): (i32, bool) = (row.get(0), row.get(1));
    assert_eq!(failures, 100, "exactly one more attempt was judged");
    assert!(locked);
}

// Finding 3: a stranger could keep the owner out.

#[tokio::test]
async fn strangers_hammering_the_account_cannot_keep_its_owner_out() {
    let app = TestApp::spawn_with(behind_proxy).await;
    // The owner signed in from this browser before (at enrolment).
    let (mut owner, secret, _) = app.enrolled_user("fay@example.com").await;
    let stranger = ready(&app, "/login").await;
    let browsers = (0..BURST)
        .map(|i| from(&stranger, &format!("198.51.100.{i}")))
        .collect();
    let statuses = burst(browsers, |mut b, _| async move {
        b.post(
            "/login",
            &[
                ("email", "fay@example.com"),
                ("password", "wrong password here"),
            ],
        )
        .await
        .status
    })
    .await;
    assert_eq!(count(&statuses, 401), 5, "{statuses:?}");
    // Any other browser, even with the right password, waits.
    let mut elsewhere = from(&app.browser(), "198.51.100.200");
    assert_eq!(
        elsewhere.login("fay@example.com", PASSWORD).await.status,
        429
    );
    // The owner's browser is let through and completes the login.
    wait_for_fresh_step(5).await;
    let r = owner.login("fay@example.com", PASSWORD).await;
    assert_eq!((r.status, r.location()), (303, "/login/totp"));
    owner.get("/login/totp").await;
    let r = owner.code(&totp_at(&secret, 1)).await;
    assert_eq!((r.status, r.location()), (303, "/welcome"));
}

#[tokio::test]
async fn a_known_browser_has_a_delay_of_its_own_after_five_failures() {
    let app = TestApp::spawn_with(patient).await;
    let (owner, _, _) = app.enrolled_user("gil@example.com").await;
    let mut known = owner.clone();
    known.get("/login").await;
    let statuses = burst(vec![known.clone(); BURST], |mut b, _| async move {
        b.post(
            "/login",
            &[
                ("email", "gil@example.com"),
                ("password", "wrong password here"),
            ],
        )
        .await
        .status
    })
    .await;
    assert_eq!(count(&statuses, 401), 5, "{statuses:?}");
    assert_eq!(count(&statuses, 429), BURST - 5, "{statuses:?}");
    assert_eq!(known.login("gil@example.com", PASSWORD).await.status, 429);
    // That browser's failures did not delay the account for others.
    assert_eq!(app.count("throttle WHERE key LIKE 'pw:%'").await, 0);
}

#[tokio::test]
async fn a_forged_device_cookie_does_not_pass_the_delay() {
    let app = TestApp::spawn().await;
    let (owner, _, _) = app.enrolled_user("hal@example.com").await;
    let device = owner.cookies["__Host-twofa-device"].clone();
    let mut b = app.browser();
    for _ in 0..5 {
        b.login("hal@example.com", "wrong password here").await;
    }
    // Another account's id in an otherwise real cookie.
    let (uid, rest) = device.split_once('.').unwrap();
    let forged = format!("{}.{rest}", uid.parse::<i64>().unwrap() + 1);
    for value in [forged, "1.x.y".to_string()] {
        b.cookies.insert("__Host-twofa-device".into(), value);
        assert_eq!(b.login("hal@example.com", PASSWORD).await.status, 429);
    }
}

// Finding 4: a pending enrolment outlived the owner's.

#[tokio::test]
async fn a_pending_enrolment_ends_when_the_owner_enrols() {
    wait_for_fresh_step(8).await;
    let app = TestApp::spawn().await;
    let mut owner = app.browser();
    assert_eq!(
        owner.register("ida@example.com", PASSWORD).await.status,
        303
    );
    // Someone with the password opens /enroll before the owner finishes.
    let mut other = app.browser();
    assert_eq!(
        other.login("ida@example.com", PASSWORD).await.location(),
        "/enroll"
    );
    assert_eq!(other.get("/enroll").await.status, 200);
    let secret = owner.get("/enroll").await.secret();
    let r = owner.post("/enroll", &[("code", &totp_now(&secret))]).await;
    assert_eq!(r.location(), "/recovery-codes");
    // Their enrolment is over: no page, no second authenticator.
    let r = other.get("/enroll").await;
    assert_eq!((r.status, r.location()), (303, "/login"));
    let r = other
        .post("/enroll", &[("code", &totp_at(&secret, 1))])
        .await;
    assert_eq!((r.status, r.location()), (303, "/login"));
    assert_eq!(app.count("authenticators").await, 1);
    // Signing in again leads to the code, not to a new enrolment.
    assert_eq!(
        other.login("ida@example.com", PASSWORD).await.location(),
        "/login/totp"
    );
    assert_eq!(other.get("/enroll").await.location(), "/login/totp");
}

#[tokio::test]
async fn recovery_codes_are_made_when_the_authenticator_is_confirmed() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    assert_eq!(b.register("rio@example.com", PASSWORD).await.status, 303);
    let secret = b.get("/enroll").await.secret();
    let r = b.post("/enroll", &[("code", &totp_now(&secret))]).await;
    assert_eq!(r.location(), "/recovery-codes");
    // Before their page was ever asked for.
    assert_eq!(app.count("recovery_codes").await, 10);
    let codes = b.get("/recovery-codes").await.recovery_codes();
    assert_eq!(codes.len(), 10);
    // Those shown are those stored; shown once, nothing kept in the session.
    let db = app.db().await;
    for code in &codes {
        let hash = twofa::auth::tokens::hash_token(&code.replace(' ', ""));
        let n: i64 = db
            .query_one(
                "SELECT count(*) FROM recovery_codes WHERE code_hash = $1",
                &[&hash],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 1, "{code}");
    }
    assert_eq!(
        app.count("sessions WHERE recovery_codes_ct IS NOT NULL")
            .await,
        0
    );
    assert!(b.get("/recovery-codes").await.recovery_codes().is_empty());
}

#[tokio::test]
async fn enrolment_honours_the_lock() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    assert_eq!(b.register("jo@example.com", PASSWORD).await.status, 303);
    let secret = b.get("/enroll").await.secret();
    app.db()
        .await
        .execute("UPDATE users SET locked = true, totp_failures = 100", &[])
        .await
        .unwrap();
    let r = b.post("/enroll", &[("code", &totp_now(&secret))]).await;
    assert_eq!(r.status, 429);
    assert_eq!(
        app.count("authenticators WHERE confirmed_at IS NOT NULL")
            .await,
        0
    );
}

// Finding 5: /register had no rate limit.

#[tokio::test]
async fn refused_registrations_from_one_source_sent_at_once_stop_at_the_cap() {
    let app = TestApp::spawn_with(patient).await; // the default: 10 a minute
    for i in 0..BURST {
        twofa::admin::add(
            app.app(),
            &format!("taken{i}@example.com"),
            zeroize::Zeroizing::new(PASSWORD.into()),
        )
        .await
        .unwrap();
    }
    let b = ready(&app, "/register").await;
    // Probing which addresses have accounts: each costs a hash.
    let statuses = burst(vec![b; BURST], |mut b, i| async move {
        let email = format!("taken{i}@example.com");
        b.post(
            "/register",
            &[
                ("email", &email),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await
        .status
    })
    .await;
    assert_eq!(count(&statuses, 400), 10, "{statuses:?}");
    assert_eq!(count(&statuses, 429), BURST - 10, "{statuses:?}");
}

#[tokio::test]
async fn registrations_that_create_their_account_do_not_count() {
    let app = TestApp::spawn_with(|s| s.ip_registrations_per_minute = 2).await;
    for i in 0..5 {
        let mut b = app.browser();
        let r = b.register(&format!("new{i}@example.com"), PASSWORD).await;
        assert_eq!(r.status, 303, "registration {i}");
    }
    let mut b = app.browser();
    for i in 0..2 {
        let r = b.register(&format!("new{i}@example.com"), PASSWORD).await;
        assert_eq!(r.status, 400, "taken {i}");
    }
    let r = b.register("new4@example.com", PASSWORD).await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").parse::<u64>().unwrap() <= 60);
}

// Finding 6: a new login kept the old session row.

#[tokio::test]
async fn a_new_login_ends_the_old_session_on_the_server() {
    let app = TestApp::spawn().await;
    let (mut b, _, _) = app.enrolled_user("kai@example.com").await;
    let old = b.cookies["__Host-twofa-session"].clone();
    assert_eq!(app.count("sessions").await, 1);
    assert_eq!(b.login("kai@example.com", PASSWORD).await.status, 303);
    assert_eq!(app.count("sessions").await, 0);
    let mut thief = app.browser();
    thief.cookies.insert("__Host-twofa-session".into(), old);
    assert_eq!(thief.get("/welcome").await.location(), "/login");
}

// Finding 7: the 404 page linked to wherever the path said.

#[tokio::test]
async fn error_pages_link_only_to_our_own_routes() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    for path in [
        "//evil.example/x",
        "//evil.example/x?lang=pt",
        "/%2F%2Fevil.example",
    ] {
        let r = b.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.body.contains("evil.example"), "{path}: {}", r.body);
        assert!(html_unescape(&r.body).contains("href=\"/?lang="), "{path}");
    }
    // Known pages keep their own link.
    let body = html_unescape(&b.get("/login").await.body);
    assert!(body.contains("href=\"/login?lang="));
}

// Finding 9: IPv6 sources are counted by their /64.

#[tokio::test]
async fn ipv6_sources_share_the_cap_of_their_64() {
    let app = TestApp::spawn_with(|s| {
        behind_proxy(s);
        s.ip_failed_logins_per_minute = 2;
    })
    .await;
    let b = ready(&app, "/login").await;
    for (i, ip) in [
        "2001:db8:7:7::1",
        "2001:db8:7:7:ffff::2",
        "2001:db8:7:7:1:2:3:4",
    ]
    .iter()
    .enumerate()
    {
        let mut b = from(&b, ip);
        let r = b
            .post(
                "/login",
                &[
                    ("email", &format!("v6{i}@example.com")),
                    ("password", "wrong password here"),
                ],
            )
            .await;
        assert_eq!(r.status, if i < 2 { 401 } else { 429 }, "{ip}");
    }
    // Another /64 is another source.
    let mut b = from(&b, "2001:db8:7:8::1");
    let r = b
        .post(
            "/login",
            &[
                ("email", "v6x@example.com"),
                ("password", "wrong password here"),
            ],
        )
        .await;
    assert_eq!(r.status, 401);
}

// Finding 11: /metrics was reachable by anyone through the VIP.

#[tokio::test]
async fn metrics_are_served_only_on_their_own_listener() {
    let app = TestApp::spawn().await;
    assert!(app.server.as_ref().unwrap().metrics_addr.is_none());
    assert_eq!(
        app.browser().get("/metrics").await.status,
        404,
        "off by default"
    );
    let app =
        TestApp::spawn_with(|s| s.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    assert_eq!(
        app.browser().get("/metrics").await.status,
        404,
        "never public"
    );
    let at = app.server.as_ref().unwrap().metrics_addr.unwrap();
    let mut ops = Browser::new(&format!("http://{at}"));
    let m = ops.get("/metrics").await;
    assert_eq!(m.status, 200);
    assert!(m.body.contains("twofa_logins_total"));
    assert_eq!(
        ops.get("/login").await.status,
        404,
        "and nothing else there"
    );
}

// Finding 12: wrong methods answered 404; large bodies only 413 on forms.

#[tokio::test]
async fn wrong_methods_get_405_with_allow() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    for (method, path, allow) in [
        ("PUT", "/login", "GET, POST"),
        ("DELETE", "/register", "GET, POST"),
        ("POST", "/welcome", "GET"),
        ("GET", "/logout", "POST"),
        ("PATCH", "/healthz", "GET"),
        ("POST", "/account", "GET"),
        ("GET", "/account/password", "POST"),
        ("PUT", "/account/authenticator", "GET, POST"),
        ("GET", "/account/sessions/revoke", "POST"),
    ] {
        let r = client
            .request(method.parse().unwrap(), format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method} {path}");
        assert_eq!(r.headers()["allow"], allow, "{method} {path}");
    }
    let r = client
        .put(format!("{}/no-such-page", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn any_body_over_16_kib_gets_413_on_every_route() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    let big = vec![b'a'; 16 * 1024 + 1];
    for (method, path) in [
        ("GET", "/login"),
        ("GET", "/healthz"),
        ("POST", "/welcome"),
        ("PUT", "/no-such-page"),
        ("POST", "/logout"),
    ] {
        let r = client
            .request(method.parse().unwrap(), format!("{}{path}", app.base))
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{method} {path}");
    }
}

// Finding 13: the CSRF cookie accepted any client-chosen value.

#[tokio::test]
async fn a_client_chosen_csrf_cookie_is_replaced_and_never_believed() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    b.cookies
        .insert("__Host-twofa-csrf".into(), "chosen-by-attacker".into());
    let r = b.get("/login").await;
    let set: Vec<String> = r
        .set_cookies()
        .into_iter()
        .filter(|c| c.starts_with("__Host-twofa-csrf="))
        .collect();
    assert_eq!(set.len(), 1, "the server issues its own value");
    assert!(!set[0].contains("chosen-by-attacker"));
    // A token minted for the chosen value is refused with that value.
    let token = b.csrf.clone().unwrap();
    let mut forced = app.browser();
    forced
        .cookies
        .insert("__Host-twofa-csrf".into(), "chosen-by-attacker".into());
    forced.csrf = Some(token);
    let r = forced
        .post("/login", &[("email", "x@example.com"), ("password", "p")])
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn the_csrf_cookie_rotates_at_login() {
    wait_for_fresh_step(5).await;
    let app = TestApp::spawn().await;
    let (_, secret, _) = app.enrolled_user("lu@example.com").await;
    let mut b = app.browser();
    b.login("lu@example.com", PASSWORD).await;
    let before = b.cookies["__Host-twofa-csrf"].clone();
    b.get("/login/totp").await;
    let r = b.code(&totp_at(&secret, 1)).await;
    assert_eq!(r.location(), "/welcome");
    let after = b.cookies["__Host-twofa-csrf"].clone();
    assert_ne!(before, after);
    // The page after the login carries a token for the new cookie.
    b.get("/welcome").await;
    assert_eq!(b.post("/logout", &[]).await.status, 303);
}

// Finding 8: passwords in NFKC form; trivial ones refused.

/// Typed with the "ﬁ" ligature; its NFKC form is plain "five fish …".
const LIGATURE_PASSWORD: &str = "\u{fb01}ve \u{fb01}sh swim upstream";
const PLAIN_PASSWORD: &str = "five fish swim upstream";

#[tokio::test]
async fn passwords_are_compared_in_their_nfkc_form() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    let r = b.register("mo@example.com", LIGATURE_PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = app.browser().login("mo@example.com", PLAIN_PASSWORD).await;
    assert_eq!((r.status, r.location()), (303, "/enroll"));
}

#[tokio::test]
async fn passwords_of_only_whitespace_or_one_character_are_refused() {
    let app = TestApp::spawn().await;
    for password in ["              ", "zzzzzzzzzzzzzzzz", "\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}"] {
        let before = app.snapshot().await;
        let r = app.browser().register("ned@example.com", password).await;
        assert_eq!(r.status, 400, "{password:?}");
        assert!(r.body.contains("id=\"password-error\""), "{}", r.body);
        assert_eq!(app.snapshot().await, before, "{password:?} changed nothing");
    }
}

#[tokio::test]
async fn a_hash_made_before_nfkc_still_works_and_moves_to_it() {
    let app = TestApp::spawn().await;
    // A hash of the password exactly as typed, as older versions stored it.
    let old_hash = app
        .app()
        .hashing
        .hash(zeroize::Zeroizing::new(LIGATURE_PASSWORD.into()))
        .await
        .unwrap();
    let db = app.db().await;
    db.execute(
        "INSERT INTO users (email, password_hash) VALUES ('old@example.com', $1)",
        &[&old_hash],
    )
    .await
    .unwrap();
    let r = app
        .browser()
        .login("old@example.com", LIGATURE_PASSWORD)
        .await;
    assert_eq!(r.status, 303);
    let new_hash: String = db
        .query_one("SELECT password_hash FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_ne!(new_hash, old_hash, "re-hashed in the NFKC form");
    let r = app.browser().login("old@example.com", PLAIN_PASSWORD).await;
    assert_eq!(r.status, 303, "the plain form now matches too");
}

// Finding 10: the case of the local part.

#[tokio::test]
async fn the_local_part_is_compared_without_its_case() {
    let app = TestApp::spawn().await;
    let (_, secret, _) = app.enrolled_user("Nia.Lee@Example.com").await;
    // Another case of the same address is the same account.
    let r = app
        .browser()
        .register("nia.lee@example.com", PASSWORD)
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(app.count("users").await, 1);
    wait_for_fresh_step(5).await;
    let mut b = app.browser();
    let r = b.login("NIA.LEE@example.com", PASSWORD).await;
    assert_eq!((r.status, r.location()), (303, "/login/totp"));
    b.get("/login/totp").await;
    assert_eq!(b.code(&totp_at(&secret, 1)).await.location(), "/welcome");
    // Shown as it was typed at registration.
    let page = b.get("/welcome").await;
    assert_eq!(
        page.element_text("user-email").as_deref(),
        Some("Nia.Lee@example.com")
    );
    // Wrong passwords under any case count toward one delay.
    let mut s = app.browser();
    for (i, email) in [
        "nia.lee@example.com",
        "NIA.LEE@example.com",
        "Nia.lee@example.com",
        "nIa.lee@example.com",
        "nia.LEE@example.com",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(
            s.login(email, "wrong password here").await.status,
            401,
            "{i}"
        );
    }
    assert_eq!(
        s.login("Nia.Lee@example.com", "wrong password here")
            .await
            .status,
        429
    );
    // The operator's commands find the account under any case too.
    app.db()
        .await
        .execute("UPDATE users SET locked = true", &[])
        .await
        .unwrap();
    twofa::admin::unlock(app.app(), "nia.lee@example.com")
        .await
        .unwrap();
    twofa::admin::delete(app.app(), "NIA.LEE@example.com")
        .await
        .unwrap();
    assert_eq!(app.count("users").await, 0);
}

#[tokio::test]
async fn addresses_that_collided_before_folding_are_reported_not_merged() {
    let app = TestApp::spawn().await;
    let hash = app
        .app()
        .hashing
        .hash(zeroize::Zeroizing::new(PASSWORD.into()))
        .await
        .unwrap();
    let other_hash = app
        .app()
        .hashing
        .hash(zeroize::Zeroizing::new("another long passphrase".into()))
        .await
        .unwrap();
    // Two accounts registered before the rule, as the migration leaves them.
    let db = app.db().await;
    db.execute(
        "INSERT INTO users (email, password_hash) VALUES ('Omar@example.com', $1), ('omar@example.com', $2)",
        &[&hash, &other_hash],
    )
    .await
    .unwrap();
    let groups = twofa::admin::fold_collisions(app.app()).await.unwrap();
    assert_eq!(
        groups,
        vec![vec![
            "Omar@example.com".to_string(),
            "omar@example.com".to_string()
        ]]
    );
    // Each still signs in with its exact address and its own password only.
    assert_eq!(
        app.browser()
            .login("Omar@example.com", PASSWORD)
            .await
            .status,
        303
    );
    assert_eq!(
        app.browser()
            .login("omar@example.com", "another long passphrase")
            .await
            .status,
        303
    );
    assert_eq!(
        app.browser()
            .login("omar@example.com", PASSWORD)
            .await
            .status,
        401
    );
    // And no third account joins them.
    assert_eq!(
        app.browser()
            .register("OMAR@example.com", PASSWORD)
            .await
            .status,
        400
    );
    assert_eq!(app.count("users").await, 2);
}

#[tokio::test]
async fn the_migration_folds_existing_addresses_and_leaves_collisions() {
    let url = fresh_database().await;
    let db = connect(&url).await;
    db.batch_execute(include_str!("../../migrations/0001_init.sql"))
        .await
        .unwrap();
    db.batch_execute(
        "INSERT INTO users (email, password_hash) VALUES
             ('Pat@example.com', 'x'), ('Quinn@example.com', 'x'), ('QUINN@example.com', 'x')",
    )
    .await
    .unwrap();
    db.batch_execute(include_str!("../../migrations/0002_security.sql"))
        .await
        .unwrap();
    let rows = db
        .query("SELECT email, email_fold FROM users ORDER BY id", &[])
        .await
        .unwrap();
    let got: Vec<(String, Option<String>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        vec![
            ("Pat@example.com".into(), Some("pat@example.com".into())),
            ("Quinn@example.com".into(), None),
            ("QUINN@example.com".into(), None),
        ]
    );
}
