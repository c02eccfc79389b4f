//! The prescription pages: a doctor prescribes from the patient's page
//! (acknowledging the allergy warning), the pharmacist dispenses and
//! rejects from the queue, the patient sees their own; through the API's
//! functions (same checks, same audit rows).

use reqwest::StatusCode;
use serde_json::json;
use testkit::hospital::{
    add_to_care_team, patient_body, portal_account, register_patient_id, user_id,
};
use testkit::{spawn, Method, Service, STRONG_PASSWORD};

use crate::client::Browser;

#[tokio::test]
async fn prescribing_dispensing_and_rejecting_on_the_pages() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let mut body = patient_body("Nils", "Holgersson", "1990-04-04");
    body["allergies"] = json!(["Sulfa"]);
    let patient = register_patient_id(&app, &admin, body).await;
    add_to_care_team(&app, &admin, &patient, &doctor_id).await;
    portal_account(&app, &admin, &patient, "nils.portal").await;

    let mut d = Browser::new(&app);
    d.login_ok("doctor", "doctor123", "/home").await;
    let chart = d.get(&format!("/patients/{patient}")).await;
    let path = format!("/patients/{patient}/prescriptions");
    assert!(
        chart.body.contains(&format!("href=\"{path}\"")),
        "{}",
        chart.body
    );
    let page = d.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("No prescriptions."));
    let csrf = page.csrf();
    let form = |ack: bool| {
        let mut f = vec![
            ("csrf", csrf.clone()),
            ("medication", "Sulfa methoxazole 800 mg".to_string()),
            ("dose", "1 tablet".to_string()),
            ("route", "oral".to_string()),
            ("frequency", "twice a day".to_string()),
            ("duration", "7 days".to_string()),
            ("quantity", "14".to_string()),
            ("refills", "1".to_string()),
            ("notes", "".to_string()),
        ];
        if ack {
            f.push(("acknowledge_allergies", "1".to_string()));
        }
        f
    };
    let send = |f: &Vec<(&'static str, String)>| {
        f.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>()
    };
    let f = send(&form(false));
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let warned = d.post(&path, &pairs).await;
    assert_eq!(warned.status, StatusCode::CONFLICT, "{}", warned.body);
    assert!(warned.body.contains("Allergy warning"), "{}", warned.body);
    assert!(warned.body.contains("Sulfa"), "{}", warned.body);
    assert!(
        warned.body.contains("name=\"acknowledge_allergies\""),
        "{}",
        warned.body
    );
    assert!(warned.body.contains("No prescriptions."), "nothing saved");
    let f = send(&form(true));
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = d.post(&path, &pairs).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let page = d.get(&path).await;
    assert!(
        page.body.contains("allergy warning acknowledged"),
        "{}",
        page.body
    );
    assert!(page.body.contains("0 of 28 dispensed"), "{}", page.body);

    // The pharmacist's queue.
    let mut ph = Browser::new(&app);
    ph.login_ok("pharmacist", "pharmacist123", "/home").await;
    assert!(ph.get("/home").await.body.contains("href=\"/pharmacy\""));
    let q = ph.get("/pharmacy").await;
    assert_eq!(q.status, StatusCode::OK);
    let id = q
        .body
        .split("/pharmacy/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap()
        .to_string();
    let csrf = q.csrf();
    let res = ph
        .post(
            &format!("/pharmacy/{id}/dispense"),
            &[("csrf", &csrf), ("quantity", "10")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let q = ph.get("/pharmacy").await;
    assert!(q.body.contains("10 of 28 dispensed"), "{}", q.body);
    let too_many = ph
        .post(
            &format!("/pharmacy/{id}/dispense"),
            &[("csrf", &csrf), ("quantity", "19")],
        )
        .await;
    assert_eq!(too_many.status, StatusCode::CONFLICT, "{}", too_many.body);
    assert!(
        too_many.body.contains("only 18 remain"),
        "{}",
        too_many.body
    );
    let forged = ph
        .post(
            &format!("/pharmacy/{id}/dispense"),
            &[("csrf", "forged"), ("quantity", "1")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let res = ph
        .post(
            &format!("/pharmacy/{id}/reject"),
            &[
                ("csrf", &csrf),
                ("reason", "Patient switched to another antibiotic"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(ph.get("/pharmacy").await.body.contains("No prescriptions."));
    let (status, rx) = app
        .api(
            Method::GET,
            &format!("/prescriptions/{id}"),
            Some(&doctor),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rx["data"]["status"], "rejected");
    assert_eq!(rx["data"]["dispensed_quantity"], 10);

    // Reception: no queue, no prescriptions.
    let mut r = Browser::new(&app);
    r.login_ok("reception", "reception123", "/home").await;
    assert_eq!(r.get("/pharmacy").await.status, StatusCode::FORBIDDEN);
    let refused = r.get(&path).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!refused.body.contains("Sulfa"), "{}", refused.body);

    // The patient: their own, read-only.
    let mut p = Browser::new(&app);
    p.login_ok("nils.portal", STRONG_PASSWORD, "/home").await;
    assert!(p
        .get("/home")
        .await
        .body
        .contains("href=\"/my-prescriptions\""));
    let mine = p.get("/my-prescriptions").await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(
        mine.body.contains("Sulfa methoxazole 800 mg"),
        "{}",
        mine.body
    );
    assert!(
        mine.body.contains("Patient switched to another antibiotic"),
        "{}",
        mine.body
    );
    assert!(!mine.body.contains("/dispense\""), "{}", mine.body);
    assert!(!mine.body.contains("Prescribe</h2>"), "{}", mine.body);
}
