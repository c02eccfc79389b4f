//! PHI at rest: after a patient's whole life in the system (registration,
//! reads, searches, changes, break-the-glass, refusals), none of their
//! identifying text is stored in the clear: not in the SQLite file (with
//! its WAL), not in any PostgreSQL row, the audit log and security outbox
//! included. Search still finds them through the blind indexes.

use serde_json::json;
use testkit::hospital::{
    add_to_care_team, contains_ignoring_case, id_of, register_patient, search_ids, stored_bytes,
    user_id,
};
use testkit::{assert_error, assert_ok, spawn, Method, Service, StatusCode};

const FIRST: &str = "Zebulon";
const LAST: &str = "Quixotebrandt";
const DOB: &str = "1983-07-29";
const PHONE: &str = "+44 20 7946 0958";
const EMAIL: &str = "zeb.q@flutterbyhollow.example";
const STREET: &str = "77 Marrowbone Lane";
const NEW_STREET: &str = "9 Wyvernsbrook Close";
const POLICY: &str = "POL-99817263";
const KIN: &str = "Philippa Underhay";
const ALLERGY: &str = "Quinacrine dust";
const NEW_ALLERGY: &str = "Xylofenamic acid";
const REASON: &str = "Suspected Vorstrandler syndrome after a fall in the atrium";

#[tokio::test]
async fn no_patient_identifying_text_is_stored_in_the_clear_yet_search_finds_the_patient() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let reception = app.login("reception", "reception123").await;
    let doctor = app.login("doctor", "doctor123").await;
    let nurse = app.login("nurse", "nurse123").await;
    let lab = app.login("lab", "lab123").await;

    let body = json!({
        "first_name": FIRST,
        "last_name": LAST,
        "date_of_birth": DOB,
        "sex": "male",
        "contact": { "phone": PHONE, "email": EMAIL },
        "address": { "line1": STREET, "city": "Grimsditch", "country": "UK" },
        "emergency_contact": { "name": KIN, "relationship": "sister", "phone": "+44 20 7946 0011" },
        "insurance": { "provider": "Lanternfield Assurance", "policy_number": POLICY },
        "allergies": [ALLERGY],
        "blood_type": "AB-",
    });
    let patient = register_patient(&app, &admin, body).await;
    let id = id_of(&patient);
    let mrn = patient["mrn"].as_str().unwrap().to_string();
    let path = format!("/patients/{id}");

    // A life in the system: reads, changes, a break-the-glass, refusals.
    add_to_care_team(&app, &admin, &id, &user_id(&app, &doctor).await).await;
    let (status, seen) = app.api(Method::GET, &path, Some(&doctor), None).await;
    assert_ok(status, &seen, StatusCode::OK);
    assert_eq!(seen["data"]["contact"]["email"], EMAIL);
    let change = json!({ "allergies": [ALLERGY, NEW_ALLERGY] });
    let (status, body) = app
        .api(Method::PATCH, &path, Some(&doctor), Some(change))
        .await;
    assert_ok(status, &body, StatusCode::OK);
    let change =
        json!({ "address": { "line1": NEW_STREET, "city": "Grimsditch", "country": "UK" } });
    let (status, body) = app
        .api(Method::PATCH, &path, Some(&reception), Some(change))
        .await;
    assert_ok(status, &body, StatusCode::OK);
    let (status, body) = app
        .api(
            Method::POST,
            &format!("{path}/break-glass"),
            Some(&nurse),
            Some(json!({ "reason": REASON })),
        )
        .await;
    assert_ok(status, &body, StatusCode::CREATED);
    let (status, grants) = app
        .api(Method::GET, "/break-glass", Some(&admin), None)
        .await;
    assert_ok(status, &grants, StatusCode::OK);
    assert_eq!(grants["data"][0]["reason"], REASON);
    let (status, body) = app
        .api(
            Method::GET,
            &format!("/patients?search={LAST}"),
            Some(&lab),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = app
        .api(
            Method::PATCH,
            &path,
            Some(&reception),
            Some(json!({ "allergies": [LAST] })),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");

    // Search works on the blind indexes: any case, either order, MRN, birth date.
    let lower_mrn = mrn.to_lowercase();
    for term in [
        "zebulon",
        "QUIXOTEBRANDT",
        "Zebulon Quixotebrandt",
        "quixotebrandt ZEBULON",
        DOB,
        mrn.as_str(),
        lower_mrn.as_str(),
    ] {
        for token in [&reception, &admin, &doctor] {
            assert_eq!(
                search_ids(&app, token, term).await,
                [id.as_str()],
                "search {term:?}"
            );
        }
        assert!(
            search_ids(&app, &nurse, term).await.contains(&id),
            "nurse under break-glass, {term:?}"
        );
    }

    let stored = stored_bytes(&app);
    // The check reads the right bytes: the patient's id and the audit are there.
    assert!(
        contains_ignoring_case(&stored, &id),
        "the patient's row was not read"
    );
    assert!(
        contains_ignoring_case(&stored, "patient.break_glass"),
        "the audit log was not read"
    );
    for secret in [
        FIRST,
        LAST,
        DOB,
        PHONE,
        "7946 0958",
        EMAIL,
        "flutterbyhollow",
        STREET,
        "Marrowbone",
        "Grimsditch",
        "Lanternfield",
        NEW_STREET,
        POLICY,
        KIN,
        ALLERGY,
        NEW_ALLERGY,
        REASON,
        "Vorstrandler",
        mrn.as_str(),
    ] {
        assert!(
            !contains_ignoring_case(&stored, secret),
            "{secret:?} is stored in the clear ({:?})",
            app.backend()
        );
    }
}
