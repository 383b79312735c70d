//! argon2id password hashing and checking, through the bounded pool of
//! [`super::hash_pool`]: one worker thread per core by default, at a lower
//! priority than request handling, each with at most one argon2 buffer
//! (19 MiB at the OWASP baseline) kept between hashes, and a queue that
//! answers [`HashError::Busy`] at once instead of letting a flood of
//! password posts wait without end. `argon2_reuse_memory = false` allocates
//! a fresh buffer per hash instead, so the benefit can be measured
//! (docs/benchmarks.md).
//!
//! The routes call [`PasswordHashing::verify`] and [`PasswordHashing::hash`]
//! and nothing else; a `Busy` answer becomes a 503 with `Retry-After`, and
//! must not be counted as a wrong password (nothing was checked).

pub use super::hash_pool::{HashError, Priority};
use super::hash_pool::{HashPool, Scratch};
use anyhow::{anyhow, Result};
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::rngs::OsRng;
use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub const MIN_PASSWORD_LEN: usize = 12;
pub const MAX_PASSWORD_LEN: usize = 1024;

#[derive(Clone)]
pub struct PasswordHashing {
    params: Params,
    pool: HashPool,
}

/// How the pool is shaped (from the settings).
#[derive(Clone, Copy, Debug)]
pub struct PoolOptions {
    pub workers: usize,
    pub max_wait: Duration,
    pub priority: Priority,
    pub reuse_memory: bool,
}

/// Salt for the dummy verification of unknown e-mails: its cost is what
/// matters, not its result.
const DUMMY_SALT: &[u8] = b"twofa-dummy-salt";

impl PasswordHashing {
    pub fn new(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        pool: PoolOptions,
    ) -> Result<Self> {
        let params = Params::new(memory_kib, iterations, parallelism, Some(32))
            .map_err(|e| anyhow!("invalid argon2 parameters: {e}"))?;
        // Until the first hash is timed: about 1.5 ms per MiB and pass on
        // one core of a current server.
        let first_cost =
            Duration::from_micros((u64::from(memory_kib) * u64::from(iterations) * 3 / 2).max(1));
        let pool = HashPool::start(
            pool.workers,
            pool.max_wait,
            first_cost,
            pool.priority,
            pool.reuse_memory,
        )
        .map_err(|e| anyhow!("cannot start the password-hashing threads: {e}"))?;
        Ok(PasswordHashing { params, pool })
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: Zeroizing<String>) -> Result<String, HashError> {
        let params = self.params.clone();
        self.pool
            .run(move |scratch| hash_blocking(&password, params, scratch))
            .await?
            .map_err(HashError::Failed)
    }

    /// Verifies a password against a stored PHC string. With `None` (an
    /// unknown e-mail) it spends the same work and answers false, so timing
    /// does not tell which accounts exist.
    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        let params = self.params.clone();
        self.pool
            .run(move |scratch| verify_blocking(&password, stored.as_deref(), params, scratch))
            .await?
            .map_err(HashError::Failed)
    }

    /// The pool behind this hasher (sizes and state, for metrics and tests).
    pub fn pool(&self) -> &HashPool {
        &self.pool
    }
}

fn hash_blocking(password: &str, params: Params, scratch: &mut Scratch) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let raw_salt = salt
        .decode_b64(&mut salt_buf)
        .map_err(|e| anyhow!("salt: {e}"))?;
    let mut out = [0u8; 32];
    let (m, t, p) = (params.m_cost(), params.t_cost(), params.p_cost());
    compute(params, password.as_bytes(), raw_salt, &mut out, scratch)?;
    let output = Output::new(&out).map_err(|e| anyhow!("argon2 output: {e}"))?;
    Ok(format!(
        "$argon2id$v=19$m={m},t={t},p={p}${}${output}",
        salt.as_str()
    ))
}

