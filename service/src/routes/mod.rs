//! The HTTP contract of docs/architecture.md §3, one module per page. Handlers read
//! like the flow they serve: parse, check, act, redirect.

mod account;
mod client_ip;
mod enroll;
mod login;
mod ops;
pub use ops::metrics_routes;
mod recovery;
mod register;
mod welcome;

use crate::auth::password::HashError;
use crate::db::DbError;
use crate::metrics::METRICS;
use crate::pages::Lang;
use crate::App;
use bytes::{Buf, Bytes, BytesMut};
pub use client_ip::{client_ip, source_key};
use futures_util::{Stream, StreamExt};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use warp::http::header::{HeaderName, HeaderValue};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// Largest accepted POST body (docs/architecture.md §3: anything larger gets 413).
pub const MAX_BODY: usize = 16 * 1024;

/// Every route, with security headers and latency metrics.
pub fn routes(
    app: App,
) -> impl Filter<Extract = (impl Reply,), Error = std::convert::Infallible> + Clone {
    let pages = too_large(app.clone())
        .or(register::routes(app.clone()))
        .unify()
        .or(enroll::routes(app.clone()))
        .unify()
        .or(recovery::routes(app.clone()))
        .unify()
        .or(login::routes(app.clone()))
        .unify()
        .or(welcome::routes(app.clone()))
        .unify()
        .or(ops::routes(app.clone()))
        .unify()
        .or(account::routes(app.clone()))
        .unify()
        .or(not_found(app))
        .unify();
    // The catch-all page answers whatever no route took, so nothing is rejected.
    pages.map(secure_headers).with(warp::log::custom(|info| {
        METRICS.request(
            info.path(),
            info.method() == warp::http::Method::POST,
            info.elapsed().as_secs_f64(),
        )
    }))
}

/// Every route and the methods it answers: for 405's `Allow`, and the only
/// paths a page's links are built from.
const ROUTES: &[(&str, &str)] = &[
    ("/", "GET"),
    ("/register", "GET, POST"),
    ("/enroll", "GET, POST"),
    ("/recovery-codes", "GET, POST"),
    ("/login", "GET, POST"),
    ("/login/totp", "GET, POST"),
    ("/login/recovery", "GET, POST"),
    ("/welcome", "GET"),
    ("/logout", "POST"),
    ("/account", "GET"),
    ("/account/authenticator", "GET, POST"),
    ("/account/password", "POST"),
    ("/account/recovery-codes", "POST"),
    ("/account/delete", "POST"),
    ("/account/sessions/revoke", "POST"),
    ("/healthz", "GET"),
    ("/readyz", "GET"),
    ("/static/style.css", "GET"),
    ("/favicon.ico", "GET"),
];

/// The route `path` names, if it is one of ours.
fn known_route(path: &str) -> Option<&'static (&'static str, &'static str)> {
    ROUTES.iter().find(|(p, _)| *p == path)
}

/// Gives back the throttle slots a password attempt took (see
/// `db::throttle::claim_in_window`, `claim_attempt`) when its hash was shed
/// and the password never judged: a shed post counts for nothing.
pub(crate) async fn refund_slots(
    app: &App,
    ip_key: &str,
    account_key: Option<&str>,
) -> Result<(), AppError> {
    crate::with_db!(app.db, |c| {
        let tx = c.transaction().await?;
        crate::db::throttle::refund_in_window(&tx, ip_key).await?;
        if let Some(key) = account_key {
            crate::db::throttle::refund_attempt(&tx, key).await?;
        }
        tx.commit().await?;
        Ok(())
    })?;
    Ok(())
}

/// What no route took: 405 with `Allow` for a known path asked with another
/// method, 404 for anything else.
fn not_found(
    app: App,
) -> impl Filter<Extract = (Response,), Error = std::convert::Infallible> + Clone {
    warp::any()
        .and(warp::path::full())
        .and(request(app.clone()))
        .map(
            move |path: warp::path::FullPath, req: Req| match known_route(path.as_str()) {
                Some((_, allow)) => {
                    let mut resp =
                        app.error_page(&req, StatusCode::METHOD_NOT_ALLOWED, "error_not_found");
                    resp.headers_mut()
                        .insert("allow", HeaderValue::from_static(allow));
                    resp
                }
                None => app.error_page(&req, StatusCode::NOT_FOUND, "error_not_found"),
            },
        )
}

