//! TOTP secrets at rest: AES-256-GCM with a random nonce and the user id as
//! associated data, under a key that carries an id so keys can rotate.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{anyhow, bail, Result};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;

pub struct SecretBox {
    /// (key id, cipher); the first is the current key.
    keys: Vec<(String, Aes256Gcm)>,
    current_raw: Zeroizing<[u8; 32]>,
}

impl SecretBox {
    pub fn new(keys: &[Zeroizing<[u8; 32]>]) -> Result<SecretBox> {
        let Some(current) = keys.first() else {
            bail!("no secret key configured");
        };
        Ok(SecretBox {
            keys: keys
                .iter()
                .map(|k| {
                    (
                        key_id(k),
                        Aes256Gcm::new_from_slice(&k[..]).expect("32-byte key"),
                    )
                })
                .collect(),
            current_raw: current.clone(),
        })
    }

    pub fn current_key_id(&self) -> &str {
        &self.keys[0].0
    }

    /// Encrypts for `user_id`; returns (nonce ‖ ciphertext, key id).
    pub fn seal(&self, user_id: i64, plaintext: &[u8]) -> Result<(Vec<u8>, String)> {
        let (id, cipher) = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = user_id.to_be_bytes();
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| anyhow!("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok((out, id.clone()))
    }

    pub fn open(&self, user_id: i64, sealed: &[u8], key_id: &str) -> Result<Zeroizing<Vec<u8>>> {
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(id, _)| id == key_id)
            .ok_or_else(|| {
                anyhow!("secret encrypted under key {key_id}, which is not configured")
            })?;
        if sealed.len() < NONCE_LEN {
            bail!("ciphertext too short");
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let aad = user_id.to_be_bytes();
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map(Zeroizing::new)
            .map_err(|_| anyhow!("secret does not decrypt under key {key_id}"))
    }

    /// A key for another purpose (CSRF tokens), derived from the current key.
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.current_raw[..]).expect("any key length");
        mac.update(purpose.as_bytes());
        Zeroizing::new(mac.finalize().into_bytes().into())
    }
}

/// Names a key without revealing it: the first 8 hex digits of its SHA-256.
pub fn key_id(key: &[u8; 32]) -> String {
    hex::encode(&Sha256::digest(key)[..4])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Zeroizing<[u8; 32]> {
        Zeroizing::new([b; 32])
    }

    #[test]
    fn round_trip_and_binding_to_user() {
        let b = SecretBox::new(&[key(1)]).unwrap();
        let (ct, id) = b.seal(7, b"secret").unwrap();
        assert_eq!(&b.open(7, &ct, &id).unwrap()[..], b"secret");
        assert!(b.open(8, &ct, &id).is_err(), "moved to another user");
        let mut tampered = ct.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(b.open(7, &tampered, &id).is_err());
    }

    #[test]
    fn rotation_keeps_old_secrets_readable() {
        let old = SecretBox::new(&[key(1)]).unwrap();
        let (ct, id) = old.seal(3, b"s").unwrap();
        let rotated = SecretBox::new(&[key(2), key(1)]).unwrap();
        assert_ne!(rotated.current_key_id(), id);
        assert_eq!(&rotated.open(3, &ct, &id).unwrap()[..], b"s");
        let only_new = SecretBox::new(&[key(2)]).unwrap();
        assert!(only_new.open(3, &ct, &id).is_err());
    }
}
