//! The lab pages: a doctor orders tests from the patient's page, the lab
//! works the worklist — enters results, is refused finalizing an incomplete
//! order, finalizes, amends — the patient sees their own finalized results
//! only; through the API's functions (same checks, same audit rows).

use reqwest::StatusCode;
use testkit::hospital::{
    add_to_care_team, patient_body, portal_account, register_patient_id, user_id,
};
use testkit::{spawn, Method, Service, STRONG_PASSWORD};

use crate::client::Browser;

#[tokio::test]
async fn ordering_resulting_finalizing_and_amending_on_the_pages() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let patient =
        register_patient_id(&app, &admin, patient_body("Solveig", "Aas", "1990-04-04")).await;
    add_to_care_team(&app, &admin, &patient, &doctor_id).await;
    portal_account(&app, &admin, &patient, "solveig.portal").await;

    // The doctor orders from the chart.
    let mut d = Browser::new(&app);
    d.login_ok("doctor", "doctor123", "/home").await;
    let chart = d.get(&format!("/patients/{patient}")).await;
    let path = format!("/patients/{patient}/labs");
    assert!(
        chart.body.contains(&format!("href=\"{path}\"")),
        "{}",
        chart.body
    );
    let page = d.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("No lab orders."), "{}", page.body);
    let csrf = page.csrf();
    let bad = d
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("tests", "CBC Complete blood count\ncbc Again"),
                ("priority", "routine"),
                ("notes", ""),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(bad.body.contains("listed twice"), "{}", bad.body);
    let forged = d
        .post(
            &path,
            &[
                ("csrf", "forged"),
                ("tests", "CBC Complete blood count"),
                ("priority", "routine"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let res = d
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("tests", "CBC Complete blood count\nK: Potassium"),
                ("priority", "stat"),
                ("notes", "Before the first dose"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let page = d.get(&path).await;
    assert!(
        page.body
            .contains("Complete blood count (CBC), Potassium (K)"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Cancel order"), "{}", page.body);

    // The lab's worklist.
    let mut l = Browser::new(&app);
    l.login_ok("lab", "lab123", "/home").await;
    assert!(l.get("/home").await.body.contains("href=\"/lab\""));
    let work = l.get("/lab").await;
    assert_eq!(work.status, StatusCode::OK);
    assert!(work.body.contains("Work this order"), "{}", work.body);
    let id = work
        .body
        .split("href=\"/lab/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let order = l.get(&format!("/lab/{id}")).await;
    assert_eq!(order.status, StatusCode::OK);
    assert!(
        order.body.contains("Before the first dose"),
        "{}",
        order.body
    );
    assert!(order.body.contains("Enter results"), "{}", order.body);
    let csrf = order.csrf();
    let res = l
        .post(
            &format!("/lab/{id}/results"),
            &[
                ("csrf", &csrf),
                ("code-0", "CBC"),
                ("value-0", ""),
                ("code-1", "K"),
                ("value-1", "6.1"),
                ("unit-1", "mmol/L"),
                ("range-1", "3.5-5.1"),
                ("flag-1", "high"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let early = l
        .post(&format!("/lab/{id}/finalize"), &[("csrf", &csrf)])
        .await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.body);
    assert!(
        early.body.contains("1 of 2 tests have no result yet"),
        "{}",
        early.body
    );
    let res = l
        .post(
            &format!("/lab/{id}/results"),
            &[
                ("csrf", &csrf),
                ("code-0", "CBC"),
                ("value-0", "within limits"),
                ("flag-0", "normal"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let res = l
        .post(&format!("/lab/{id}/finalize"), &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let order = l.get(&format!("/lab/{id}")).await;
    assert!(order.body.contains("finalized"), "{}", order.body);
    assert!(!order.body.contains("Enter results"), "{}", order.body);
    assert!(order.body.contains("Amend results"), "{}", order.body);
    assert!(
        order.body.contains("<strong>High</strong>"),
        "{}",
        order.body
    );
    assert!(l.get("/lab").await.body.contains("No lab orders."));
    // An amendment needs its reason; it keeps the original.
    let no_reason = l
        .post(
            &format!("/lab/{id}/amend"),
            &[
                ("csrf", &csrf),
                ("reason", ""),
                ("code-1", "K"),
                ("value-1", "4.4"),
                ("flag-1", "normal"),
            ],
        )
        .await;
    assert_eq!(
        no_reason.status,
        StatusCode::BAD_REQUEST,
        "{}",
        no_reason.body
    );
    let res = l
        .post(
            &format!("/lab/{id}/amend"),
            &[
                ("csrf", &csrf),
                ("reason", "Haemolysed sample, repeated"),
                ("code-0", "CBC"),
                ("value-0", "within limits"),
                ("flag-0", "normal"),
                ("code-1", "K"),
                ("value-1", "4.4"),
                ("unit-1", "mmol/L"),
                ("flag-1", "normal"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let order = l.get(&format!("/lab/{id}")).await;
    assert!(
        order.body.contains("Haemolysed sample, repeated"),
        "{}",
        order.body
    );
    assert!(
        order
            .body
            .contains("As finalized: CBC: within limits (Normal); K: 6.1 mmol/L (High)"),
        "{}",
        order.body
    );

    // The doctor sees the amended results and can no longer cancel.
    let page = d.get(&path).await;
    assert!(page.body.contains("finalized (amended)"), "{}", page.body);
    assert!(!page.body.contains("Cancel order"), "{}", page.body);

    // Reception: no worklist, no orders.
    let mut r = Browser::new(&app);
    r.login_ok("reception", "reception123", "/home").await;
    assert_eq!(r.get("/lab").await.status, StatusCode::FORBIDDEN);
    let refused = r.get(&path).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!refused.body.contains("Potassium"), "{}", refused.body);

    // The patient: their own finalized results, read-only.
    let mut p = Browser::new(&app);
    p.login_ok("solveig.portal", STRONG_PASSWORD, "/home").await;
    assert!(p.get("/home").await.body.contains("href=\"/my-labs\""));
    let mine = p.get("/my-labs").await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(mine.body.contains("Potassium (K)"), "{}", mine.body);
    let one = p.get(&format!("/lab/{id}")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert!(one.body.contains("4.4"), "{}", one.body);
    assert!(!one.body.contains("Amend results"), "{}", one.body);
    let refused = p
        .post(
            &format!("/lab/{id}/amend"),
            &[
                ("csrf", &one.csrf()),
                ("reason", "Mine"),
                ("code-0", "CBC"),
                ("value-0", "x"),
                ("flag-0", "normal"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    // A second order, not finalized, is not theirs to see yet.
    let (status, reply) = app
        .api(
            Method::POST,
            "/lab-orders",
            Some(&doctor),
            Some(serde_json::json!({ "patient_id": patient, "tests": [{ "code": "TSH", "name": "Thyrotropin" }] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert!(!p.get("/my-labs").await.body.contains("Thyrotropin"));
    let second = reply["data"]["id"].as_str().unwrap();
    assert_eq!(
        p.get(&format!("/lab/{second}")).await.status,
        StatusCode::NOT_FOUND
    );
    // The doctor cancels it from the list.
    let page = d.get(&path).await;
    let res = d
        .post(&format!("/lab/{second}/cancel"), &[("csrf", &page.csrf())])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(d.get(&path).await.body.contains("cancelled"));
}

#[tokio::test]
async fn a_doctor_orders_imaging_on_the_page_and_the_radiologist_works_it() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let patient =
        register_patient_id(&app, &admin, patient_body("Ingrid", "Moe", "1971-09-09")).await;
    add_to_care_team(&app, &admin, &patient, &doctor_id).await;

    let mut d = Browser::new(&app);
    d.login_ok("doctor", "doctor123", "/home").await;
    let path = format!("/patients/{patient}/labs");
    let page = d.get(&path).await;
    assert!(page.body.contains("Imaging studies"), "{}", page.body);
    let csrf = page.csrf();
    for (kind, tests) in [
        ("imaging", "CXR Chest X-ray"),
        ("lab", "CBC Complete blood count"),
    ] {
        let done = d
            .post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("tests", tests),
                    ("kind", kind),
                    ("priority", "routine"),
                    ("notes", ""),
                ],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    }
    let bad = d
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("tests", "MRI Head"),
                ("kind", "xray"),
                ("priority", "routine"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);

    // The radiologist's navigation and worklist hold the imaging order only.
    let mut r = Browser::new(&app);
    r.login_ok("radiologist", "radiologist123", "/home").await;
    let home = r.get("/home").await;
    assert!(home.body.contains("Imaging worklist"), "{}", home.body);
    let list = r.get("/lab").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains("Chest X-ray"), "{}", list.body);
    assert!(!list.body.contains("Complete blood count"), "{}", list.body);
    // The lab's worklist the other way round.
    let mut l = Browser::new(&app);
    l.login_ok("lab", "lab123", "/home").await;
    let list = l.get("/lab").await;
    assert!(list.body.contains("Complete blood count"), "{}", list.body);
    assert!(!list.body.contains("Chest X-ray"), "{}", list.body);
    // A role without a worklist: refused.
    let mut n = Browser::new(&app);
    n.login_ok("nurse", "nurse123", "/home").await;
    assert_eq!(n.get("/lab").await.status, StatusCode::FORBIDDEN);
}
