//! Every row of the HTTP contract, in the order a person meets them.

use crate::support::*;

#[tokio::test]
async fn root_sends_to_login_or_welcome() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    let r = b.get("/").await;
    assert_eq!((r.status, r.location()), (303, "/login"));
    let (mut signed_in, _, _) = app.enrolled_user("root@example.com").await;
    let r = signed_in.get("/").await;
    assert_eq!((r.status, r.location()), (303, "/welcome"));
}

#[tokio::test]
async fn register_enrol_recovery_welcome_logout_login() {
    wait_for_fresh_step(8).await;
    let app = TestApp::spawn().await;
    let mut b = app.browser();

    let page = b.get("/register").await;
    assert_eq!(page.status, 200);
    assert!(page.csrf().is_some(), "register form carries a CSRF token");
    for field in [
        "name=\"email\"",
        "name=\"password\"",
        "name=\"password_confirm\"",
    ] {
        assert!(page.body.contains(field), "{field}");
    }
    let r = b.register("Alice@Example.com", PASSWORD).await;
    assert_eq!((r.status, r.location()), (303, "/enroll"));

    let enrol = b.get("/enroll").await;
    assert_eq!(enrol.status, 200);
    let svg_at = enrol
        .body
        .find("<svg id=\"otpauth-qr\"")
        .expect("inline QR svg");
    assert!(
        svg_at < enrol.body.find("name=\"code\"").unwrap(),
        "QR near the top, before the form"
    );
    let uri = enrol.element_text("otpauth-uri").unwrap();
    let secret_text = enrol.element_text("totp-secret").unwrap();
    assert!(
        secret_text.split(' ').all(|g| (1..=4).contains(&g.len())) && secret_text.contains(' '),
        "secret in groups of four: {secret_text}"
    );
    let secret = secret_text.replace(' ', "");
    assert_eq!(secret.len(), 32, "160-bit secret");
    assert_eq!(
        uri,
        format!("otpauth://totp/twofa:Alice%40example.com?secret={secret}&issuer=twofa&algorithm=SHA1&digits=6&period=30")
    );
    // The same secret on a second visit (two tabs must agree).
    assert_eq!(b.get("/enroll").await.secret(), secret);

    let wrong = b.post("/enroll", &[("code", &other_code(&secret))]).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("role=\"alert\""));
    // The code comes from oathtool, not from our own TOTP code.
    let r = b.post("/enroll", &[("code", &oathtool(&secret))]).await;
    assert_eq!((r.status, r.location()), (303, "/recovery-codes"));

    let page = b.get("/recovery-codes").await;
    assert_eq!(page.status, 200);
    let codes = page.recovery_codes();
    assert_eq!(codes.len(), 10);
    for c in &codes {
        assert_eq!(c.replace(' ', "").len(), 24, "120-bit codes: {c}");
    }
    let again = b.get("/recovery-codes").await;
    assert_eq!(again.status, 200);
    assert!(again.recovery_codes().is_empty(), "shown once only");
    let r = b.post("/recovery-codes", &[]).await;
    assert_eq!((r.status, r.location()), (303, "/welcome"));

    let welcome = b.get("/welcome").await;
    assert_eq!(welcome.status, 200);
    assert_eq!(
        welcome.element_text("user-email").as_deref(),
        Some("Alice@example.com")
    );
    assert!(welcome.body.contains("action=\"/logout\""));

    let r = b.post("/logout", &[]).await;
    assert_eq!((r.status, r.location()), (303, "/login"));
    assert_eq!(
        r.header("clear-site-data"),
        "\"cache\", \"cookies\"",
        "no cached signed-in page after logout"
    );
    let r = b.get("/welcome").await;
    assert_eq!(
        (r.status, r.location()),
        (303, "/login"),
        "session gone after logout"
    );

    wait_for_fresh_step(5).await;
    tokio::time::sleep(std::time::Duration::from_secs(0)).await;
    let r = b.login(" Alice@EXAMPLE.com ", PASSWORD).await;
    assert_eq!(
        (r.status, r.location()),
        (303, "/login/totp"),
        "domain case and spaces do not matter"
    );
    let form = b.get("/login/totp").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("name=\"code\"") && form.body.contains("href=\"/login/recovery\""));
    // The enrolment code's step is used: the next step's code signs in.
    let r = b.code(&totp_at(&secret, 1)).await;
    assert_eq!((r.status, r.location()), (303, "/welcome"), "{}", r.body);
    assert_eq!(b.get("/welcome").await.status, 200);
}

