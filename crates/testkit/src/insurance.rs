//! `FakeInsurer`: a real HTTP insurer for the hospital's eligibility
//! checks, bound to 127.0.0.1:0 in the test process, told what to do
//! (answer eligible or not per member id, delay, fail with 500) and asked
//! what it received (how many calls, the last request's body).
//!
//! ```text
//! let insurer = FakeInsurer::start().await;
//! insurer.answer("M-1", false);
//! let app = spawn_with(Service::Hospital, &[("HOSPITAL__INSURANCE__URL", &insurer.url())]).await;
//! ```

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

#[derive(Default)]
struct Script {
    /// Per member id; absent: eligible.
    answers: HashMap<String, bool>,
    delay_ms: u64,
    fail: bool,
    calls: usize,
    last: Option<Value>,
}

/// The fake insurer (stopped on drop).
pub struct FakeInsurer {
    url: String,
    script: Arc<Mutex<Script>>,
    handle: ServerHandle,
}

impl FakeInsurer {
    /// Start one on a free loopback port.
    pub async fn start() -> Self {
        let script = Arc::new(Mutex::new(Script::default()));
        let data = web::Data::from(script.clone());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/eligibility", web::post().to(eligibility))
        })
        .workers(1)
        .shutdown_timeout(0)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url: format!("http://{addr}/eligibility"),
            script,
            handle,
        }
    }

    /// The eligibility endpoint (for `HOSPITAL__INSURANCE__URL`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Answer `eligible` for `member_id` (any other member: eligible).
    pub fn answer(&self, member_id: &str, eligible: bool) {
        self.script
            .lock()
            .unwrap()
            .answers
            .insert(member_id.to_string(), eligible);
    }

    /// Wait `ms` milliseconds before answering (0: at once).
    pub fn delay_ms(&self, ms: u64) {
        self.script.lock().unwrap().delay_ms = ms;
    }

    /// Answer 500 to every call (`false`: answer again).
    pub fn fail(&self, on: bool) {
        self.script.lock().unwrap().fail = on;
    }

    /// How many calls it has received.
    pub fn calls(&self) -> usize {
        self.script.lock().unwrap().calls
    }

    /// The body of the last call received.
    pub fn last_request(&self) -> Option<Value> {
        self.script.lock().unwrap().last.clone()
    }
}

impl Drop for FakeInsurer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { handle.stop(false).await });
        }
    }
}

async fn eligibility(script: web::Data<Mutex<Script>>, body: web::Bytes) -> HttpResponse {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (delay, fail, eligible) = {
        let mut s = script.lock().unwrap();
        s.calls += 1;
        s.last = Some(parsed.clone());
        let member = parsed["member_id"].as_str().unwrap_or_default();
        let eligible = s.answers.get(member).copied().unwrap_or(true);
        (s.delay_ms, s.fail, eligible)
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if fail {
        return HttpResponse::InternalServerError().json(json!({ "error": "scripted failure" }));
    }
    HttpResponse::Ok().json(json!({ "eligible": eligible }))
}
