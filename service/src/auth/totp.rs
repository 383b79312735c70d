//! TOTP (RFC 6238) as every phone app supports it: SHA-1, 6 digits, 30 s.
//! Codes of the previous, current and next step are accepted (clock drift).

use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

pub const DIGITS: usize = 6;
pub const PERIOD: u64 = 30;
pub const SECRET_BYTES: usize = 20;
pub const ISSUER: &str = "twofa";

/// A fresh 160-bit secret from the OS RNG.
pub fn generate_secret() -> [u8; SECRET_BYTES] {
    let mut secret = [0u8; SECRET_BYTES];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    secret
}

/// The code for `unix_time` with any algorithm and length (used by the RFC
/// vector tests; twofa itself uses SHA-1 and 6 digits).
pub fn code_with(algorithm: Algorithm, digits: usize, secret: &[u8], unix_time: u64) -> String {
    TOTP::new_unchecked(algorithm, digits, 0, PERIOD, secret.to_vec()).generate(unix_time)
}

pub fn code_for_step(secret: &[u8], step: i64) -> String {
    code_with(Algorithm::SHA1, DIGITS, secret, step.max(0) as u64 * PERIOD)
}

pub fn step_at(unix_time: u64) -> i64 {
    (unix_time / PERIOD) as i64
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The step among t-1, t, t+1 whose code is `code`, comparing in constant
/// time. The latest matching step wins.
pub fn matching_step(secret: &[u8], code: &str, unix_time: u64) -> Option<i64> {
    let now = step_at(unix_time);
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        let expected = code_for_step(secret, step);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = Some(step);
        }
    }
    found
}

/// Exactly six ASCII digits, or nothing.
pub fn parse_code(input: &str) -> Option<&str> {
    (input.len() == DIGITS && input.bytes().all(|b| b.is_ascii_digit())).then_some(input)
}

/// RFC 4648 base32 without padding, as the Key URI format wants it.
pub fn base32(secret: &[u8]) -> String {
    base32_encode(secret)
}

/// The base32 secret in groups of four, for typing by hand.
pub fn grouped(text: &str) -> String {
    text.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The Key URI every authenticator app reads from the QR code.
pub fn otpauth_uri(account: &str, secret_b32: &str) -> String {
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret_b32}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}",
        issuer = ISSUER,
        account = urlencoding::encode(account),
    )
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buffer: u64 = 0;
    let mut bits = 0;
    for &byte in data {
        buffer = (buffer << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u64 = 0;
    let mut bits = 0;
    for ch in text.bytes() {
        let value = ALPHABET
            .iter()
            .position(|&a| a == ch.to_ascii_uppercase())? as u64;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Vectors {
        hotp: Vec<Hotp>,
        totp: Vec<Totp>,
    }
    #[derive(serde::Deserialize)]
    struct Hotp {
        secret_hex: String,
        secret_base32: String,
        counter: u64,
        code: String,
    }
    #[derive(serde::Deserialize)]
    struct Totp {
        algorithm: String,
        secret_hex: String,
        digits: usize,
        time: u64,
        code: String,
    }

    fn vectors() -> Vectors {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/totp-vectors.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn rfc6238_appendix_b() {
        let v = vectors();
        assert_eq!(v.totp.len(), 18);
        for t in v.totp {
            let alg = match t.algorithm.as_str() {
                "SHA1" => Algorithm::SHA1,
                "SHA256" => Algorithm::SHA256,
                "SHA512" => Algorithm::SHA512,
                other => panic!("unknown algorithm {other}"),
            };
            let secret = hex::decode(&t.secret_hex).unwrap();
            assert_eq!(
                code_with(alg, t.digits, &secret, t.time),
                t.code,
                "{} at {}",
                t.algorithm,
                t.time
            );
        }
    }

    #[test]
    fn rfc4226_appendix_d_through_steps() {
        // HOTP(counter) = TOTP at time counter * 30.
        for h in vectors().hotp {
            let secret = hex::decode(&h.secret_hex).unwrap();
            assert_eq!(code_for_step(&secret, h.counter as i64), h.code);
            assert_eq!(base32_encode(&secret), h.secret_base32);
            assert_eq!(base32_decode(&h.secret_base32).unwrap(), secret);
        }
    }

    #[test]
    fn accepts_neighbour_steps_only() {
        let secret = generate_secret();
        let now = 1_700_000_000;
        let step = step_at(now);
        for delta in [-1, 0, 1] {
            assert_eq!(
                matching_step(&secret, &code_for_step(&secret, step + delta), now),
                Some(step + delta)
            );
        }
        for delta in [-3, -2, 2, 3] {
            let code = code_for_step(&secret, step + delta);
            // A far code may collide with a near one by chance (1 in 10^6).
            if [-1, 0, 1]
                .iter()
                .all(|d| code_for_step(&secret, step + d) != code)
            {
                assert_eq!(matching_step(&secret, &code, now), None);
            }
        }
    }

    #[test]
    fn parses_only_six_digits() {
        assert_eq!(parse_code("012345"), Some("012345"));
        for bad in [
            "",
            "12345",
            "1234567",
            "12345a",
            "123 456",
            " 123456",
            "１２３４５６",
        ] {
            assert_eq!(parse_code(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn uri_and_grouping() {
        let uri = otpauth_uri("a+b@example.com", "JBSWY3DPEHPK3PXP");
        assert_eq!(
            uri,
            "otpauth://totp/twofa:a%2Bb%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=twofa&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(grouped("ABCDEFGHIJ"), "ABCD EFGH IJ");
    }
}
