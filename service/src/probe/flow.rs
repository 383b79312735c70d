//! The user flows of the HTTP contract (docs/architecture.md §3) as a client sees them:
//! forms with a `csrf_token`, cookies, `303 See Other`. Nothing here knows
//! the service's internals.

use anyhow::Result;
use rand::Rng;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How one request ended, for the outage and failure accounting.
pub use crate::client::Failure;

/// Every request attempt, as (completion time, ok), for outage windows.
pub type Events = std::sync::Arc<std::sync::Mutex<Vec<(Instant, bool)>>>;

/// One request as the load saw it: wall-clock times in unix milliseconds,
/// so a driver can set them beside its own fault times.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attempt {
    pub start_ms: u64,
    pub end_ms: u64,
    /// The request, e.g. `GET /login/totp`.
    pub step: String,
    /// None for an answer a browser shows as a page (status below 500).
    pub cause: Option<String>,
    /// The base URL the request went to.
    pub node: String,
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

pub fn client(connect_timeout: Duration, timeout: Duration) -> Result<reqwest::Client> {
    client_from(connect_timeout, timeout, None)
}

/// As [`client`], its connections sent from `local_address` when given.
pub fn client_from(
    connect_timeout: Duration,
    timeout: Duration,
    local_address: Option<std::net::IpAddr>,
) -> Result<reqwest::Client> {
    Ok(crate::client::http(&crate::client::Options {
        connect_timeout: Some(connect_timeout),
        timeout: Some(timeout),
        // A fresh connection per request: a pooled connection to a dead
        // proxy would hang instead of failing fast.
        max_idle_per_host: 0,
        local_address,
    })?)
}

/// One browser as the probe drives it: a person of the shared client
/// (`crate::client::Browser`: cookie jar, CSRF token, one request per call,
/// no redirects followed behind its back) plus the probe's accounting
/// (every attempt traced, outage events) and, for setup and final checks
/// only, retries that a person would not make.
pub struct Browser {
    pub web: crate::client::Browser,
    events: Option<Events>,
    /// Retry connect failures until this instant (setup and checks only).
    pub deadline: Instant,
    /// Retry requests that reached no one (connect failures) and GETs that
    /// failed, until `deadline`. A browser does neither: the load turns it off
    /// so every error a person would see is counted.
    pub retry: bool,
    /// Every attempt, when `trace` is on (the load's failure accounting).
    pub trace: bool,
    pub attempts: Vec<Attempt>,
    pub connect_retries: u64,
    /// Wait and retry on 429 (the proxy's per-IP rate limit answers before
    /// any app sees the request): for setup and final checks, not the load.
    pub retry_throttled: bool,
}

/// An answer below 500: a page a browser shows.
pub type Answer = crate::client::Page;

impl Browser {
    pub fn new(
        http: &reqwest::Client,
        base: &str,
        events: Option<Events>,
        patience: Duration,
    ) -> Self {
        Browser {
            web: crate::client::Browser::new(http, base),
            events,
            deadline: Instant::now() + patience,
            connect_retries: 0,
            retry_throttled: false,
            retry: true,
            trace: false,
            attempts: Vec::new(),
        }
    }

    /// A browser as a person has one: no retries, every attempt traced.
    pub fn strict(http: &reqwest::Client, base: &str, events: Option<Events>) -> Self {
        let mut b = Browser::new(http, base, events, Duration::ZERO);
        b.retry = false;
        b.trace = true;
        b
    }

    /// The base URL the requests go to.
    pub fn base(&self) -> &str {
        &self.web.base
    }

    /// The last failed attempt, for the failure list.
    pub fn last_failure(&self) -> Option<&Attempt> {
        self.attempts.iter().rev().find(|a| a.cause.is_some())
    }

    fn record(&self, ok: bool) {
        if let Some(ev) = &self.events {
            ev.lock().unwrap().push((Instant::now(), ok));
        }
    }

    fn traced(&mut self, start_ms: u64, step: &str, cause: Option<String>) {
        if self.trace {
            self.attempts.push(Attempt {
                start_ms,
                end_ms: unix_ms(),
                step: step.to_string(),
                cause,
                node: self.web.base.clone(),
            });
        }
    }