/// A code for this secret that is certainly not valid now.
pub fn other_code(secret: &str) -> String {
    let valid: Vec<String> = (-1..=1).map(|d| totp_at(secret, d)).collect();
    (0..)
        .map(|n| format!("{:06}", (n * 7919) % 1_000_000))
        .find(|c| !valid.contains(c))
        .unwrap()
}

#[tokio::test]
async fn login_pages_redirect_without_a_pending_login() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    for path in [
        "/login/totp",
        "/login/recovery",
        "/enroll",
        "/welcome",
        "/recovery-codes",
    ] {
        let r = b.get(path).await;
        assert_eq!((r.status, r.location()), (303, "/login"), "{path}");
    }
    let r = b.post("/login/totp", &[("code", "123456")]).await;
    assert_eq!((r.status, r.location()), (303, "/login"));
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = TestApp::spawn().await;
    app.enrolled_user("bob@example.com").await;
    let mut b = app.browser();
    let wrong = b.login("bob@example.com", "not the password at all").await;
    let unknown = b
        .login("nobody@example.com", "not the password at all")
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    let message = |r: &Resp| {
        r.body[r.body.find("role=\"alert\"").unwrap()..]
            .split('<')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(message(&wrong), message(&unknown));
}

#[tokio::test]
async fn account_without_authenticator_is_sent_to_enrol() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    assert_eq!(b.register("carol@example.com", PASSWORD).await.status, 303);
    let mut later = app.browser();
    let r = later.login("carol@example.com", PASSWORD).await;
    assert_eq!((r.status, r.location()), (303, "/enroll"));
    assert_eq!(later.get("/enroll").await.status, 200);
    let r = later.get("/login/totp").await;
    assert_eq!(r.location(), "/enroll");
}

#[tokio::test]
async fn replayed_code_is_refused() {
    wait_for_fresh_step(8).await;
    let app = TestApp::spawn().await;
    let (_, secret, _) = app.enrolled_user("dave@example.com").await;
    let code = totp_at(&secret, 1);
    let mut first = app.browser();
    first.login("dave@example.com", PASSWORD).await;
    assert_eq!(first.code(&code).await.status, 303);
    let mut second = app.browser();
    second.login("dave@example.com", PASSWORD).await;
    let r = second.code(&code).await;
    assert_eq!(r.status, 401, "a replay counts as a wrong code");
    assert_eq!(app.count("audit_log WHERE event = 'code_failed'").await, 1);
}

#[tokio::test]
async fn recovery_code_signs_in_once() {
    let app = TestApp::spawn().await;
    let (_, _, codes) = app.enrolled_user("erin@example.com").await;
    let mut b = app.browser();
    b.login("erin@example.com", PASSWORD).await;
    assert_eq!(b.get("/login/recovery").await.status, 200);
    // Typed in lower case with the spaces shown: still accepted.
    let r = b
        .post(
            "/login/recovery",
            &[("recovery_code", &codes[3].to_lowercase())],
        )
        .await;
    assert_eq!((r.status, r.location()), (303, "/welcome"), "{}", r.body);
    let mut again = app.browser();
    again.login("erin@example.com", PASSWORD).await;
    again.get("/login/recovery").await;
    let r = again
        .post("/login/recovery", &[("recovery_code", &codes[3])])
        .await;
    assert_eq!(r.status, 401, "each code works once");
    let r = again
        .post("/login/recovery", &[("recovery_code", &codes[4])])
        .await;
    assert_eq!(r.status, 303);
}

