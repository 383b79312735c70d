//! The account page (issue #14) in Chromium, by keyboard: fields are typed
//! into and forms sent with Enter, links and buttons reached with Tab. A
//! new authenticator is set up from the QR code read off the screen and a
//! code from `oathtool`; the password is changed and used; recovery codes
//! are made again and one is used; another session is signed out; the
//! account is deleted and the sign-in fails.

use crate::driver::{Driver, Page, DESKTOP, PHONE};
use crate::support::{oathtool, totp_at, wait_for_fresh_step, TestApp, PASSWORD};
use crate::{arrive, password_step, MAX_PAGE_BYTES, TURN};
use fantoccini::key::Key;
use fantoccini::Locator;

const NEW_PASSWORD: &str = "a much better passphrase now";

/// Types each value into its field, then presses Enter in the last one.
async fn type_and_enter(p: &Page, fields: &[(&str, &str)]) {
    for (css, value) in fields {
        p.fill(css, value).await;
    }
    p.press(Key::Enter).await;
}

/// Tabs until the element with `id` has the focus (at most 60 presses),
/// then presses Enter on it.
async fn tab_to_and_enter(p: &Page, id: &str) {
    for _ in 0..60 {
        if p.focused_id().await == id {
            p.press(Key::Enter).await;
            return;
        }
        p.press(Key::Tab).await;
    }
    panic!("Tab never reached #{id} on {}", p.path().await);
}

async fn recovery_sign_in(p: &mut Page, base: &str, email: &str, password: &str, code: &str) {
    p.goto(base, "/login").await;
    password_step(p, email, password).await;
    arrive(p, "/login/totp").await;
    p.goto(base, "/login/recovery").await;
    type_and_enter(p, &[("#recovery_code", code)]).await;
    arrive(p, "/welcome").await;
}

