//! Configuration: built-in defaults, then an optional TOML file, then
//! `TWOFA_*` environment variables. Secrets are only ever read from files
//! (a `*_file` setting or systemd's `$CREDENTIALS_DIRECTORY`), never from argv.

use anyhow::{bail, Context, Result};
use ipnet::IpNet;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeroize::Zeroizing;

/// Everything `twofa serve` needs, after layering and validation.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Address `/metrics` is served on, never the public listener; unset:
    /// no metrics listener at all.
    pub metrics_listen: Option<SocketAddr>,
    /// libpq connection string (key=value or postgres:// URL, multi-host allowed).
    pub database_url: String,
    /// File holding the database password, if the URL carries none.
    pub database_password_file: Option<PathBuf>,
    /// PEM file with the CA that signed the database servers' certificates;
    /// given, the connection is `sslmode=verify-full` unless the URL says
    /// otherwise. Unset: the credential `database-ca` if the unit passes
    /// one, else the URL's `sslrootcert`.
    pub database_ca_file: Option<PathBuf>,
    /// File holding the current TOTP-secret encryption key (64 hex characters).
    pub secret_key_file: Option<PathBuf>,
    /// Older keys still accepted for decryption while secrets are re-encrypted.
    pub previous_secret_key_files: Vec<PathBuf>,
    /// `false` only for plain-http local use: plain cookie names, no `Secure`.
    pub cookie_secure: bool,
    pub allow_signup: bool,
    /// Peers whose `X-Forwarded-For` is believed (the proxies): addresses
    /// or networks, e.g. `10.77.0.11` or `10.77.0.0/24`.
    #[serde(deserialize_with = "ip_or_net")]
    pub trusted_proxies: Vec<IpNet>,
    /// How long database work is retried while no writable leader answers.
    pub db_retry_deadline_s: f64,
    pub db_pool_size: usize,
    /// Per-statement timeout, so a query to a partitioned leader cannot hang.
    pub db_statement_timeout_ms: u64,
    /// Client-side bound on one piece of database work (a transaction):
    /// a server that stops answering (paused, stuck on I/O) keeps its TCP
    /// connections open, so only the client can notice. The connection is
    /// then discarded and the work retried on a fresh one.
    pub db_operation_timeout_ms: u64,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Concurrent argon2 computations; 0 = the number of cores.
    pub argon2_workers: usize,
    /// Keep each worker's argon2 memory between hashes (saves page faults).
    pub argon2_reuse_memory: bool,
    /// Password-hashing worker threads; 0 = `argon2_workers` (whose 0 is
    /// the number of cores).
    pub hash_workers: usize,
    /// A password post whose hash could not be done within this long
    /// (queue wait and its own hash, expected) is answered 503 with
    /// `Retry-After` at once instead of waiting.
    pub hash_queue_max_wait_ms: u64,
    /// Nice value of the hashing threads (0–19; 0 = same as the requests).
    pub hash_worker_nice: i32,
    /// Run the hashing threads in the `SCHED_BATCH` scheduling class.
    pub hash_worker_sched_batch: bool,
    pub session_ttl_s: u64,
    pub login_challenge_ttl_s: u64,
    /// Failed password attempts one source IP may make per minute.
    pub ip_failed_logins_per_minute: u32,
    /// Refused registration attempts (each costs a password hash; a taken
    /// address is refused) one source may make per minute.
    pub ip_registrations_per_minute: u32,
    pub purge_interval_s: u64,
    /// After SIGTERM: how long /readyz reports 503 before the listener closes,
    /// so the proxies stop sending new requests first.
    pub drain_delay_ms: u64,
    /// After SIGTERM: the bound on the whole shutdown.
    pub shutdown_timeout_s: u64,
    /// The watchdog stops pinging systemd when no database check has
    /// succeeded for this long: the pool is broken, not just failing over.
    pub watchdog_db_grace_s: u64,
    /// `text`, `json` or `journald`.
    pub log_format: String,
    /// A tracing filter, e.g. `info` or `twofa=debug`.
    pub log: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            metrics_listen: None,
            database_url: "host=/run/postgresql dbname=twofa".into(),
            database_password_file: None,
            database_ca_file: None,
            secret_key_file: None,
            previous_secret_key_files: Vec::new(),
            cookie_secure: true,
            allow_signup: true,
            trusted_proxies: Vec::new(),
            db_retry_deadline_s: 25.0,
            db_pool_size: 16,
            db_statement_timeout_ms: 5000,
            db_operation_timeout_ms: 3000,
            // OWASP's argon2id baseline.
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            argon2_workers: 0,
            argon2_reuse_memory: true,
            hash_workers: 0,
            hash_queue_max_wait_ms: 2000,
            hash_worker_nice: 10,
            hash_worker_sched_batch: true,
            session_ttl_s: 8 * 3600,
            login_challenge_ttl_s: 300,
            ip_failed_logins_per_minute: 30,
            ip_registrations_per_minute: 10,
            purge_interval_s: 60,
            drain_delay_ms: 1500,
            shutdown_timeout_s: 10,
            watchdog_db_grace_s: 60,
            log_format: "text".into(),
            // The driver logs every server NOTICE at info level.
            log: "info,tokio_postgres=warn".into(),
        }
    }
}

