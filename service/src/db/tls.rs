//! TLS to PostgreSQL with rustls: the connection string's `sslmode` and a CA
//! file from the operator decide whether the connection is encrypted and how
//! the server's certificate is checked.
//!
//! tokio-postgres knows only `disable`, `prefer` and `require`, so the
//! connection string is read here first: `sslmode` and `sslrootcert` are
//! taken out, the rest goes to tokio-postgres unchanged, and the verifying
//! modes become `require` plus a certificate check of our own.
//!
//! | `sslmode`          | encrypted          | certificate checked                    |
//! |--------------------|--------------------|----------------------------------------|
//! | `disable`          | never              | —                                      |
//! | `prefer` (libpq's default) | if the server offers | against the CA when one is given (chain and name), else not |
//! | `require`          | always             | as `prefer`                            |
//! | `verify-ca`        | always             | chain to the CA; the name is not       |
//! | `verify-full`      | always             | chain to the CA and the host name      |
//! | (none, CA given)   | always             | as `verify-full`                       |
//!
//! The host name checked is the `host` of the connection string (an IP
//! address is matched against the certificate's IP addresses); `hostaddr`
//! only says where to connect, as in libpq.

use anyhow::{bail, Context, Result};
use futures_util::future::BoxFuture;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres::Socket;

/// What the connection string asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn parse(value: &str) -> Result<Mode> {
        Ok(match value {
            "disable" => Mode::Disable,
            "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            "allow" => bail!(
                "sslmode=allow is not supported (it tries plain text first); \
                 use disable, prefer, require, verify-ca or verify-full"
            ),
            other => bail!(
                "sslmode={other:?} is not a valid mode; \
                 use disable, prefer, require, verify-ca or verify-full"
            ),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Disable => "disable",
            Mode::Prefer => "prefer",
            Mode::Require => "require",
            Mode::VerifyCa => "verify-ca",
            Mode::VerifyFull => "verify-full",
        }
    }
}

/// How the server's certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Encryption against passive listeners only: anyone can answer.
    Nothing,
    /// The chain must lead to the CA; any name.
    Chain,
    /// The chain must lead to the CA and name the host.
    Full,
}

/// The connection string split into what tokio-postgres reads and what we do.
#[derive(Debug)]
pub struct Plan {
    /// The connection string without `sslmode` and `sslrootcert`.
    pub rest: String,
    pub mode: Mode,
    /// Whether `sslmode` was written in the string (else `mode` is derived).
    pub mode_given: bool,
    pub check: Check,
    /// The CA file in use: the setting, else the string's `sslrootcert`.
    pub ca_file: Option<PathBuf>,
}

impl Plan {
    /// Reads `sslmode` and `sslrootcert` out of a key=value or URL
    /// connection string; `ca_file` (TWOFA_DATABASE_CA_FILE) wins over
    /// `sslrootcert`.
    pub fn new(url: &str, ca_file: Option<&Path>) -> Result<Plan> {
        let (rest, params) = take_params(url, &["sslmode", "sslrootcert"])?;
        let given_mode = params[0].as_deref().map(Mode::parse).transpose()?;
        let ca_file = ca_file
            .map(Path::to_path_buf)
            .or_else(|| params[1].as_ref().map(PathBuf::from));
        let mode = match given_mode {
            Some(mode) => mode,
            None if ca_file.is_some() => Mode::VerifyFull,
            None => Mode::Prefer,
        };
        let check = match (mode, &ca_file) {
            (Mode::Disable, _) => Check::Nothing,
            (Mode::VerifyCa | Mode::VerifyFull, None) => bail!(
                "sslmode={} needs the CA that signed the database's certificate: \
                 set TWOFA_DATABASE_CA_FILE (or database_ca_file in the config file)",
                mode.as_str()
            ),
            (Mode::VerifyCa, Some(_)) => Check::Chain,
            (_, Some(_)) => Check::Full,
            (_, None) => Check::Nothing,
        };
        Ok(Plan {
            rest,
            mode,
            mode_given: given_mode.is_some(),
            check,
            ca_file,
        })
    }

    /// The mode tokio-postgres is given: it knows only three.
    pub fn driver_mode(&self) -> SslMode {
        match self.mode {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }

    /// The TLS side of every connection.
    pub fn connector(&self) -> Result<MakeRustls> {
        let verifier: Arc<dyn ServerCertVerifier> = match (&self.ca_file, self.check) {
            (Some(path), Check::Chain | Check::Full) => {
                let roots = Arc::new(read_ca(path)?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider())
                    .build()
                    .with_context(|| format!("the CA in {} cannot be used", path.display()))?;
                Arc::new(Verifier {
                    webpki,
                    check_name: self.check == Check::Full,
                })
            }
            _ => Arc::new(AnyCertificate(provider())),
        };
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustls {
            config: Arc::new(config),
        })
    }

