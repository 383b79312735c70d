//! The account page (issue #14): every route, every refusal, the races.

use crate::flow::other_code;
use crate::support::*;

const NEW_PASSWORD: &str = "a brand new passphrase here";

/// The hidden proof token of a second-step form.
fn proof_of(r: &Resp) -> String {
    let marker = "name=\"proof\" value=\"";
    let at = r
        .body
        .find(marker)
        .unwrap_or_else(|| panic!("no proof in the page ({}): {}", r.status, r.body))
        + marker.len();
    let end = at + r.body[at..].find('"').unwrap();
    r.body[at..end].to_string()
}

/// First step of `action`: the password and a code; returns the response.
async fn prove(b: &mut Browser, action: &str, password: &str, code: &str) -> Resp {
    b.get("/account").await;
    b.post(
        &format!("/account/{action}"),
        &[("password", password), ("code", code)],
    )
    .await
}

/// A signed-in browser of an existing account (with a recovery code).
async fn sign_in_with_code(app: &TestApp, email: &str, password: &str, code: &str) -> Browser {
    let mut b = app.browser();
    let r = b.login(email, password).await;
    assert_eq!((r.status, r.location()), (303, "/login/totp"), "{}", r.body);
    b.get("/login/recovery").await;
    let r = b.post("/login/recovery", &[("recovery_code", code)]).await;
    assert_eq!((r.status, r.location()), (303, "/welcome"), "{}", r.body);
    b
}

async fn signed_out(b: &mut Browser) {
    let r = b.get("/account").await;
    assert_eq!((r.status, r.location()), (303, "/login"));
    let r = b.get("/welcome").await;
    assert_eq!((r.status, r.location()), (303, "/login"));
}

#[tokio::test]
async fn account_page_shows_the_account_and_needs_a_session() {
    let app = TestApp::spawn().await;
    let mut stranger = app.browser();
    let r = stranger.get("/account").await;
    assert_eq!((r.status, r.location()), (303, "/login"));
    let r = stranger.get("/account/authenticator").await;
    assert_eq!((r.status, r.location()), (303, "/login"));

    let (mut b, _, _) = app.enrolled_user("page@example.com").await;
    let welcome = b.get("/welcome").await;
    assert!(
        welcome.body.contains("href=\"/account\""),
        "welcome links to the account"
    );
    let page = b.get("/account").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), "no-store");
    assert!(page.body.len() <= 30 * 1024, "{} bytes", page.body.len());
    assert!(!page.body.contains("<script"));
    assert_eq!(
        page.element_text("account-email").as_deref(),
        Some("page@example.com")
    );
    assert_eq!(page.element_text("codes-left").as_deref(), Some("10"));
    assert!(page.element_text("enrolled-at").unwrap().ends_with("UTC"));
    assert_eq!(page.body.matches("class=\"session current\"").count(), 1);
    assert!(page.body.contains("127.0.0.1"), "source address shown");
    for event in [
        "registered",
        "authenticator_enrolled",
        "recovery_codes_issued",
    ] {
        assert!(
            page.body.contains(&format!("data-event=\"{event}\"")),
            "{event} listed"
        );
    }
    assert!(!page.body.contains("id=\"replace-prompt\""));
    // The same page in Portuguese.
    let pt = b.get("/account?lang=pt").await;
    assert!(pt.body.contains("A sua conta"), "Portuguese title");
    let prove_page = b.get("/account/authenticator").await;
    assert_eq!(prove_page.status, 200);
    assert!(prove_page.body.contains("name=\"new_recovery_codes\""));
}

#[tokio::test]
async fn at_most_twenty_events_newest_first() {
    let app = TestApp::spawn().await;
    let (mut b, secret, _) = app.enrolled_user("events@example.com").await;
    let wrong = other_code(&secret);
    // Wrong codes on the account page count like at sign-in and are listed.
    for _ in 0..3 {
        let r = prove(&mut b, "password", PASSWORD, &wrong).await;
        assert_eq!(r.status, 401);
    }
    let db = app.db().await;
    db.execute(
        "INSERT INTO audit_log (user_id, event, ip, at)
         SELECT id, 'login', '192.0.2.1', now() - make_interval(secs => g)
         FROM users, generate_series(100, 130) g",
        &[],
    )
    .await
    .unwrap();
    let page = b.get("/account").await;
    assert_eq!(page.body.matches("class=\"event\"").count(), 20);
    let first = page.body.find("data-event=").unwrap();
    assert!(page.body[first..].starts_with("data-event=\"code_failed\""));
}