async fn account_by_keyboard(lang: &str, size: (u32, u32)) {
    let _turn = TURN.lock().await;
    let app = TestApp::spawn().await;
    let email = format!("account-{lang}@example.org");
    let (_, secret, codes) = app.enrolled_user(&email).await;
    let driver = Driver::start();
    let mut p = driver.browser(lang, size).await;
    let base = app.base.clone();
    let mut weights = Vec::new();

    // Sign in, then from the welcome page to the account page by Tab.
    wait_for_fresh_step(10).await;
    p.goto(&base, "/login").await;
    type_and_enter(&p, &[("#email", &email), ("#password", PASSWORD)]).await;
    arrive(&mut p, "/login/totp").await;
    type_and_enter(&p, &[("#code", &totp_at(&secret, 1))]).await;
    arrive(&mut p, "/welcome").await;
    tab_to_and_enter(&p, "account-link").await;
    arrive(&mut p, "/account").await;
    assert_eq!(p.text("h1").await, p.t("account_title"));
    assert_eq!(p.text("#account-email").await, email);
    assert_eq!(p.text("#codes-left").await, "10");
    weights.push(("account", p.weight().await));

    // A new phone: proven with a recovery code, the QR code read off the
    // screen, confirmed with oathtool's code.
    tab_to_and_enter(&p, "replace-authenticator").await;
    arrive(&mut p, "/account/authenticator").await;
    weights.push(("account-prove", p.weight().await));
    type_and_enter(
        &p,
        &[
            ("#authenticator-password", PASSWORD),
            ("#authenticator-code", &codes[0]),
        ],
    )
    .await;
    arrive(&mut p, "/account/authenticator").await;
    assert!(p.has("#otpauth-qr").await, "the new QR code is shown");
    weights.push(("account-authenticator", p.weight().await));
    let uri = p.scan_qr().await;
    let new_secret = crate::driver::secret_of(&uri);
    assert_ne!(new_secret, secret);
    wait_for_fresh_step(8).await;
    type_and_enter(&p, &[("#code", &oathtool(&new_secret))]).await;
    arrive(&mut p, "/account").await;
    assert_eq!(
        p.text("#account-notice").await,
        p.t("account_done_authenticator")
    );
    assert_eq!(p.text("#codes-left").await, "9");

    // A new password, proven with a code of the new authenticator... whose
    // step was just used: a recovery code instead.
    type_and_enter(
        &p,
        &[
            ("#password-password", PASSWORD),
            ("#password-code", &codes[1]),
        ],
    )
    .await;
    arrive(&mut p, "/account/password").await;
    weights.push(("account-password", p.weight().await));
    type_and_enter(
        &p,
        &[
            ("#new-password", NEW_PASSWORD),
            ("#new-password-confirm", NEW_PASSWORD),
        ],
    )
    .await;
    arrive(&mut p, "/account").await;
    assert_eq!(
        p.text("#account-notice").await,
        p.t("account_done_password")
    );

    // New recovery codes; the old ones stop working.
    type_and_enter(
        &p,
        &[
            ("#recovery-codes-password", NEW_PASSWORD),
            ("#recovery-codes-code", &codes[2]),
        ],
    )
    .await;
    arrive(&mut p, "/account/recovery-codes").await;
    tab_to_and_enter(&p, "recovery-codes-submit").await;
    arrive(&mut p, "/recovery-codes").await;
    let mut new_codes = Vec::new();
    for el in p
        .client
        .find_all(Locator::Css(".recovery-code"))
        .await
        .unwrap()
    {
        new_codes.push(el.text().await.unwrap());
    }
    assert_eq!(new_codes.len(), 10);

    // Another browser signs in with the new password and a new recovery
    // code; this one signs it out from the list.
    let mut other = app.browser();
    assert_eq!(other.login(&email, NEW_PASSWORD).await.status, 303);
    other.get("/login/recovery").await;
    let r = other
        .post("/login/recovery", &[("recovery_code", &new_codes[0])])
        .await;
    assert_eq!(r.location(), "/welcome");
    assert_eq!(other.get("/account").await.status, 200);
    p.goto(&base, "/account").await;
    let buttons = p
        .client
        .find_all(Locator::Css(".session form button"))
        .await
        .unwrap();
    assert_eq!(buttons.len(), 1, "one other session listed");
    let id = buttons[0].attr("id").await.unwrap().unwrap();
    tab_to_and_enter(&p, &id).await;
    arrive(&mut p, "/account").await;
    assert_eq!(p.text("#account-notice").await, p.t("account_done_session"));
    let r = other.get("/account").await;
    assert_eq!((r.status, r.location()), (303, "/login"), "signed out");

    // Sign out, and in again with the new password and a new recovery
    // code; the account page then suggests replacing the phone.
    p.goto(&base, "/welcome").await;
    for _ in 0..20 {
        let focused = p.client.active_element().await.unwrap();
        if focused.tag_name().await.unwrap() == "button" {
            break;
        }
        p.press(Key::Tab).await;
    }
    p.press(Key::Enter).await;
    arrive(&mut p, "/login").await;
    p.goto(&base, "/login").await;
    password_step(&mut p, &email, PASSWORD).await;
    assert_eq!(
        p.alert().await,
        p.t("login_bad_credentials"),
        "old password"
    );
    recovery_sign_in(&mut p, &base, &email, NEW_PASSWORD, &new_codes[1]).await;
    p.goto(&base, "/account").await;
    assert!(p.has("#replace-prompt").await);

    // Delete the account: confirmation text, then the sign-in fails.
    type_and_enter(
        &p,
        &[
            ("#delete-password", NEW_PASSWORD),
            ("#delete-code", &new_codes[2]),
        ],
    )
    .await;
    arrive(&mut p, "/account/delete").await;
    weights.push(("account-delete", p.weight().await));
    type_and_enter(&p, &[("#confirm-email", &email)]).await;
    arrive(&mut p, "/login").await;
    password_step(&mut p, &email, NEW_PASSWORD).await;
    assert_eq!(
        p.alert().await,
        p.t("login_bad_credentials"),
        "account gone"
    );

    for (page, bytes) in &weights {
        println!("figure: {lang} page weight {page}: {bytes} bytes");
        assert!(*bytes <= MAX_PAGE_BYTES, "{page} weighs {bytes} bytes");
    }
    p.check_console().await;
    p.close().await;
    app.stop().await;
}

#[tokio::test]
async fn account_by_keyboard_in_english_on_a_desktop() {
    account_by_keyboard("en", DESKTOP).await;
}

#[tokio::test]
async fn account_by_keyboard_in_portuguese_on_a_phone() {
    account_by_keyboard("pt", PHONE).await;
}
