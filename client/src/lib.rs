//! A small HTTP client that speaks the contract of docs/architecture.md §3
//! the way a browser without JavaScript does. It is the one client of the
//! lab's probe (`twofa probe …`), the API tests and `cargo xtask bench`.
//! It is a crate of its own (`twofa-client`, re-exported by the service as
//! `twofa::client`) so that xtask can use it without compiling the service.
//!
//! - [`Browser`] is one person: a cookie jar ([`CookieJar`]), extra headers
//!   sent with every request (`Accept-Language`, `X-Forwarded-For` …) and the
//!   `csrf_token` of the last page that carried one.
//! - Every call is exactly one request. Nothing is retried, and redirects are
//!   not followed behind the caller's back: a `303 See Other` comes back as
//!   it is, its cookies already in the jar, and [`Browser::follow`] makes the
//!   `GET` a browser would make next. Whoever counts failures (the probe's
//!   accounting) therefore sees every request a person would have seen.
//! - The timeouts are per request ([`Options`]); a request that times out or
//!   breaks is a [`Failure`], an answer of any status is a [`Page`].
//! - [`Page`] reads the contract's parts of a page: hidden inputs
//!   (`csrf_token`, `proof`), the text of an element by id (`totp-secret`)
//!   and the `recovery-code` elements.

use std::collections::BTreeMap;
use std::time::Duration;

/// Connection settings shared by every [`Browser`] made from one `reqwest::Client`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bound on establishing a connection (None: the system's).
    pub connect_timeout: Option<Duration>,
    /// Bound on a whole request, from sending to the last byte of the body.
    pub timeout: Option<Duration>,
    /// Idle connections kept per host; 0 opens a fresh connection for every
    /// request, so a connection to a proxy that died cannot hang the next one.
    pub max_idle_per_host: usize,
    /// The address connections are made from (None: the system picks),
    /// for a client that must be counted as a source of its own.
    pub local_address: Option<std::net::IpAddr>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: None,
            timeout: None,
            max_idle_per_host: usize::MAX,
            local_address: None,
        }
    }
}

/// The `reqwest::Client` under every [`Browser`]: redirects never followed
/// automatically, no cookie store of its own (each browser keeps its jar).
pub fn http(o: &Options) -> Result<reqwest::Client, reqwest::Error> {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(o.max_idle_per_host);
    if let Some(t) = o.connect_timeout {
        b = b.connect_timeout(t);
    }
    if let Some(t) = o.timeout {
        b = b.timeout(t);
    }
    if let Some(a) = o.local_address {
        b = b.local_address(a);
    }
    b.build()
}

/// A request that got no complete answer, or (made by callers that judge
/// answers) an answer that was not the one the contract promises.
#[derive(Debug, Clone)]
pub enum Failure {
    /// Never reached a server (connect refused or timed out).
    Connect,
    /// Sent, then the connection broke or timed out: the server may have acted.
    Transport(String),
    /// An answer, but not the one the contract promises: the status and
    /// what was asked.
    Status(u16, String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect => write!(f, "connect"),
            Failure::Transport(e) => write!(f, "transport: {e}"),
            Failure::Status(c, what) => write!(f, "{c} on {what}"),
        }
    }
}

impl std::error::Error for Failure {}

impl Failure {
    /// A short key for counting failures by kind.
    pub fn kind(&self) -> String {
        match self {
            Failure::Connect => "connect".into(),
            Failure::Transport(_) => "transport".into(),
            Failure::Status(c, what) => format!("{c} {what}"),
        }
    }
}

// ------------------------------------------------------------ cookies

/// One person's cookies, name → value, as a browser keeps them for one site.
/// It derefs to the map, so a caller can read or plant a cookie.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CookieJar(BTreeMap<String, String>);

