//! `cargo xtask screenshots`: every page in both languages at phone and
//! desktop widths, written as PNG into `$TWOFA_SCREENSHOTS_DIR`. Ignored in
//! the normal run; the pages are still checked as in the other tests.

use crate::driver::{Driver, Page, DESKTOP, PHONE};
use crate::support::{totp_at, TestApp, PASSWORD};
use std::path::{Path, PathBuf};

/// Checks the page and takes a picture of all of it.
async fn shoot(p: &mut Page, dir: &Path, name: &str, width_name: &str) {
    p.check_page().await;
    let png = p.full_page_screenshot().await;
    let file = dir.join(format!("{name}-{}-{width_name}.png", p.lang));
    std::fs::write(&file, png).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
    println!("wrote {}", file.display());
}

#[tokio::test]
#[ignore = "writes docs/screenshots; run by `cargo xtask screenshots`"]
async fn screenshots_of_every_page() {
    let dir = PathBuf::from(std::env::var("TWOFA_SCREENSHOTS_DIR").expect(
        "TWOFA_SCREENSHOTS_DIR names the folder for the pictures; run `cargo xtask screenshots`",
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let _turn = crate::TURN.lock().await;
    let app = TestApp::spawn().await;
    let driver = Driver::start();
    let base = app.base.clone();
    for lang in ["en", "pt"] {
        for (size, width_name) in [(PHONE, "phone"), (DESKTOP, "desktop")] {
            let mut p = driver.browser(lang, size).await;
            let email = format!("ana.silva.{lang}.{width_name}@example.org");
            p.goto(&base, "/register").await;
            shoot(&mut p, &dir, "1-register", width_name).await;
            p.fill("#email", &email).await;
            p.fill("#password", PASSWORD).await;
            p.fill("#password_confirm", PASSWORD).await;
            p.submit("form[action='/register']").await;
            // Show the manual key opened, as a person who cannot scan sees it.
            p.find("details.manual summary")
                .await
                .click()
                .await
                .unwrap();
            shoot(&mut p, &dir, "2-enroll", width_name).await;
            let secret = p.scan_qr().await;
            let secret = crate::driver::secret_of(&secret);
            crate::support::wait_for_fresh_step(5).await;
            p.fill("#code", &totp_at(&secret, 0)).await;
            p.submit("form[action='/enroll']").await;
            shoot(&mut p, &dir, "3-recovery-codes", width_name).await;
            let recovery = p.text(".recovery-code").await;
            p.submit("form[action='/recovery-codes']").await;
            shoot(&mut p, &dir, "7-welcome", width_name).await;
            // The account page, and replacing the authenticator (proven
            // with a recovery code, so the TOTP steps below stay free).
            p.goto(&base, "/account").await;
            shoot(&mut p, &dir, "9-account", width_name).await;
            p.goto(&base, "/account/authenticator").await;
            shoot(&mut p, &dir, "9-account-prove", width_name).await;
            p.fill("#authenticator-password", PASSWORD).await;
            p.fill("#authenticator-code", &recovery).await;
            p.submit("form[action='/account/authenticator']").await;
            shoot(&mut p, &dir, "9-account-authenticator", width_name).await;
            p.goto(&base, "/welcome").await;
            p.submit("form[action='/logout']").await;
            shoot(&mut p, &dir, "4-login", width_name).await;
            p.fill("#email", &email).await;
            p.fill("#password", "a wrong password").await;
            p.submit("form[action='/login']").await;
            shoot(&mut p, &dir, "4-login-error", width_name).await;
            p.fill("#email", &email).await;
            p.fill("#password", PASSWORD).await;
            p.submit("form[action='/login']").await;
            shoot(&mut p, &dir, "5-login-totp", width_name).await;
            p.goto(&base, "/login/recovery").await;
            shoot(&mut p, &dir, "6-login-recovery", width_name).await;
            p.goto(&base, "/no-such-page").await;
            shoot(&mut p, &dir, "8-error", width_name).await;
            p.close().await;
        }
    }
    app.stop().await;
}
