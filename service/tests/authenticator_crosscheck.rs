//! The Android authenticator's pure-Java core against the real service: the
//! enrolment URI twofa shows is parsed and turned into codes by the app's own
//! code (`org.twofa.authenticator.otp.CodeTool`), and the service must accept
//! them, first to confirm enrolment, then to log in.
//!
//! Needs `TWOFA_AUTHENTICATOR_CLASSES`, the folder of the compiled core:
//! `cargo xtask test` sets it; by hand,
//! `export TWOFA_AUTHENTICATOR_CLASSES=$(cargo xtask apk --core-classes)`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};
use support::{wait_for_fresh_step, TestApp, PASSWORD};

fn core_classes() -> PathBuf {
    let dir = std::env::var_os("TWOFA_AUTHENTICATOR_CLASSES").unwrap_or_else(|| {
        panic!(
            "TWOFA_AUTHENTICATOR_CLASSES is not set: it must name the compiled Java core of the \
             authenticator. Run the tests with `cargo xtask test`, or \
             `export TWOFA_AUTHENTICATOR_CLASSES=$(cargo xtask apk --core-classes)`."
        )
    });
    let dir = PathBuf::from(dir);
    assert!(
        dir.join("org/twofa/authenticator/otp/CodeTool.class")
            .exists(),
        "TWOFA_AUTHENTICATOR_CLASSES={} holds no org/twofa/authenticator/otp/CodeTool.class; \
         rebuild it with `cargo xtask apk --core-classes`",
        dir.display()
    );
    dir
}

/// The code the Java core computes for `uri` at `unix` seconds.
fn java_code(classes: &Path, uri: &str, unix: u64) -> String {
    let out = Command::new("java")
        .arg("-cp")
        .arg(classes)
        .arg("org.twofa.authenticator.otp.CodeTool")
        .arg(uri)
        .arg(unix.to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run java ({e}); install openjdk-17-jdk-headless"));
    assert!(
        out.status.success(),
        "the Java core refused the service's enrolment URI {uri:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "CodeTool printed {code:?}, not a 6-digit code"
    );
    code
}

#[tokio::test]
async fn the_java_core_computes_codes_the_service_accepts() {
    let classes = core_classes();
    let app = TestApp::spawn().await;
    let email = "crosscheck@example.org";
    let mut browser = app.browser();

    let r = browser.register(email, PASSWORD).await;
    assert_eq!(r.status, 303, "register: {}", r.body);
    assert_eq!(r.location(), "/enroll");
    let page = browser.get("/enroll").await;
    assert_eq!(page.status, 200);
    let uri = page
        .element_text("otpauth-uri")
        .expect("the enrolment page has <code id=\"otpauth-uri\">");
    assert!(uri.starts_with("otpauth://totp/"), "enrolment URI: {uri}");

    // Both codes come from one instant well inside a step, so the service's
    // clock sees the same steps (it accepts t-1..t+1).
    wait_for_fresh_step(10).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let enrol_code = java_code(&classes, &uri, now);
    let next_code = java_code(&classes, &uri, now + 30);

    let r = browser.post("/enroll", &[("code", &enrol_code)]).await;
    assert_eq!(
        r.status, 303,
        "the service refused the Java core's code for {uri}: {}",
        r.body
    );
    assert_eq!(r.location(), "/recovery-codes");
    let codes = browser.get("/recovery-codes").await.recovery_codes();
    assert_eq!(codes.len(), 10);
    let r = browser.post("/recovery-codes", &[]).await;
    assert_eq!(r.location(), "/welcome");

    // A fresh login with the next step's code (the enrolment step is spent:
    // the replay guard only takes later steps).
    let mut phone_user = app.browser();
    let r = phone_user.login(email, PASSWORD).await;
    assert_eq!(r.status, 303, "login: {}", r.body);
    assert_eq!(r.location(), "/login/totp");
    phone_user.get("/login/totp").await;
    let r = phone_user.code(&next_code).await;
    assert_eq!(
        r.status, 303,
        "login with the Java core's next code was refused: {}",
        r.body
    );
    assert_eq!(r.location(), "/welcome");

    app.stop().await;
}
