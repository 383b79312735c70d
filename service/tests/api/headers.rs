//! Cookie flags and security headers.

use crate::support::*;

#[tokio::test]
async fn every_cookie_is_host_prefixed_secure_httponly_samesite() {
    wait_for_fresh_step(6).await;
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    let mut all = Vec::new();
    all.extend(b.get("/login?lang=pt").await.set_cookies());
    all.extend(b.register("tess@example.com", PASSWORD).await.set_cookies());
    let secret = b.get("/enroll").await.secret();
    all.extend(
        b.post("/enroll", &[("code", &totp_now(&secret))])
            .await
            .set_cookies(),
    );
    all.extend(b.post("/logout", &[]).await.set_cookies());
    let names: Vec<&str> = all.iter().map(|c| c.split('=').next().unwrap()).collect();
    for name in [
        "__Host-twofa-csrf",
        "__Host-twofa-lang",
        "__Host-twofa-login",
        "__Host-twofa-session",
    ] {
        assert!(names.contains(&name), "{name} set at some step: {names:?}");
    }
    for c in &all {
        assert!(c.starts_with("__Host-"), "{c}");
        for flag in ["; Path=/", "; HttpOnly", "; SameSite=Lax", "; Secure"] {
            assert!(c.contains(flag), "{c} lacks {flag}");
        }
        assert!(!c.to_ascii_lowercase().contains("domain="), "{c}");
    }
}

#[tokio::test]
async fn local_http_cookies_drop_the_prefix_and_secure() {
    let app = TestApp::spawn_with(|s| s.cookie_secure = false).await;
    let mut b = app.browser();
    let cookies = b.get("/login").await.set_cookies();
    assert!(cookies[0].starts_with("twofa-csrf="));
    assert!(!cookies[0].contains("Secure"));
    assert!(cookies[0].contains("HttpOnly") && cookies[0].contains("SameSite=Lax"));
}

#[tokio::test]
async fn security_headers_on_every_page() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    for path in ["/login", "/register", "/nope", "/login/totp", "/healthz"] {
        let r = b.get(path).await;
        let csp = r.header("content-security-policy");
        assert!(csp.starts_with("default-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(r.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(r.header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(r.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(r.header("cache-control"), "no-store", "{path}");
    }
    let css = b.get("/static/style.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
    let icon = b.get("/favicon.ico").await;
    assert_eq!(
        (icon.status, icon.header("content-type")),
        (200, "image/x-icon")
    );
}

#[tokio::test]
async fn pages_have_no_inline_script_or_style() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    b.register("uma@example.com", PASSWORD).await;
    for path in ["/login", "/register", "/enroll"] {
        let body = b.get(path).await.body;
        assert!(!body.contains("<script"), "{path}");
        assert!(
            !body.contains("style=") && !body.contains("<style"),
            "{path}"
        );
        assert!(body.contains("<link rel=\"stylesheet\" href=\"/static/style.css\">"));
    }
}
