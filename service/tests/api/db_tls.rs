//! TLS between the service and PostgreSQL, against the test cluster, whose
//! certificate (for `localhost` and `127.0.0.1`) comes from a throwaway CA
//! (`TWOFA_TEST_DATABASE_CA_FILE`, set by `cargo xtask test` / `cargo xtask pg`).

use crate::support::*;
use std::path::PathBuf;
use std::process::Command;
use twofa::config::Settings;
use twofa::db::Db;

fn test_ca() -> PathBuf {
    let path = std::env::var_os("TWOFA_TEST_DATABASE_CA_FILE").unwrap_or_else(|| {
        panic!(
            "TWOFA_TEST_DATABASE_CA_FILE is not set. Run the tests with `cargo xtask test`, \
             or start a database with `cargo xtask pg` and export both variables it prints."
        )
    });
    PathBuf::from(path)
}

/// A CA that signed nothing the server presents, though it bears the
/// real CA's name (an impostor, not just a stranger).
fn stranger_ca(dir: &std::path::Path) -> PathBuf {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "twofa throwaway test CA");
    let cert = params.self_signed(&key).unwrap();
    let path = dir.join("stranger-ca.pem");
    std::fs::write(&path, cert.pem()).unwrap();
    path
}

/// `url` with its `host=` replaced by `host` (which may carry a hostaddr)
/// and `extra` appended.
fn rehost(url: &str, host: &str, extra: &str) -> String {
    let kept: Vec<&str> = url
        .split_whitespace()
        .filter(|kv| !kv.starts_with("host="))
        .collect();
    format!("{host} {} {extra}", kept.join(" "))
}

fn settings(url: &str, ca: Option<PathBuf>, dir: &std::path::Path) -> Settings {
    let mut s = test_settings(url, dir);
    s.database_ca_file = ca;
    s
}

/// Whether every backend of `application_name` is encrypted, and how many there are.
async fn encrypted_backends(name: &str) -> (Option<bool>, i64) {
    let admin = connect(&admin_url()).await;
    let row = admin
        .query_one(
            "SELECT bool_and(s.ssl), count(*) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
            &[&name],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn connect_error(s: &Settings) -> String {
    let db = Db::connect(s).expect("the settings are valid");
    match db.check_writable().await {
        Ok(_) => panic!("connected with {}", s.database_url),
        Err(e) => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        }
    }
}

#[tokio::test]
async fn verify_full_with_the_right_ca_and_host_name_serves_logins_over_tls() {
    let ca = test_ca();
    let db_url = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    // By name (hostaddr says where, the name is what is checked) and by IP.
    for (i, host) in ["host=localhost hostaddr=127.0.0.1", "host=127.0.0.1"]
        .iter()
        .enumerate()
    {
        let name = format!("tls_ok_{}_{i}", std::process::id());
        let url = rehost(
            &db_url,
            host,
            &format!("sslmode=verify-full application_name={name}"),
        );
        let s = settings(&url, Some(ca.clone()), dir.path());
        let db = Db::connect(&s).unwrap();
        assert!(db.check_writable().await.unwrap(), "{host}");
        assert_eq!(encrypted_backends(&name).await, (Some(true), 1), "{host}");
    }
    // A whole login over it, the CA given by setting alone (no sslmode:
    // verify-full is the default then).
    let name = format!("tls_app_{}", std::process::id());
    let url = rehost(
        &db_url,
        "host=localhost hostaddr=127.0.0.1",
        &format!("application_name={name}"),
    );
    let app = TestApp::start_on(url, |s| s.database_ca_file = Some(ca.clone())).await;
    app.enrolled_user("tina@example.com").await;
    let (all_encrypted, n) = encrypted_backends(&name).await;
    assert!(n >= 1, "the app holds connections");
    assert_eq!(all_encrypted, Some(true));
}

#[tokio::test]
async fn a_wrong_ca_or_a_wrong_host_name_is_refused_and_named() {
    let ca = test_ca();
    let db_url = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let stranger = stranger_ca(dir.path());
    let url = rehost(&db_url, "host=localhost", "sslmode=verify-full");
    let err = connect_error(&settings(&url, Some(stranger), dir.path())).await;
    assert!(
        err.contains("invalid peer certificate: BadSignature"),
        "{err}"
    );
    let url = rehost(
        &db_url,
        "host=db.wrong.example hostaddr=127.0.0.1",
        "sslmode=verify-full",
    );
    let err = connect_error(&settings(&url, Some(ca.clone()), dir.path())).await;
    assert!(
        err.contains("certificate not valid for name \"db.wrong.example\""),
        "{err}"
    );
    // verify-ca checks the chain only: the same wrong name passes.
    let url = rehost(
        &db_url,
        "host=db.wrong.example hostaddr=127.0.0.1",
        "sslmode=verify-ca",
    );
    let db = Db::connect(&settings(&url, Some(ca), dir.path())).unwrap();
    assert!(db.check_writable().await.unwrap());
}

#[tokio::test]
async fn sslmode_disable_stays_plain_even_with_a_ca() {
    let db_url = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let name = format!("tls_plain_{}", std::process::id());
    let url = rehost(
        &db_url,
        "host=127.0.0.1",
        &format!("sslmode=disable application_name={name}"),
    );
    let db = Db::connect(&settings(&url, Some(test_ca()), dir.path())).unwrap();
    assert!(db.check_writable().await.unwrap());
    assert_eq!(encrypted_backends(&name).await, (Some(false), 1));
}

fn check_config(url: &str, ca: &std::path::Path, key: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_twofa"))
        .args(["check-config", "--connect"])
        .env_clear()
        .env("TWOFA_DATABASE_URL", url)
        .env("TWOFA_DATABASE_CA_FILE", ca)
        .env("TWOFA_SECRET_KEY_FILE", key)
        .env("TWOFA_DB_RETRY_DEADLINE_S", "0")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn check_config_names_a_missing_bad_or_wrong_ca() {
    let db_url = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, hex::encode(rand::random::<[u8; 32]>())).unwrap();
    let url = rehost(&db_url, "host=localhost", "sslmode=verify-full");

    let (ok, out) = check_config(&url, &test_ca(), &key);
    assert!(ok, "{out}");
    assert!(
        out.contains("certificate and host name checked against"),
        "{out}"
    );
    assert!(out.contains("reachable and writable"), "{out}");

    let missing = dir.path().join("no-such-ca.pem");
    let (ok, out) = check_config(&url, &missing, &key);
    assert!(!ok);
    assert!(
        out.contains("cannot read the database CA file") && out.contains("no-such-ca.pem"),
        "{out}"
    );

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "hello\n").unwrap();
    let (ok, out) = check_config(&url, &garbage, &key);
    assert!(!ok);
    assert!(out.contains("holds no certificate"), "{out}");

    let (ok, out) = check_config(&url, &stranger_ca(dir.path()), &key);
    assert!(!ok);
    assert!(
        out.contains("not reachable") && out.contains("invalid peer certificate"),
        "{out}"
    );
}