fn verify_blocking(
    password: &str,
    stored: Option<&str>,
    current: Params,
    scratch: &mut Scratch,
) -> Result<bool> {
    let Some(stored) = stored else {
        let mut out = [0u8; 32];
        compute(current, password.as_bytes(), DUMMY_SALT, &mut out, scratch)?;
        return Ok(false);
    };
    let parsed = PasswordHash::new(stored).map_err(|e| anyhow!("stored hash unreadable: {e}"))?;
    let expected = parsed
        .hash
        .ok_or_else(|| anyhow!("stored hash has no output"))?;
    let salt = parsed
        .salt
        .ok_or_else(|| anyhow!("stored hash has no salt"))?;
    let mut salt_buf = [0u8; 64];
    let salt = salt
        .decode_b64(&mut salt_buf)
        .map_err(|e| anyhow!("stored salt unreadable: {e}"))?;
    let params = Params::try_from(&parsed).map_err(|e| anyhow!("stored parameters: {e}"))?;
    let mut out = vec![0u8; expected.len()];
    let params = Params::new(
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        Some(out.len()),
    )
    .map_err(|e| anyhow!("stored parameters: {e}"))?;
    compute(params, password.as_bytes(), salt, &mut out, scratch)?;
    Ok(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
}

/// One argon2id computation in the worker's buffer (grown if a stored
/// hash asks for more memory), or in a fresh one when reuse is off.
fn compute(
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    scratch: &mut Scratch,
) -> Result<()> {
    let blocks = params.block_count();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    if !scratch.reuse {
        let mut memory = vec![Block::default(); blocks];
        return argon
            .hash_password_into_with_memory(password, salt, out, &mut memory[..])
            .map_err(|e| anyhow!("argon2: {e}"));
    }
    let memory = scratch.memory.get_or_insert_with(Vec::new);
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    argon
        .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        .map_err(|e| anyhow!("argon2: {e}"))
}

/// Why a new password is refused, if it is.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Weakness {
    TooShort,
    TooLong,
    Common,
    /// Only whitespace, or one character repeated.
    Trivial,
}

/// A password as it is hashed: Unicode NFKC (NIST SP 800-63B), so the same
/// password typed on another keyboard or system still matches.
pub fn normalize_password(password: &str) -> Zeroizing<String> {
    use unicode_normalization::UnicodeNormalization;
    Zeroizing::new(password.nfkc().collect())
}

/// Checks a new password (as [`normalize_password`] gives it): length, not
/// only whitespace or one repeated character, not one of the 10 000 most
/// common.
pub fn check_new_password(password: &str) -> Option<Weakness> {
    let len = password.chars().count();
    if len > MAX_PASSWORD_LEN {
        return Some(Weakness::TooLong);
    }
    let mut chars = password.chars();
    let first = chars.next();
    if password.chars().all(char::is_whitespace) || chars.all(|c| Some(c) == first) {
        return Some(if len < MIN_PASSWORD_LEN {
            Weakness::TooShort
        } else {
            Weakness::Trivial
        });
    }
    if len < MIN_PASSWORD_LEN {
        return Some(Weakness::TooShort);
    }
    if len > MAX_PASSWORD_LEN {
        return Some(Weakness::TooLong);
    }
    if common_passwords().contains(password.to_lowercase().as_str()) {
        return Some(Weakness::Common);
    }
    None
}

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        include_str!("../../data/common-passwords.txt")
            .lines()
            // Shorter ones are refused by the length rule already.
            .filter(|l| l.chars().count() >= MIN_PASSWORD_LEN)
            .collect()
    })
}

