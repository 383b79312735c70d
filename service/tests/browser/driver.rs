//! A headless Debian Chromium driven through Debian's chromedriver, started
//! and stopped here, with the helpers the journeys need: keyboard typing,
//! QR decoding from a screenshot, and the browser's console log.

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Phone and desktop viewports (CSS pixels).
pub const PHONE: (u32, u32) = (360, 740);
pub const DESKTOP: (u32, u32) = (1280, 900);

/// The page texts of one language, read from the same files the service
/// renders, so a test compares against the message a person must see.
pub fn texts(lang: &str) -> BTreeMap<String, String> {
    let raw = match lang {
        "pt" => twofa::pages::PT,
        _ => twofa::pages::EN,
    };
    toml::from_str(raw).expect("locale file parses")
}

fn missing(what: &str, path: &str) -> ! {
    panic!(
        "{what} is missing ({path}). The browser tests need Debian's Chromium and \
         ChromeDriver: run `apt-get install -y chromium chromium-driver zbar-tools oathtool` \
         as root, or `cargo xtask test`, which installs them."
    )
}

/// One chromedriver process, killed when dropped.
pub struct Driver {
    child: Child,
    pub url: String,
    _profile: tempfile::TempDir,
    profile_path: PathBuf,
}

impl Driver {
    pub fn start() -> Driver {
        for (what, path) in [("Chromium", CHROMIUM), ("ChromeDriver", CHROMEDRIVER)] {
            if !Path::new(path).exists() {
                missing(what, path);
            }
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free local port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("temporary browser profile");
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile_path: profile.path().to_path_buf(),
            _profile: profile,
        }
    }

    /// A new headless browser whose preferred language is `lang` (sent as
    /// `Accept-Language`), with a viewport of `size`.
    pub async fn browser(&self, lang: &str, size: (u32, u32)) -> Page {
        let profile = self
            .profile_path
            .join(format!("profile-{}", rand::random::<u32>()));
        let accept = match lang {
            "pt" => "pt-PT,pt",
            _ => "en-GB,en",
        };
        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--hide-scrollbars", "--force-device-scale-factor=1",
                    format!("--user-data-dir={}", profile.display()),
                    format!("--window-size={},{}", size.0, size.1),
                    format!("--lang={accept}"),
                ],
                "prefs": { "intl.accept_languages": accept },
            }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("chromedriver could not start Chromium: {e}"));
        let page = Page {
            client,
            lang: lang.to_string(),
            texts: texts(lang),
            console: Vec::new(),
            status_entries: Vec::new(),
        };
        page.resize(size).await;
        page
    }
}

impl Drop for Driver {
    /// Stops chromedriver and every Chromium it started (a test that fails
    /// never closes its browser, which would otherwise outlive the test):
    /// they are found by the profile folder they were given, ours alone.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let marker = format!("--user-data-dir={}/", self.profile_path.display());
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in procs.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let mine = cmdline
                .split(|&b| b == 0)
                .any(|arg| arg.starts_with(marker.as_bytes()));
            if mine {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
    }
}

/// chromedriver's log endpoint: the console entries since the last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, <reqwest::Url as std::str::FromStr>::Err> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or("")))
    }

    fn method_and_body(&self, _url: &reqwest::Url) -> (reqwest::Method, Option<String>) {
        (
            reqwest::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// A Chrome DevTools command through chromedriver (`goog/cdp/execute`).
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, <reqwest::Url as std::str::FromStr>::Err> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or("")
        ))
    }

    fn method_and_body(&self, _url: &reqwest::Url) -> (reqwest::Method, Option<String>) {
        (
            reqwest::Method::POST,
            Some(json!({ "cmd": self.cmd, "params": self.params }).to_string()),
        )
    }
}

/// One browser window and what it has logged.
pub struct Page {
    pub client: Client,
    pub lang: String,
    pub texts: BTreeMap<String, String>,
    /// Every console entry seen so far, as "LEVEL message" (url first).
    pub console: Vec<String>,
    /// The document's own 4xx status lines (see `check_console`).
    pub status_entries: Vec<String>,
}

impl Page {
    pub fn t(&self, key: &str) -> String {
        self.texts
            .get(key)
            .unwrap_or_else(|| panic!("no text {key}"))
            .clone()
    }

    pub async fn resize(&self, (w, h): (u32, u32)) {
        // Headless Chromium's window is its viewport; ask again after the
        // first load in case the window manager-less window ignores it.
        self.client.set_window_size(w, h).await.expect("resize");
    }

    pub async fn goto(&mut self, base: &str, path: &str) {
        self.client
            .goto(&format!("{base}{path}"))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        self.check_page().await;
    }

    pub fn path_of(url: &reqwest::Url) -> String {
        url.path().to_string()
    }

    pub async fn path(&self) -> String {
        Self::path_of(&self.client.current_url().await.expect("current url"))
    }

