//! The billing pages: the accountant invoices a patient's dispense for a
//! period, is refused a bad payment and a forged form, records a payment,
//! voids nothing paid; the patient sees their own invoice; other roles are
//! refused; through the API's functions (same checks, same audit rows).

use reqwest::StatusCode;
use serde_json::json;
use testkit::hospital::{
    add_to_care_team, id_of, patient_body, portal_account, register_patient_id, user_id,
};
use testkit::{assert_ok, spawn, Method, Service, STRONG_PASSWORD};

use crate::client::Browser;

#[tokio::test]
async fn invoicing_paying_and_reading_invoices_on_the_pages() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let doctor = app.login("doctor", "doctor123").await;
    let pharmacist = app.login("pharmacist", "pharmacist123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let patient =
        register_patient_id(&app, &admin, patient_body("Ingrid", "Berg", "1975-02-02")).await;
    add_to_care_team(&app, &admin, &patient, &doctor_id).await;
    portal_account(&app, &admin, &patient, "ingrid.portal").await;
    let rx = json!({
        "patient_id": patient, "medication": "Walruzepam 5 mg", "dose": "1 tablet",
        "route": "oral", "frequency": "daily", "duration": "10 days", "quantity": 10,
        "refills": 0, "notes": "Capybara-note-5",
    });
    let (status, reply) = app
        .api(Method::POST, "/prescriptions", Some(&doctor), Some(rx))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let rx_id = id_of(&reply["data"]);
    let (status, reply) = app
        .api(
            Method::POST,
            &format!("/prescriptions/{rx_id}/dispense"),
            Some(&pharmacist),
            Some(json!({ "quantity": 10 })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);

    let mut a = Browser::new(&app);
    a.login_ok("accountant", "accountant123", "/home").await;
    let home = a.get("/home").await;
    assert!(home.body.contains("href=\"/billing\""), "{}", home.body);
    let page = a.get("/billing").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("No invoices."), "{}", page.body);
    let csrf = page.csrf();
    let today = chrono::Utc::now().date_naive();
    let from = (today - chrono::Duration::days(1)).to_string();
    let to = (today + chrono::Duration::days(1)).to_string();
    let bad = a
        .post(
            "/billing",
            &[
                ("csrf", &csrf),
                ("patient_id", &patient),
                ("period_from", &to),
                ("period_to", &from),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let forged = a
        .post(
            "/billing",
            &[
                ("csrf", "forged"),
                ("patient_id", &patient),
                ("period_from", &from),
                ("period_to", &to),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let res = a
        .post(
            "/billing",
            &[
                ("csrf", &csrf),
                ("patient_id", &patient),
                ("period_from", &from),
                ("period_to", &to),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let invoice = res.location().to_string();
    assert!(invoice.starts_with("/billing/"), "{invoice}");
    let again = a
        .post(
            "/billing",
            &[
                ("csrf", &csrf),
                ("patient_id", &patient),
                ("period_from", &from),
                ("period_to", &to),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

    let page = a.get(&invoice).await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "Ingrid Berg",
        "Dispensing",
        "EUR 2.00",
        "issued",
        "Void invoice",
    ] {
        assert!(page.body.contains(text), "{text}: {}", page.body);
    }
    for clinical in ["Walruzepam", "Capybara-note-5"] {
        assert!(!page.body.contains(clinical), "{clinical}: {}", page.body);
    }
    let pay = format!("{invoice}/pay");
    let over = a
        .post(
            &pay,
            &[
                ("csrf", &csrf),
                ("amount", "2.01"),
                ("method", "cash"),
                ("reference", ""),
            ],
        )
        .await;
    assert_eq!(over.status, StatusCode::CONFLICT, "{}", over.body);
    let bad = a
        .post(
            &pay,
            &[
                ("csrf", &csrf),
                ("amount", "one"),
                ("method", "cash"),
                ("reference", ""),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let res = a
        .post(
            &pay,
            &[
                ("csrf", &csrf),
                ("amount", "0.50"),
                ("method", "card"),
                ("reference", "R-1"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let page = a.get(&invoice).await;
    assert!(page.body.contains("partially paid"), "{}", page.body);
    assert!(page.body.contains("EUR 1.50"), "{}", page.body);
    assert!(!page.body.contains("Void invoice"), "{}", page.body);
    let void = a
        .post(
            &format!("{invoice}/void"),
            &[("csrf", &csrf), ("reason", "Wrong period")],
        )
        .await;
    assert_eq!(void.status, StatusCode::CONFLICT, "{}", void.body);

    // The patient sees their invoice; a doctor is refused billing.
    let mut p = Browser::new(&app);
    p.login_ok("ingrid.portal", STRONG_PASSWORD, "/home").await;
    let mine = p.get("/my-invoices").await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(
        mine.body.contains(&format!("href=\"{invoice}\"")),
        "{}",
        mine.body
    );
    assert_eq!(p.get(&invoice).await.status, StatusCode::OK);
    assert_eq!(p.get("/billing").await.status, StatusCode::FORBIDDEN);
    let mut d = Browser::new(&app);
    d.login_ok("doctor", "doctor123", "/home").await;
    assert_eq!(d.get("/billing").await.status, StatusCode::FORBIDDEN);
    assert_eq!(d.get(&invoice).await.status, StatusCode::FORBIDDEN);
}
