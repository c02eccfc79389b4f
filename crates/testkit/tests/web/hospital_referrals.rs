//! The referral pages: a doctor refers from the patient's page, the
//! receiving doctor accepts from the inbox and joins the care team, a
//! decline needs a reason, the referrer cancels; other roles get no
//! referral page; through the API's functions (same checks, audit rows).

use reqwest::StatusCode;
use testkit::hospital::{add_to_care_team, patient_body, register_patient_id, user_id};
use testkit::{spawn, STRONG_PASSWORD};

use crate::client::Browser;

/// The id in the first `action="/referrals/{id}/{action}"` of a page.
fn referral_id(body: &str, action: &str) -> String {
    body.split("action=\"/referrals/")
        .find_map(|s| {
            let (id, rest) = s.split_once('/')?;
            rest.starts_with(action).then(|| id.to_string())
        })
        .unwrap_or_else(|| panic!("no {action} form: {body}"))
}

#[tokio::test]
async fn referring_accepting_declining_and_cancelling_on_the_pages() {
    let app = spawn(testkit::Service::Hospital).await;
    let admin = app.admin_token().await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let peer_id = app.create_user(&admin, "doctor-peer", "doctor").await;
    let patient =
        register_patient_id(&app, &admin, patient_body("Ingrid", "Lund", "1981-08-08")).await;
    add_to_care_team(&app, &admin, &patient, &doctor_id).await;

    let mut d = Browser::new(&app);
    d.login_ok("doctor", "doctor123", "/home").await;
    assert!(d.get("/home").await.body.contains("href=\"/referrals\""));
    let path = format!("/patients/{patient}/referrals");
    let chart = d.get(&format!("/patients/{patient}")).await;
    assert!(
        chart.body.contains(&format!("href=\"{path}\"")),
        "{}",
        chart.body
    );
    let page = d.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Refer the patient"), "{}", page.body);
    let csrf = page.csrf();
    let bad = d
        .post(
            &path,
            &[("csrf", &csrf), ("doctor", "doctor-peer"), ("reason", "ab")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(bad.body.contains("There is a problem"), "{}", bad.body);
    let nobody = d
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("doctor", "no-such-doctor"),
                ("reason", "Please see"),
            ],
        )
        .await;
    assert_eq!(nobody.status, StatusCode::BAD_REQUEST, "{}", nobody.body);
    let forged = d
        .post(
            &path,
            &[
                ("csrf", "forged"),
                ("doctor", "doctor-peer"),
                ("reason", "Please see"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let res = d
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("doctor", "doctor-peer"),
                ("reason", "Persistent tremor, please assess"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let page = d.get(&path).await;
    assert!(page.body.contains("Persistent tremor"), "{}", page.body);
    assert!(page.body.contains("Cancel referral"), "{}", page.body);

    // The receiver's inbox: decline needs a reason; accept joins the team.
    let mut p = Browser::new(&app);
    p.login_ok("doctor-peer", STRONG_PASSWORD, "/home").await;
    let inbox = p.get("/referrals").await;
    assert_eq!(inbox.status, StatusCode::OK);
    assert!(inbox.body.contains("Persistent tremor"), "{}", inbox.body);
    let id = referral_id(&inbox.body, "accept");
    let csrf = inbox.csrf();
    let refused = p
        .post(
            &format!("/referrals/{id}/decline"),
            &[("csrf", &csrf), ("reason", "")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    let res = p
        .post(&format!("/referrals/{id}/accept"), &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), "/referrals");
    let again = p
        .post(&format!("/referrals/{id}/accept"), &[("csrf", &csrf)])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let chart = p.get(&format!("/patients/{patient}")).await;
    assert_eq!(
        chart.status,
        StatusCode::OK,
        "the receiver joined the care team"
    );
    let _ = peer_id;

    // A second referral, cancelled by the referrer from the patient's page.
    let page = d.get(&path).await;
    let csrf = page.csrf();
    let res = d
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("doctor", "doctor-peer"),
                ("reason", "Follow-up of the tremor"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let page = d.get(&path).await;
    let id = referral_id(&page.body, "cancel");
    let res = d
        .post(&format!("/referrals/{id}/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(d.get(&path).await.body.contains("cancelled"));

    // Other roles: no referral pages.
    for (user, password) in [
        ("reception", "reception123"),
        ("nurse", "nurse123"),
        ("hadmin", "hadmin123"),
    ] {
        let mut b = Browser::new(&app);
        b.login_ok(user, password, "/home").await;
        assert!(
            !b.get("/home").await.body.contains("href=\"/referrals\""),
            "{user}"
        );
        assert_eq!(
            b.get("/referrals").await.status,
            StatusCode::FORBIDDEN,
            "{user}"
        );
    }
}