    /// The element, waiting up to 10 s for it: right after a click or a
    /// key press the browser may still be loading the next page.
    pub async fn find(&self, css: &str) -> Element {
        let found = self
            .client
            .wait()
            .at_most(std::time::Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(el) => el,
            Err(e) => panic!(
                "no element {css} on {}: {e}\n{}",
                self.path().await,
                self.client.source().await.unwrap_or_default()
            ),
        }
    }

    pub async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
            .is_empty()
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .expect("text")
            .trim()
            .to_string()
    }

    /// Types into a field the way a person does: focus it, then keys.
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear field");
        field.send_keys(value).await.expect("type into field");
    }

    /// Presses the submit button of the form that holds `css`, waits for
    /// the next page and checks it.
    pub async fn submit(&mut self, form_css: &str) {
        let button = self.find(&format!("{form_css} button[type=submit]")).await;
        button.click().await.expect("press the button");
        self.check_page().await;
    }

    /// Keys only, as a person at a keyboard: each character pressed and
    /// released on whatever has the focus.
    pub async fn keys(&self, text: &str) {
        let mut actions = KeyActions::new("keyboard".to_string());
        for c in text.chars() {
            actions = actions
                .then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c });
        }
        self.client
            .perform_actions(actions)
            .await
            .expect("key actions");
    }

    pub async fn press(&self, key: Key) {
        let c: char = key.into();
        self.keys(&c.to_string()).await;
    }

    /// The element that has the keyboard focus: its id.
    pub async fn focused_id(&self) -> String {
        let el = self.client.active_element().await.expect("active element");
        el.attr("id").await.expect("id").unwrap_or_default()
    }

    /// The one `role="alert"` message on the page.
    pub async fn alert(&self) -> String {
        let alerts = self
            .client
            .find_all(Locator::Css("[role=alert]"))
            .await
            .expect("find alerts");
        assert_eq!(
            alerts.len(),
            1,
            "expected one role=alert on {}, page:\n{}",
            self.path().await,
            self.client.source().await.unwrap_or_default()
        );
        alerts[0]
            .text()
            .await
            .expect("alert text")
            .trim()
            .to_string()
    }

    /// Takes the console entries logged since the last call; panics on any
    /// error or warning (a CSP violation is logged as an error).
    ///
    /// One kind of entry is not a fault of the page: Chromium logs "Failed
    /// to load resource: … status of 401" for the document itself when the
    /// HTTP contract (docs/architecture.md §3) answers a wrong code with 401, a bad
    /// form with 400, a throttled attempt with 429 or an unknown page with
    /// 404. Those are kept in `status_entries` for any page of this origin
    /// (the log may be read after the browser has moved on to the next
    /// page); the same line for a subresource (stylesheet, icon) fails.
    pub async fn check_console(&mut self) {
        let entries = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("chromedriver's log endpoint (goog:loggingPrefs)");
        let list = entries.as_array().cloned().unwrap_or_default();
        let here = self.client.current_url().await.expect("current url");
        let document = here.as_str().split('#').next().unwrap_or("").to_string();
        for e in list {
            let level = e["level"].as_str().unwrap_or("?").to_string();
            let message = e["message"].as_str().unwrap_or("").to_string();
            let source = e["source"].as_str().unwrap_or("").to_string();
            let origin: String = document
                .splitn(4, '/')
                .take(3)
                .collect::<Vec<_>>()
                .join("/");
            let contract_status = ["400", "401", "404", "429"].iter().any(|s| {
                let tail = format!(
                    " - Failed to load resource: the server responded with a status of {s} ({})",
                    status_reason(s)
                );
                message.strip_suffix(&tail).is_some_and(|url| {
                    let path = url.strip_prefix(&origin).unwrap_or("");
                    path.starts_with('/') && !path.starts_with("/static/") && path != "/favicon.ico"
                })
            });
            if source == "network" && contract_status {
                self.status_entries.push(message);
                continue;
            }
            self.console.push(format!("{level} {message}"));
            assert!(
                level != "SEVERE"
                    && level != "WARNING"
                    && !message.contains("Content Security Policy"),
                "console {level} ({source}) on {document}: {message}"
            );
        }
    }

    /// What every page must satisfy: no console errors or CSP reports, the
    /// language asked for, no sideways scrolling, a label for every field.
    pub async fn check_page(&mut self) {
        self.check_console().await;
        let here = self.path().await;
        // Read in the page itself, not through an element handle: a handle
        // taken while a navigation commits goes stale (seen in CI), and the
        // language is a property of whichever document is current.
        let mut html_lang = None;
        for _ in 0..20 {
            match self
                .client
                .execute(
                    "return document.documentElement.getAttribute('lang') || '';",
                    vec![],
                )
                .await
            {
                Ok(v) => {
                    html_lang = Some(v.as_str().unwrap_or_default().to_string());
                    break;
                }
                // The document is being replaced: ask the next one.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
        let html_lang = html_lang.expect("the page's lang attribute could not be read for 2 s");
        assert_eq!(html_lang, self.lang, "page language of {here}");
        let widths = self
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .expect("measure the page");
        let (scroll, inner) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
        assert!(
            scroll <= inner,
            "{here} scrolls sideways: content {scroll} px in a {inner} px window"
        );
        // Every visible field read in one script, in the current document:
        // element handles taken while a navigation commits go stale (CI).
        let fields = self
            .client
            .execute(
                "return Array.from(document.querySelectorAll('input:not([type=hidden])')).map(f => ({\
                   id: f.id || '', name: f.getAttribute('name') || '',\
                   autocomplete: f.getAttribute('autocomplete'),\
                   class: f.getAttribute('class') || '', inputmode: f.getAttribute('inputmode'),\
                   labelled: !!f.id && !!document.querySelector(`label[for='${f.id}']`)}));",
                vec![],
            )
            .await
            .expect("the page's fields");
        for field in fields.as_array().expect("an array of fields") {
            let attr = |k: &str| field[k].as_str().map(str::to_string);
            let id = attr("id").unwrap_or_default();
            assert!(
                !id.is_empty() && field["labelled"].as_bool() == Some(true),
                "{here}: field {id:?} has no label"
            );
            // What phones and password managers need to fill the field.
            let name = attr("name").unwrap_or_default();
            let autocomplete = attr("autocomplete");
            let expected: &[&str] = match name.as_str() {
                "email" => &["email"],
                "password" if here == "/register" => &["new-password"],
                "password" => &["current-password"],
                "password_confirm" => &["new-password"],
                "new_password" | "new_password_confirm" => &["new-password"],
                "code" => &["one-time-code"],
                _ => &["off"],
            };
            assert!(
                autocomplete
                    .as_deref()
                    .is_some_and(|a| expected.contains(&a)),
                "{here}: field {name} has autocomplete={autocomplete:?}, expected {expected:?}"
            );
            // The account page's proof field takes a recovery code too, so
            // it keeps the full keyboard.
            let letters_too =
                attr("class").is_some_and(|c| c.split(' ').any(|c| c == "proof-code"));
            if name == "code" && !letters_too {
                let mode = attr("inputmode");
                assert_eq!(mode.as_deref(), Some("numeric"), "{here}: code field");
            }
        }
    }

    /// Bytes of the page as loaded: its HTML (with the inline SVG) and its
    /// stylesheet, from the browser's own resource timing.
    pub async fn weight(&self) -> u64 {
        let v: Value = self
            .client
            .execute(
                "const n = performance.getEntriesByType('navigation')[0].decodedBodySize;\
                 const r = performance.getEntriesByType('resource')\
                   .filter(e => e.name.endsWith('.css'))\
                   .reduce((s, e) => s + e.decodedBodySize, 0);\
                 return [n, r];",
                vec![],
            )
            .await
            .expect("resource timing");
        let html = v[0].as_u64().unwrap_or(0);
        // A cached stylesheet reports 0: count the file the service serves.
        let css = v[1]
            .as_u64()
            .filter(|&n| n > 0)
            .unwrap_or(include_str!("../../static/style.css").len() as u64);
        html + css
    }

    /// A screenshot of the window as PNG.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client.screenshot().await.expect("screenshot")
    }

    /// A screenshot of the whole page, however tall, at the window's width.
    pub async fn full_page_screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let size = self
            .client
            .execute(
                "window.scrollTo(0, 0); return [window.innerWidth, document.documentElement.scrollHeight];",
                vec![],
            )
            .await
            .expect("measure the page");
        let (width, height) = (size[0].as_u64().unwrap(), size[1].as_u64().unwrap());
        let cdp = |cmd, params| self.client.issue_cmd(Cdp { cmd, params });
        cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await
        .expect("set the page's height");
        let shot = cdp("Page.captureScreenshot", json!({ "format": "png" }))
            .await
            .expect("capture the page");
        cdp("Emulation.clearDeviceMetricsOverride", json!({}))
            .await
            .expect("restore the window");
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 screenshot")
    }

    /// Reads the QR code off a screenshot of the window with `zbarimg`, as
    /// a phone's camera would.
    pub async fn scan_qr(&self) -> String {
        let png = self.screenshot().await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("enrol.png");
        std::fs::write(&file, &png).unwrap();
        let out = Command::new("zbarimg")
            .args(["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable"])
            .arg(&file)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run zbarimg ({e}); install it: apt-get install zbar-tools")
            });
        assert!(
            out.status.success(),
            "no QR code found in a screenshot of the enrolment page (zbarimg: {})",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

fn status_reason(code: &str) -> &'static str {
    match code {
        "400" => "Bad Request",
        "401" => "Unauthorized",
        "404" => "Not Found",
        "429" => "Too Many Requests",
        _ => "",
    }
}

/// The `secret` parameter of an `otpauth://` URI.
pub fn secret_of(uri: &str) -> String {
    let query = uri.split_once('?').expect("otpauth URI has a query").1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("secret="))
        .expect("otpauth URI has a secret")
        .to_string()
}
