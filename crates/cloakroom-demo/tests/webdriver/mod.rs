//! A minimal W3C WebDriver client for the browser test: starts its own
//! chromedriver on a free port, opens headless Chromium sessions with fresh
//! profiles, and speaks the handful of commands the test needs over the test's
//! HTTP client. Everything it starts is stopped on drop, even when a test fails.

use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::Method;
use http_body_util::Full;
use serde_json::{Value, json};

use crate::common::process::{ChildGuard, TempDir, free_port};
use crate::common::{exchange, request};

/// Where Debian's `chromium` package puts the browser (override: `CHROMIUM`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Where Debian's `chromium-driver` package puts chromedriver (override: `CHROMEDRIVER`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long to wait for page state (an element to appear, a text to change).
pub const PAGE_WAIT: Duration = Duration::from_secs(10);
/// How long chromedriver may take to start answering.
const DRIVER_START: Duration = Duration::from_secs(30);

/// The key W3C WebDriver uses for element references.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
];

fn program(variable: &str, default: &str, package: &str) -> PathBuf {
    let path = std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        path.is_file(),
        "{} not found: the browser test needs Debian's `{package}` package \
         (apt-get install -y --no-install-recommends chromium chromium-driver; scripts/test installs it), \
         or set {variable} to the program's path",
        path.display()
    );
    path
}

/// Where screenshots go: `SCREENSHOT_DIR`, or `target/screenshots` in the workspace.
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("SCREENSHOT_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots"),
        PathBuf::from,
    )
}

/// A running chromedriver, stopped (with every browser it started) on drop.
pub struct Driver {
    addr: SocketAddr,
    chromium: PathBuf,
    workdir: TempDir,
    /// Taken and stopped first in `drop`, before `workdir` is removed.
    process: Option<ChildGuard>,
}

impl Driver {
    /// Starts chromedriver on a free port and waits (bounded) until it is ready.
    pub async fn start() -> Self {
        let chromium = program("CHROMIUM", CHROMIUM, "chromium");
        let chromedriver = program("CHROMEDRIVER", CHROMEDRIVER, "chromium-driver");
        let workdir = TempDir::new("webdriver");
        let port = free_port();
        let log = fs::File::create(workdir.path().join("chromedriver.log")).expect("create the driver log");
        let mut command = Command::new(&chromedriver);
        command
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                workdir.path().join("chromedriver-verbose.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log);
        let process = ChildGuard::spawn(command, "chromedriver");
        let mut driver = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            chromium,
            workdir,
            process: Some(process),
        };
        driver.wait_until_ready().await;
        driver
    }

    async fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + DRIVER_START;
        loop {
            if let Some(status) = self.process.as_mut().and_then(ChildGuard::try_wait) {
                panic!("chromedriver exited with {status}:\n{}", self.log());
            }
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                let status = call(self.addr, Method::GET, "/status", None).await;
                if status.is_ok_and(|v| v["ready"].as_bool() == Some(true)) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not get ready within {DRIVER_START:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// chromedriver's own output, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.workdir.path().join("chromedriver.log")).unwrap_or_default()
    }

    /// A new headless Chromium with a fresh profile (its own cookie jar).
    pub async fn browser(&self) -> Browser {
        let profile = TempDir::new("chromium-profile");
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|arg| (*arg).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "goog:chromeOptions": {
                        "binary": self.chromium.display().to_string(),
                        "args": args,
                    }
                }
            }
        });
        let session = call(self.addr, Method::POST, "/session", Some(capabilities))
            .await
            .unwrap_or_else(|err| panic!("chromedriver could not start Chromium: {err}\n{}", self.log()));
        let id = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {session}"))
            .to_owned();
        Browser {
            driver: self.addr,
            id,
            profile: Some(profile),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- chromedriver output ---\n{}", self.log());
        }
        drop(self.process.take());
    }
}

/// A WebDriver error: the command, and what the driver said.
#[derive(Debug)]
pub struct WebDriverError(String);

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Sends one WebDriver command; the answer's `value`, or its error.
async fn call(driver: SocketAddr, method: Method, path: &str, body: Option<Value>) -> Result<Value, WebDriverError> {
    let mut builder = request(method.clone(), path);
    let body = match body {
        Some(json) => {
            builder = builder.header("content-type", "application/json; charset=utf-8");
            Bytes::from(json.to_string())
        }
        None => Bytes::new(),
    };
    let response = exchange(driver, builder.body(Full::new(body)).expect("valid request")).await;
    let answer: Value = serde_json::from_slice(&response.body)
        .map_err(|err| WebDriverError(format!("{method} {path}: not JSON ({err}): {}", response.text())))?;
    if response.status.is_success() {
        Ok(answer["value"].clone())
    } else {
        Err(WebDriverError(format!(
            "{method} {path}: {} {}: {}",
            response.status,
            answer["value"]["error"].as_str().unwrap_or("?"),
            answer["value"]["message"]
                .as_str()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
        )))
    }
}

/// One browser (a WebDriver session); quit and its profile removed on drop.
pub struct Browser {
    driver: SocketAddr,
    id: String,
    profile: Option<TempDir>,
}

