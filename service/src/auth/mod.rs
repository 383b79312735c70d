//! The security primitives, with no HTTP in them: password hashing, TOTP,
//! secret encryption, random tokens and CSRF, e-mail normalisation.

pub mod crypto;
pub mod device;
pub mod hash_pool;
pub mod password;
pub mod password_upgrade;
pub mod tokens;
pub mod totp;

use unicode_normalization::UnicodeNormalization;

/// Longest e-mail accepted (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// Normalises an e-mail for storage and lookup: trimmed, Unicode NFC, domain
/// in lower case. `None` when it cannot be an address.
pub fn normalize_email(raw: &str) -> Option<String> {
    let trimmed: String = raw.trim().nfc().collect();
    if trimmed.is_empty() || trimmed.len() > MAX_EMAIL_LEN {
        return None;
    }
    let (local, domain) = trimmed.rsplit_once('@')?;
    if local.is_empty()
        || domain.is_empty()
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || trimmed
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
        || domain.contains('@')
    {
        return None;
    }
    Some(format!("{local}@{}", domain.to_lowercase()))
}

/// What two addresses are compared by: a normalised address (see
/// [`normalize_email`]) with the ASCII letters of its local part in lower
/// case, as most providers treat it. The address as typed is kept for display.
pub fn fold_email(normalized: &str) -> String {
    match normalized.rsplit_once('@') {
        Some((local, domain)) => format!("{}@{domain}", local.to_ascii_lowercase()),
        None => normalized.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::{fold_email, normalize_email};

    #[test]
    fn folds_the_ascii_case_of_the_local_part() {
        assert_eq!(fold_email("Alice.B@example.com"), "alice.b@example.com");
        assert_eq!(
            fold_email("\u{c9}mile@example.com"),
            "\u{c9}mile@example.com"
        );
    }

    #[test]
    fn normalises_domain_case_and_space() {
        assert_eq!(
            normalize_email("  Alice@Example.COM ").as_deref(),
            Some("Alice@example.com")
        );
    }

    #[test]
    fn composes_unicode() {
        // "e" + combining acute becomes the precomposed "é".
        assert_eq!(
            normalize_email("jose\u{0301}@example.org").as_deref(),
            Some("jos\u{e9}@example.org")
        );
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a b@example.com",
            "a@b",
            "a\0@example.com",
            "<x>@example.com",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad:?}");
        }
        assert_eq!(
            normalize_email(&format!("{}@example.com", "a".repeat(10_000))),
            None
        );
    }
}
