//! argon2id password hashing off the async runtime, behind a semaphore sized
//! to the cores, so a flood of logins queues instead of exhausting memory.
//!
//! The argon2 memory (19 MiB at the OWASP baseline) is kept between hashes
//! in a pool of at most one buffer per permit, which saves the page faults of
//! a fresh allocation per hash while bounding the memory to
//! `workers × 19 MiB` however many blocking threads tokio starts;
//! `argon2_reuse_memory = false` turns that off so the benefit can be
//! measured (docs/benchmarks.md).

use crate::metrics::METRICS;
use anyhow::{anyhow, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::rngs::OsRng;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

pub const MIN_PASSWORD_LEN: usize = 12;
pub const MAX_PASSWORD_LEN: usize = 1024;

#[derive(Clone)]
pub struct PasswordHashing {
    params: Params,
    permits: Arc<Semaphore>,
    /// Idle argon2 buffers; never more than there are permits.
    buffers: Option<Arc<Mutex<Vec<Vec<Block>>>>>,
}

/// Salt for the dummy verification of unknown e-mails: its cost is what
/// matters, not its result.
const DUMMY_SALT: &[u8] = b"twofa-dummy-salt";

impl PasswordHashing {
    pub fn new(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        workers: usize,
        reuse_memory: bool,
    ) -> Result<Self> {
        let params = Params::new(memory_kib, iterations, parallelism, Some(32))
            .map_err(|e| anyhow!("invalid argon2 parameters: {e}"))?;
        Ok(PasswordHashing {
            params,
            permits: Arc::new(Semaphore::new(workers.max(1))),
            buffers: reuse_memory.then(|| Arc::new(Mutex::new(Vec::new()))),
        })
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: Zeroizing<String>) -> Result<String> {
        let params = self.params.clone();
        self.blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
            argon
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow!("argon2: {e}"))
        })
        .await?
    }

    /// Verifies a password against a stored PHC string. With `None` (an
    /// unknown e-mail) it spends the same work and answers false, so timing
    /// does not tell which accounts exist.
    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        stored: Option<String>,
    ) -> Result<bool> {
        let params = self.params.clone();
        let buffers = self.buffers.clone();
        self.blocking(move || {
            verify_blocking(&password, stored.as_deref(), params, buffers.as_deref())
        })
        .await?
    }

    /// Argon2 buffers kept for reuse (at most one per worker).
    pub fn pooled_buffers(&self) -> usize {
        self.buffers
            .as_ref()
            .map_or(0, |b| b.lock().map_or(0, |pool| pool.len()))
    }

    /// How many hash computations wait for a worker right now.
    pub fn queued(&self) -> i64 {
        METRICS.argon2_waiting.get()
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        METRICS.argon2_waiting.add(1);
        let permit = self.permits.clone().acquire_owned().await;
        METRICS.argon2_waiting.add(-1);
        let permit = permit.map_err(|_| anyhow!("password hashing is shutting down"))?;
        let result = tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        })
        .await
        .map_err(|e| anyhow!("password hashing task failed: {e}"))?;
        Ok(result)
    }
}

type Buffers = Mutex<Vec<Vec<Block>>>;

fn verify_blocking(
    password: &str,
    stored: Option<&str>,
    current: Params,
    reuse: Option<&Buffers>,
) -> Result<bool> {
    let Some(stored) = stored else {
        let mut out = [0u8; 32];
        compute(current, password.as_bytes(), DUMMY_SALT, &mut out, reuse)?;
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
    compute(params, password.as_bytes(), salt, &mut out, reuse)?;
    Ok(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
}

fn compute(
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    buffers: Option<&Buffers>,
) -> Result<()> {
    let blocks = params.block_count();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let Some(buffers) = buffers else {
        let mut memory = vec![Block::default(); blocks];
        return argon
            .hash_password_into_with_memory(password, salt, out, &mut memory[..])
            .map_err(|e| anyhow!("argon2: {e}"));
    };
    // Called while holding a permit, so at most `workers` buffers exist.
    let mut memory = buffers
        .lock()
        .map(|mut b| b.pop())
        .unwrap_or(None)
        .unwrap_or_default();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let result = argon
        .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        .map_err(|e| anyhow!("argon2: {e}"));
    if let Ok(mut pool) = buffers.lock() {
        pool.push(memory);
    }
    result
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
    let rate = |reuse: bool| -> f64 {
        let buffers: Option<Arc<Buffers>> = reuse.then(|| Arc::new(Mutex::new(Vec::new())));
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_secs_f64(seconds / 2.0);
        let start = std::time::Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (phc, params, buffers) = (phc.clone(), params.clone(), buffers.clone());
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while std::time::Instant::now() < deadline {
                        let ok = verify_blocking(
                            "benchmark password",
                            Some(&phc),
                            params.clone(),
                            buffers.as_deref(),
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
        "verifications_per_s": reused,
        "fresh_allocation_verifications_per_s": fresh,
    })
    .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashing() -> PasswordHashing {
        // Small parameters: these tests check logic, not cost.
        PasswordHashing::new(64, 1, 1, 2, true).unwrap()
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
            .verify(Zeroizing::new("correct horse batterz".into()), Some(phc))
            .await
            .unwrap());
        assert!(!h
            .verify(Zeroizing::new("anything".into()), None)
            .await
            .unwrap());
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
        let no_reuse = PasswordHashing::new(64, 1, 1, 1, false).unwrap();
        assert!(no_reuse
            .verify(Zeroizing::new("another passphrase".into()), Some(phc))
            .await
            .unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_stays_bounded_by_the_workers() {
        let h = PasswordHashing::new(256, 1, 1, 2, true).unwrap();
        let phc = h
            .hash(Zeroizing::new("a long enough password".into()))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let (h, phc) = (h.clone(), phc.clone());
                tokio::spawn(async move {
                    h.verify(Zeroizing::new("a long enough password".into()), Some(phc))
                        .await
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().unwrap());
        }
        let kept = h.pooled_buffers();
        assert!((1..=2).contains(&kept), "{kept} buffers for 2 workers");
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
