//! Bad input (docs/security.md): each gets a clear 4xx and changes
//! nothing in the database.

use crate::support::*;

/// Sends `body` to `path` and checks the status and that no row changed.
async fn refused(
    app: &TestApp,
    b: &mut Browser,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
    status: u16,
) -> Resp {
    let before = app.snapshot().await;
    let r = b.post_raw(path, content_type, body).await;
    assert_eq!(
        r.status,
        status,
        "{path}: {}",
        &r.body[..r.body.len().min(300)]
    );
    assert_eq!(app.snapshot().await, before, "{path} changed the database");
    assert!(
        r.body.contains("role=\"alert\"") || r.status == 303,
        "a clear message"
    );
    r
}

fn form(csrf: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut all = vec![("csrf_token", csrf)];
    all.extend_from_slice(fields);
    serde_urlencoded::to_string(&all).unwrap().into_bytes()
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn oversized_bodies_get_413_whatever_else_is_wrong() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    b.get("/login").await;
    let csrf = b.csrf.clone().unwrap();
    let big = "x".repeat(1024 * 1024);
    for path in [
        "/register",
        "/login",
        "/login/totp",
        "/login/recovery",
        "/enroll",
        "/recovery-codes",
        "/logout",
    ] {
        refused(
            &app,
            &mut b,
            path,
            FORM,
            form(&csrf, &[("email", &big)]),
            413,
        )
        .await;
        // Also with a wrong content type and no CSRF token.
        refused(
            &app,
            &mut b,
            path,
            "text/plain",
            vec![b'a'; 16 * 1024 + 1],
            413,
        )
        .await;
    }
    // Exactly 16 KiB is not too large (it fails later, for its CSRF token).
    refused(&app, &mut b, "/login", FORM, vec![b'a'; 16 * 1024], 403).await;
}