impl CookieJar {
    /// Applies one `Set-Cookie` header value: stores the cookie, or removes
    /// it when it is cleared (an empty value, `Max-Age` of zero or less, or
    /// an `Expires` in 1970, the way servers clear a cookie). Attributes are
    /// case-insensitive; a value without a name is ignored, as a browser
    /// ignores it.
    pub fn store(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return;
        }
        let cleared = parts.any(|attr| {
            let attr = attr.trim().to_ascii_lowercase();
            if let Some(age) = attr.strip_prefix("max-age=") {
                age.trim().parse::<i64>().is_ok_and(|a| a <= 0)
            } else if let Some(date) = attr.strip_prefix("expires=") {
                date.contains(" 1970 ")
            } else {
                false
            }
        });
        if value.is_empty() || cleared {
            self.0.remove(name);
        } else {
            self.0.insert(name.to_string(), value.to_string());
        }
    }

    /// The `Cookie` request header, or None when the jar is empty.
    pub fn header(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        Some(
            self.0
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

impl std::ops::Deref for CookieJar {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for CookieJar {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

// ------------------------------------------------------------ pages

/// One answer: any status, its headers and the whole body.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// A header's value, or "" when absent or not text.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `Location` of a redirect, or "".
    pub fn location(&self) -> &str {
        self.header("location")
    }

    /// The `Retry-After` header, when there is one.
    pub fn retry_after(&self) -> Option<&str> {
        self.headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
    }

    /// Every `Set-Cookie` header value, in order.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }

    /// The value of the page's first hidden field `name`.
    pub fn hidden(&self, name: &str) -> Option<String> {
        hidden(&self.body, name)
    }

    /// The page's CSRF token (the hidden `csrf_token` field of its forms).
    pub fn csrf(&self) -> Option<String> {
        self.hidden("csrf_token")
    }

    /// The text of the element with `id` (no child elements).
    pub fn element_text(&self, id: &str) -> Option<String> {
        element_text(&self.body, id)
    }

    /// The base32 secret of the enrolment page (`#totp-secret`), without
    /// the spaces that group it.
    pub fn totp_secret(&self) -> Option<String> {
        self.element_text("totp-secret")
            .map(|s| s.chars().filter(|c| !c.is_whitespace()).collect())
            .filter(|s: &String| !s.is_empty())
    }

    /// The text of every element with class `recovery-code`, in order.
    pub fn recovery_codes(&self) -> Vec<String> {
        elements_with_class(&self.body, "recovery-code")
    }
}

/// The value of attribute `name` in the inside of one tag (`<input …`),
/// matched as a whole attribute name, HTML entities decoded.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let mut from = 0;
    while let Some(at) = tag[from..].find(&needle) {
        let at = from + at;
        let whole = at == 0 || tag[..at].ends_with(|c: char| c.is_ascii_whitespace());
        let start = at + needle.len();
        if whole {
            let end = start + tag[start..].find('"')?;
            return Some(unescape(&tag[start..end]));
        }
        from = start;
    }
    None
}

/// The value of the first `<input>` whose `name` is exactly `name`.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    html.split("<input").skip(1).find_map(|rest| {
        let tag = &rest[..rest.find('>')?];
        if attribute(tag, "name")? == name {
            attribute(tag, "value")
        } else {
            None
        }
    })
}

/// The text of the first element whose `id` is exactly `id`, up to the next
/// tag, trimmed and with entities decoded.
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>')?;
        let tag = &after[..close];
        let content = &after[close + 1..];
        if attribute(tag, "id").as_deref() == Some(id) {
            let end = content.find('<')?;
            return Some(unescape(content[..end].trim()));
        }
        rest = content;
    }
    None
}

/// The texts of every element that has `class` among its classes.
pub fn elements_with_class(html: &str, class: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else { break };
        let tag = &after[..close];
        let content = &after[close + 1..];
        let has = attribute(tag, "class").is_some_and(|c| c.split_whitespace().any(|c| c == class));
        if has {
            if let Some(end) = content.find('<') {
                out.push(unescape(content[..end].trim()));
            }
        }
        rest = content;
    }
    out
}