/// Raw argon2id verifications per second with the configured parameters on
/// `threads` threads, no HTTP or database: the ceiling the service is
/// measured against. Measured twice in one run, half the time each: with the
/// service's buffer reuse (`verifications_per_s`, the like-for-like
/// ceiling) and with a fresh allocation per hash as the argon2 crate's own
/// verifier does (`fresh_allocation_verifications_per_s`). Returns JSON.
pub fn bench_raw(
    settings: &crate::config::Settings,
    threads: usize,
    seconds: f64,
) -> Result<String> {
    let params = Params::new(
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_parallelism,
        Some(32),
    )
    .map_err(|e| anyhow!("invalid argon2 parameters: {e}"))?;
    let salt = SaltString::generate(&mut OsRng);
    let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(b"benchmark password", &salt)
        .map_err(|e| anyhow!("argon2: {e}"))?
        .to_string();
    let threads = threads.max(1);
    // The same priority as the service's hashing threads: the ceiling is
    // what such threads get on this machine, beside whatever else runs.
    let priority = settings.hash_priority();
    let rate = |reuse: bool| -> f64 {
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_secs_f64(seconds / 2.0);
        let start = std::time::Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (phc, params) = (phc.clone(), params.clone());
                std::thread::spawn(move || {
                    let _ = priority.apply_to_current_thread();
                    let mut scratch = Scratch {
                        memory: None,
                        reuse,
                    };
                    let mut n = 0u64;
                    while std::time::Instant::now() < deadline {
                        let ok = verify_blocking(
                            "benchmark password",
                            Some(&phc),
                            params.clone(),
                            &mut scratch,
                        );
                        assert!(matches!(ok, Ok(true)), "own hash verifies");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let total: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        total as f64 / start.elapsed().as_secs_f64()
    };
    let fresh = rate(false);
    let reused = rate(true);
    Ok(serde_json::json!({
        "threads": threads,
        "m_kib": settings.argon2_memory_kib,
        "t": settings.argon2_iterations,
        "p": settings.argon2_parallelism,
        "seconds": seconds,
        "nice": priority.nice,
        "sched_batch": priority.sched_batch,
        "verifications_per_s": reused,
        "fresh_allocation_verifications_per_s": fresh,
    })
    .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier;

    fn options(workers: usize, reuse_memory: bool) -> PoolOptions {
        PoolOptions {
            workers,
            max_wait: Duration::from_secs(30),
            priority: Priority::NORMAL,
            reuse_memory,
        }
    }

    fn hashing() -> PasswordHashing {
        // Small parameters: these tests check logic, not cost.
        PasswordHashing::new(64, 1, 1, options(2, true)).unwrap()
    }

    #[tokio::test]
    async fn verifies_own_hash_and_refuses_others() {
        let h = hashing();
        let phc = h
            .hash(Zeroizing::new("correct horse battery".into()))
            .await
            .unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(h
            .verify(
                Zeroizing::new("correct horse battery".into()),
                Some(phc.clone())
            )
            .await
            .unwrap());
        assert!(!h
            .verify(
                Zeroizing::new("correct horse batterz".into()),
                Some(phc.clone())
            )
            .await
            .unwrap());
        assert!(!h
            .verify(Zeroizing::new("anything".into()), None)
            .await
            .unwrap());
        // The argon2 crate's own verifier accepts what our pool wrote.
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"correct horse batterz", &parsed)
            .is_err());
    }

    #[tokio::test]
    async fn verifies_hashes_made_by_the_reference_implementation_path() {
        // A hash produced by the argon2 crate's own PasswordHasher with other
        // parameters must verify through our reused-memory path.
        let argon = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(128, 2, 1, None).unwrap(),
        );
        let salt = SaltString::generate(&mut OsRng);
        let phc = argon
            .hash_password(b"another passphrase", &salt)
            .unwrap()
            .to_string();
        let h = hashing();
        assert!(h
            .verify(
                Zeroizing::new("another passphrase".into()),
                Some(phc.clone())
            )
            .await
            .unwrap());
        let no_reuse = PasswordHashing::new(64, 1, 1, options(1, false)).unwrap();
        assert!(no_reuse
            .verify(Zeroizing::new("another passphrase".into()), Some(phc))
            .await
            .unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_concurrent_checks_all_get_their_answer() {
        let h = PasswordHashing::new(256, 1, 1, options(2, true)).unwrap();
        let phc = h
            .hash(Zeroizing::new("a long enough password".into()))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let (h, phc) = (h.clone(), phc.clone());
                tokio::spawn(async move {
                    let pw = if i % 2 == 0 {
                        "a long enough password"
                    } else {
                        "not the password at all"
                    };
                    (i, h.verify(Zeroizing::new(pw.into()), Some(phc)).await)
                })
            })
            .collect();
        for t in tasks {
            let (i, ok) = t.await.unwrap();
            assert_eq!(ok.unwrap(), i % 2 == 0);
        }
        assert_eq!(h.pool().queued(), 0);
    }

    #[test]
    fn refuses_weak_new_passwords() {
        assert_eq!(check_new_password("short"), Some(Weakness::TooShort));
        // On the list, in any case.
        assert_eq!(check_new_password("QwertyUiop123"), Some(Weakness::Common));
        assert_eq!(
            check_new_password(&"x".repeat(2000)),
            Some(Weakness::TooLong)
        );
        assert_eq!(check_new_password("vivid-otter-lamp-42"), None);
        assert_eq!(check_new_password(&" ".repeat(14)), Some(Weakness::Trivial));
        assert_eq!(check_new_password(&"7".repeat(14)), Some(Weakness::Trivial));
        assert_eq!(
            check_new_password("\t \n \u{3000}  \t\t    "),
            Some(Weakness::Trivial)
        );
        assert_eq!(check_new_password("aaaaaaaaaaaab"), None);
    }
}
