//! The pages as a person meets them, in a real headless Chromium: the whole
//! journey in both languages with the QR code read off the screen, the
//! error messages, a keyboard-only sign-in, a recovery-code sign-in and the
//! session's end. Every page is checked for console errors, CSP reports,
//! language, sideways scrolling and labels (`driver::Page::check_page`).
//!
//! The browser tests take turns (one Chromium at a time): the machine is
//! small and a TOTP step is only 30 s.

#[path = "../support/mod.rs"]
mod support;

mod account;
mod driver;
mod screenshots;

use driver::{Driver, Page, DESKTOP, PHONE};
use fantoccini::key::Key;
use fantoccini::Locator;
use std::time::{Duration, Instant};
use support::{oathtool, totp_at, wait_for_fresh_step, TestApp, PASSWORD};

/// One browser test at a time.
pub static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The most a page may weigh: HTML with its inline SVG, plus the stylesheet.
const MAX_PAGE_BYTES: u64 = 30 * 1024;

/// Waits (bounded) until the browser shows `path`, then checks the page.
async fn arrive(p: &mut Page, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let here = p.path().await;
        if here == path {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "expected {path}, the browser shows {here}:\n{}",
            p.client.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    p.check_page().await;
}

/// Signs in with the password form, by mouse.
async fn password_step(p: &mut Page, email: &str, password: &str) {
    p.fill("#email", email).await;
    p.fill("#password", password).await;
    p.submit("form[action='/login']").await;
}

async fn code_step(p: &mut Page, code: &str) {
    p.fill("#code", code).await;
    p.submit("form[action='/login/totp']").await;
}

async fn logout(p: &mut Page) {
    p.submit("form[action='/logout']").await;
    arrive(p, "/login").await;
}

/// The parts of a text around its `{name}` placeholder.
fn around_placeholder(text: &str) -> (String, String) {
    let open = text.find('{').expect("placeholder");
    let close = text.find('}').expect("placeholder");
    (text[..open].to_string(), text[close + 1..].to_string())
}

/// A six-digit code that is wrong for `secret` in every accepted step.
fn wrong_code(secret: &str) -> String {
    let accepted: Vec<String> = (-2..=2).map(|o| totp_at(secret, o)).collect();
    (0..)
        .map(|n: u32| format!("{:06}", (n * 7919 + 123_457) % 1_000_000))
        .find(|c| !accepted.contains(c))
        .unwrap()
}

/// register → enrol (QR read off a screenshot) → recovery codes → welcome →
/// logout → login → code → welcome → logout, then the back button.
async fn journey(lang: &str, size: (u32, u32)) {
    let _turn = TURN.lock().await;
    let app = TestApp::spawn().await;
    let driver = Driver::start();
    let mut p = driver.browser(lang, size).await;
    let base = app.base.clone();
    let email = format!("journey-{lang}@example.org");
    let mut weights = Vec::new();

    p.goto(&base, "/register").await;
    assert_eq!(p.text("h1").await, p.t("register_title"));
    weights.push(("register", p.weight().await));
    p.fill("#email", &email).await;
    p.fill("#password", PASSWORD).await;
    p.fill("#password_confirm", PASSWORD).await;
    p.submit("form[action='/register']").await;
    arrive(&mut p, "/enroll").await;
    weights.push(("enroll", p.weight().await));

    // The QR code is drawn large and near the top: it is in the first
    // screenful, at least 200 px wide, and a camera can read it.
    let (_, top, width, height) = p.find("#otpauth-qr").await.rectangle().await.unwrap();
    assert!(
        width >= 200.0 && height >= 200.0,
        "QR is {width}×{height} px"
    );
    assert!(
        top + height <= f64::from(size.1),
        "QR ends at {} px, below the first screenful of {} px",
        top + height,
        size.1
    );
    let uri = p.scan_qr().await;
    assert!(uri.starts_with("otpauth://totp/"), "scanned {uri}");
    let shown_uri = p
        .find("#otpauth-uri")
        .await
        .prop("textContent")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(uri, shown_uri, "the QR code and the shown URI differ");
    let secret = driver::secret_of(&uri);
    let grouped = p
        .find("#totp-secret")
        .await
        .prop("textContent")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(grouped.replace(' ', ""), secret, "the typed-in key differs");
    assert!(grouped.split(' ').all(|g| g.len() <= 4), "{grouped}");
    // A how-to naming apps a person may already have.
    let howto = p.text("main").await;
    assert!(howto.contains("Aegis") && howto.contains("Google Authenticator"));

    wait_for_fresh_step(10).await;
    let code = oathtool(&secret);
    p.fill("#code", &code).await;
    p.submit("form[action='/enroll']").await;
    arrive(&mut p, "/recovery-codes").await;
    weights.push(("recovery-codes", p.weight().await));
    let codes = p
        .client
        .find_all(Locator::Css(".recovery-code"))
        .await
        .unwrap();
    assert_eq!(codes.len(), 10, "ten recovery codes");
    p.submit("form[action='/recovery-codes']").await;
    arrive(&mut p, "/welcome").await;
    assert_eq!(p.text("#user-email").await, email);
    logout(&mut p).await;

    // Warm service: from opening /login to the welcome page.
    let started = Instant::now();
    p.goto(&base, "/login").await;
    password_step(&mut p, &email, PASSWORD).await;
    arrive(&mut p, "/login/totp").await;
    // The next step's code: the enrolment used this one.
    code_step(&mut p, &totp_at(&secret, 1)).await;
    arrive(&mut p, "/welcome").await;
    let elapsed = started.elapsed();
    println!(
        "figure: {lang} /login to /welcome in the browser: {} ms",
        elapsed.as_millis()
    );
    assert_eq!(p.text("#user-email").await, email);
    assert_eq!(p.text("h1").await, p.t("welcome_title"));

    // Weights of the pages not yet measured.
    weights.push(("welcome", p.weight().await));
    logout(&mut p).await;
    weights.push(("login", p.weight().await));

    // Signed out: the back button brings back neither the session nor a
    // cached picture of the welcome page (the logout's Clear-Site-Data
    // empties Chromium's back-forward cache; `Cache-Control: no-store`
    // alone does not).
    p.client.back().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    arrive(&mut p, "/login").await;
    assert!(!p.has("#user-email").await, "welcome page after logout");
    p.goto(&base, "/welcome").await;
    arrive(&mut p, "/login").await;

    for (page, bytes) in &weights {
        println!("figure: {lang} page weight {page}: {bytes} bytes");
        assert!(
            *bytes <= MAX_PAGE_BYTES,
            "{page} weighs {bytes} bytes, over {MAX_PAGE_BYTES}"
        );
    }
    p.check_console().await;
    p.close().await;
    app.stop().await;
}

#[tokio::test]
async fn journey_in_english_on_a_desktop() {
    journey("en", DESKTOP).await;
}

#[tokio::test]
async fn journey_in_portuguese_on_a_phone() {
    journey("pt", PHONE).await;
}

/// Wrong password, mismatched passwords, wrong code, replayed code and
/// throttling each show their own message, next to the field, as an alert.
#[tokio::test]
async fn mistakes_are_explained_next_to_the_field() {
    let _turn = TURN.lock().await;
    let app = TestApp::spawn().await;
    let email = "mistakes@example.org";
    let (_, secret, _) = app.enrolled_user(email).await;
    let driver = Driver::start();
    let mut p = driver.browser("en", DESKTOP).await;
    let base = app.base.clone();

    p.goto(&base, "/register").await;
    p.fill("#email", "someone@example.org").await;
    p.fill("#password", PASSWORD).await;
    p.fill("#password_confirm", "correct horse battery stapler")
        .await;
    p.submit("form[action='/register']").await;
    assert_eq!(p.alert().await, p.t("register_password_mismatch"));
    assert!(
        p.has("#password_confirm[aria-invalid=true] + .error[role=alert]")
            .await,
        "the mismatch is told right under the repeated password"
    );

    p.goto(&base, "/login").await;
    password_step(&mut p, email, "not the password at all").await;
    assert_eq!(p.path().await, "/login");
    assert_eq!(p.alert().await, p.t("login_bad_credentials"));
    let described = p
        .find("#email")
        .await
        .attr("aria-describedby")
        .await
        .unwrap();
    assert_eq!(described.as_deref(), Some("form-error"));

    wait_for_fresh_step(12).await;
    password_step(&mut p, email, PASSWORD).await;
    arrive(&mut p, "/login/totp").await;
    let wrong = wrong_code(&secret);
    code_step(&mut p, &wrong).await;
    assert_eq!(p.alert().await, p.t("totp_bad_code"));
    assert!(p.has("#code[aria-invalid=true] + .error[role=alert]").await);
    let good = totp_at(&secret, 1);
    code_step(&mut p, &good).await;
    arrive(&mut p, "/welcome").await;
    logout(&mut p).await;

    // The same code again is refused, as a wrong code.
    password_step(&mut p, email, PASSWORD).await;
    arrive(&mut p, "/login/totp").await;
    code_step(&mut p, &good).await;
    assert_eq!(p.alert().await, p.t("totp_bad_code"), "replayed code");

    // Then throttling: after five consecutive failures the page says how
    // long to wait.
    let (before, after) = around_placeholder(&p.t("totp_throttled"));
    let mut messages = vec![p.t("totp_bad_code")];
    while messages.len() < 8 && !messages.last().unwrap().starts_with(&before) {
        code_step(&mut p, &wrong).await;
        messages.push(p.alert().await);
    }
    let last = messages.last().unwrap();
    assert!(
        last.starts_with(&before) && last.ends_with(&after),
        "no throttling message after {} wrong codes: {messages:?}",
        messages.len()
    );
    assert!(messages.len() >= 6, "throttled too early: {messages:?}");

    // Wrong passwords for one account: after five the page says how long
    // to wait (the same text whether the account exists or not).
    let (before, after) = around_placeholder(&p.t("login_throttled"));
    p.goto(&base, "/login").await;
    let mut messages = Vec::new();
    while messages.len() < 8 {
        password_step(&mut p, "nobody@example.org", "not the password at all").await;
        let message = p.alert().await;
        let throttled = message.starts_with(&before) && message.ends_with(&after);
        messages.push(message);
        if throttled {
            break;
        }
    }
    assert_eq!(messages[0], p.t("login_bad_credentials"));
    let last = messages.last().unwrap();
    assert!(
        last.starts_with(&before) && last.ends_with(&after) && messages.len() >= 6,
        "wrong passwords: {messages:?}"
    );

    // The language switch is on the page and works.
    p.goto(&base, "/login").await;
    p.find("a.lang-switch").await.click().await.unwrap();
    let lang = p.find("html").await.attr("lang").await.unwrap();
    assert_eq!(lang.as_deref(), Some("pt"));
    assert_eq!(p.text("h1").await, driver::texts("pt")["login_title"]);
    p.check_console().await;
    p.close().await;
    app.stop().await;
}

/// Sign in with the keyboard alone: the e-mail field has the focus, Tab
/// moves on with a visible focus ring, Enter submits.
#[tokio::test]
async fn keyboard_alone_signs_in() {
    let _turn = TURN.lock().await;
    let app = TestApp::spawn().await;
    let email = "keys@example.org";
    let (_, secret, _) = app.enrolled_user(email).await;
    let driver = Driver::start();
    let mut p = driver.browser("pt", PHONE).await;

    p.goto(&app.base, "/login").await;
    assert_eq!(
        p.focused_id().await,
        "email",
        "the first field has the focus"
    );
    p.keys(email).await;
    p.press(Key::Tab).await;
    assert_eq!(p.focused_id().await, "password");
    let ring = p
        .client
        .active_element()
        .await
        .unwrap()
        .css_value("outline-style")
        .await
        .unwrap();
    assert_eq!(ring, "solid", "the focused field shows it");
    p.keys(PASSWORD).await;
    p.press(Key::Enter).await;
    arrive(&mut p, "/login/totp").await;
    assert_eq!(p.focused_id().await, "code");
    p.keys(&totp_at(&secret, 1)).await;
    p.press(Key::Enter).await;
    arrive(&mut p, "/welcome").await;
    assert_eq!(p.text("#user-email").await, email);
    // And out again, still by keyboard: Tab to the logout button, Enter.
    for _ in 0..6 {
        let focused = p.client.active_element().await.unwrap();
        if focused.tag_name().await.unwrap() == "button" {
            break;
        }
        p.press(Key::Tab).await;
    }
    p.press(Key::Enter).await;
    arrive(&mut p, "/login").await;
    p.close().await;
    app.stop().await;
}

/// A recovery code signs in once, then is refused.
#[tokio::test]
async fn a_recovery_code_signs_in_once() {
    let _turn = TURN.lock().await;
    let app = TestApp::spawn().await;
    let email = "lost-phone@example.org";
    let (_, _, codes) = app.enrolled_user(email).await;
    let driver = Driver::start();
    let mut p = driver.browser("en", PHONE).await;
    let mut weights = Vec::new();

    for attempt in 0..2 {
        p.goto(&app.base, "/login").await;
        password_step(&mut p, email, PASSWORD).await;
        arrive(&mut p, "/login/totp").await;
        let code_page = p.weight().await;
        p.find("a[href='/login/recovery']")
            .await
            .click()
            .await
            .unwrap();
        arrive(&mut p, "/login/recovery").await;
        if attempt == 0 {
            weights.push(("login-totp", code_page));
            weights.push(("login-recovery", p.weight().await));
        }
        // Typed as shown, with the spaces between groups.
        p.fill("#recovery_code", &codes[3]).await;
        p.submit("form[action='/login/recovery']").await;
        if attempt == 0 {
            arrive(&mut p, "/welcome").await;
            assert_eq!(p.text("#user-email").await, email);
            logout(&mut p).await;
        } else {
            assert_eq!(p.path().await, "/login/recovery");
            assert_eq!(p.alert().await, p.t("recovery_login_bad"));
        }
    }
    p.goto(&app.base, "/no-such-page").await;
    assert_eq!(p.alert().await, p.t("error_not_found"));
    weights.push(("error", p.weight().await));
    for (page, bytes) in &weights {
        println!("figure: en page weight {page}: {bytes} bytes");
        assert!(*bytes <= MAX_PAGE_BYTES, "{page} weighs {bytes} bytes");
    }
    p.close().await;
    app.stop().await;
}

/// Issue 12, finding 3, in a real browser: strangers failing from many
/// addresses at once put the account name in its delay, but the owner's own
/// Chromium, which completed a login before, keeps its signed device cookie
/// and is let through to the code and the welcome page.
#[tokio::test]
async fn the_owners_browser_gets_in_while_strangers_hammer_the_account() {
    let _turn = TURN.lock().await;
    let app = TestApp::spawn_with(|s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.db_retry_deadline_s = 120.0;
    })
    .await;
    let email = "owner@example.org";
    let (_, secret, _) = app.enrolled_user(email).await;
    let driver = Driver::start();
    let mut p = driver.browser("en", DESKTOP).await;
    // The owner signs in once in this browser.
    wait_for_fresh_step(20).await;
    p.goto(&app.base, "/login").await;
    password_step(&mut p, email, PASSWORD).await;
    arrive(&mut p, "/login/totp").await;
    // The next step: the current one was used at enrolment.
    code_step(&mut p, &totp_at(&secret, 1)).await;
    arrive(&mut p, "/welcome").await;

    // Forty strangers at once, each from its own address.
    let mut stranger = app.browser();
    stranger.get("/login").await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let mut b = stranger.clone();
            b.headers
                .push(("x-forwarded-for".into(), format!("198.51.100.{i}")));
            tokio::spawn(async move {
                b.post(
                    "/login",
                    &[("email", email), ("password", "wrong password here")],
                )
                .await
                .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    let mut elsewhere = app.browser();
    assert_eq!(elsewhere.login(email, PASSWORD).await.status, 429);

    // The owner, in the browser that signed in before, gets in (with a
    // code of a step after the one just used).
    let left = 30 - twofa::auth::totp::now_unix() % 30;
    tokio::time::sleep(Duration::from_secs(left + 1)).await;
    p.goto(&app.base, "/login").await;
    password_step(&mut p, email, PASSWORD).await;
    arrive(&mut p, "/login/totp").await;
    code_step(&mut p, &totp_at(&secret, 1)).await;
    arrive(&mut p, "/welcome").await;
    assert_eq!(p.text("#user-email").await, email);
    p.close().await;
    app.stop().await;
}