/// A request that declares a body over [`MAX_BODY`] gets 413 on every route,
/// before any handler runs; others pass on.
fn too_large(app: App) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(request(app.clone()))
        .and_then(move |length: Option<u64>, req: Req| {
            let app = app.clone();
            async move {
                if length.is_some_and(|n| n > MAX_BODY as u64) {
                    Ok(app.error_page(&req, StatusCode::PAYLOAD_TOO_LARGE, "error_too_large"))
                } else {
                    Err(warp::reject::not_found())
                }
            }
        })
}

fn secure_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let set = |h: &mut warp::http::HeaderMap, name: &'static str, value: &'static str| {
        h.entry(HeaderName::from_static(name))
            .or_insert(HeaderValue::from_static(value));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "no-referrer");
    set(h, "x-content-type-options", "nosniff");
    set(h, "cache-control", "no-store");
    resp
}

/// What every handler knows about the request.
pub struct Req {
    pub lang: Lang,
    /// The page's path, for the language switch link.
    pub path: String,
    pub ip: IpAddr,
    cookies: HashMap<String, String>,
    /// `?lang=` asked for a language: remember it in a cookie.
    remember_lang: bool,
}

impl Req {
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }
}

/// Extracts [`Req`] from the headers and the peer address.
pub fn request(
    app: App,
) -> impl Filter<Extract = (Req,), Error = std::convert::Infallible> + Clone {
    warp::path::full()
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::addr::remote())
        .map(
            move |path: warp::path::FullPath,
                  query: String,
                  headers: warp::http::HeaderMap,
                  remote: Option<SocketAddr>| {
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
                let mut cookies = HashMap::new();
                for value in headers.get_all("cookie") {
                    if let Ok(text) = value.to_str() {
                        for pair in text.split(';') {
                            if let Some((k, v)) = pair.trim().split_once('=') {
                                cookies
                                    .entry(k.to_string())
                                    .or_insert_with(|| v.to_string());
                            }
                        }
                    }
                }
                let asked = serde_urlencoded::from_str::<Vec<(String, String)>>(&query)
                    .ok()
                    .and_then(|q| q.into_iter().find(|(k, _)| k == "lang"))
                    .and_then(|(_, v)| Lang::from_code(&v));
                let lang = asked
                    .or_else(|| {
                        cookies
                            .get(&app.cookies.lang)
                            .and_then(|v| Lang::from_code(v))
                    })
                    .unwrap_or_else(|| {
                        Lang::from_accept_language(header("accept-language").unwrap_or(""))
                    });
                let peer = remote.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
                // Every X-Forwarded-For line, in order: a proxy that appends
                // its own line after the client's must be read from the right.
                let forwarded: Vec<&str> = headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                let ip = client_ip(&app.settings.trusted_proxies, peer, &forwarded);
                // Links on the page (the language switch) are built from
                // our own routes only, never from what the client sent.
                let path = known_route(path.as_str()).map_or("/", |(p, _)| p);
                Req {
                    lang,
                    path: path.to_string(),
                    ip,
                    cookies,
                    remember_lang: asked.is_some(),
                }
            },
        )
}

/// A POST body as it arrived, read by [`App::read_form`].
pub struct RawBody {
    content_length: Option<u64>,
    content_type: Option<String>,
    stream: Pin<Box<dyn Stream<Item = Result<Bytes, warp::Error>> + Send>>,
}

pub fn raw_body() -> impl Filter<Extract = (RawBody,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::body::stream())
        .map(|content_length, content_type, stream: _| RawBody {
            content_length,
            content_type,
            stream: boxed(stream),
        })
}

fn boxed<S, B>(stream: S) -> Pin<Box<dyn Stream<Item = Result<Bytes, warp::Error>> + Send>>
where
    S: Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf,
{
    Box::pin(stream.map(|r| {
        r.map(|mut buf| {
            let n = buf.remaining();
            buf.copy_to_bytes(n)
        })
    }))
}