/// The environment variables read, and the setting each one overrides.
const ENV_VARS: &[&str] = &[
    "listen",
    "metrics_listen",
    "database_url",
    "database_password_file",
    "database_ca_file",
    "secret_key_file",
    "previous_secret_key_files",
    "cookie_secure",
    "allow_signup",
    "trusted_proxies",
    "db_retry_deadline_s",
    "db_pool_size",
    "db_statement_timeout_ms",
    "db_operation_timeout_ms",
    "argon2_memory_kib",
    "argon2_iterations",
    "argon2_parallelism",
    "argon2_workers",
    "argon2_reuse_memory",
    "hash_workers",
    "hash_queue_max_wait_ms",
    "hash_worker_nice",
    "hash_worker_sched_batch",
    "session_ttl_s",
    "login_challenge_ttl_s",
    "ip_failed_logins_per_minute",
    "ip_registrations_per_minute",
    "purge_interval_s",
    "drain_delay_ms",
    "shutdown_timeout_s",
    "watchdog_db_grace_s",
    "log_format",
    "log",
];

/// Settings whose values are lists: comma-separated in the environment.
const LIST_VARS: &[&str] = &["trusted_proxies", "previous_secret_key_files"];

impl Settings {
    /// Layers defaults, the optional TOML file and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Settings> {
        Self::load_from(file, std::env::vars())
    }

    /// As [`Settings::load`], with the environment given explicitly (tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                text.parse::<toml::Table>()
                    .with_context(|| format!("{} is not valid TOML", path.display()))?
            }
            None => toml::Table::new(),
        };
        for (key, value) in env {
            let Some(name) = key.strip_prefix("TWOFA_") else {
                continue;
            };
            let name = name.to_ascii_lowercase();
            if name == "config" || name.starts_with("test_") || name == "authenticator_classes" {
                continue;
            }
            if !ENV_VARS.contains(&name.as_str()) {
                bail!(
                    "unknown environment variable {key} (known: {})",
                    known_env()
                );
            }
            table.insert(name.clone(), env_value(&name, &value));
        }
        let settings: Settings = toml::Value::Table(table)
            .try_into()
            .context("invalid setting")?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<()> {
        if self.db_retry_deadline_s < 0.0 || self.db_retry_deadline_s > 600.0 {
            bail!("db_retry_deadline_s must be between 0 and 600");
        }
        if self.argon2_memory_kib < 8 * self.argon2_parallelism || self.argon2_iterations == 0 {
            bail!("argon2 parameters out of range");
        }
        if !["text", "json", "journald"].contains(&self.log_format.as_str()) {
            bail!("log_format must be text, json or journald");
        }
        if !(0..=19).contains(&self.hash_worker_nice) {
            bail!("hash_worker_nice must be between 0 and 19 (hashing may only run at a lower priority)");
        }
        if self.hash_queue_max_wait_ms > 600_000 {
            bail!("hash_queue_max_wait_ms must be at most 600000 (10 minutes)");
        }
        if self.db_pool_size == 0 {
            bail!("db_pool_size must be at least 1");
        }
        if !(100..=60_000).contains(&self.db_operation_timeout_ms) {
            bail!("db_operation_timeout_ms must be between 100 and 60000");
        }
        Ok(())
    }

    pub fn db_retry_deadline(&self) -> Duration {
        Duration::from_secs_f64(self.db_retry_deadline_s)
    }

    /// The bound on one attempt of database work: never longer than the
    /// whole retry deadline (when there is one), or a single hung attempt
    /// would use it all up.
    pub fn db_operation_timeout(&self) -> Duration {
        let own = Duration::from_millis(self.db_operation_timeout_ms);
        if self.db_retry_deadline_s > 0.0 {
            own.min(self.db_retry_deadline())
        } else {
            own
        }
    }

    pub fn argon2_workers(&self) -> usize {
        if self.argon2_workers > 0 {
            self.argon2_workers
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }

    /// Password-hashing worker threads: `hash_workers`, else
    /// `argon2_workers`, else one per core.
    pub fn hash_workers(&self) -> usize {
        if self.hash_workers > 0 {
            self.hash_workers
        } else {
            self.argon2_workers()
        }
    }

    /// The scheduling priority of the hashing threads.
    pub fn hash_priority(&self) -> crate::auth::password::Priority {
        crate::auth::password::Priority {
            nice: self.hash_worker_nice,
            sched_batch: self.hash_worker_sched_batch,
        }
    }

    pub fn hash_pool_options(&self) -> crate::auth::password::PoolOptions {
        crate::auth::password::PoolOptions {
            workers: self.hash_workers(),
            max_wait: Duration::from_millis(self.hash_queue_max_wait_ms),
            priority: self.hash_priority(),
            reuse_memory: self.argon2_reuse_memory,
        }
    }

    /// The encryption keys: the current one first, then previous ones.
    pub fn secret_keys(&self) -> Result<Vec<Zeroizing<[u8; 32]>>> {
        let current = match &self.secret_key_file {
            Some(path) => path.clone(),
            None => credential("secret-key").context(
                "no secret key: set TWOFA_SECRET_KEY_FILE (a file with 64 hex characters, \
                 e.g. from `twofa gen-key`) or pass the credential `secret-key`",
            )?,
        };
        let mut keys = vec![read_key(&current)?];
        for path in &self.previous_secret_key_files {
            keys.push(read_key(path)?);
        }
        Ok(keys)
    }

    /// The CA file for the database's certificates: the setting, else the
    /// systemd credential `database-ca`.
    pub fn database_ca(&self) -> Option<PathBuf> {
        self.database_ca_file
            .clone()
            .or_else(|| credential("database-ca").ok())
    }

    pub fn database_password(&self) -> Result<Option<Zeroizing<String>>> {
        let path = match &self.database_password_file {
            Some(path) => Some(path.clone()),
            None => credential("database-password").ok(),
        };
        match path {
            None => Ok(None),
            Some(path) => {
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!("cannot read database password file {}", path.display())
                })?;
                Ok(Some(Zeroizing::new(
                    text.trim_end_matches(['\n', '\r']).to_string(),
                )))
            }
        }
    }
}

