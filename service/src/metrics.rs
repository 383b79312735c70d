//! Prometheus metrics, in text exposition format at `GET /metrics`.
//! A handful of fixed series: no registry crate needed.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::LazyLock;

#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn add(&self, d: i64) {
        self.0.fetch_add(d, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    /// Raises the gauge to `v` if it is lower (a high-water mark).
    pub fn max(&self, v: i64) {
        self.0.fetch_max(v, Ordering::Relaxed);
    }
}

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, seconds: f64) {
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
        let plain = labels.trim_end_matches(',');
        let plain = if plain.is_empty() {
            String::new()
        } else {
            format!("{{{plain}}}")
        };
        let _ = writeln!(
            out,
            "{name}_sum{plain} {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{plain} {count}");
    }
}

/// Login outcomes counted in `twofa_logins_total{outcome=…}`.
#[derive(Clone, Copy)]
pub enum Outcome {
    Success,
    BadPassword,
    BadCode,
    Throttled,
    Locked,
    Recovery,
}

const OUTCOMES: [&str; 6] = [
    "success",
    "bad_password",
    "bad_code",
    "throttled",
    "locked",
    "recovery_code",
];

/// The routes whose latency is measured; anything else is "other".
pub const ROUTES: [&str; 12] = [
    "/",
    "/register",
    "/enroll",
    "/recovery-codes",
    "/login",
    "/login/totp",
    "/login/recovery",
    "/welcome",
    "/logout",
    "/healthz",
    "/readyz",
    "other",
];

pub struct Metrics {
    logins: [Counter; OUTCOMES.len()],
    pub registrations: Counter,
    pub totp_failures: Counter,
    pub totp_replays: Counter,
    pub throttled: Counter,
    pub db_retries: Counter,
    pub db_errors: Counter,
    /// Database work abandoned at the client-side deadline.
    pub db_operation_timeouts: Counter,
    pub argon2_waiting: Gauge,
    /// The password-hashing pool (auth::hash_pool).
    pub hash_workers: Gauge,
    pub hash_busy: Gauge,
    pub hash_queue: Gauge,
    pub hash_queue_peak: Gauge,
    pub hash_shed: Counter,
    pub hash_wait: Histogram,
    /// Per route and method (GET, POST).
    latency: [[Histogram; 2]; ROUTES.len()],
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    logins: Default::default(),
    registrations: Counter::default(),
    totp_failures: Counter::default(),
    totp_replays: Counter::default(),
    throttled: Counter::default(),
    db_retries: Counter::default(),
    db_errors: Counter::default(),
    db_operation_timeouts: Counter::default(),
    argon2_waiting: Gauge::default(),
    hash_workers: Gauge::default(),
    hash_busy: Gauge::default(),
    hash_queue: Gauge::default(),
    hash_queue_peak: Gauge::default(),
    hash_shed: Counter::default(),
    hash_wait: Histogram::default(),
    latency: Default::default(),
});

impl Metrics {
    pub fn login(&self, outcome: Outcome) {
        self.logins[outcome as usize].inc();
    }

    pub fn request(&self, path: &str, post: bool, seconds: f64) {
        let route = ROUTES
            .iter()
            .position(|r| *r == path)
            .unwrap_or(ROUTES.len() - 1);
        self.latency[route][usize::from(post)].observe(seconds);
    }

    pub fn render(&self, pool: &deadpool_postgres::Status) -> String {
        let mut out = String::with_capacity(8192);
        out.push_str("# HELP twofa_logins_total Login attempts by outcome.\n# TYPE twofa_logins_total counter\n");
        for (name, c) in OUTCOMES.iter().zip(&self.logins) {
            let _ = writeln!(out, "twofa_logins_total{{outcome=\"{name}\"}} {}", c.get());
        }
        for (name, help, value) in [
            (
                "twofa_registrations_total",
                "Accounts registered.",
                self.registrations.get(),
            ),
            (
                "twofa_totp_failures_total",
                "Wrong or replayed TOTP codes.",
                self.totp_failures.get(),
            ),
            (
                "twofa_totp_replays_total",
                "TOTP codes refused as replays.",
                self.totp_replays.get(),
            ),
            (
                "twofa_throttled_total",
                "Requests answered 429.",
                self.throttled.get(),
            ),
            (
                "twofa_db_retries_total",
                "Database work retried after a transient error.",
                self.db_retries.get(),
            ),
            (
                "twofa_db_errors_total",
                "Database work that failed after retries.",
                self.db_errors.get(),
            ),
            (
                "twofa_db_operation_timeouts_total",
                "Database work abandoned because the server stopped answering.",
                self.db_operation_timeouts.get(),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP twofa_argon2_waiting Password hashes waiting for a worker.\n# TYPE twofa_argon2_waiting gauge\ntwofa_argon2_waiting {}",
            self.hash_queue.get()
        );
        for (name, help, value) in [
            (
                "twofa_hash_workers",
                "Password-hashing worker threads.",
                self.hash_workers.get(),
            ),
            (
                "twofa_hash_busy",
                "Password-hashing workers running a hash now.",
                self.hash_busy.get(),
            ),
            (
                "twofa_hash_queue_length",
                "Password hashes waiting for a worker.",
                self.hash_queue.get(),
            ),
            (
                "twofa_hash_queue_length_max",
                "Longest the password-hashing queue has been since start.",
                self.hash_queue_peak.get(),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP twofa_hash_shed_total Password posts answered 503 because hashing was at capacity.\n# TYPE twofa_hash_shed_total counter\ntwofa_hash_shed_total {}",
            self.hash_shed.get()
        );
        out.push_str("# HELP twofa_hash_queue_wait_seconds Time a password hash waited for a worker.\n# TYPE twofa_hash_queue_wait_seconds histogram\n");
        self.hash_wait
            .render(&mut out, "twofa_hash_queue_wait_seconds", "");
        let _ = writeln!(
            out,
            "# HELP twofa_db_pool_connections Database pool connections.\n# TYPE twofa_db_pool_connections gauge\n\
             twofa_db_pool_connections{{state=\"open\"}} {}\ntwofa_db_pool_connections{{state=\"idle\"}} {}\n\
             twofa_db_pool_connections{{state=\"max\"}} {}\n\
             # HELP twofa_db_pool_waiting Requests waiting for a database connection.\n# TYPE twofa_db_pool_waiting gauge\ntwofa_db_pool_waiting {}",
            pool.size, pool.available, pool.max_size, pool.waiting
        );
        crate::clock::render(&mut out, &crate::clock::read());
        out.push_str("# HELP twofa_http_request_duration_seconds Request latency by route and method.\n# TYPE twofa_http_request_duration_seconds histogram\n");
        for (route, per_method) in ROUTES.iter().zip(&self.latency) {
            for (method, h) in ["GET", "POST"].iter().zip(per_method) {
                if h.count.load(Ordering::Relaxed) > 0 {
                    h.render(
                        &mut out,
                        "twofa_http_request_duration_seconds",
                        &format!("route=\"{route}\",method=\"{method}\","),
                    );
                }
            }
        }
        out
    }
}