/// A parsed, CSRF-checked form.
pub struct Form(HashMap<String, String>);

impl Form {
    /// The field's value, or "" when it is missing.
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }
}

/// Why a request was refused before its handler ran.
pub enum Refusal {
    TooLarge,
    UnsupportedType,
    BadForm,
    Csrf,
}

/// What a handler failed with: shown as a page with no internals in it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
    /// Password hashing is at capacity: 503 with `Retry-After`, nothing
    /// checked and nothing counted.
    #[error("password hashing at capacity")]
    Busy { retry_after_s: u64 },
}

impl From<HashError> for AppError {
    fn from(e: HashError) -> AppError {
        match e {
            HashError::Busy { retry_after_s } => AppError::Busy { retry_after_s },
            HashError::Failed(e) => AppError::Internal(e),
        }
    }
}

pub type Outcome = Result<Response, AppError>;

/// Cookie names: `__Host-` prefixed unless cookies are not `Secure` (local http).
pub struct CookieNames {
    pub session: String,
    pub login: String,
    pub csrf: String,
    pub lang: String,
    /// The signed device cookie of a browser that completed a login.
    pub device: String,
    secure: bool,
}

impl CookieNames {
    pub fn new(secure: bool) -> CookieNames {
        let name = |n: &str| {
            if secure {
                format!("__Host-twofa-{n}")
            } else {
                format!("twofa-{n}")
            }
        };
        CookieNames {
            session: name("session"),
            login: name("login"),
            csrf: name("csrf"),
            lang: name("lang"),
            device: name("device"),
            secure,
        }
    }

    pub fn set(&self, name: &str, value: &str, max_age_s: u64) -> String {
        format!(
            "{name}={value}; Path=/; Max-Age={max_age_s}; HttpOnly; SameSite=Lax{}",
            if self.secure { "; Secure" } else { "" }
        )
    }

    pub fn clear(&self, name: &str) -> String {
        self.set(name, "", 0)
    }
}

/// A response being built: status, body and cookies.
pub struct Page {
    resp: Response,
}

impl From<Response> for Page {
    fn from(resp: Response) -> Page {
        Page { resp }
    }
}

impl Page {
    pub fn html(status: StatusCode, body: String) -> Page {
        let mut resp = Response::new(body.into());
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        Page { resp }
    }

    /// 303 See Other, as every POST answers on success.
    pub fn redirect(to: &'static str) -> Page {
        let mut resp = Response::new(Bytes::new().into());
        *resp.status_mut() = StatusCode::SEE_OTHER;
        resp.headers_mut()
            .insert("location", HeaderValue::from_static(to));
        Page { resp }
    }

    pub fn cookie(mut self, set_cookie: String) -> Page {
        if let Ok(v) = HeaderValue::from_str(&set_cookie) {
            self.resp.headers_mut().append("set-cookie", v);
        }
        self
    }

    pub fn header(mut self, name: &'static str, value: &'static str) -> Page {
        self.resp
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
        self
    }

    pub fn retry_after(mut self, seconds: i64) -> Page {
        self.resp
            .headers_mut()
            .insert("retry-after", HeaderValue::from(seconds.max(1)));
        self
    }

    pub fn done(self) -> Response {
        self.resp
    }
}

pub fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut resp = Response::new(text.into());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

impl App {
    /// Renders a page, with a CSRF token bound to this browser (setting the
    /// browser's CSRF cookie if it has none) and the language cookie.
    pub fn page(
        &self,
        req: &Req,
        status: StatusCode,
        template: &str,
        mut ctx: tera::Context,
    ) -> Outcome {
        // Only a value the server issued is believed: a client-chosen one
        // is replaced.
        let (browser, new_cookie) = match req.cookie(&self.cookies.csrf) {
            Some(v) if self.csrf.browser_ok(v) => (v.to_string(), false),
            _ => (self.csrf.new_browser(), true),
        };
        ctx.insert(
            "csrf_token",
            &self.csrf.issue(&browser, crate::auth::totp::now_unix()),
        );
        let body = self.pages.render(template, req.lang, &req.path, ctx)?;
        let mut page = Page::html(status, body);
        if new_cookie {
            page = page.cookie(self.cookies.set(&self.cookies.csrf, &browser, 30 * 86400));
        }
        Ok(self.remember_lang(req, page).done())
    }