    /// One line for `twofa check-config`.
    pub fn describe(&self) -> String {
        let ca = self
            .ca_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        match (self.mode, self.check) {
            (Mode::Disable, _) => {
                "off (sslmode=disable): traffic to the database is plain text".into()
            }
            (Mode::Prefer, Check::Nothing) => {
                "if the server offers it, certificate not checked (no CA file): \
                 set TWOFA_DATABASE_CA_FILE and sslmode=verify-full"
                    .into()
            }
            (Mode::Require, Check::Nothing) => "required, certificate not checked (no CA file): \
                 set TWOFA_DATABASE_CA_FILE and sslmode=verify-full"
                .into(),
            (Mode::Prefer, _) => {
                format!("if the server offers it, certificate and host name checked against {ca}")
            }
            (_, Check::Chain) => format!(
                "required (verify-ca), certificate chain checked against {ca}, host name not"
            ),
            (_, _) => format!("required, certificate and host name checked against {ca}"),
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file; at least one, every one usable as a root.
fn read_ca(path: &Path) -> Result<RootCertStore> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the database CA file {}", path.display()))?;
    let mut roots = RootCertStore::empty();
    for (i, cert) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let cert = cert.with_context(|| {
            format!(
                "the database CA file {} is not valid PEM (certificate {})",
                path.display(),
                i + 1
            )
        })?;
        roots.add(cert).with_context(|| {
            format!(
                "certificate {} in the database CA file {} is not a usable CA certificate",
                i + 1,
                path.display()
            )
        })?;
    }
    if roots.is_empty() {
        bail!(
            "the database CA file {} holds no certificate (expected PEM \
             \"-----BEGIN CERTIFICATE-----\" blocks)",
            path.display()
        );
    }
    Ok(roots)
}

/// Removes `keys` from a key=value or `postgres://` connection string and
/// returns the rest with each key's value (the last one, as libpq does).
pub fn take_params(url: &str, keys: &[&str]) -> Result<(String, Vec<Option<String>>)> {
    let mut found = vec![None; keys.len()];
    let trimmed = url.trim_start();
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        let Some((head, query)) = url.split_once('?') else {
            return Ok((url.to_string(), found));
        };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match keys.iter().position(|key| *key == k) {
                Some(i) => {
                    found[i] = Some(
                        urlencoding::decode(v)
                            .with_context(|| format!("{k} in the database URL is not valid"))?
                            .into_owned(),
                    )
                }
                None => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            head.to_string()
        } else {
            format!("{head}?{}", kept.join("&"))
        };
        return Ok((rest, found));
    }
    // key=value pairs; a value may be quoted ('…', with \' and \\ inside).
    let mut rest = String::new();
    let mut chars = url.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            bail!("the database connection string has {key:?} without a value");
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            loop {
                match chars.next() {
                    Some((_, '\'')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => value.push(c),
                        None => bail!("the database connection string ends inside a quote"),
                    },
                    Some((_, c)) => value.push(c),
                    None => bail!("the database connection string ends inside a quote"),
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some((_, next)) = chars.next() {
                        value.push(next);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        let end = chars.peek().map_or(url.len(), |&(i, _)| i);
        match keys.iter().position(|k| *k == key) {
            Some(i) => found[i] = Some(value),
            None => {
                if !rest.is_empty() {
                    rest.push(' ');
                }
                rest.push_str(url[start..end].trim_end());
            }
        }
    }
    Ok((rest, found))
}

/// Checks the chain with webpki and, unless told not to, the name.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            // verify-ca: a good chain for another name is still good.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `prefer`/`require` without a CA, as libpq: the handshake's signatures
/// are checked, the certificate's owner is not.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// tokio-postgres' TLS hook, one per pool (cheap to clone).
#[derive(Clone)]
pub struct MakeRustls {
    config: Arc<ClientConfig>,
}

impl MakeTlsConnect<Socket> for MakeRustls {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, io::Error> {
        // A unix socket has no name (and PostgreSQL no TLS on it); the
        // handshake is refused later only if the server offers TLS there.
        let name = if domain.is_empty() {
            None
        } else {
            Some(ServerName::try_from(domain.to_string()).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("database host {domain:?} is not a valid TLS server name: {e}"),
                )
            })?)
        };
        Ok(RustlsConnect {
            config: self.config.clone(),
            name,
        })
    }
}

