//! Insurance eligibility against a real HTTP fake insurer: eligible and
//! ineligible kept on registration and booking, only member id and payer
//! sent and nothing of them logged; time-outs and errors recorded as
//! `unverified` (never an error to the user); the circuit breaker opening
//! above 50% failures (then failing fast: the insurer hears nothing),
//! half-opening after the cool-down by the test's clock, letting ONE trial
//! through, closing on its success and opening again on its failure;
//! its state in `/metrics` and, for the admin only, in `/readyz`.

use serde_json::{json, Value};
use testkit::hospital::{id_of, patient_body, register_patient};
use testkit::insurance::FakeInsurer;
use testkit::{assert_ok, spawn_with, Method, Reply, Service, StatusCode, TestApp};

use crate::hospital_appointments::{book, booking, department, slot};

struct Clinic {
    app: TestApp,
    insurer: FakeInsurer,
    admin: String,
    reception: String,
    doctor_id: String,
    department: String,
}

impl Clinic {
    /// A hospital asking `insurer` (time-out 300 ms; the breaker opens
    /// after at least 3 calls in 30 s with more than half failed, for 10 s).
    async fn new(timeout_ms: &str) -> Self {
        let insurer = FakeInsurer::start().await;
        let url = insurer.url();
        let app = spawn_with(
            Service::Hospital,
            &[
                ("HOSPITAL__INSURANCE__URL", url.as_str()),
                ("HOSPITAL__INSURANCE__TIMEOUT_MS", timeout_ms),
                ("HOSPITAL__INSURANCE__MIN_CALLS", "3"),
                ("HOSPITAL__INSURANCE__WINDOW_SECS", "30"),
                ("HOSPITAL__INSURANCE__FAILURE_RATIO", "0.5"),
                ("HOSPITAL__INSURANCE__COOL_DOWN_SECS", "10"),
            ],
        )
        .await;
        Self::with(app, insurer).await
    }

    async fn with(app: TestApp, insurer: FakeInsurer) -> Self {
        let admin = app.admin_token().await;
        let reception = app.login("reception", "reception123").await;
        let doctor = app.login("doctor", "doctor123").await;
        let doctor_id = testkit::hospital::user_id(&app, &doctor).await;
        let department = department(&app, &admin).await;
        Self {
            app,
            insurer,
            admin,
            reception,
            doctor_id,
            department,
        }
    }

    /// Register a patient insured as `member_id` at `payer`.
    async fn register(&self, last: &str, member_id: &str) -> Value {
        let mut body = patient_body("Ada", last, "1970-01-01");
        body["insurance"] = json!({
            "provider": "Acme Mutual Health",
            "policy_number": member_id,
            "group_number": "GRP-NOT-SENT-77",
        });
        register_patient(&self.app, &self.reception, body).await
    }