    /// The cookies of a completed login: the session, a fresh CSRF cookie
    /// (rotated at login), the device cookie that lets this browser past the
    /// account-wide password delay, and the pending login cleared.
    pub fn signed_in(&self, page: Page, session: &str, ttl_s: u64, user_id: i64) -> Page {
        page.cookie(self.cookies.set(&self.cookies.session, session, ttl_s))
            .cookie(
                self.cookies
                    .set(&self.cookies.csrf, &self.csrf.new_browser(), 30 * 86400),
            )
            .cookie(self.cookies.set(
                &self.cookies.device,
                &self.device.issue(user_id),
                crate::auth::device::DEVICE_COOKIE_MAX_AGE_S,
            ))
            .cookie(self.cookies.clear(&self.cookies.login))
    }

    pub fn remember_lang(&self, req: &Req, page: Page) -> Page {
        if req.remember_lang {
            page.cookie(
                self.cookies
                    .set(&self.cookies.lang, req.lang.code(), 365 * 86400),
            )
        } else {
            page
        }
    }

    /// An error page with one localized message.
    pub fn error_page(&self, req: &Req, status: StatusCode, message_key: &str) -> Response {
        let mut ctx = tera::Context::new();
        ctx.insert("message", &self.pages.text(req.lang, message_key, &[]));
        match self.page(req, status, "error.html", ctx) {
            Ok(resp) => resp,
            Err(_) => plain(status, "error"),
        }
    }

    /// Turns a handler's failure into a page that says nothing internal.
    pub fn failure_page(&self, req_lang: Lang, path: &str, err: AppError) -> Response {
        if let AppError::Busy { retry_after_s } = err {
            return self.busy_page(req_lang, path, retry_after_s);
        }
        let (status, key) = match &err {
            AppError::Db(e) if e.is_transient() => {
                (StatusCode::SERVICE_UNAVAILABLE, "error_unavailable")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "error_internal"),
        };
        METRICS.db_errors.inc();
        tracing::error!(error = %err, path, "request failed");
        let req = Req {
            lang: req_lang,
            path: path.to_string(),
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            cookies: HashMap::new(),
            remember_lang: false,
        };
        let mut resp = self.error_page(&req, status, key);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from_static("5"));
        }
        resp
    }

    /// The answer to a password post shed at capacity: 503, a page that
    /// says to try again and that the attempt did not count, `Retry-After`.
    /// Logged at debug level: shedding is the design working, not a fault.
    pub fn busy_page(&self, req_lang: Lang, path: &str, retry_after_s: u64) -> Response {
        tracing::debug!(
            path,
            retry_after_s,
            "password post shed: hashing at capacity"
        );
        let req = Req {
            lang: req_lang,
            path: path.to_string(),
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            cookies: HashMap::new(),
            remember_lang: false,
        };
        let mut ctx = tera::Context::new();
        ctx.insert(
            "message",
            &self.pages.text(
                req.lang,
                "error_busy",
                &[("seconds", &retry_after_s.to_string())],
            ),
        );
        let status = StatusCode::SERVICE_UNAVAILABLE;
        let mut resp = self
            .page(&req, status, "error.html", ctx)
            .unwrap_or_else(|_| plain(status, "busy, try again"));
        // The page has no form: keep the browser's CSRF cookie, so the
        // sign-in form it goes back to still submits.
        resp.headers_mut().remove("set-cookie");
        Page::from(resp).retry_after(retry_after_s as i64).done()
    }

    /// Reads a form body: 413 over 16 KiB (checked first, whatever else is
    /// wrong), 415 for another content type, 400 for what is not a form
    /// (invalid UTF-8, NUL bytes, repeated fields), 403 for a missing,
    /// stale or foreign CSRF token.
    pub async fn read_form(&self, req: &Req, mut body: RawBody) -> Result<Form, Response> {
        let refuse = |r: Refusal| {
            let (status, key) = match r {
                Refusal::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "error_too_large"),
                Refusal::UnsupportedType => {
                    (StatusCode::UNSUPPORTED_MEDIA_TYPE, "error_unsupported_type")
                }
                Refusal::BadForm => (StatusCode::BAD_REQUEST, "error_bad_request"),
                Refusal::Csrf => (StatusCode::FORBIDDEN, "error_csrf"),
            };
            self.error_page(req, status, key)
        };
        if body.content_length.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(refuse(Refusal::TooLarge));
        }
        let mut buf = BytesMut::new();
        while let Some(chunk) = body.stream.next().await {
            let chunk = chunk.map_err(|_| refuse(Refusal::BadForm))?;
            if buf.len() + chunk.len() > MAX_BODY {
                return Err(refuse(Refusal::TooLarge));
            }
            buf.extend_from_slice(&chunk);
        }
        let is_form = body.content_type.as_deref().is_some_and(|ct| {
            ct.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
        if !is_form {
            return Err(refuse(Refusal::UnsupportedType));
        }
        let fields = parse_form(&buf).ok_or_else(|| refuse(Refusal::BadForm))?;
        let browser = req.cookie(&self.cookies.csrf).unwrap_or("");
        let token = fields.get("csrf_token").map_or("", String::as_str);
        if !self.csrf.browser_ok(browser)
            || !self
                .csrf
                .verify(browser, token, crate::auth::totp::now_unix())
        {
            return Err(refuse(Refusal::Csrf));
        }
        Ok(Form(fields))
    }
}

