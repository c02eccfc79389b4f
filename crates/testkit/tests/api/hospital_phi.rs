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

/// The sealed columns of one patient row, as stored.
#[derive(Debug, Clone, PartialEq, diesel::Queryable)]
struct Sealed {
    first_name_enc: String,
    allergies_enc: Option<String>,
    version: i64,
}

async fn sealed_of(app: &testkit::TestApp, id: &str) -> Sealed {
    use diesel::prelude::*;
    use hospital::schema::patients;
    let id = id.to_string();
    app.db()
        .run(move |c| {
            Ok(patients::table
                .filter(patients::id.eq(id))
                .select((
                    patients::first_name_enc,
                    patients::allergies_enc,
                    patients::version,
                ))
                .first(c)?)
        })
        .await
        .expect("reading the sealed columns")
}

/// Write `s` over the patient's sealed columns, as someone with write
/// access to the database (a backup, an operator, a bad migration) could.
async fn tamper(app: &testkit::TestApp, id: &str, s: Sealed) {
    use diesel::prelude::*;
    use hospital::schema::patients;
    let id = id.to_string();
    app.db()
        .run(move |c| {
            diesel::update(patients::table.filter(patients::id.eq(id)))
                .set((
                    patients::first_name_enc.eq(s.first_name_enc),
                    patients::allergies_enc.eq(s.allergies_enc),
                    patients::version.eq(s.version),
                ))
                .execute(c)?;
            Ok(())
        })
        .await
        .expect("tampering with the row");
}

// Finding (issue 8 item 14): a ciphertext could be swapped for an older one
// of the same field and row (nothing in its associated data changed when
// the row did), and a NULL clinical field read as "no allergies".
#[tokio::test]
async fn an_older_ciphertext_of_the_same_field_and_row_or_a_null_clinical_field_is_an_integrity_error(
) {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let mut body = json!({ "first_name": "Old", "last_name": "Version", "date_of_birth": "1970-01-01", "sex": "female" });
    body["allergies"] = json!(["penicillin"]);
    let id = id_of(&register_patient(&app, &admin, body).await);
    let path = format!("/patients/{id}");
    let registered = sealed_of(&app, &id).await;

    // The allergy is corrected; every sealed field moves to the new version.
    let change = json!({ "allergies": ["penicillin", "latex"] });
    let (status, body) = app
        .api(Method::PATCH, &path, Some(&admin), Some(change))
        .await;
    assert_ok(status, &body, StatusCode::OK);
    let current = sealed_of(&app, &id).await;
    assert_eq!(current.version, registered.version + 1);
    assert_ne!(
        current.first_name_enc, registered.first_name_enc,
        "an unchanged field is sealed again under the new version"
    );
    let read = || async { app.api(Method::GET, &path, Some(&admin), None).await };
    let (status, body) = read().await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"]["allergies"], json!(["penicillin", "latex"]));

    let refused = |what: &'static str| {
        move |(status, body): (StatusCode, serde_json::Value)| {
            assert_error(status, &body, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL");
            assert!(
                !body.to_string().contains("penicillin"),
                "{what}: no data leaves: {body}"
            );
        }
    };

    // The registration's allergy list put back: it no longer opens.
    let old_allergies = Sealed {
        allergies_enc: registered.allergies_enc.clone(),
        ..current.clone()
    };
    tamper(&app, &id, old_allergies).await;
    refused("older allergies")(read().await);

    // Nor does an unchanged field's older ciphertext.
    let old_name = Sealed {
        first_name_enc: registered.first_name_enc.clone(),
        ..current.clone()
    };
    tamper(&app, &id, old_name).await;
    refused("older first name")(read().await);

    // Rolling the version back with the field does not help: the other
    // fields are sealed under the current version.
    let rolled_back = Sealed {
        allergies_enc: registered.allergies_enc.clone(),
        version: registered.version,
        ..current.clone()
    };
    tamper(&app, &id, rolled_back).await;
    refused("rolled-back version")(read().await);

    // A NULL where a sealed value must be is not "no allergies".
    let nulled = Sealed {
        allergies_enc: None,
        ..current.clone()
    };
    tamper(&app, &id, nulled).await;
    refused("NULL allergies")(read().await);
    let (status, body) = app
        .api(Method::GET, "/patients?page_size=100", Some(&admin), None)
        .await;
    refused("NULL allergies in a list")((status, body));

    // The row as it was reads again.
    tamper(&app, &id, current).await;
    let (status, body) = read().await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"]["allergies"], json!(["penicillin", "latex"]));
}