pub struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: Option<ServerName<'static>>,
}

impl TlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = io::Error;
    type Future = BoxFuture<'static, io::Result<RustlsStream>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(async move {
            let name = self.name.ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "no host name to check")
            })?;
            let tls = tokio_rustls::TlsConnector::from(self.config)
                .connect(name, stream)
                .await?;
            Ok(RustlsStream(Box::new(tls)))
        })
    }
}

/// An encrypted connection to the server.
pub struct RustlsStream(Box<tokio_rustls::client::TlsStream<Socket>>);

impl TlsStream for RustlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM then runs without channel binding: the certificate check
        // already ties the connection to the server.
        ChannelBinding::none()
    }
}

impl AsyncRead for RustlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_keys_are_taken_out_of_a_key_value_string_and_the_rest_kept() {
        let (rest, found) = take_params(
            "host=db1,db2 sslmode=verify-full  options='-c a=b' sslrootcert = '/etc/ca it.pem' dbname=x",
            &["sslmode", "sslrootcert"],
        )
        .unwrap();
        assert_eq!(rest, "host=db1,db2 options='-c a=b' dbname=x");
        assert_eq!(found[0].as_deref(), Some("verify-full"));
        assert_eq!(found[1].as_deref(), Some("/etc/ca it.pem"));
        let parsed: tokio_postgres::Config = rest.parse().unwrap();
        assert_eq!(parsed.get_options(), Some("-c a=b"));
    }

    #[test]
    fn the_tls_keys_are_taken_out_of_a_url() {
        let (rest, found) = take_params(
            "postgresql://u@h1,h2/db?sslmode=verify-ca&connect_timeout=3&sslrootcert=%2Fca.pem",
            &["sslmode", "sslrootcert"],
        )
        .unwrap();
        assert_eq!(rest, "postgresql://u@h1,h2/db?connect_timeout=3");
        assert_eq!(found[0].as_deref(), Some("verify-ca"));
        assert_eq!(found[1].as_deref(), Some("/ca.pem"));
        let (rest, found) = take_params("postgres://h/db?sslmode=disable", &["sslmode"]).unwrap();
        assert_eq!(rest, "postgres://h/db");
        assert_eq!(found[0].as_deref(), Some("disable"));
    }

    #[test]
    fn a_ca_file_means_verify_full_unless_the_string_says_otherwise() {
        let ca = Path::new("/ca.pem");
        let plan = Plan::new("host=h dbname=x", Some(ca)).unwrap();
        assert_eq!((plan.mode, plan.check), (Mode::VerifyFull, Check::Full));
        let plan = Plan::new("host=h sslmode=disable", Some(ca)).unwrap();
        assert_eq!((plan.mode, plan.check), (Mode::Disable, Check::Nothing));
        let plan = Plan::new("host=h sslmode=verify-ca", Some(ca)).unwrap();
        assert_eq!(plan.check, Check::Chain);
        let plan = Plan::new("host=h sslmode=require sslrootcert=/other.pem", Some(ca)).unwrap();
        assert_eq!(plan.check, Check::Full);
        assert_eq!(plan.ca_file.as_deref(), Some(ca), "the setting wins");
        let plan = Plan::new("host=h", None).unwrap();
        assert_eq!((plan.mode, plan.check), (Mode::Prefer, Check::Nothing));
    }

    #[test]
    fn verifying_modes_without_a_ca_and_unknown_modes_are_refused_clearly() {
        for mode in ["verify-full", "verify-ca"] {
            let err = Plan::new(&format!("host=h sslmode={mode}"), None).unwrap_err();
            assert!(
                err.to_string().contains("TWOFA_DATABASE_CA_FILE"),
                "{mode}: {err}"
            );
        }
        let err = Plan::new("host=h sslmode=allow", None).unwrap_err();
        assert!(err.to_string().contains("not supported"), "{err}");
        let err = Plan::new("host=h sslmode=verify_full", None).unwrap_err();
        assert!(err.to_string().contains("not a valid mode"), "{err}");
        assert!(Plan::new("host=h sslmode='unterminated", None).is_err());
    }

    #[test]
    fn a_ca_file_that_is_missing_empty_or_not_pem_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        for (path, says) in [
            (&missing, "cannot read"),
            (&empty, "holds no certificate"),
            (&broken, "not a usable CA certificate"),
        ] {
            let plan = Plan::new("host=h", Some(path)).unwrap();
            let err = format!("{:#}", plan.connector().err().expect("refused"));
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(err.contains(says), "{says}: {err}");
        }
    }
}