#[tokio::test]
async fn change_password_signs_out_the_other_sessions() {
    let app = TestApp::spawn().await;
    let other_app = app.sibling().await;
    let (mut b, _, codes) = app.enrolled_user("pw@example.com").await;
    let mut other = sign_in_with_code(&other_app, "pw@example.com", PASSWORD, &codes[0]).await;
    assert_eq!(other.get("/welcome").await.status, 200);

    let step = prove(&mut b, "password", PASSWORD, &codes[1]).await;
    assert_eq!(step.status, 200, "{}", step.body);
    assert!(step.body.contains("name=\"new_password\""));
    let proof = proof_of(&step);
    // Registration's policy; the proof survives a refused attempt.
    for (new, confirm) in [
        ("short", "short"),
        ("password1234", "password1234"),
        (NEW_PASSWORD, "something else entirely"),
    ] {
        let r = b
            .post(
                "/account/password",
                &[
                    ("proof", &proof),
                    ("new_password", new),
                    ("new_password_confirm", confirm),
                ],
            )
            .await;
        assert_eq!(r.status, 400, "{new}");
        assert!(r.body.contains("role=\"alert\""));
    }
    let r = b
        .post(
            "/account/password",
            &[
                ("proof", &proof),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!((r.status, r.location()), (303, "/account?done=password"));
    assert_eq!(b.get("/account").await.status, 200, "this session stays");
    signed_out(&mut other).await;
    // The proof was used up.
    let again = b
        .post(
            "/account/password",
            &[
                ("proof", &proof),
                ("new_password", "yet another long password"),
                ("new_password_confirm", "yet another long password"),
            ],
        )
        .await;
    assert_eq!(again.status, 403);

    let mut old = app.browser();
    assert_eq!(old.login("pw@example.com", PASSWORD).await.status, 401);
    sign_in_with_code(&app, "pw@example.com", NEW_PASSWORD, &codes[2]).await;
}

#[tokio::test]
async fn proofs_are_single_use_per_session_per_action_and_expire() {
    let app = TestApp::spawn().await;
    let (mut b, _, codes) = app.enrolled_user("proof@example.com").await;
    let mut other = sign_in_with_code(&app, "proof@example.com", PASSWORD, &codes[0]).await;
    let step = prove(&mut b, "delete", PASSWORD, &codes[1]).await;
    assert_eq!(step.status, 200);
    let proof = proof_of(&step);
    // Another session of the same account cannot use it.
    other.get("/account").await;
    let r = other
        .post(
            "/account/delete",
            &[("proof", &proof), ("confirm_email", "proof@example.com")],
        )
        .await;
    assert_eq!(r.status, 403);
    // Nor can another action.
    let r = b
        .post("/account/recovery-codes", &[("proof", &proof)])
        .await;
    assert_eq!(r.status, 403);
    let r = b
        .post(
            "/account/password",
            &[
                ("proof", &proof),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    // After five minutes it is gone.
    app.db()
        .await
        .execute(
            "UPDATE account_proofs SET expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    let r = b
        .post(
            "/account/delete",
            &[("proof", &proof), ("confirm_email", "proof@example.com")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("role=\"alert\""));
    assert_eq!(app.count("users").await, 1);
    // A made-up token is refused the same way.
    let r = b
        .post("/account/recovery-codes", &[("proof", "bm90IGEgcHJvb2Y")])
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn wrong_password_and_wrong_code_are_refused_and_counted() {
    let app = TestApp::spawn().await;
    let (mut b, secret, codes) = app.enrolled_user("count@example.com").await;
    let db = app.db().await;
    for action in ["password", "authenticator", "recovery-codes", "delete"] {
        let r = prove(&mut b, action, "not the password at all", &codes[0]).await;
        assert_eq!(r.status, 401, "{action}");
        assert!(r.body.contains("role=\"alert\""));
    }
    // This browser signed in to the account before, so its failures count
    // under its own device key, not the account name's (docs/security.md).
    let failures: i32 = db
        .query_one("SELECT failures FROM throttle WHERE key LIKE 'dev:%'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(failures, 4, "each wrong password counted once");
    let by_name: i64 = db
        .query_one("SELECT count(*) FROM throttle WHERE key LIKE 'pw:%'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        by_name, 0,
        "the owner's browser does not slow the account for others"
    );
    // The fifth makes the account name wait, as at sign-in.
    let r = prove(&mut b, "password", "not the password at all", &codes[0]).await;
    assert_eq!(r.status, 401);
    let r = prove(&mut b, "password", PASSWORD, &codes[0]).await;
    assert_eq!(r.status, 429);
    assert!(!r.header("retry-after").is_empty());
    db.execute("DELETE FROM throttle", &[]).await.unwrap();

    let r = prove(&mut b, "password", PASSWORD, &other_code(&secret)).await;
    assert_eq!(r.status, 401);
    let r = prove(&mut b, "password", PASSWORD, "ABCDABCDABCDABCDABCDABCD").await;
    assert_eq!(r.status, 401, "an unknown recovery code");
    let n: i32 = db
        .query_one("SELECT totp_failures FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2, "each wrong code counted");
    // Malformed: 400 with the form and a message, not counted.
    for (password, code) in [("", codes[0].as_str()), (PASSWORD, "12ab"), (PASSWORD, "")] {
        let r = prove(&mut b, "password", password, code).await;
        assert_eq!(r.status, 400, "{password:?} {code:?}");
        assert!(r.body.contains("role=\"alert\"") && r.body.contains("name=\"code\""));
    }
    let n: i32 = db
        .query_one("SELECT totp_failures FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    assert_eq!(app.count("account_proofs").await, 0);
}

#[tokio::test]
async fn simultaneous_wrong_codes_hit_the_exact_limit() {
    let app = TestApp::spawn().await;
    let (b, secret, _) = app.enrolled_user("burst@example.com").await;
    let sibling = app.sibling().await;
    let wrong = other_code(&secret);
    let mut tasks = Vec::new();
    for i in 0..12 {
        let mut br = if i % 2 == 0 {
            b.clone()
        } else {
            sibling.browser_like(&b)
        };
        let wrong = wrong.clone();
        tasks.push(tokio::spawn(async move {
            prove(&mut br, "recovery-codes", PASSWORD, &wrong)
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    // Five wrong codes in a row, then the delay: exactly five are judged.
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        7,
        "{statuses:?}"
    );
    let n: i32 = app
        .db()
        .await
        .query_one("SELECT totp_failures FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 5);
}

#[tokio::test]
async fn replace_the_authenticator_keeping_the_recovery_codes() {
    wait_for_fresh_step(10).await;
    let app = TestApp::spawn().await;
    let (mut b, old_secret, codes) = app.enrolled_user("phone@example.com").await;
    // Proven with a recovery code: the phone is lost.
    let step = prove(&mut b, "authenticator", PASSWORD, &codes[0]).await;
    assert_eq!(step.status, 200, "{}", step.body);
    assert!(step.body.contains("<svg id=\"otpauth-qr\""));
    assert!(step.body.len() <= 30 * 1024);
    let proof = proof_of(&step);
    let new_secret = step.secret();
    assert_ne!(new_secret, old_secret);
    let r = b
        .post(
            "/account/authenticator",
            &[("proof", &proof), ("code", &other_code(&new_secret))],
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.secret(), new_secret, "the same new secret again");
    let r = b
        .post(
            "/account/authenticator",
            &[("proof", &proof), ("code", "12")],
        )
        .await;
    assert_eq!(r.status, 400);
    // Until confirmed, the old one still signs in.
    let mut check = app.browser();
    check.login("phone@example.com", PASSWORD).await;
    let r = check.code(&totp_at(&old_secret, 1)).await;
    assert_eq!(r.status, 303, "old authenticator works before the swap");

    let r = b
        .post(
            "/account/authenticator",
            &[("proof", &proof), ("code", &oathtool(&new_secret))],
        )
        .await;
    assert_eq!(
        (r.status, r.location()),
        (303, "/account?done=authenticator"),
        "{}",
        r.body
    );
    let page = b.get("/account").await;
    assert_eq!(page.element_text("codes-left").as_deref(), Some("9"));
    assert!(page.body.contains("data-event=\"authenticator_replaced\""));
    assert_eq!(app.count("authenticators").await, 1);

    let mut old = app.browser();
    old.login("phone@example.com", PASSWORD).await;
    assert_eq!(old.code(&totp_at(&old_secret, 0)).await.status, 401);
    let mut new = app.browser();
    new.login("phone@example.com", PASSWORD).await;
    let r = new.code(&totp_at(&new_secret, 1)).await;
    assert_eq!(r.status, 303, "the new authenticator signs in");
    // The old recovery codes still work.
    sign_in_with_code(&app, "phone@example.com", PASSWORD, &codes[1]).await;
}

#[tokio::test]
async fn replace_the_authenticator_with_new_recovery_codes() {
    let app = TestApp::spawn().await;
    let (mut b, _, codes) = app.enrolled_user("both@example.com").await;
    b.get("/account/authenticator").await;
    let step = b
        .post(
            "/account/authenticator",
            &[
                ("password", PASSWORD),
                ("code", &codes[0]),
                ("new_recovery_codes", "on"),
            ],
        )
        .await;
    assert_eq!(step.status, 200, "{}", step.body);
    let secret = step.secret();
    let r = b
        .post(
            "/account/authenticator",
            &[("proof", &proof_of(&step)), ("code", &oathtool(&secret))],
        )
        .await;
    assert_eq!((r.status, r.location()), (303, "/recovery-codes"));
    let new_codes = b.get("/recovery-codes").await.recovery_codes();
    assert_eq!(new_codes.len(), 10);
    let mut old = app.browser();
    old.login("both@example.com", PASSWORD).await;
    old.get("/login/recovery").await;
    let r = old
        .post("/login/recovery", &[("recovery_code", &codes[1])])
        .await;
    assert_eq!(r.status, 401, "old codes stopped working");
    sign_in_with_code(&app, "both@example.com", PASSWORD, &new_codes[0]).await;
}

#[tokio::test]
async fn of_two_browsers_replacing_at_once_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let sibling = app.sibling().await;
    let (mut b1, _, codes) = app.enrolled_user("race@example.com").await;
    let mut b2 = sign_in_with_code(&sibling, "race@example.com", PASSWORD, &codes[0]).await;
    let s1 = prove(&mut b1, "authenticator", PASSWORD, &codes[1]).await;
    let s2 = prove(&mut b2, "authenticator", PASSWORD, &codes[2]).await;
    assert_eq!((s1.status, s2.status), (200, 200));
    let (p1, p2) = (proof_of(&s1), proof_of(&s2));
    let (k1, k2) = (s1.secret(), s2.secret());
    assert_ne!(k1, k2);
    let t1 = tokio::spawn(async move {
        let code = oathtool(&k1);
        let r = b1
            .post("/account/authenticator", &[("proof", &p1), ("code", &code)])
            .await;
        (r.status, r.body.contains("role=\"alert\""), k1)
    });
    let t2 = tokio::spawn(async move {
        let code = oathtool(&k2);
        let r = b2
            .post("/account/authenticator", &[("proof", &p2), ("code", &code)])
            .await;
        (r.status, r.body.contains("role=\"alert\""), k2)
    });
    let mut results = vec![t1.await.unwrap(), t2.await.unwrap()];
    results.sort_by_key(|r| r.0);
    assert_eq!(results[0].0, 303, "{results:?}");
    assert_eq!(results[1].0, 409, "{results:?}");
    assert!(results[1].1, "the loser is told why");
    let db = app.db().await;
    let confirmed: i64 = db
        .query_one(
            "SELECT count(*) FROM authenticators WHERE confirmed_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(confirmed, 1);
    // The winner's secret is the one that signs in.
    let winner = &results[0].2;
    let mut check = app.browser();
    check.login("race@example.com", PASSWORD).await;
    assert_eq!(check.code(&totp_at(winner, 1)).await.status, 303);
}

#[tokio::test]
async fn new_recovery_codes_replace_the_old_set_at_once() {
    let app = TestApp::spawn().await;
    let (mut b, _, codes) = app.enrolled_user("codes@example.com").await;
    let step = prove(&mut b, "recovery-codes", PASSWORD, &codes[0]).await;
    assert_eq!(step.status, 200);
    let r = b
        .post("/account/recovery-codes", &[("proof", &proof_of(&step))])
        .await;
    assert_eq!((r.status, r.location()), (303, "/recovery-codes"));
    // Already gone before the new set is looked at.
    let unused: i64 = app
        .db()
        .await
        .query_one("SELECT count(*) FROM recovery_codes", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(unused, 0);
    let new_codes = b.get("/recovery-codes").await.recovery_codes();
    assert_eq!(new_codes.len(), 10);
    assert!(
        b.get("/recovery-codes").await.recovery_codes().is_empty(),
        "once"
    );
    let mut old = app.browser();
    old.login("codes@example.com", PASSWORD).await;
    old.get("/login/recovery").await;
    let r = old
        .post("/login/recovery", &[("recovery_code", &codes[1])])
        .await;
    assert_eq!(r.status, 401);
    let mut fresh = sign_in_with_code(&app, "codes@example.com", PASSWORD, &new_codes[3]).await;
    // A recovery-code sign-in is followed by a prompt to replace the phone.
    let page = fresh.get("/account").await;
    assert!(page.body.contains("id=\"replace-prompt\""));
    assert_eq!(page.element_text("codes-left").as_deref(), Some("9"));
}

#[tokio::test]
async fn revoke_one_session_or_every_other() {
    let app = TestApp::spawn().await;
    let sibling = app.sibling().await;
    let (mut b, _, codes) = app.enrolled_user("rev@example.com").await;
    let mut two = sign_in_with_code(&sibling, "rev@example.com", PASSWORD, &codes[0]).await;
    let mut three = sign_in_with_code(&app, "rev@example.com", PASSWORD, &codes[1]).await;
    let mut four = sign_in_with_code(&app, "rev@example.com", PASSWORD, &codes[2]).await;
    // The handle of browser two, as its own page shows it.
    let own = two.get("/account").await;
    let marker = "class=\"session current\" data-session=\"";
    let at = own.body.find(marker).unwrap() + marker.len();
    let handle = own.body[at..at + 16].to_string();
    let page = b.get("/account").await;
    assert_eq!(page.body.matches("data-session=").count(), 4);
    assert!(page.body.contains(&format!("value=\"{handle}\"")));
    let r = b
        .post("/account/sessions/revoke", &[("session", &handle)])
        .await;
    assert_eq!((r.status, r.location()), (303, "/account?done=session"));
    signed_out(&mut two).await;
    assert_eq!(three.get("/welcome").await.status, 200);
    for bad in ["", "everyone", "zz", "'; DROP TABLE sessions; --"] {
        let r = b
            .post("/account/sessions/revoke", &[("session", bad)])
            .await;
        assert_eq!(r.status, 400, "{bad:?}");
        assert!(r.body.contains("role=\"alert\""));
    }
    let r = b
        .post("/account/sessions/revoke", &[("session", "others")])
        .await;
    assert_eq!((r.status, r.location()), (303, "/account?done=sessions"));
    signed_out(&mut three).await;
    signed_out(&mut four).await;
    assert_eq!(b.get("/account").await.status, 200, "this one stays");
    assert_eq!(app.count("sessions").await, 1);
}

#[tokio::test]
async fn delete_the_account_everywhere_at_once() {
    let app = TestApp::spawn().await;
    let sibling = app.sibling().await;
    let (mut b, _, codes) = app.enrolled_user("gone@example.com").await;
    let (_, _, _) = app.enrolled_user("stays@example.com").await;
    let mut elsewhere = sign_in_with_code(&sibling, "gone@example.com", PASSWORD, &codes[0]).await;
    let step = prove(&mut b, "delete", PASSWORD, &codes[1]).await;
    assert_eq!(step.status, 200);
    let proof = proof_of(&step);
    let r = b
        .post(
            "/account/delete",
            &[("proof", &proof), ("confirm_email", "stays@example.com")],
        )
        .await;
    assert_eq!(r.status, 400, "the confirmation text must match");
    assert_eq!(app.count("users").await, 2);
    let r = b
        .post(
            "/account/delete",
            &[("proof", &proof), ("confirm_email", "gone@example.com")],
        )
        .await;
    assert_eq!((r.status, r.location()), (303, "/login"));
    assert_eq!(r.header("clear-site-data"), "\"cache\", \"cookies\"");
    signed_out(&mut elsewhere).await;
    let mut again = app.browser();
    assert_eq!(again.login("gone@example.com", PASSWORD).await.status, 401);

    let db = app.db().await;
    let left: i64 = db
        .query_one(
            "SELECT (SELECT count(*) FROM users WHERE email = 'gone@example.com')
                  + (SELECT count(*) FROM audit_log WHERE user_id IS NULL AND event <> 'account_deleted')
                  + (SELECT count(*) FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id))",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "nothing of the account is left");
    assert_eq!(app.count("users").await, 1);
    let deleted: i64 = db
        .query_one(
            "SELECT count(*) FROM audit_log WHERE event = 'account_deleted' AND user_id IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(deleted, 1);
    let all: Vec<String> = db
        .query("SELECT row_to_json(t)::text FROM audit_log t", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!all.iter().any(|r| r.contains("gone@")));
    // Someone may register the address again.
    let mut fresh = app.browser();
    assert_eq!(
        fresh.register("gone@example.com", PASSWORD).await.status,
        303
    );
}

#[tokio::test]
async fn every_account_form_refuses_bad_input() {
    let app = TestApp::spawn().await;
    let (mut b, _, codes) = app.enrolled_user("bad@example.com").await;
    b.get("/account").await;
    let csrf = b.csrf.clone().unwrap();
    let form = |fields: &[(&str, &str)], token: &str| {
        let mut all = vec![("csrf_token", token)];
        all.extend_from_slice(fields);
        serde_urlencoded::to_string(&all).unwrap().into_bytes()
    };
    const FORM: &str = "application/x-www-form-urlencoded";
    for path in [
        "/account/password",
        "/account/authenticator",
        "/account/recovery-codes",
        "/account/delete",
        "/account/sessions/revoke",
    ] {
        let fields = [
            ("password", PASSWORD),
            ("code", codes[0].as_str()),
            ("session", "others"),
        ];
        let before = app.snapshot().await;
        let r = b.post_raw(path, FORM, form(&fields, "")).await;
        assert_eq!(r.status, 403, "{path}: missing CSRF");
        let r = b.post_raw(path, FORM, form(&fields, "forged")).await;
        assert_eq!(r.status, 403, "{path}: wrong CSRF");
        let big = "x".repeat(17 * 1024);
        let r = b
            .post_raw(path, FORM, form(&[("password", &big)], &csrf))
            .await;
        assert_eq!(r.status, 413, "{path}: too large");
        let mut body = form(&[], &csrf);
        body.extend_from_slice(b"&password=%FF%FE");
        let r = b.post_raw(path, FORM, body).await;
        assert_eq!(r.status, 400, "{path}: not UTF-8");
        let r = b
            .post_raw(path, FORM, form(&[("code", "1"), ("code", "2")], &csrf))
            .await;
        assert_eq!(r.status, 400, "{path}: repeated field");
        assert!(r.body.contains("role=\"alert\""));
        assert_eq!(app.snapshot().await, before, "{path} changed nothing");
    }
    // A signed-out browser posting with a valid token goes to the sign-in page.
    let mut stranger = app.browser();
    for path in ["/account/password", "/account/sessions/revoke"] {
        let r = stranger
            .post(path, &[("password", PASSWORD), ("code", &codes[0])])
            .await;
        assert_eq!((r.status, r.location()), (303, "/login"), "{path}");
    }
}

#[tokio::test]
async fn a_proof_made_on_one_app_is_used_on_another() {
    let app = TestApp::spawn().await;
    let sibling = app.sibling().await;
    let (mut b, _, codes) = app.enrolled_user("two@example.com").await;
    let step = prove(&mut b, "recovery-codes", PASSWORD, &codes[0]).await;
    let mut there = sibling.browser_like(&b);
    there.csrf = b.csrf.clone();
    let r = there
        .post("/account/recovery-codes", &[("proof", &proof_of(&step))])
        .await;
    assert_eq!((r.status, r.location()), (303, "/recovery-codes"));
}

#[tokio::test]
async fn a_database_failover_delays_an_account_change_instead_of_failing_it() {
    let app = TestApp::spawn_with(|s| s.db_retry_deadline_s = 20.0).await;
    let (mut b, _, codes) = app.enrolled_user("failover@example.com").await;
    let step = prove(&mut b, "password", PASSWORD, &codes[0]).await;
    let proof = proof_of(&step);
    read_only(&app.db_url, true).await;
    let request = tokio::spawn(async move {
        b.post(
            "/account/password",
            &[
                ("proof", &proof),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirm", NEW_PASSWORD),
            ],
        )
        .await
    });
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(
        !request.is_finished(),
        "the change waits while no writable database answers"
    );
    read_only(&app.db_url, false).await;
    let r = request.await.unwrap();
    assert_eq!(
        (r.status, r.location()),
        (303, "/account?done=password"),
        "{}",
        r.body
    );
    sign_in_with_code(&app, "failover@example.com", NEW_PASSWORD, &codes[1]).await;
}
