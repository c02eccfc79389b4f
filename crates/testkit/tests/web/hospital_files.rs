//! The file pages: a doctor uploads from the patient's chart (a multipart
//! form, the file streamed), a refused type is shown on the page, the
//! download gives the same bytes, and the patient finds the file under
//! "My files"; through the API's functions (same checks, same audit rows).

use reqwest::StatusCode;
use serde_json::json;
use testkit::hospital::{
    add_to_care_team, patient_body, portal_account, register_patient_id, user_id,
};
use testkit::{spawn, Method, Service, STRONG_PASSWORD};

use crate::client::Browser;

#[tokio::test]
async fn uploading_and_downloading_a_file_on_the_pages() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let (status, w) = app
        .api(
            Method::POST,
            "/file-workspaces",
            Some(&admin),
            Some(json!({ "module": "dermatology", "doctor_id": doctor_id })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{w}");
    let patient = register_patient_id(
        &app,
        &admin,
        patient_body("Nils", "Holgersson", "1990-04-04"),
    )
    .await;
    add_to_care_team(&app, &admin, &patient, &doctor_id).await;
    portal_account(&app, &admin, &patient, "nils.files").await;
    let (_, folders) = app
        .api(
            Method::GET,
            &format!("/file-folders?patient_id={patient}"),
            Some(&admin),
            None,
        )
        .await;
    let folder = folders["data"][0]["id"].as_str().unwrap().to_string();

    let mut d = Browser::new(&app);
    d.login_ok("doctor", "doctor123", "/home").await;
    let chart = d.get(&format!("/patients/{patient}")).await;
    let path = format!("/patients/{patient}/files");
    assert!(
        chart.body.contains(&format!("href=\"{path}\"")),
        "{}",
        chart.body
    );
    let page = d.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("No files."), "{}", page.body);
    assert!(
        page.body.contains("enctype=\"multipart/form-data\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("dermatology"), "{}", page.body);
    let csrf = page.csrf();

    // Content that is not what its name says is refused, on the page.
    let fields = [
        ("csrf", csrf.as_str()),
        ("folder", folder.as_str()),
        ("category", "medical_records"),
    ];
    let refused = d
        .post_multipart(
            &path,
            &fields,
            ("file", "mole.pdf", b"\x89PNG\r\n\x1a\n0000"),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("There is a problem"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("No files."), "nothing stored");

    // A bad CSRF token stores nothing.
    let bad = [
        ("csrf", "forged"),
        ("folder", folder.as_str()),
        ("category", "medical_records"),
    ];
    let forged = d
        .post_multipart(&path, &bad, ("file", "mole.pdf", b"%PDF-1.7 forged"))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);

    let bytes = b"%PDF-1.7\n% dermatoscopy of the left shoulder\n%%EOF\n".to_vec();
    let res = d
        .post_multipart(&path, &fields, ("file", "Dermatoscopy.pdf", &bytes))
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let page = d.get(&path).await;
    assert!(page.body.contains("Dermatoscopy.pdf"), "{}", page.body);
    let (_, list) = app
        .api(
            Method::GET,
            &format!("/files?patient_id={patient}"),
            Some(&doctor),
            None,
        )
        .await;
    assert_eq!(list["meta"]["total"], 1, "{list}");
    let file = list["data"][0]["id"].as_str().unwrap().to_string();
    let (status, got) = d.get_bytes(&format!("/files/{file}/download")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, bytes);

    // The patient finds it under "My files".
    let mut me = Browser::new(&app);
    me.login_ok("nils.files", STRONG_PASSWORD, "/home").await;
    let home = me.get("/home").await;
    assert!(home.body.contains("href=\"/my-files\""), "{}", home.body);
    let mine = me.get("/my-files").await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(mine.body.contains("Dermatoscopy.pdf"), "{}", mine.body);
    assert!(
        !mine.body.contains("enctype"),
        "a patient has no upload form"
    );
    let (status, got) = me.get_bytes(&format!("/files/{file}/download")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, bytes);
}

#[tokio::test]
async fn the_admin_creates_a_workspace_sees_usage_and_runs_the_retention_job() {
    let app = spawn(Service::Hospital).await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let mut a = Browser::new(&app);
    a.login_ok("hadmin", "hadmin123", "/home").await;
    let home = a.get("/home").await;
    assert!(home.body.contains("href=\"/files\""), "{}", home.body);
    let page = a.get("/files").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("No workspaces yet."), "{}", page.body);
    assert!(
        page.body.contains("<option value=\"pathology\">"),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    let form = [
        ("csrf", csrf.as_str()),
        ("module", "pathology"),
        ("doctor_id", doctor_id.as_str()),
    ];
    let res = a.post("/files/workspaces", &form).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let page = a.get("/files").await;
    assert!(
        page.body.contains("<td>pathology</td><td>doctor</td>"),
        "{}",
        page.body
    );
    // The same again: refused on the page, nothing added.
    let again = a.post("/files/workspaces", &form).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(
        again.body.contains("already has a workspace"),
        "{}",
        again.body
    );
    let ran = a.post("/files/retention", &[("csrf", csrf.as_str())]).await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
    assert!(
        ran.body.contains("Retention job: 0 archived, 0 purged"),
        "{}",
        ran.body
    );
    let forged = a.post("/files/retention", &[("csrf", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // A doctor has no such page.
    let mut d = Browser::new(&app);
    d.login_ok("doctor", "doctor123", "/home").await;
    let page = d.get("/files").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
}