/// Decodes the entities our templates' escaping produces.
pub fn unescape(s: &str) -> String {
    s.replace("&#x2F;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

// ------------------------------------------------------------ the browser

/// One person: a base URL, a cookie jar, headers sent with every request
/// and the CSRF token of the last page that carried one. Cloning it clones
/// the person (same cookies), sharing the connection settings.
#[derive(Debug, Clone)]
pub struct Browser {
    http: reqwest::Client,
    /// Scheme, host and port, without a trailing slash.
    pub base: String,
    pub cookies: CookieJar,
    /// Sent with every request, after the cookies (e.g. `accept-language`).
    pub headers: Vec<(String, String)>,
    /// The `csrf_token` of the last page that had one.
    pub csrf: Option<String>,
}

impl Browser {
    pub fn new(http: &reqwest::Client, base: &str) -> Browser {
        Browser {
            http: http.clone(),
            base: base.trim_end_matches('/').to_string(),
            cookies: CookieJar::default(),
            headers: Vec::new(),
            csrf: None,
        }
    }

    /// Exactly one request to `base` + `path`. Cookies the answer sets are
    /// kept whatever its status; its CSRF token, if any, is remembered.
    /// `Err` only when no complete answer arrived.
    pub async fn request(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Page, Failure> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(cookies) = self.cookies.header() {
            req = req.header(reqwest::header::COOKIE, cookies);
        }
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if let Some((content_type, body)) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Err(Failure::Connect),
            Err(e) => return Err(Failure::Transport(e.to_string())),
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        for c in headers.get_all(reqwest::header::SET_COOKIE) {
            if let Ok(c) = c.to_str() {
                self.cookies.store(c);
            }
        }
        let body = resp
            .text()
            .await
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let page = Page {
            status,
            headers,
            body,
        };
        if let Some(t) = page.csrf() {
            self.csrf = Some(t);
        }
        Ok(page)
    }

    pub async fn get(&mut self, path: &str) -> Result<Page, Failure> {
        self.request(reqwest::Method::GET, path, None).await
    }

    /// POST these fields, form-encoded, exactly as given.
    pub async fn post_form(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<Page, Failure> {
        let body = serde_urlencoded::to_string(fields)
            .map_err(|e| Failure::Transport(format!("encoding the form: {e}")))?;
        self.post_raw(path, "application/x-www-form-urlencoded", body.into_bytes())
            .await
    }

    /// POST a form as its page would: the remembered `csrf_token` first,
    /// then `fields`. Without a remembered token the form goes without one
    /// (the service refuses it), as a forged post would.
    pub async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Result<Page, Failure> {
        let token = self.csrf.clone();
        let mut all: Vec<(&str, &str)> = Vec::with_capacity(fields.len() + 1);
        if let Some(t) = &token {
            all.push(("csrf_token", t));
        }
        all.extend_from_slice(fields);
        self.post_form(path, &all).await
    }

    /// POST any body with any content type (bad-input tests).
    pub async fn post_raw(
        &mut self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Page, Failure> {
        self.request(reqwest::Method::POST, path, Some((content_type, body)))
            .await
    }

    /// The path of a `Location` on this browser's site: relative ones as
    /// they are, absolute ones on `base` without it; None for another site.
    pub fn local_path<'p>(&self, location: &'p str) -> Option<&'p str> {
        if location.starts_with('/') {
            Some(location)
        } else {
            location
                .strip_prefix(&self.base)
                .filter(|p| p.is_empty() || p.starts_with('/'))
        }
    }

    /// What a browser does with a redirect: GET its `Location` (on this
    /// site). A page that is not a redirect, or one to another site, is a
    /// `Failure::Status`.
    pub async fn follow(&mut self, page: &Page) -> Result<Page, Failure> {
        let target = match page.status {
            301 | 302 | 303 | 307 | 308 => self.local_path(page.location()),
            _ => None,
        };
        match target {
            Some(path) => {
                let path = if path.is_empty() { "/" } else { path }.to_string();
                self.get(&path).await
            }
            None => Err(Failure::Status(
                page.status,
                format!("no redirect to follow (→ {:?})", page.location()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(body: String) -> Page {
        Page {
            status: 200,
            headers: Default::default(),
            body,
        }
    }

    #[test]
    fn extraction_fails_on_what_only_looks_like_the_field() {
        // A field whose name merely contains csrf_token, an attribute whose
        // name ends in "name" or "value", a class that contains the class.
        let html = r#"<form><input type="hidden" name="csrf_token_old" value="stale">
            <input type="hidden" data-name="csrf_token" data-value="x" name="other" value="y">
            <p data-id="totp-secret">NOPE</p><code class="recovery-codes">list</code></form>"#;
        assert_eq!(hidden(html, "csrf_token"), None);
        assert_eq!(element_text(html, "totp-secret"), None);
        assert!(elements_with_class(html, "recovery-code").is_empty());
        // A page without any form (the welcome page of a signed-in user
        // has one; an error page from a proxy has none).
        assert_eq!(page("<h1>503 Service Unavailable</h1>".into()).csrf(), None);
        assert_eq!(page(String::new()).totp_secret(), None);
    }

    #[test]
    fn cookies_are_kept_replaced_and_cleared() {
        let mut jar = CookieJar::default();
        assert_eq!(jar.header(), None);
        // As the service sets and clears them (routes::Cookies).
        jar.store("__Host-twofa-login=abc; Path=/; Max-Age=300; HttpOnly; SameSite=Lax; Secure");
        jar.store("__Host-twofa-csrf=t1; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax");
        assert_eq!(
            jar.header().as_deref(),
            Some("__Host-twofa-csrf=t1; __Host-twofa-login=abc")
        );
        jar.store("__Host-twofa-csrf=t2; Path=/; Max-Age=86400");
        assert_eq!(jar["__Host-twofa-csrf"], "t2");
        jar.store("__Host-twofa-login=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
        assert!(!jar.contains_key("__Host-twofa-login"));
        // Other ways of clearing, with attributes in any case.
        jar.store("a=1");
        jar.store("a=1; max-age=-1");
        assert!(!jar.contains_key("a"));
        jar.store("b=2");
        jar.store("b=2; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
        assert!(!jar.contains_key("b"));
        // A Max-Age that merely starts with 0 digits is not a clearing.
        jar.store("c=3; Max-Age=0300");
        assert_eq!(jar["c"], "3");
        // Nonsense is ignored and loses nothing.
        jar.store("no-equals-sign; Path=/");
        jar.store("=orphan");
        assert_eq!(jar.header().as_deref(), Some("__Host-twofa-csrf=t2; c=3"));
    }

    #[test]
    fn redirects_stay_on_the_site() {
        let http = http(&Options::default()).unwrap();
        let b = Browser::new(&http, "http://127.0.0.1:8080/");
        assert_eq!(b.base, "http://127.0.0.1:8080");
        assert_eq!(b.local_path("/welcome"), Some("/welcome"));
        assert_eq!(
            b.local_path("http://127.0.0.1:8080/login/totp"),
            Some("/login/totp")
        );
        assert_eq!(b.local_path("http://127.0.0.1:80801/x"), None);
        assert_eq!(b.local_path("https://evil.example/welcome"), None);
    }
}
