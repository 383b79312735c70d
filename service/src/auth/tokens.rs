//! Random tokens (session and challenge ids, recovery codes), their hashes,
//! and CSRF tokens bound to a per-browser cookie.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// 256 random bits, URL-safe base64.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database stores instead of a token.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Ten single-use recovery codes of 120 random bits: 24 base32 characters.
pub fn recovery_codes(n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let mut bytes = [0u8; 15];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            super::totp::base32_encode(&bytes)
        })
        .collect()
}

/// A recovery code as typed: spaces and dashes dropped, upper case.
/// `None` when it cannot be one.
pub fn normalize_recovery_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == 24
        && code
            .bytes()
            .all(|b| b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".contains(&b)))
    .then_some(code)
}

/// CSRF tokens: `base64url(issued_at ‖ HMAC(key, browser cookie ‖ issued_at))`.
/// Any app with the same secret key checks a token another app issued.
pub struct Csrf {
    key: Zeroizing<[u8; 32]>,
    lifetime_s: u64,
}

impl Csrf {
    pub fn new(key: Zeroizing<[u8; 32]>, lifetime_s: u64) -> Csrf {
        Csrf { key, lifetime_s }
    }

    fn mac(&self, browser: &str, issued: u64) -> [u8; 16] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key[..]).expect("any key length");
        mac.update(browser.as_bytes());
        mac.update(&issued.to_be_bytes());
        let full = mac.finalize().into_bytes();
        full[..16].try_into().expect("16 of 32 bytes")
    }

    fn browser_mac(&self, nonce: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key[..]).expect("any key length");
        mac.update(b"csrf browser\0");
        mac.update(nonce.as_bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16])
    }

    /// A new value for a browser's CSRF cookie: random, signed by the
    /// server, so a value a client (or a cookie-tossing neighbour) chose is
    /// never believed.
    pub fn new_browser(&self) -> String {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let nonce = URL_SAFE_NO_PAD.encode(bytes);
        let mac = self.browser_mac(&nonce);
        format!("{nonce}.{mac}")
    }

    /// Whether a CSRF cookie value is one [`Csrf::new_browser`] issued.
    pub fn browser_ok(&self, value: &str) -> bool {
        let Some((nonce, mac)) = value.split_once('.') else {
            return false;
        };
        nonce.len() == 22 && bool::from(self.browser_mac(nonce).as_bytes().ct_eq(mac.as_bytes()))
    }

    pub fn issue(&self, browser: &str, now: u64) -> String {
        let mut raw = now.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.mac(browser, now));
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn verify(&self, browser: &str, token: &str, now: u64) -> bool {
        let Ok(raw) = URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        if raw.len() != 24 {
            return false;
        }
        let issued = u64::from_be_bytes(raw[..8].try_into().expect("8 bytes"));
        if issued > now + 60 || now - issued.min(now) > self.lifetime_s {
            return false;
        }
        bool::from(self.mac(browser, issued).ct_eq(&raw[8..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_binds_browser_and_time() {
        let csrf = Csrf::new(Zeroizing::new([9; 32]), 3600);
        let t = csrf.issue("browser-a", 1000);
        assert!(csrf.verify("browser-a", &t, 1000 + 3599));
        assert!(!csrf.verify("browser-a", &t, 1000 + 3601), "stale");
        assert!(!csrf.verify("browser-b", &t, 1001), "foreign");
        assert!(!csrf.verify("browser-a", "not base64!", 1001));
        let other_key = Csrf::new(Zeroizing::new([8; 32]), 3600);
        assert!(!other_key.verify("browser-a", &t, 1001));
        let b = csrf.new_browser();
        assert!(csrf.browser_ok(&b));
        assert!(!other_key.browser_ok(&b), "signed by another key");
        assert!(!csrf.browser_ok("chosen-by-the-client"));
        assert!(!csrf.browser_ok(&format!("{}x", b)));
    }

    #[test]
    fn recovery_codes_are_long_and_normalise() {
        let codes = recovery_codes(10);
        assert_eq!(codes.len(), 10);
        for c in &codes {
            assert_eq!(c.len(), 24);
            let spaced = super::super::totp::grouped(&c.to_lowercase());
            assert_eq!(
                normalize_recovery_code(&spaced).as_deref(),
                Some(c.as_str())
            );
        }
        assert_eq!(normalize_recovery_code("ABCD"), None);
        assert_eq!(normalize_recovery_code(&"1".repeat(24)), None);
    }
}
