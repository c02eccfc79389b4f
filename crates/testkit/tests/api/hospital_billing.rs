//! Billing: an accountant invoices a patient for a period from what really
//! happened (a completed appointment, a finalized lab order's tests, a
//! dispense), priced from the price list; rebilling the period bills
//! nothing new; two concurrent invoices never bill an event twice; payments
//! up to the balance (two racing payments never overpay); voiding releases
//! the events; bad input; another tenant's invoices; and no clinical text
//! ever reaches an accountant.

use serde_json::{json, Value};
use testkit::hospital::{
    add_to_care_team, contains_ignoring_case, id_of, ids, login_in, patient_body, portal_account,
    register_patient_id, stored_bytes, user_id,
};
use testkit::{
    assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

use crate::hospital_appointments::{booking, department, slot};
use crate::hospital_prescriptions_matrix::rx;

/// Distinctive clinical texts that must never reach an accountant.
pub const CLINICAL: [&str; 5] = [
    "Okapi-VisitNote-71",
    "Okapi-LabNote-72",
    "Okapi-Result-73",
    "Okapi-RxNote-74",
    "Okapicillin",
];

/// A hospital with a patient on the doctor's care team and the tokens of
/// everyone billing involves.
pub struct Bill {
    pub app: TestApp,
    pub admin: String,
    pub doctor: String,
    pub doctor_id: String,
    pub lab: String,
    pub pharmacist: String,
    pub accountant: String,
    pub department: String,
    pub serial: std::cell::Cell<usize>,
}

/// Today and sixty days on: a period holding every event the tests make
/// (appointments are booked on the coming weekdays).
pub fn period() -> (String, String) {
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Duration::days(1);
    let to = today + chrono::Duration::days(60);
    (from.to_string(), to.to_string())
}

pub fn invoice_body(patient: &str) -> Value {
    let (from, to) = period();
    json!({ "patient_id": patient, "period_from": from, "period_to": to })
}

impl Bill {
    pub async fn new() -> Self {
        let app = spawn(Service::Hospital).await;
        Self::on(app).await
    }

    pub async fn on(app: TestApp) -> Self {
        let admin = app.admin_token().await;
        let doctor = app.login("doctor", "doctor123").await;
        let doctor_id = user_id(&app, &doctor).await;
        let lab = app.login("lab", "lab123").await;
        let pharmacist = app.login("pharmacist", "pharmacist123").await;
        let accountant = app.login("accountant", "accountant123").await;
        let department = department(&app, &admin).await;
        Self {
            app,
            admin,
            doctor,
            doctor_id,
            lab,
            pharmacist,
            accountant,
            department,
            serial: std::cell::Cell::new(0),
        }
    }

    pub fn next(&self) -> usize {
        let n = self.serial.get() + 1;
        self.serial.set(n);
        n
    }

    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.app.api(method, path, Some(token), body).await
    }

    async fn ok(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, reply) = self.call(token, method.clone(), path, body).await;
        assert!(
            status.is_success(),
            "{method} {path} answered {status}: {reply}"
        );
        reply["data"].clone()
    }

    pub async fn patient(&self) -> String {
        let n = self.next();
        let id = register_patient_id(
            &self.app,
            &self.admin,
            patient_body("Bill", &format!("Payer{n}"), "1970-05-06"),
        )
        .await;
        add_to_care_team(&self.app, &self.admin, &id, &self.doctor_id).await;
        id
    }

    /// Book, check in and complete a consultation; its id.
    pub async fn visit(&self, patient: &str) -> String {
        let body = booking(
            patient,
            &self.doctor_id,
            &self.department,
            &slot(self.next()),
        );
        let a = self
            .ok(&self.admin, Method::POST, "/appointments", Some(body))
            .await;
        let id = id_of(&a);
        self.ok(
            &self.admin,
            Method::POST,
            &format!("/appointments/{id}/check-in"),
            None,
        )
        .await;
        self.ok(
            &self.doctor,
            Method::POST,
            &format!("/appointments/{id}/complete"),
            Some(json!({ "notes": CLINICAL[0] })),
        )
        .await;
        id
    }

    /// Order CBC and an unlisted test, result and finalize; the order's id.
    pub async fn lab_order(&self, patient: &str) -> String {
        let body = json!({
            "patient_id": patient,
            "tests": [
                { "code": "CBC", "name": "Complete blood count" },
                { "code": "ZQ9", "name": "Rare marker" },
            ],
            "notes": CLINICAL[1],
        });
        let o = self
            .ok(&self.doctor, Method::POST, "/lab-orders", Some(body))
            .await;
        let id = id_of(&o);
        let r = |code: &str| json!({ "code": code, "value": CLINICAL[2], "flag": "high" });
        self.ok(
            &self.lab,
            Method::POST,
            &format!("/lab-orders/{id}/results"),
            Some(json!({ "results": [r("CBC"), r("ZQ9")] })),
        )
        .await;
        self.ok(
            &self.lab,
            Method::POST,
            &format!("/lab-orders/{id}/finalize"),
            None,
        )
        .await;
        id
    }

    /// Prescribe and dispense 10 units; the prescription's id.
    pub async fn dispense(&self, patient: &str) -> String {
        let mut body = rx(patient, &format!("{} 250 mg", CLINICAL[4]));
        body["notes"] = json!(CLINICAL[3]);
        let p = self
            .ok(&self.doctor, Method::POST, "/prescriptions", Some(body))
            .await;
        let id = id_of(&p);
        self.ok(
            &self.pharmacist,
            Method::POST,
            &format!("/prescriptions/{id}/dispense"),
            Some(json!({ "quantity": 10 })),
        )
        .await;
        id
    }

    /// A patient with one of each event.
    pub async fn billable_patient(&self) -> String {
        let p = self.patient().await;
        self.visit(&p).await;
        self.lab_order(&p).await;
        self.dispense(&p).await;
        p
    }

    pub async fn invoice(&self, patient: &str) -> Value {
        let (status, reply) = self
            .call(
                &self.accountant,
                Method::POST,
                "/invoices",
                Some(invoice_body(patient)),
            )
            .await;
        assert_ok(status, &reply, StatusCode::CREATED);
        reply["data"].clone()
    }

    pub async fn pay(&self, invoice: &str, amount: i64) -> (StatusCode, Value) {
        self.call(
            &self.accountant,
            Method::POST,
            &format!("/invoices/{invoice}/payments"),
            Some(json!({ "amount": amount, "method": "card", "reference": "RCPT-1" })),
        )
        .await
    }
}