#[tokio::test]
async fn new_session_id_at_each_step() {
    wait_for_fresh_step(6).await;
    let app = TestApp::spawn().await;
    let (mut b, secret, _) = app.enrolled_user("fay@example.com").await;
    let names = app.app().cookies.session.clone();
    let login_name = app.app().cookies.login.clone();
    let before = b.cookies.get(&names).cloned().unwrap();
    b.login("fay@example.com", PASSWORD).await;
    let challenge = b.cookies.get(&login_name).cloned().unwrap();
    assert!(
        !b.cookies.contains_key(&names),
        "the old session cookie is cleared at the password step"
    );
    b.code(&totp_at(&secret, 1)).await;
    let after = b.cookies.get(&names).cloned().unwrap();
    assert_ne!(before, after);
    assert_ne!(challenge, after);
    assert!(!b.cookies.contains_key(&login_name));
    // The database keeps only hashes of the ids.
    let db = app.db().await;
    let raw: i64 = db
        .query_one(
            "SELECT count(*) FROM sessions WHERE encode(id_hash, 'escape') LIKE '%' || $1 || '%'",
            &[&after],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(raw, 0);
}

#[tokio::test]
async fn abandoned_login_is_reported_at_the_next_login() {
    wait_for_fresh_step(6).await;
    let app = TestApp::spawn().await;
    let (_, secret, _) = app.enrolled_user("gus@example.com").await;
    let mut stranger = app.browser();
    assert_eq!(
        stranger.login("gus@example.com", PASSWORD).await.status,
        303
    );
    // The stranger never types a code; the pending login expires.
    app.db()
        .await
        .execute(
            "UPDATE login_challenges SET expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    let purged = twofa::startup::purge_once(app.app())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(purged.challenges, 1);
    let mut owner = app.browser();
    owner.login("gus@example.com", PASSWORD).await;
    assert_eq!(owner.code(&totp_at(&secret, 1)).await.status, 303);
    let welcome = owner.get("/welcome").await;
    assert!(
        welcome.body.contains("class=\"warning\""),
        "{}",
        welcome.body
    );
    assert!(welcome.body.contains(" 1 "));
}

#[tokio::test]
async fn signup_can_be_closed() {
    let app = TestApp::spawn_with(|s| s.allow_signup = false).await;
    let mut b = app.browser();
    assert_eq!(b.get("/register").await.status, 403);
    let r = b.register("x@example.com", PASSWORD).await;
    assert_eq!(r.status, 403);
    assert_eq!(app.count("users").await, 0);
}

#[tokio::test]
async fn pages_follow_accept_language_and_the_switch() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    b.headers
        .push(("accept-language".into(), "pt-PT,pt;q=0.9,en;q=0.5".into()));
    let r = b.get("/login").await;
    assert!(r.body.contains("<html lang=\"pt\">") && r.body.contains("Palavra-passe"));
    let r = b.get("/login?lang=en").await;
    assert!(r.body.contains("<html lang=\"en\">") && r.body.contains("Password"));
    // The choice is remembered over Accept-Language.
    let r = b.get("/register").await;
    assert!(r.body.contains("<html lang=\"en\">"));
}

/// The shared client (twofa::client) goes where a browser goes after each
/// 303, with the cookies the redirect set, and refuses to "follow" a page.
#[tokio::test]
async fn the_client_follows_each_303_like_a_browser() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    b.get("/register").await;
    let r = b
        .post(
            "/register",
            &[
                ("email", "follow@example.com"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!((r.status, r.location()), (303, "/enroll"));
    // The pending enrolment lives in the cookie this 303 set.
    let page = b.0.follow(&r).await.expect("GET /enroll answers");
    assert_eq!(page.status, 200, "{}", page.body);
    let secret = page.totp_secret().expect("the enrolment page's secret");
    assert_eq!(b.csrf, page.csrf(), "the token of the page just seen");
    let r = b.post("/enroll", &[("code", &totp_now(&secret))]).await;
    assert_eq!((r.status, r.location()), (303, "/recovery-codes"));
    let codes = b.0.follow(&r).await.expect("GET /recovery-codes answers");
    assert_eq!(codes.recovery_codes().len(), 10);
    // A page is not a redirect: nothing is requested, the caller is told.
    let err = b.0.follow(&codes).await.unwrap_err();
    assert!(
        matches!(err, twofa::client::Failure::Status(200, _)),
        "{err}"
    );
    // Without the cookies, the same GET is sent back to the login.
    let mut stranger = app.browser();
    let r = stranger.get("/enroll").await;
    assert_eq!(r.status, 303);
    let page = stranger.0.follow(&r).await.expect("GET /login answers");
    assert_eq!(page.status, 200);
    assert!(page.csrf().is_some());
}