/// A reference to an element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    async fn command(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, WebDriverError> {
        call(self.driver, method, &format!("/session/{}{path}", self.id), body).await
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.command(Method::POST, "/url", Some(json!({ "url": url })))
            .await
            .unwrap_or_else(|err| panic!("{err}"));
    }

    /// Reloads the page.
    pub async fn refresh(&self) {
        self.command(Method::POST, "/refresh", Some(json!({})))
            .await
            .unwrap_or_else(|err| panic!("{err}"));
    }

    /// The first element matching `css` now, if any.
    pub async fn find(&self, css: &str) -> Result<Element, WebDriverError> {
        let found = self
            .command(
                Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await?;
        found[ELEMENT_KEY]
            .as_str()
            .map(|id| Element(id.to_owned()))
            .ok_or_else(|| WebDriverError(format!("no element reference in {found}")))
    }

    /// The text of `element`.
    pub async fn text(&self, element: &Element) -> Result<String, WebDriverError> {
        let text = self
            .command(Method::GET, &format!("/element/{}/text", element.0), None)
            .await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// Waits (up to [`PAGE_WAIT`]) for an element matching `css` whose text
    /// satisfies `accept`; returns it with its text.
    pub async fn wait_for_text(&self, css: &str, accept: impl Fn(&str) -> bool) -> (Element, String) {
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            let last = match self.find(css).await {
                Ok(element) => match self.text(&element).await {
                    Ok(text) if accept(&text) => return (element, text),
                    Ok(text) => format!("text was {text:?}"),
                    Err(err) => err.to_string(),
                },
                Err(err) => err.to_string(),
            };
            if Instant::now() >= deadline {
                let page = self.page_source().await;
                panic!("waited {PAGE_WAIT:?} for `{css}`: {last}\npage:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (up to [`PAGE_WAIT`]) for an element matching `css`.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.wait_for_text(css, |_| true).await.0
    }

    /// True when a user can see `element` (WebDriver's "is displayed").
    pub async fn is_displayed(&self, element: &Element) -> bool {
        self.command(Method::GET, &format!("/element/{}/displayed", element.0), None)
            .await
            .unwrap_or_else(|err| panic!("{err}"))
            .as_bool()
            .unwrap_or(false)
    }

    /// The text a user sees in the element matching `css`, which must be shown.
    pub async fn visible_text(&self, css: &str) -> String {
        let element = self.wait_for(css).await;
        assert!(self.is_displayed(&element).await, "`{css}` is not shown");
        self.text(&element).await.unwrap_or_else(|err| panic!("{err}"))
    }

    /// Sets the browser window's size, in CSS pixels.
    pub async fn set_window(&self, width: u32, height: u32) {
        self.command(
            Method::POST,
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    }

    /// Saves the whole page, top to bottom, as `{name}.png` in
    /// [`screenshot_dir`] (the window grows to the page's height for the shot,
    /// then goes back); returns the file's path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine as _;
        let size = self
            .execute(
                "window.scrollTo(0, 0); return [window.outerWidth, window.outerHeight, \
                 document.documentElement.scrollHeight + window.outerHeight - window.innerHeight];",
            )
            .await;
        let dimension = |at: usize| u32::try_from(size[at].as_u64().unwrap_or(0)).unwrap_or(0);
        let (width, height, full) = (dimension(0), dimension(1), dimension(2));
        if full > height {
            self.set_window(width, full).await;
        }
        let encoded = self
            .command(Method::GET, "/screenshot", None)
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG screenshot");
        let dir = screenshot_dir();
        fs::create_dir_all(&dir).expect("create the screenshot directory");
        let path = dir.join(format!("{name}.png"));
        fs::write(&path, png).expect("write the screenshot");
        if full > height {
            self.set_window(width, height).await;
        }
        path
    }

    /// Types `text` into `element`.
    pub async fn type_into(&self, element: &Element, text: &str) {
        self.command(
            Method::POST,
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        )
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    }

    /// Empties an input.
    pub async fn clear(&self, element: &Element) {
        self.command(Method::POST, &format!("/element/{}/clear", element.0), Some(json!({})))
            .await
            .unwrap_or_else(|err| panic!("{err}"));
    }

    /// Clicks `element`.
    pub async fn click(&self, element: &Element) {
        self.command(Method::POST, &format!("/element/{}/click", element.0), Some(json!({})))
            .await
            .unwrap_or_else(|err| panic!("{err}"));
    }

    /// Runs `script` (a function body) in the page and returns its result.
    pub async fn execute(&self, script: &str) -> Value {
        self.command(
            Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
        .unwrap_or_else(|err| panic!("{err}"))
    }

    /// The browser's cookie `name` for the current page, as WebDriver sees it
    /// (HttpOnly cookies included), if any.
    pub async fn cookie(&self, name: &str) -> Option<Value> {
        self.command(Method::GET, &format!("/cookie/{name}"), None).await.ok()
    }

    /// The current page's HTML, for failure messages.
    pub async fn page_source(&self) -> String {
        match self.command(Method::GET, "/source", None).await {
            Ok(source) => source.as_str().unwrap_or_default().to_owned(),
            Err(err) => format!("(no page source: {err})"),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Quit the browser (synchronously: drop cannot await) so that its profile
        // is released; chromedriver's own drop kills anything left.
        let path = format!("/session/{}", self.id);
        if let Err(err) = blocking_delete(self.driver, &path) {
            eprintln!("warning: could not quit the browser session: {err}");
        }
        drop(self.profile.take());
    }
}

/// `DELETE path` over a plain blocking socket, bounded by timeouts.
fn blocking_delete(addr: SocketAddr, path: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "DELETE {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    // chromedriver answers once the session is gone; it may keep the connection
    // open, so read the start of the answer rather than waiting for the close.
    let mut answer = [0u8; 512];
    match stream.read(&mut answer)? {
        0 => Err(std::io::ErrorKind::UnexpectedEof.into()),
        _ => Ok(()),
    }
}
