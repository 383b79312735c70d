//! The shared client (`twofa::client`, the `twofa-client` crate) read
//! against the pages our own templates render. The crate only knows literal
//! HTML; these tests catch a template change its extraction no longer follows.

use crate::client::Page;
use crate::pages::{Lang, Pages};

/// A page rendered by the service's own templates.
fn render(template: &str, path: &str, fill: impl FnOnce(&mut tera::Context)) -> String {
    let mut ctx = tera::Context::new();
    fill(&mut ctx);
    Pages::load()
        .unwrap()
        .render(template, Lang::En, path, ctx)
        .unwrap()
}

fn page(body: String) -> Page {
    Page {
        status: 200,
        headers: Default::default(),
        body,
    }
}

const TOKEN: &str = "Zm9v_YmFy-0123.abc";

#[test]
fn reads_the_csrf_token_of_the_login_page() {
    let p = page(render("login.html", "/login", |c| {
        c.insert("csrf_token", TOKEN);
        c.insert("email", "a@example.com");
    }));
    assert_eq!(p.csrf().as_deref(), Some(TOKEN));
    assert_eq!(p.hidden("csrf_token").as_deref(), Some(TOKEN));
    // Other fields are not hidden inputs with values.
    assert_eq!(p.hidden("proof"), None);
}

#[test]
fn reads_the_enrolment_page_secret_and_token() {
    let p = page(render("enroll.html", "/enroll", |c| {
        c.insert("csrf_token", TOKEN);
        c.insert("qr_svg", "<svg id=\"otpauth-qr\"></svg>");
        c.insert("secret_grouped", "JBSW Y3DP EHPK 3PXP");
        c.insert(
            "otpauth_uri",
            "otpauth://totp/twofa:a%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=twofa",
        );
    }));
    assert_eq!(p.totp_secret().as_deref(), Some("JBSWY3DPEHPK3PXP"));
    assert_eq!(
        p.element_text("totp-secret").as_deref(),
        Some("JBSW Y3DP EHPK 3PXP")
    );
    // The template escapes '/' and '&'; the client reads the URI back.
    assert_eq!(
        p.element_text("otpauth-uri").as_deref(),
        Some("otpauth://totp/twofa:a%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=twofa")
    );
    assert_eq!(p.csrf().as_deref(), Some(TOKEN));
}

#[test]
fn reads_every_recovery_code_in_order() {
    let codes = ["aaaa-bbbb", "cccc-dddd", "eeee-ffff"];
    let p = page(render("recovery_codes.html", "/recovery-codes", |c| {
        c.insert("csrf_token", TOKEN);
        c.insert("codes", &codes);
    }));
    assert_eq!(p.recovery_codes(), codes);
    // The second visit shows only the form: no codes, still a token.
    let p = page(render("recovery_codes.html", "/recovery-codes", |c| {
        c.insert("csrf_token", TOKEN);
        c.insert("codes", &Vec::<String>::new());
    }));
    assert!(p.recovery_codes().is_empty());
    assert_eq!(p.csrf().as_deref(), Some(TOKEN));
}