/// Every text an accountant was answered must be free of clinical content.
pub fn assert_no_clinical(what: &str, reply: &Value) {
    let text = reply.to_string();
    for c in CLINICAL.iter().chain(
        [
            "Complete blood count",
            "Rare marker",
            "ZQ9",
            "Recurring migraine",
        ]
        .iter(),
    ) {
        assert!(!text.contains(c), "{what} shows clinical text {c}: {text}");
    }
}

#[tokio::test]
async fn an_invoice_bills_a_visit_lab_tests_and_a_dispense_once_each() {
    let b = Bill::new().await;
    let p = b.patient().await;
    let visit = b.visit(&p).await;
    let order = b.lab_order(&p).await;
    b.dispense(&p).await;
    let inv = b.invoice(&p).await;
    assert_no_clinical("the new invoice", &inv);
    assert_eq!(inv["status"], "issued");
    assert_eq!(inv["currency"], "EUR");
    assert_eq!(inv["patient_id"], p.as_str());
    assert!(inv["patient_name"]
        .as_str()
        .unwrap()
        .starts_with("Bill Payer"));
    let lines = inv["lines"].as_array().unwrap();
    let mut got: Vec<(String, String, i64, i64, i64)> = lines
        .iter()
        .map(|l| {
            (
                l["item_code"].as_str().unwrap().to_string(),
                l["description"].as_str().unwrap().to_string(),
                l["quantity"].as_i64().unwrap(),
                l["unit_price"].as_i64().unwrap(),
                l["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    got.sort();
    let want = |c: &str, d: &str, q: i64, u: i64| (c.to_string(), d.to_string(), q, u, q * u);
    assert_eq!(
        got,
        vec![
            want("appointment.consultation", "Consultation", 1, 6000),
            want("dispense", "Dispensing", 10, 20),
            want("lab_test", "Lab test", 1, 2500),
            want("lab_test.CBC", "Lab test CBC", 1, 1800),
        ]
    );
    assert_eq!(inv["total"], 6000 + 200 + 2500 + 1800);
    assert_eq!(inv["paid"], 0);
    assert_eq!(inv["balance"], inv["total"]);
    let sources: Vec<&str> = lines
        .iter()
        .map(|l| l["source_id"].as_str().unwrap())
        .collect();
    assert!(sources.contains(&visit.as_str()));
    assert!(sources.contains(&format!("{order}/1").as_str()));

    // The same period again: nothing new to bill.
    let (status, reply) = b
        .call(
            &b.accountant,
            Method::POST,
            "/invoices",
            Some(invoice_body(&p)),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "NOTHING_TO_BILL");
    // A new event is billed alone on the next invoice.
    b.dispense(&p).await;
    let second = b.invoice(&p).await;
    assert_eq!(second["lines"].as_array().unwrap().len(), 1);
    assert_eq!(second["total"], 200);

    // The list, one patient's, by status.
    let (status, list) = b
        .call(
            &b.accountant,
            Method::GET,
            &format!("/invoices?patient_id={p}"),
            None,
        )
        .await;
    assert_ok(status, &list, StatusCode::OK);
    assert_eq!(ids(&list), vec![id_of(&second), id_of(&inv)]);
    let (_, issued) = b
        .call(&b.accountant, Method::GET, "/invoices?status=paid", None)
        .await;
    assert!(ids(&issued).is_empty());
    // Each invoice shown is on the patient's access log.
    let reads = b
        .app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "invoice.read" && r.resource == format!("patient:{p}"))
        .count();
    assert!(reads >= 2, "{reads}");
    assert!(b.app.verify_audit().await.is_intact());
}

#[tokio::test]
async fn an_empty_period_has_nothing_to_bill_and_open_events_are_not_billed() {
    let b = Bill::new().await;
    let p = b.patient().await;
    let (status, reply) = b
        .call(
            &b.accountant,
            Method::POST,
            "/invoices",
            Some(invoice_body(&p)),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "NOTHING_TO_BILL");
    // A booked (not completed) appointment and an order not finalized bill nothing.
    let body = booking(&p, &b.doctor_id, &b.department, &slot(b.next()));
    b.ok(&b.admin, Method::POST, "/appointments", Some(body))
        .await;
    let order = json!({ "patient_id": p, "tests": [{ "code": "CBC", "name": "Blood count" }] });
    b.ok(&b.doctor, Method::POST, "/lab-orders", Some(order))
        .await;
    let (status, reply) = b
        .call(
            &b.accountant,
            Method::POST,
            "/invoices",
            Some(invoice_body(&p)),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "NOTHING_TO_BILL");
    // A period before any event: nothing either.
    b.visit(&p).await;
    let body = json!({ "patient_id": p, "period_from": "2020-01-01", "period_to": "2020-12-31" });
    let (status, reply) = b
        .call(&b.accountant, Method::POST, "/invoices", Some(body))
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "NOTHING_TO_BILL");
}

#[tokio::test]
async fn concurrent_invoices_for_one_period_never_bill_an_event_twice() {
    let b = Bill::new().await;
    let p = b.billable_patient().await;
    let requests = (0..4).map(|_| {
        b.call(
            &b.accountant,
            Method::POST,
            "/invoices",
            Some(invoice_body(&p)),
        )
    });
    let replies = futures_util::future::join_all(requests).await;
    let mut created = 0;
    for (status, reply) in &replies {
        if *status == StatusCode::CREATED {
            created += 1;
            assert_eq!(reply["data"]["lines"].as_array().unwrap().len(), 4);
        } else {
            assert_eq!(*status, StatusCode::CONFLICT, "{reply}");
        }
    }
    assert_eq!(created, 1, "{replies:?}");
    let (_, list) = b
        .call(
            &b.accountant,
            Method::GET,
            &format!("/invoices?patient_id={p}"),
            None,
        )
        .await;
    assert_eq!(list["meta"]["total"], 1);

    // The database itself refuses a second live line for an event, and a
    // payment total beyond the invoice's total.
    let copy = "INSERT INTO invoice_lines (id, tenant_id, invoice_id, position, source_kind, \
        source_id, service_at, item_code, description, quantity, unit_price, amount, live) \
        SELECT id || '-copy', tenant_id, invoice_id, position + 100, source_kind, source_id, \
        service_at, item_code, description, quantity, unit_price, amount, live FROM invoice_lines";
    assert!(
        b.app.sql(copy).await.is_err(),
        "a second live line was stored"
    );
    assert_eq!(b.app.sql("UPDATE invoices SET paid = paid").await, Ok(()));
    let overpaid = "UPDATE invoices SET paid = total + 1, status = 'paid'";
    assert!(
        b.app.sql(overpaid).await.is_err(),
        "an overpayment was stored"
    );
}

#[tokio::test]
async fn payments_settle_an_invoice_up_to_its_balance_even_when_they_race() {
    let b = Bill::new().await;
    let p = b.billable_patient().await;
    let inv = b.invoice(&p).await;
    let id = id_of(&inv);
    let total = inv["total"].as_i64().unwrap();

    for body in [
        json!({ "amount": 0, "method": "cash" }),
        json!({ "amount": -5, "method": "cash" }),
        json!({ "amount": 1.5, "method": "cash" }),
        json!({ "amount": 100, "method": "bitcoin" }),
        json!({ "amount": 100 }),
        json!({ "amount": 100, "method": "cash", "tip": 1 }),
        json!({ "amount": 100, "method": "cash", "reference": "r".repeat(101) }),
    ] {
        let (status, reply) = b
            .call(
                &b.accountant,
                Method::POST,
                &format!("/invoices/{id}/payments"),
                Some(body.clone()),
            )
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = b.pay(&id, total + 1).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "OVERPAYMENT");
    assert_eq!(reply["error"]["details"]["balance"], total);

    let (status, reply) = b.pay(&id, 1000).await;
    assert_ok(status, &reply, StatusCode::CREATED);
    assert_eq!(reply["data"]["status"], "partially_paid");
    assert_eq!(reply["data"]["paid"], 1000);
    assert_eq!(reply["data"]["balance"], total - 1000);
    assert_eq!(reply["data"]["payments"][0]["method"], "card");

    // Two payments of 60% of the balance at once: one is refused.
    let balance = total - 1000;
    let share = balance * 6 / 10;
    let (one, two) = tokio::join!(b.pay(&id, share), b.pay(&id, share));
    let statuses = [one.0, two.0];
    assert!(statuses.contains(&StatusCode::CREATED), "{one:?} {two:?}");
    assert!(statuses.contains(&StatusCode::CONFLICT), "{one:?} {two:?}");
    let refused = if one.0 == StatusCode::CONFLICT {
        &one.1
    } else {
        &two.1
    };
    assert_eq!(refused["error"]["code"], "OVERPAYMENT");

    let (_, now) = b
        .call(&b.accountant, Method::GET, &format!("/invoices/{id}"), None)
        .await;
    let rest = now["data"]["balance"].as_i64().unwrap();
    assert_eq!(rest, balance - share);
    let (status, reply) = b.pay(&id, rest).await;
    assert_ok(status, &reply, StatusCode::CREATED);
    assert_eq!(reply["data"]["status"], "paid");
    assert_eq!(reply["data"]["balance"], 0);
    let (status, reply) = b.pay(&id, 1).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "OVERPAYMENT");
    // A paid invoice is never voided.
    let (status, reply) = b
        .call(
            &b.accountant,
            Method::POST,
            &format!("/invoices/{id}/void"),
            Some(json!({ "reason": "Wrong patient" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    assert!(b.app.verify_audit().await.is_intact());
}

#[tokio::test]
async fn voiding_an_invoice_without_payments_releases_its_events() {
    let b = Bill::new().await;
    let p = b.billable_patient().await;
    let inv = b.invoice(&p).await;
    let id = id_of(&inv);
    let void = format!("/invoices/{id}/void");
    for body in [
        json!({}),
        json!({ "reason": "x" }),
        json!({ "reason": "Wrong period", "why": 1 }),
    ] {
        let (status, reply) = b.call(&b.accountant, Method::POST, &void, Some(body)).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = b
        .call(
            &b.accountant,
            Method::POST,
            &void,
            Some(json!({ "reason": "Wrong period" })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["status"], "void");
    assert_eq!(reply["data"]["balance"], 0);
    assert_eq!(reply["data"]["void_reason"], "Wrong period");
    let (status, reply) = b
        .call(
            &b.accountant,
            Method::POST,
            &void,
            Some(json!({ "reason": "Again" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let (status, reply) = b.pay(&id, 100).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    // The events are billed again on a new invoice.
    let again = b.invoice(&p).await;
    assert_eq!(again["total"], inv["total"]);
    let (_, voided) = b
        .call(&b.accountant, Method::GET, "/invoices?status=void", None)
        .await;
    assert_eq!(ids(&voided), vec![id]);
}

#[tokio::test]
async fn bad_invoice_requests_are_refused_and_change_nothing() {
    let b = Bill::new().await;
    let p = b.billable_patient().await;
    let (from, to) = period();
    for body in [
        json!({}),
        json!({ "patient_id": p, "period_from": from }),
        json!({ "patient_id": p, "period_from": "2026-13-01", "period_to": to }),
        json!({ "patient_id": p, "period_from": "yesterday", "period_to": to }),
        json!({ "patient_id": p, "period_from": to, "period_to": from }),
        json!({ "patient_id": p, "period_from": "2020-01-01", "period_to": "2022-01-01" }),
        json!({ "patient_id": p, "period_from": from, "period_to": to, "discount": 5 }),
        json!({ "patient_id": "", "period_from": from, "period_to": to }),
        json!({ "patient_id": "x".repeat(65), "period_from": from, "period_to": to }),
    ] {
        let (status, reply) = b
            .call(&b.accountant, Method::POST, "/invoices", Some(body.clone()))
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = b
        .call(
            &b.accountant,
            Method::POST,
            "/invoices",
            Some(invoice_body(&uuid::Uuid::new_v4().to_string())),
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    for path in [
        "/invoices?status=overdue",
        "/invoices?page_size=0",
        "/invoices?page_size=101",
        "/invoices?colour=red",
    ] {
        let (status, reply) = b.call(&b.accountant, Method::GET, path, None).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = b
        .call(
            &b.accountant,
            Method::GET,
            &format!("/invoices/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, reply) = b
        .call(
            &b.accountant,
            Method::POST,
            &format!("/invoices/{}/payments", uuid::Uuid::new_v4()),
            Some(json!({ "amount": 1, "method": "cash" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (_, list) = b.call(&b.accountant, Method::GET, "/invoices", None).await;
    assert_eq!(list["meta"]["total"], 0, "refused requests issued nothing");
    // Still billable.
    b.invoice(&p).await;
}

#[tokio::test]
async fn an_accountant_sees_amounts_and_what_was_billed_never_clinical_content() {
    let b = Bill::new().await;
    let p = b.billable_patient().await;
    let inv = b.invoice(&p).await;
    let id = id_of(&inv);
    let mut answers = vec![("create", inv.clone())];
    let (_, r) = b.pay(&id, 500).await;
    answers.push(("payment", r));
    for path in [
        format!("/invoices/{id}"),
        "/invoices".to_string(),
        format!("/invoices?patient_id={p}"),
        "/billing/price-list".to_string(),
    ] {
        let (status, reply) = b.call(&b.accountant, Method::GET, &path, None).await;
        assert_ok(status, &reply, StatusCode::OK);
        answers.push(("read", reply));
    }
    for (what, reply) in &answers {
        assert_no_clinical(what, reply);
    }
    // Nor do the billing tables hold any: the unlisted test's code and
    // name are stored sealed only (in the lab order).
    let stored = stored_bytes(&b.app);
    for plain in ["ZQ9", "Rare marker", CLINICAL[1], CLINICAL[2], CLINICAL[3]] {
        assert!(
            !contains_ignoring_case(&stored, plain),
            "{plain} stored in clear"
        );
    }
    // The clinical resources themselves stay closed to an accountant.
    for path in [
        format!("/patients/{p}"),
        "/patients".to_string(),
        format!("/lab-orders?patient_id={p}"),
        format!("/prescriptions?patient_id={p}"),
        format!("/notes?patient_id={p}"),
        format!("/appointments?patient_id={p}"),
        format!("/patients/{p}/access-log"),
    ] {
        let (status, reply) = b.call(&b.accountant, Method::GET, &path, None).await;
        assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
        assert_no_clinical(&path, &reply);
    }
    // The price list.
    let (_, prices) = b
        .call(&b.accountant, Method::GET, "/billing/price-list", None)
        .await;
    assert_eq!(prices["data"]["currency"], "EUR");
    let items = prices["data"]["items"].as_array().unwrap();
    assert!(items
        .iter()
        .any(|i| i["item_code"] == "appointment.consultation" && i["unit_price"] == 6000));
}

#[tokio::test]
async fn a_patient_sees_their_own_invoices_only() {
    let b = Bill::new().await;
    let mine = b.billable_patient().await;
    let other = b.billable_patient().await;
    let own = id_of(&b.invoice(&mine).await);
    let theirs = id_of(&b.invoice(&other).await);
    portal_account(&b.app, &b.admin, &mine, "bill.portal").await;
    let patient = b.app.login("bill.portal", STRONG_PASSWORD).await;
    let (status, list) = b.call(&patient, Method::GET, "/invoices", None).await;
    assert_ok(status, &list, StatusCode::OK);
    assert_eq!(ids(&list), vec![own.clone()]);
    let (status, reply) = b
        .call(&patient, Method::GET, &format!("/invoices/{own}"), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    let (status, reply) = b
        .call(&patient, Method::GET, &format!("/invoices/{theirs}"), None)
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, reply) = b
        .call(
            &patient,
            Method::POST,
            "/invoices",
            Some(invoice_body(&mine)),
        )
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
}

#[tokio::test]
async fn another_tenants_invoices_are_out_of_reach() {
    let app = crate::hospital_tenants::hosted_with_two_tenants().await;
    let b_tenant = crate::hospital_tenants::TENANT_B;
    let a = common::config::DEMO_TENANT_ID;
    let bill = Bill {
        admin: login_in(&app, a, "hadmin", "hadmin123").await,
        doctor: login_in(&app, a, "doctor", "doctor123").await,
        doctor_id: String::new(),
        lab: login_in(&app, a, "lab", "lab123").await,
        pharmacist: login_in(&app, a, "pharmacist", "pharmacist123").await,
        accountant: login_in(&app, a, "accountant", "accountant123").await,
        department: String::new(),
        serial: std::cell::Cell::new(0),
        app,
    };
    let bill = Bill {
        doctor_id: user_id(&bill.app, &bill.doctor).await,
        department: department(&bill.app, &bill.admin).await,
        ..bill
    };
    let p = bill.billable_patient().await;
    let inv = bill.invoice(&p).await;
    let id = id_of(&inv);
    let b_accountant = login_in(&bill.app, b_tenant, "accountant", "accountant123").await;
    let b_admin = login_in(&bill.app, b_tenant, "hadmin", "hadmin123").await;
    for (token, method, path, body) in [
        (&b_accountant, Method::GET, format!("/invoices/{id}"), None),
        (&b_admin, Method::GET, format!("/invoices/{id}"), None),
        (
            &b_accountant,
            Method::POST,
            format!("/invoices/{id}/payments"),
            Some(json!({ "amount": 100, "method": "cash" })),
        ),
        (
            &b_accountant,
            Method::POST,
            format!("/invoices/{id}/void"),
            Some(json!({ "reason": "Cross tenant" })),
        ),
        (
            &b_accountant,
            Method::POST,
            "/invoices".to_string(),
            Some(invoice_body(&p)),
        ),
    ] {
        let (s, reply) = bill.app.api(method, &path, Some(token), body).await;
        assert_error(s, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let (s, list) = bill
        .app
        .api(Method::GET, "/invoices", Some(&b_accountant), None)
        .await;
    assert_ok(s, &list, StatusCode::OK);
    assert_eq!(list["meta"]["total"], 0);
    let (_, after) = bill
        .call(
            &bill.accountant,
            Method::GET,
            &format!("/invoices/{id}"),
            None,
        )
        .await;
    assert_eq!(after["data"]["paid"], 0);
    assert_eq!(after["data"]["status"], "issued");
}

#[tokio::test]
async fn a_discharged_admission_is_billed_by_its_bed_days_once_and_an_active_one_not_yet() {
    let b = Bill::new().await;
    let patient = b.patient().await;
    let room = b
        .ok(
            &b.admin,
            Method::POST,
            "/rooms",
            Some(json!({ "name": "Ward B", "type": "ward", "department_id": b.department })),
        )
        .await;
    let bed = b
        .ok(
            &b.admin,
            Method::POST,
            &format!("/rooms/{}/beds", id_of(&room)),
            Some(json!({ "label": "B1" })),
        )
        .await;
    let admission = b
        .ok(
            &b.admin,
            Method::POST,
            "/admissions",
            Some(json!({ "patient_id": patient, "bed_id": id_of(&bed),
                "reason": "Okapi-VisitNote-71 observation" })),
        )
        .await;
    // Still in the bed: nothing to bill yet.
    let (status, reply) = b
        .call(
            &b.accountant,
            Method::POST,
            "/invoices",
            Some(invoice_body(&patient)),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "NOTHING_TO_BILL");
    b.ok(
        &b.doctor,
        Method::POST,
        &format!("/admissions/{}/discharge", id_of(&admission)),
        Some(json!({ "summary": "Okapi-LabNote-72 home" })),
    )
    .await;
    let invoice = b
        .ok(
            &b.accountant,
            Method::POST,
            "/invoices",
            Some(invoice_body(&patient)),
        )
        .await;
    let lines = invoice["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{invoice}");
    assert_eq!(lines[0]["item_code"], "admission.bed_day", "{invoice}");
    assert_eq!(lines[0]["description"], "Bed day");
    // Admitted and discharged the same day: one bed day at the default price.
    assert_eq!(lines[0]["quantity"], 1);
    assert_eq!(lines[0]["unit_price"], 30_000);
    assert_eq!(invoice["total"], 30_000);
    // No clinical text of the stay on the invoice; billed once.
    for text in CLINICAL {
        assert!(!invoice.to_string().contains(text), "{text}: {invoice}");
    }
    let (status, reply) = b
        .call(
            &b.accountant,
            Method::POST,
            "/invoices",
            Some(invoice_body(&patient)),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "NOTHING_TO_BILL");
}
