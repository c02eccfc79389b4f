//! A browser stand-in for page tests: keeps cookies, follows no redirects
//! (tests look at each one), posts forms, reads the CSRF token a page carries.

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{redirect, StatusCode};
use testkit::hospital::encode;
use testkit::TestApp;

/// One answer.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// Where a redirect goes.
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The CSRF token of the page's first form.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let at = self.body.find(marker).expect("a csrf field") + marker.len();
        let end = self.body[at..].find('"').expect("end of the csrf value");
        self.body[at..at + end].to_string()
    }

    /// Every `Set-Cookie` line.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }
}

/// Cookies and a base URL.
pub struct Browser {
    client: reqwest::Client,
    base: String,
    pub cookies: BTreeMap<String, String>,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .expect("a client"),
            base: app.base_url(),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        // As a browser asks.
        let req = req.header(ACCEPT, "text/html,application/xhtml+xml");
        let req = if self.cookies.is_empty() {
            req
        } else {
            req.header(COOKIE, self.cookie_header())
        };
        let res = req.send().await.expect("sending");
        let page = Page {
            status: res.status(),
            headers: res.headers().clone(),
            body: String::new(),
        };
        for line in page.set_cookies() {
            let pair = line.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                let removed = line.to_ascii_lowercase().contains("max-age=0");
                if removed || v.is_empty() {
                    self.cookies.remove(k.trim());
                } else {
                    self.cookies.insert(k.trim().to_string(), v.to_string());
                }
            }
        }
        Page {
            body: res.text().await.expect("a body"),
            ..page
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        self.send(req).await
    }

    /// Post a multipart form (as a browser sends a file input): the text
    /// fields in order, then the file.
    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &[u8]),
    ) -> Page {
        let boundary = "----bulkhead-test-boundary-7f3a";
        let mut body = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        let (field, filename, bytes) = file;
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header(
                CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        self.send(req).await
    }

    /// GET and return the status and the raw bytes (a download).
    pub async fn get_bytes(&mut self, path: &str) -> (StatusCode, Vec<u8>) {
        let req = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header());
        let res = req.send().await.expect("sending");
        let status = res.status();
        (status, res.bytes().await.expect("a body").to_vec())
    }

    /// Sign in through the login form; returns the answer to the post.
    pub async fn login(&mut self, username: &str, password: &str) -> Page {
        let form = self.get("/").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        let csrf = form.csrf();
        self.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Sign in and expect to land on `to`.
    pub async fn login_ok(&mut self, username: &str, password: &str, to: &str) {
        let res = self.login(username, password).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        assert_eq!(res.location(), to);
    }
}