/// A sealed column and the column name its associated data names.
const SEALED_COLUMNS: [&str; 10] = [
    "mrn",
    "first_name",
    "last_name",
    "date_of_birth",
    "contact",
    "address",
    "emergency_contact",
    "insurance",
    "allergies",
    "blood_type",
];

#[tokio::test]
async fn a_row_sealed_before_row_versions_still_reads_and_takes_a_version_at_its_next_change() {
    use common::crypto::{Aad, Keyring, MasterKey};
    use diesel::prelude::*;
    use hospital::schema::patients;

    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let app =
        testkit::spawn_with(Service::Hospital, &[("HOSPITAL__CRYPTO__MASTER_KEY", &key)]).await;
    let admin = app.admin_token().await;
    let (_, me) = app.api(Method::GET, "/auth/me", Some(&admin), None).await;
    let tenant = me["data"]["tenant_id"].as_str().unwrap().to_string();
    let mut body = json!({ "first_name": "Lena", "last_name": "Legacy", "date_of_birth": "1961-06-01", "sex": "female" });
    body["contact"] = json!({ "phone": "+44 1", "email": null });
    body["allergies"] = json!(["sulfa"]);
    let registered = register_patient(&app, &admin, body).await;
    let id = id_of(&registered);

    // Rewrite the row as the code before row versions sealed it: no
    // version in the associated data, absent optional fields NULL.
    let keyring = Keyring::new(MasterKey::from_hex_or_base64(&key).unwrap());
    let (t, row) = (tenant.clone(), id.clone());
    app.db()
        .run(move |c| {
            type Cols = (
                String,
                String,
                String,
                String,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
            );
            let cols: Cols = patients::table
                .filter(patients::id.eq(&row))
                .select((
                    patients::mrn_enc,
                    patients::first_name_enc,
                    patients::last_name_enc,
                    patients::dob_enc,
                    patients::contact_enc,
                    patients::address_enc,
                    patients::emergency_contact_enc,
                    patients::insurance_enc,
                    patients::allergies_enc,
                    patients::blood_type_enc,
                ))
                .first(c)?;
            let stored = [
                Some(cols.0),
                Some(cols.1),
                Some(cols.2),
                Some(cols.3),
                cols.4,
                cols.5,
                cols.6,
                cols.7,
                cols.8,
                cols.9,
            ];
            let mut legacy = Vec::new();
            for (column, value) in SEALED_COLUMNS.iter().zip(stored) {
                let now = Aad::new(&t, "patients", column, &format!("{row}#v1"));
                let plain = keyring.decrypt(c, &t, &value.unwrap(), &now)?;
                legacy.push(if plain == "null" {
                    None
                } else {
                    let old = Aad::new(&t, "patients", column, &row);
                    Some(keyring.encrypt(c, &t, &plain, &old)?)
                });
            }
            let required = |i: usize| legacy[i].clone().unwrap();
            diesel::update(patients::table.filter(patients::id.eq(&row)))
                .set((
                    patients::mrn_enc.eq(required(0)),
                    patients::first_name_enc.eq(required(1)),
                    patients::last_name_enc.eq(required(2)),
                    patients::dob_enc.eq(required(3)),
                    patients::contact_enc.eq(legacy[4].clone()),
                    patients::address_enc.eq(legacy[5].clone()),
                    patients::emergency_contact_enc.eq(legacy[6].clone()),
                    patients::insurance_enc.eq(legacy[7].clone()),
                    patients::allergies_enc.eq(legacy[8].clone()),
                    patients::blood_type_enc.eq(legacy[9].clone()),
                    patients::version.eq(0_i64),
                ))
                .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
    let path = format!("/patients/{id}");
    let (status, body) = app.api(Method::GET, &path, Some(&admin), None).await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(
        body["data"], registered,
        "the legacy row reads as registered"
    );
    assert_eq!(sealed_of(&app, &id).await.version, 0);

    // Its next change moves every field to version 1 and the strict rules.
    let (status, body) = app
        .api(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({ "sex": "other" })),
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    let after = sealed_of(&app, &id).await;
    assert_eq!(after.version, 1);
    assert!(after.allergies_enc.is_some());
    let (status, body) = app.api(Method::GET, &path, Some(&admin), None).await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"]["sex"], "other");
    for field in ["mrn", "first_name", "contact", "address", "allergies"] {
        assert_eq!(body["data"][field], registered[field], "{field}");
    }
}