/// Accepts `10.0.0.1` (one host) as well as `10.0.0.0/24`.
fn ip_or_net<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<IpNet>, D::Error> {
    let items = Vec::<String>::deserialize(d)?;
    items
        .iter()
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "trusted_proxies: {item:?} is neither an IP address nor a network"
                    ))
                })
        })
        .collect()
}

fn known_env() -> String {
    ENV_VARS
        .iter()
        .map(|v| format!("TWOFA_{}", v.to_ascii_uppercase()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Environment values are strings; give TOML the type the setting expects.
fn env_value(name: &str, value: &str) -> toml::Value {
    if LIST_VARS.contains(&name) {
        return toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        );
    }
    if let Ok(b) = value.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    if let Ok(i) = value.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(f) = value.parse::<f64>() {
        return toml::Value::Float(f);
    }
    toml::Value::String(value.to_string())
}

/// A systemd credential (`LoadCredential=`), if the unit passed one.
fn credential(name: &str) -> Result<PathBuf> {
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY").context("no $CREDENTIALS_DIRECTORY")?;
    let path = Path::new(&dir).join(name);
    if path.exists() {
        Ok(path)
    } else {
        bail!("credential {name} not found in {}", path.display())
    }
}

/// Reads a key file: 64 hex characters, a trailing newline ignored.
pub fn read_key(path: &Path) -> Result<Zeroizing<[u8; 32]>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read secret key file {}", path.display()))?,
    );
    let hex_text = text.trim_end_matches(['\n', '\r']);
    let mut key = Zeroizing::new([0u8; 32]);
    if hex_text.len() != 64 || hex::decode_to_slice(hex_text, &mut key[..]).is_err() {
        bail!(
            "secret key file {} must hold exactly 64 hex characters (32 bytes); \
             make one with `twofa gen-key > FILE`",
            path.display()
        );
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn one_database_attempt_never_outlasts_the_retry_deadline() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.db_operation_timeout(), Duration::from_millis(3000));
        let s = Settings::load_from(None, env(&[("TWOFA_DB_RETRY_DEADLINE_S", "1")])).unwrap();
        assert_eq!(s.db_operation_timeout(), Duration::from_secs(1));
        let s = Settings::load_from(None, env(&[("TWOFA_DB_RETRY_DEADLINE_S", "0")])).unwrap();
        assert_eq!(s.db_operation_timeout(), Duration::from_millis(3000));
        let err =
            Settings::load_from(None, env(&[("TWOFA_DB_OPERATION_TIMEOUT_MS", "50")])).unwrap_err();
        assert!(
            format!("{err:#}").contains("db_operation_timeout_ms"),
            "{err:#}"
        );
    }

    #[test]
    fn hash_pool_settings_from_the_environment() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.hash_queue_max_wait_ms, 2000);
        assert_eq!(s.hash_priority().nice, 10);
        assert!(s.hash_priority().sched_batch);
        assert_eq!(
            s.hash_workers(),
            s.argon2_workers(),
            "defaults to the cores"
        );
        let s = Settings::load_from(None, env(&[("TWOFA_ARGON2_WORKERS", "3")])).unwrap();
        assert_eq!(s.hash_workers(), 3, "the older name still counts");
        let s = Settings::load_from(
            None,
            env(&[
                ("TWOFA_ARGON2_WORKERS", "3"),
                ("TWOFA_HASH_WORKERS", "5"),
                ("TWOFA_HASH_QUEUE_MAX_WAIT_MS", "750"),
                ("TWOFA_HASH_WORKER_NICE", "0"),
                ("TWOFA_HASH_WORKER_SCHED_BATCH", "false"),
            ]),
        )
        .unwrap();
        let o = s.hash_pool_options();
        assert_eq!(o.workers, 5);
        assert_eq!(o.max_wait, Duration::from_millis(750));
        assert_eq!(o.priority, crate::auth::password::Priority::NORMAL);
    }

    #[test]
    fn hashing_may_not_run_above_the_requests() {
        for bad in ["-5", "20"] {
            let err = Settings::load_from(None, env(&[("TWOFA_HASH_WORKER_NICE", bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("hash_worker_nice"), "{bad}: {err}");
        }
        assert!(Settings::load_from(None, env(&[("TWOFA_HASH_QUEUE_MAX_WAIT_MS", "-1")])).is_err());
    }
}