    async fn book(&self, patient: &str, n: usize) -> Value {
        book(
            &self.app,
            &self.reception,
            booking(patient, &self.doctor_id, &self.department, &slot(n)),
        )
        .await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.app.client.get(self.app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Reply::read(req.send().await.expect("request sent")).await
    }

    /// The breaker as the admin's `/readyz` shows it.
    async fn breaker(&self) -> String {
        let ready = self.get("/readyz", Some(&self.admin)).await;
        assert_ok(ready.status, &ready.body, StatusCode::OK);
        assert_eq!(ready.body["data"]["status"], "ready");
        ready.body["data"]["details"]["insurance"]["breaker"]
            .as_str()
            .unwrap_or_else(|| panic!("no breaker in {}", ready.body))
            .to_string()
    }

    /// The value of a metric line starting with `name{` and holding `label`.
    async fn metric(&self, name: &str, label: &str) -> Option<i64> {
        let m = self.get("/metrics", None).await;
        assert_eq!(m.status, StatusCode::OK);
        let text = m.body.as_str().expect("metrics are text").to_string();
        text.lines()
            .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    async fn state_gauge(&self) -> i64 {
        self.metric("bulkhead_insurance_breaker_state", "service=\"hospital\"")
            .await
            .expect("the breaker gauge")
    }
}

fn eligibility(v: &Value) -> &str {
    v["insurance_eligibility"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn eligible_and_ineligible_are_kept_and_only_member_id_and_payer_are_sent() {
    let logs = testkit::logs::capture();
    let c = Clinic::new("2000").await;
    c.insurer.answer("MEMB-INELIG-4411", false);

    // Registration asks and keeps the answer.
    let ok = c.register("Eligible", "MEMB-ELIG-3300").await;
    assert_eq!(eligibility(&ok), "eligible");
    assert!(ok["insurance_checked_at"].is_string(), "{ok}");
    assert_eq!(
        c.insurer.last_request(),
        Some(json!({ "member_id": "MEMB-ELIG-3300", "payer": "Acme Mutual Health" })),
        "only the member id and the payer are sent"
    );
    let no = c.register("Ineligible", "MEMB-INELIG-4411").await;
    assert_eq!(eligibility(&no), "ineligible");
    assert_eq!(c.insurer.calls(), 2);

    // No insurance: not asked.
    let none = register_patient(
        &c.app,
        &c.reception,
        patient_body("Ada", "None", "1970-01-01"),
    )
    .await;
    assert_eq!(eligibility(&none), "not_checked");
    assert!(none["insurance_checked_at"].is_null());
    assert_eq!(c.insurer.calls(), 2);

    // Booking asks again and keeps the answer on the appointment.
    let a = c.book(&id_of(&ok), 0).await;
    assert_eq!(eligibility(&a), "eligible");
    assert!(a["insurance_checked_at"].is_string(), "{a}");
    let b = c.book(&id_of(&no), 1).await;
    assert_eq!(eligibility(&b), "ineligible");
    let n = c.book(&id_of(&none), 2).await;
    assert_eq!(eligibility(&n), "not_checked");
    assert_eq!(c.insurer.calls(), 4);
    let (status, read) = c
        .app
        .api(
            Method::GET,
            &format!("/appointments/{}", id_of(&b)),
            Some(&c.reception),
            None,
        )
        .await;
    assert_ok(status, &read, StatusCode::OK);
    assert_eq!(eligibility(&read["data"]), "ineligible");

    // The patient's view shows the latest answer; a new insurance resets it.
    let path = format!("/patients/{}", id_of(&ok));
    let (status, p) = c
        .app
        .api(Method::GET, &path, Some(&c.reception), None)
        .await;
    assert_ok(status, &p, StatusCode::OK);
    assert_eq!(eligibility(&p["data"]), "eligible");
    let change =
        json!({ "insurance": { "provider": "Other Payer", "policy_number": "MEMB-NEW-1" } });
    let (status, p) = c
        .app
        .api(Method::PATCH, &path, Some(&c.reception), Some(change))
        .await;
    assert_ok(status, &p, StatusCode::OK);
    assert_eq!(eligibility(&p["data"]), "not_checked");
    assert!(p["data"]["insurance_checked_at"].is_null());

    // Answers counted by outcome.
    assert_eq!(
        c.metric("bulkhead_insurance_calls_total", "outcome=\"eligible\"")
            .await,
        Some(2)
    );
    assert_eq!(
        c.metric("bulkhead_insurance_calls_total", "outcome=\"ineligible\"")
            .await,
        Some(2)
    );

    // Nothing of the call reached a log (the capture holds this test's
    // server's events at every level).
    let text = logs.text();
    assert!(
        text.contains("request done") && text.contains("/patients"),
        "the capture holds the server's request log"
    );
    for secret in [
        "MEMB-ELIG-3300",
        "MEMB-INELIG-4411",
        "Acme Mutual Health",
        "GRP-NOT-SENT-77",
    ] {
        assert!(!text.contains(secret), "{secret} was logged");
    }
}

#[tokio::test]
async fn without_an_insurer_nothing_is_asked() {
    let insurer = FakeInsurer::start().await;
    let app = spawn_with(Service::Hospital, &[]).await;
    let c = Clinic::with(app, insurer).await;
    let p = c.register("Plain", "MEMB-1").await;
    assert_eq!(eligibility(&p), "not_checked");
    let a = c.book(&id_of(&p), 0).await;
    assert_eq!(eligibility(&a), "not_checked");
    assert_eq!(c.insurer.calls(), 0);
    let ready = c.get("/readyz", Some(&c.admin)).await;
    assert_eq!(
        ready.body["data"]["details"]["insurance"],
        json!({ "configured": false, "breaker": "closed", "calls_in_window": 0, "failures_in_window": 0 })
    );
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_half_opens_and_closes_by_the_test_clock() {
    let c = Clinic::new("300").await;
    assert_eq!(c.breaker().await, "closed");
    assert_eq!(c.state_gauge().await, 0);

    // A time-out: unverified, registration 201; one failure opens nothing.
    c.insurer.delay_ms(1500);
    let slow = c.register("Slow", "MEMB-SLOW").await;
    assert_eq!(eligibility(&slow), "unverified");
    assert!(slow["insurance_checked_at"].is_string());
    assert_eq!(c.breaker().await, "closed");
    assert_eq!(
        c.metric("bulkhead_insurance_calls_total", "outcome=\"timeout\"")
            .await,
        Some(1)
    );

    // 500s: unverified; the third failure of three (> 50%) opens it.
    c.insurer.delay_ms(0);
    c.insurer.fail(true);
    let p = c.register("Err1", "MEMB-E1").await;
    assert_eq!(eligibility(&p), "unverified");
    assert_eq!(c.breaker().await, "closed");
    let a = c.book(&id_of(&p), 0).await;
    assert_eq!(eligibility(&a), "unverified");
    assert_eq!(c.breaker().await, "open");
    assert_eq!(c.state_gauge().await, 1);
    assert_eq!(c.insurer.calls(), 3);

    // Open: booking and registration go on, unverified, and the insurer
    // hears nothing.
    c.insurer.fail(false);
    let p2 = c.register("WhileOpen", "MEMB-OPEN").await;
    assert_eq!(eligibility(&p2), "unverified");
    let a2 = c.book(&id_of(&p2), 1).await;
    assert_eq!(eligibility(&a2), "unverified");
    assert_eq!(c.insurer.calls(), 3, "an open breaker fails fast");
    assert_eq!(
        c.metric("bulkhead_insurance_calls_total", "outcome=\"rejected\"")
            .await,
        Some(2)
    );

    // Not yet: 9 s of a 10 s cool-down.
    c.app.advance_clock(9);
    assert_eq!(c.breaker().await, "open");
    c.register("StillOpen", "MEMB-OPEN2").await;
    assert_eq!(c.insurer.calls(), 3);

    // After the cool-down: half-open; a failed trial opens it again.
    c.app.advance_clock(2);
    assert_eq!(c.breaker().await, "half_open");
    assert_eq!(c.state_gauge().await, 2);
    c.insurer.fail(true);
    let t = c.register("TrialFails", "MEMB-T1").await;
    assert_eq!(eligibility(&t), "unverified");
    assert_eq!(c.insurer.calls(), 4, "the one trial went through");
    assert_eq!(c.breaker().await, "open");
    c.register("ReOpened", "MEMB-T2").await;
    assert_eq!(c.insurer.calls(), 4);

    // Another cool-down, a successful trial: closed, and calls go through.
    c.app.advance_clock(11);
    assert_eq!(c.breaker().await, "half_open");
    c.insurer.fail(false);
    let ok = c.register("TrialOk", "MEMB-T3").await;
    assert_eq!(eligibility(&ok), "eligible");
    assert_eq!(c.breaker().await, "closed");
    assert_eq!(c.state_gauge().await, 0);
    let again = c.book(&id_of(&ok), 2).await;
    assert_eq!(eligibility(&again), "eligible");
    assert_eq!(c.insurer.calls(), 6);
}

#[tokio::test]
async fn half_open_lets_one_trial_through_and_concurrent_callers_fail_fast() {
    let c = Clinic::new("3000").await;
    c.insurer.fail(true);
    for i in 0..3 {
        c.register(&format!("Fail{i}"), "MEMB-F").await;
    }
    assert_eq!(c.breaker().await, "open");
    c.app.advance_clock(10);
    c.insurer.fail(false);
    c.insurer.delay_ms(1200);
    // B asks while A's trial is at the insurer (it waits 1.2 s to answer).
    let (one, two) = tokio::join!(c.register("TrialA", "MEMB-A"), async {
        let started = std::time::Instant::now();
        while c.insurer.calls() < 4 {
            assert!(started.elapsed().as_secs() < 10, "the trial never came");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        c.register("TrialB", "MEMB-B").await
    });
    assert_eq!(eligibility(&one), "eligible", "the trial");
    assert_eq!(eligibility(&two), "unverified", "failed fast meanwhile");
    assert_eq!(c.insurer.calls(), 4, "one trial only");
    assert_eq!(c.breaker().await, "closed");
}

#[tokio::test]
async fn only_the_admin_sees_the_breaker_in_readyz() {
    let c = Clinic::new("2000").await;
    assert_eq!(c.breaker().await, "closed");
    let mut tokens = vec![
        ("anonymous", None),
        ("bad token", Some("not-a-token".to_string())),
    ];
    for (user, password) in [
        ("reception", "reception123"),
        ("doctor", "doctor123"),
        ("nurse", "nurse123"),
        ("lab", "lab123"),
        ("pharmacist", "pharmacist123"),
    ] {
        tokens.push((user, Some(c.app.login(user, password).await)));
    }
    let p = c.register("Portal", "MEMB-P").await;
    testkit::hospital::portal_account(&c.app, &c.admin, &id_of(&p), "portal-ins").await;
    let portal = c.app.login("portal-ins", testkit::STRONG_PASSWORD).await;
    tokens.push(("patient", Some(portal)));
    for (who, token) in tokens {
        let ready = c.get("/readyz", token.as_deref()).await;
        assert_ok(ready.status, &ready.body, StatusCode::OK);
        assert_eq!(
            ready.body["data"],
            json!({ "status": "ready" }),
            "{who} sees no details"
        );
    }
}

#[tokio::test]
async fn the_insurer_hears_nothing_about_a_patient_the_caller_may_not_book_for() {
    let c = Clinic::new("2000").await;
    let p = c.register("Scoped", "MEMB-SCOPED").await;
    let other = c.register("Other", "MEMB-OTHER").await;
    assert_eq!(c.insurer.calls(), 2);
    // A doctor off the patient's care team (not in their scope): 404,
    // nothing asked.
    let doctor = c.app.login("doctor", "doctor123").await;
    let body = booking(&id_of(&p), &c.doctor_id, &c.department, &slot(0));
    let (status, reply) = c
        .app
        .api(Method::POST, "/appointments", Some(&doctor), Some(body))
        .await;
    testkit::assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    // A patient booking for another patient: 404, nothing asked.
    testkit::hospital::portal_account(&c.app, &c.admin, &id_of(&p), "portal-scoped").await;
    let portal = c.app.login("portal-scoped", testkit::STRONG_PASSWORD).await;
    let body = booking(&id_of(&other), &c.doctor_id, &c.department, &slot(1));
    let (status, reply) = c
        .app
        .api(Method::POST, "/appointments", Some(&portal), Some(body))
        .await;
    testkit::assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    // A role that may not book at all: 403, nothing asked.
    let lab = c.app.login("lab", "lab123").await;
    let body = booking(&id_of(&p), &c.doctor_id, &c.department, &slot(2));
    let (status, reply) = c
        .app
        .api(Method::POST, "/appointments", Some(&lab), Some(body))
        .await;
    testkit::assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    assert_eq!(c.insurer.calls(), 2);
    // The patient for themself: asked once.
    let body = booking(&id_of(&p), &c.doctor_id, &c.department, &slot(3));
    let (status, reply) = c
        .app
        .api(Method::POST, "/appointments", Some(&portal), Some(body))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    assert_eq!(eligibility(&reply["data"]), "eligible");
    assert_eq!(c.insurer.calls(), 3);
}
