//! Device cookies (OWASP's "device cookie" defence against lockout): a
//! browser that has completed a login for an account gets a signed cookie
//! naming that account. With it, wrong passwords are counted for that browser
//! alone, so strangers hammering the account's name cannot keep its owner out.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// How long a browser stays known after its last completed login.
pub const DEVICE_COOKIE_MAX_AGE_S: u64 = 365 * 86400;

pub struct DeviceKey {
    key: Zeroizing<[u8; 32]>,
}

impl DeviceKey {
    pub fn new(key: Zeroizing<[u8; 32]>) -> DeviceKey {
        DeviceKey { key }
    }

    fn mac(&self, user_id: i64, nonce: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key[..]).expect("any key length");
        mac.update(b"device\0");
        mac.update(&user_id.to_be_bytes());
        mac.update(nonce.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// A new cookie value for a browser that just completed a login.
    pub fn issue(&self, user_id: i64) -> String {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let nonce = URL_SAFE_NO_PAD.encode(bytes);
        let mac = URL_SAFE_NO_PAD.encode(self.mac(user_id, &nonce));
        format!("{user_id}.{nonce}.{mac}")
    }

    /// The throttle key of this browser for `user_id`, if the cookie is one
    /// we issued for that account; `None` for anything else.
    pub fn throttle_key(&self, cookie: &str, user_id: i64) -> Option<String> {
        let mut parts = cookie.split('.');
        let (uid, nonce, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || uid.parse::<i64>().ok()? != user_id {
            return None;
        }
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        if !bool::from(self.mac(user_id, nonce).ct_eq(&mac)) {
            return None;
        }
        Some(format!(
            "dev:{}",
            hex::encode(Sha256::digest(cookie.as_bytes()))
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_cookie_for_that_account_counts() {
        let k = DeviceKey::new(Zeroizing::new([3; 32]));
        let c = k.issue(42);
        assert!(k.throttle_key(&c, 42).is_some());
        assert_eq!(k.throttle_key(&c, 43), None, "another account");
        let forged = c.replacen("42.", "43.", 1);
        assert_eq!(k.throttle_key(&forged, 43), None, "user id changed");
        assert_eq!(k.throttle_key("42.abc.def", 42), None);
        let other = DeviceKey::new(Zeroizing::new([4; 32]));
        assert_eq!(other.throttle_key(&c, 42), None, "another key");
        assert_ne!(k.throttle_key(&c, 42), k.throttle_key(&k.issue(42), 42));
    }
}