/// `application/x-www-form-urlencoded`, strictly: valid UTF-8 after
/// percent-decoding, no NUL, each field once.
fn parse_form(body: &[u8]) -> Option<HashMap<String, String>> {
    let mut fields = HashMap::new();
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let mut kv = pair.splitn(2, |&b| b == b'=');
        let key = decode(kv.next()?)?;
        let value = decode(kv.next().unwrap_or(b""))?;
        if fields.insert(key, value).is_some() {
            return None;
        }
    }
    Some(fields)
}

fn decode(raw: &[u8]) -> Option<String> {
    let plus: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let bytes: Vec<u8> = urlencoding::decode_binary(&plus).into_owned();
    let text = String::from_utf8(bytes).ok()?;
    (!text.contains('\0')).then_some(text)
}

/// Wires a handler: runs it and turns its failure into a page.
#[macro_export]
macro_rules! handler {
    ($app:ident, $req:ident, $call:expr) => {{
        let lang = $req.lang;
        let path = $req.path.clone();
        match $call.await {
            Ok(resp) => Ok::<warp::reply::Response, warp::Rejection>(resp),
            Err(e) => Ok($app.failure_page(lang, &path, e)),
        }
    }};
}

/// A filter giving each handler the shared app.
pub fn with_app(
    app: App,
) -> impl Filter<Extract = (App,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || app.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_parsed_strictly() {
        let f = parse_form(b"email=a%40b.c&password=x+y").unwrap();
        assert_eq!(f["email"], "a@b.c");
        assert_eq!(f["password"], "x y");
        assert!(parse_form(b"a=1&a=2").is_none(), "repeated field");
        assert!(parse_form(b"a=%FF%FE").is_none(), "invalid UTF-8");
        assert!(parse_form(b"a=x%00y").is_none(), "NUL");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec![
            "10.77.0.11/32".parse().unwrap(),
            "10.77.0.12/32".parse().unwrap(),
        ];
        let proxy: IpAddr = "10.77.0.11".parse().unwrap();
        let stranger: IpAddr = "10.77.0.100".parse().unwrap();
        assert_eq!(
            client_ip(&trusted, proxy, &["192.0.2.7"]),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(&trusted, proxy, &["6.6.6.6, 192.0.2.7, 10.77.0.12"]),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(&trusted, stranger, &["192.0.2.7"]), stranger);
        assert_eq!(client_ip(&trusted, proxy, &["garbage"]), proxy);
        assert_eq!(client_ip(&trusted, proxy, &[]), proxy);
    }
}