#[tokio::test]
async fn wrong_content_type_invalid_utf8_nul_and_repeated_fields() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    b.get("/register").await;
    let csrf = b.csrf.clone().unwrap();
    let good = form(
        &csrf,
        &[
            ("email", "a@example.com"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    );
    refused(
        &app,
        &mut b,
        "/register",
        "application/json",
        good.clone(),
        415,
    )
    .await;
    refused(
        &app,
        &mut b,
        "/register",
        "multipart/form-data; boundary=x",
        good.clone(),
        415,
    )
    .await;
    let mut invalid = good.clone();
    invalid.extend_from_slice(b"&x=%FF%FE");
    refused(&app, &mut b, "/register", FORM, invalid, 400).await;
    refused(
        &app,
        &mut b,
        "/register",
        FORM,
        form(
            &csrf,
            &[
                ("email", "a\0@example.com"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        ),
        400,
    )
    .await;
    let mut repeated = good.clone();
    repeated.extend_from_slice(b"&email=b%40example.com");
    refused(&app, &mut b, "/register", FORM, repeated, 400).await;
    // And the good form still works afterwards.
    let r = b.post_raw("/register", FORM, good).await;
    assert_eq!(r.status, 303);
}

#[tokio::test]
async fn missing_stale_and_foreign_csrf_tokens_get_403() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    b.get("/login").await;
    let mine = b.csrf.clone().unwrap();
    let fields = [("email", "a@example.com"), ("password", PASSWORD)];
    refused(
        &app,
        &mut b,
        "/login",
        FORM,
        serde_urlencoded::to_string(fields).unwrap().into_bytes(),
        403,
    )
    .await;
    refused(
        &app,
        &mut b,
        "/login",
        FORM,
        form("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &fields),
        403,
    )
    .await;
    // A token issued to another browser.
    let mut other = app.browser();
    other.get("/login").await;
    let theirs = other.csrf.clone().unwrap();
    refused(&app, &mut b, "/login", FORM, form(&theirs, &fields), 403).await;
    // A token issued three hours ago (valid for two).
    let browser_cookie = b.cookies[&app.app().cookies.csrf].clone();
    let stale = app
        .app()
        .csrf
        .issue(&browser_cookie, twofa::auth::totp::now_unix() - 3 * 3600);
    refused(&app, &mut b, "/login", FORM, form(&stale, &fields), 403).await;
    // No CSRF cookie at all.
    let mut cookieless = app.browser();
    refused(
        &app,
        &mut cookieless,
        "/login",
        FORM,
        form(&mine, &fields),
        403,
    )
    .await;
}

#[tokio::test]
async fn empty_missing_long_and_hostile_registration_fields() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    b.get("/register").await;
    let csrf = b.csrf.clone().unwrap();
    let long_email = format!("{}@example.com", "a".repeat(10_000));
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("email", ""), ("password", ""), ("password_confirm", "")],
        vec![("email", "a@example.com")],
        vec![
            ("email", &long_email),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
        vec![
            ("email", "'; DROP TABLE users; --@example.com"),
            ("password", "short"),
            ("password_confirm", "short"),
        ],
        vec![
            ("email", "b@example.com"),
            ("password", PASSWORD),
            ("password_confirm", "something else entirely"),
        ],
        vec![
            ("email", "c@example.com"),
            ("password", "1qaz2wsx3edc"),
            ("password_confirm", "1qaz2wsx3edc"),
        ],
    ];
    for fields in cases {
        let r = refused(&app, &mut b, "/register", FORM, form(&csrf, &fields), 400).await;
        assert!(
            !r.body.contains(&"a".repeat(300)),
            "a 10 000-character e-mail is not echoed back"
        );
    }
}

#[tokio::test]
async fn html_in_the_email_is_escaped_on_every_page() {
    wait_for_fresh_step(6).await;
    let app = TestApp::spawn().await;
    let email = "<script>alert(1)</script>\"'@example.com";
    let mut b = app.browser();
    // Not an address (angle brackets): refused and echoed escaped.
    let r = b.register(email, PASSWORD).await;
    assert_eq!(r.status, 400);
    assert!(!r.body.contains("<script>"));
    assert!(r.body.contains("&lt;script&gt;"));
    // Quotes and ampersands are legal in addresses: escaped on every page.
    let email = "o'neil&\"x\"@example.com";
    let (mut b, _, _) = app.enrolled_user(email).await;
    let welcome = b.get("/welcome").await;
    assert!(
        welcome
            .body
            .contains("o&#x27;neil&amp;&quot;x&quot;@example.com"),
        "{}",
        welcome.body
    );
    let mut c = app.browser();
    let r = c.login(email, "wrong password here").await;
    assert!(!r.body.contains("o'neil&\"x\""));
}

#[tokio::test]
async fn malformed_codes_get_400_and_do_not_count() {
    wait_for_fresh_step(6).await;
    let app = TestApp::spawn().await;
    let (_, secret, _) = app.enrolled_user("quinn@example.com").await;
    let mut b = app.browser();
    b.login("quinn@example.com", PASSWORD).await;
    let good = totp_at(&secret, 1);
    let spaced = format!("{} {}", &good[..3], &good[3..]);
    let seven = format!("{good}1");
    let csrf = b.csrf.clone().unwrap();
    for bad in [
        "",
        "12345a",
        "abcdef",
        seven.as_str(),
        spaced.as_str(),
        "١٢٣٤٥٦",
    ] {
        refused(
            &app,
            &mut b,
            "/login/totp",
            FORM,
            form(&csrf, &[("code", bad)]),
            400,
        )
        .await;
    }
    refused(
        &app,
        &mut b,
        "/login/recovery",
        FORM,
        form(&csrf, &[("recovery_code", "not a code")]),
        400,
    )
    .await;
    assert_eq!(
        b.code(&good).await.status,
        303,
        "no attempt counted against the user"
    );
}

#[tokio::test]
async fn another_users_pending_login_and_dead_sessions_get_nothing() {
    wait_for_fresh_step(6).await;
    let app = TestApp::spawn().await;
    let (_, secret_r, _) = app.enrolled_user("rae@example.com").await;
    let (_, secret_s, _) = app.enrolled_user("sam@example.com").await;
    let mut b = app.browser();
    b.login("rae@example.com", PASSWORD).await;
    // Sam's code on Rae's pending login is just a wrong code.
    let r = b.code(&totp_at(&secret_s, 1)).await;
    assert_eq!(r.status, 401);
    assert_eq!(b.code(&totp_at(&secret_r, 1)).await.status, 303);
    // A session cookie after logout, or a made-up one, is no session.
    let session_name = app.app().cookies.session.clone();
    let old = b.cookies[&session_name].clone();
    // The CSRF cookie rotated at login: the form comes from the next page.
    b.get("/welcome").await;
    assert_eq!(b.post("/logout", &[]).await.status, 303);
    b.cookies.insert(session_name.clone(), old);
    assert_eq!(b.get("/welcome").await.location(), "/login");
    b.cookies.insert(session_name, "forged".into());
    assert_eq!(b.get("/welcome").await.location(), "/login");
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_create_one_account() {
    let app = TestApp::spawn().await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let mut b = app.browser();
        b.get("/register").await;
        tasks.push(tokio::spawn(async move {
            b.register("twin@example.com", PASSWORD).await.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(app.count("users").await, 1);
}

#[tokio::test]
async fn unknown_pages_and_methods_get_an_html_404() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    let r = b.get("/does-not-exist").await;
    assert_eq!(r.status, 404);
    assert!(r.header("content-type").starts_with("text/html"));
    let r = b.get("/../../etc/passwd").await;
    assert!(r.status == 404 || r.status == 400);
    assert!(!r.body.contains("root:"));
}
