//! Headless Chromium under chromedriver, driven by fantoccini: chromedriver
//! on a free loopback port in its own process group (killed with the
//! browser when the guard drops, a failing test included), a fresh
//! profile in a temporary folder, the flags of STACK.md.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// axe-core, vendored for the tests only (the servers never serve it).
const AXE: &str = include_str!("../../vendor/axe-core-4.14.1/axe.min.js");

/// Whether Debian's chromium and chromium-driver are installed.
pub fn available() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

/// chromedriver and the browser it started, with a WebDriver session.
pub struct Chrome {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Chrome {
    /// Start chromedriver and a headless browser at tablet width.
    pub async fn start(shots: PathBuf) -> Self {
        let port = testkit::plane::free_port();
        use std::os::unix::process::CommandExt;
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("starting chromedriver");
        let profile = tempfile::tempdir().expect("a profile folder");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    "--disable-breakpad", "--disable-crash-reporter",
                    format!("--user-data-dir={}", profile.path().display()),
                    "--window-size=820,1180",
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session: {e}"),
            }
        };
        std::fs::create_dir_all(&shots).expect("the screenshot folder");
        Self {
            client,
            driver,
            _profile: profile,
            shots,
        }
    }

    /// Go to `url`.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigating");
    }

    /// The current path.
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("the url")
            .path()
            .to_string()
    }

    /// The visible text of the page (empty while a navigation is under way).
    pub async fn text(&self) -> String {
        let script = "return document.body ? document.body.innerText : ''";
        match self.client.execute(script, vec![]).await {
            Ok(v) => v.as_str().unwrap_or_default().to_string(),
            Err(_) => String::new(),
        }
    }

    /// Type `text` into the field labelled by id `id` (cleared first).
    pub async fn fill(&self, id: &str, text: &str) {
        let field = self
            .client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no field #{id}: {e}"));
        field.clear().await.expect("clearing");
        field.send_keys(text).await.expect("typing");
    }

    /// Choose the file at `path` in the file input with id `id`.
    pub async fn choose_file(&self, id: &str, path: &std::path::Path) {
        let field = self
            .client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no file input #{id}: {e}"));
        field
            .send_keys(&path.display().to_string())
            .await
            .expect("choosing the file");
    }

    /// Click the element `css` and wait for the page to settle.
    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("nothing matches {css}: {e}"))
            .click()
            .await
            .expect("clicking");
    }

    /// Wait up to 15 s until the page text contains `needle`.
    pub async fn wait_for_text(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if self.text().await.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in: {}",
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Sign in through `base`'s login form.
    pub async fn login(&self, base: &str, user: &str, password: &str) {
        self.client
            .delete_all_cookies()
            .await
            .expect("clearing cookies");
        self.goto(&format!("{base}/")).await;
        self.fill("username", user).await;
        self.fill("password", password).await;
        self.click("form[action='/login'] button[type=submit]")
            .await;
    }

    /// Save a screenshot as `<name>.png`.
    pub async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("writing it");
    }

    /// Run axe-core on the page; panics listing any serious or critical violation.
    pub async fn check_accessibility(&self, page: &str) {
        self.client
            .execute(&format!("{AXE}\nreturn true;"), vec![])
            .await
            .expect("injecting axe-core");
        let script = "const done = arguments[arguments.length - 1];\
            axe.run(document, { resultTypes: ['violations'] })\
              .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.html).slice(0, 3) }))))\
              .catch(e => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));";
        let found = self
            .client
            .execute_async(script, vec![])
            .await
            .expect("running axe-core");
        let bad: Vec<&Value> = found
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(bad.is_empty(), "{page}: accessibility violations: {bad:#?}");
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        // chromedriver's whole group: the driver and the browser it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