    /// One request, judged as a person would: a 5xx, a reset or a timeout
    /// is a failure. Unless `retry` is off (the load), connect failures are
    /// retried (the request reached no one) until the deadline, and GETs on
    /// any failure.
    pub async fn send(
        &mut self,
        post: Option<&[(&str, &str)]>,
        path: &str,
    ) -> Result<Answer, Failure> {
        loop {
            let start_ms = unix_ms();
            let step = format!("{} {path}", if post.is_some() { "POST" } else { "GET" });
            let res = match post {
                Some(form) => self.web.post_form(path, form).await,
                None => self.web.get(path).await,
            };
            let failure = match res {
                Ok(page) => {
                    if page.status == 429 && self.retry_throttled && Instant::now() < self.deadline
                    {
                        let wait = page
                            .retry_after()
                            .and_then(|v| v.parse::<u64>().ok())
                            .unwrap_or(1)
                            .clamp(1, 10);
                        tokio::time::sleep(Duration::from_secs(wait)).await;
                        continue;
                    }
                    if page.status < 500 {
                        self.record(true);
                        self.traced(start_ms, &step, None);
                        return Ok(page);
                    }
                    Failure::Status(page.status, path.to_string())
                }
                Err(f) => f,
            };
            self.record(false);
            self.traced(start_ms, &step, Some(failure.to_string()));
            let retry = self.retry && (matches!(failure, Failure::Connect) || post.is_none());
            if !retry || Instant::now() >= self.deadline {
                return Err(failure);
            }
            self.connect_retries += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn get(&mut self, path: &str) -> Result<Answer, Failure> {
        self.send(None, path).await
    }

    /// GET a page and return its CSRF token.
    pub async fn form(&mut self, path: &str) -> Result<(String, Answer), Failure> {
        let a = self.get(path).await?;
        if a.status != 200 {
            return Err(Failure::Status(a.status, format!("GET {path}")));
        }
        match a.csrf() {
            Some(t) => Ok((t, a)),
            None => Err(Failure::Status(
                a.status,
                format!("GET {path} without csrf_token"),
            )),
        }
    }

    /// POST a form and expect `303 See Other` to `want`.
    pub async fn submit(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        want: &str,
    ) -> Result<Answer, Failure> {
        let a = self.send(Some(fields), path).await?;
        if a.status != 303 || !a.location().ends_with(want) {
            return Err(Failure::Status(
                a.status,
                format!("POST {path} (→ {})", a.location()),
            ));
        }
        Ok(a)
    }
}

// ------------------------------------------------------------------ TOTP

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

pub fn step_now() -> u64 {
    now_unix() / 30
}

fn base32_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = ALPHA.iter().position(|&a| a == c.to_ascii_uppercase())? as u64;
        bits = (bits << 5) | v;
        nbits += 5;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    Some(out)
}

/// RFC 6238 (SHA-1, 6 digits, 30 s) code for a time step.
pub fn totp(secret: &[u8], step: u64) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).expect("any key length");
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    format!("{:06}", bin % 1_000_000)
}

// -------------------------------------------------------------- accounts

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub email: String,
    pub password: String,
    #[serde(with = "hexbytes")]
    pub secret: Vec<u8>,
    /// The last time step whose code was sent for this account.
    pub last_step: u64,
}

mod hexbytes {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s: String = serde::Deserialize::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

pub fn random_password() -> String {
    const CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut r = rand::thread_rng();
    (0..20)
        .map(|_| CHARS[r.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// Registers and enrols a new account; returns it once the server has
/// acknowledged the enrolment (303 to the recovery codes).
pub async fn register(b: &mut Browser, email: &str) -> Result<Account, Failure> {
    let account = enrol(b, email).await?;
    acknowledge_recovery_codes(b).await?;
    Ok(account)
}

/// Registration up to the acknowledged enrolment: from here on the account
/// exists and must survive any fault.
pub async fn enrol(b: &mut Browser, email: &str) -> Result<Account, Failure> {
    let password = random_password();
    let (csrf, _) = b.form("/register").await?;
    b.submit(
        "/register",
        &[
            ("csrf_token", &csrf),
            ("email", email),
            ("password", &password),
            ("password_confirm", &password),
        ],
        "/enroll",
    )
    .await?;
    let (csrf, page) = b.form("/enroll").await?;
    let secret = page
        .element_text("totp-secret")
        .and_then(|s| base32_decode(&s))
        .ok_or_else(|| Failure::Status(page.status, "GET /enroll without #totp-secret".into()))?;
    let step = step_now();
    let code = totp(&secret, step);
    b.submit(
        "/enroll",
        &[("csrf_token", &csrf), ("code", &code)],
        "/recovery-codes",
    )
    .await?;
    Ok(Account {
        email: email.to_string(),
        password,
        secret,
        last_step: step,
    })
}

/// Acknowledge the recovery codes, as a person would.
pub async fn acknowledge_recovery_codes(b: &mut Browser) -> Result<(), Failure> {
    let (csrf, _) = b.form("/recovery-codes").await?;
    b.submit("/recovery-codes", &[("csrf_token", &csrf)], "/welcome")
        .await?;
    Ok(())
}

/// The password half of a login: leaves the browser with a pending login.
pub async fn password_step(b: &mut Browser, a: &Account) -> Result<(), Failure> {
    let (csrf, _) = b.form("/login").await?;
    b.submit(
        "/login",
        &[
            ("csrf_token", &csrf),
            ("email", &a.email),
            ("password", &a.password),
        ],
        "/login/totp",
    )
    .await?;
    Ok(())
}

/// The code half: GET /login/totp for the token, POST the code.
pub async fn code_step(b: &mut Browser, code: &str) -> Result<Answer, Failure> {
    let (csrf, _) = b.form("/login/totp").await?;
    b.send(
        Some(&[("csrf_token", &csrf), ("code", code)]),
        "/login/totp",
    )
    .await
}

/// A full login with a code for `step`; Ok when the server answers 303 to /welcome.
pub async fn login(b: &mut Browser, a: &mut Account, step: u64) -> Result<(), Failure> {
    password_step(b, a).await?;
    a.last_step = step;
    let ans = code_step(b, &totp(&a.secret, step)).await?;
    if ans.status == 303 && ans.location().ends_with("/welcome") {
        Ok(())
    } else {
        Err(Failure::Status(
            ans.status,
            format!("POST /login/totp (→ {})", ans.location()),
        ))
    }
}

/// The step to use for an account's next code: the current one, or the
/// next (accepted as t+1) when the current one is spent; None when the
/// account must wait for the next step.
pub fn usable_step(a: &Account) -> Option<u64> {
    let now = step_now();
    if a.last_step < now {
        Some(now)
    } else if a.last_step == now {
        Some(now + 1)
    } else {
        None
    }
}

pub fn run_id() -> String {
    format!("{:06x}", rand::thread_rng().gen_range(0..0xffffffu32))
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}
