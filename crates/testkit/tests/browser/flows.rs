//! Every server, every demo role's main task, in Chromium.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::mtls::ServiceIdentity;
use fantoccini::Locator;
use testkit::hospital::{add_to_care_team, patient_body, register_patient_id, user_id};
use testkit::plane::{Pki, PlanePorts};
use testkit::releases::{publish, register_key};
use testkit::{spawn, spawn_with, Method, Service, StatusCode, TestApp, STRONG_PASSWORD};

use crate::chrome::Chrome;

/// Where this run's screenshots go (inside the target folder, not committed).
fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots")
}

/// Hospital, company and dev with the plane on, so break-the-glass reaches
/// company and company pulls dev's releases.
async fn plane_trio(pki: &Pki) -> (TestApp, TestApp, TestApp) {
    pki.issue("company", ServiceIdentity::Company);
    pki.issue("dev", ServiceIdentity::Dev);
    pki.issue("owner", ServiceIdentity::Owner);
    pki.issue(
        "hospital",
        ServiceIdentity::Hospital {
            tenant_id: common::config::DEMO_TENANT_ID.into(),
        },
    );
    let ports = PlanePorts::free();
    let start = |service: Service| {
        let env = pki.plane_env(service, service.name(), &ports);
        async move {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            spawn_with(service, &env).await
        }
    };
    let company = start(Service::Company).await;
    let hospital = start(Service::Hospital).await;
    let dev = start(Service::Dev).await;
    (hospital, company, dev)
}

/// Every server, every demo role's main task (run by main.rs's harness).
pub async fn every_role_completes_its_main_task_in_chromium() {
    let pki = Pki::new();
    let (hospital, company, dev) = plane_trio(&pki).await;
    let owner = spawn(Service::Owner).await;
    let shots = screenshot_dir();
    let b = Chrome::start(shots.clone()).await;

    // Set-up through the API: a patient on the doctor's team, one off it
    // with a portal account.
    let admin = hospital.admin_token().await;
    let doctor = hospital.login("doctor", "doctor123").await;
    let doctor_id = user_id(&hospital, &doctor).await;
    let on_team = register_patient_id(
        &hospital,
        &admin,
        patient_body("Alan", "Turing", "1952-06-23"),
    )
    .await;
    // A workspace in medicine for the doctor: their patients get folders.
    let (status, w) = hospital
        .api(
            Method::POST,
            "/file-workspaces",
            Some(&admin),
            Some(serde_json::json!({ "module": "medicine", "doctor_id": doctor_id })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{w}");
    add_to_care_team(&hospital, &admin, &on_team, &doctor_id).await;
    let off_team = register_patient_id(
        &hospital,
        &admin,
        patient_body("Mary", "Somerville", "1960-12-26"),
    )
    .await;

    // A signed release on dev, for company's two-person approval.
    let astro = dev.login("astro", "dev123456").await;
    let key = register_key(&dev, &astro, "build-box").await;
    publish(&dev, &astro, &key, "1.4.0", b"hospital-server 1.4.0 build").await;

    let h = hospital.base_url();
    let code = hospital_reception(&b, &h, &off_team).await;
    patient_enrols(&b, &h, &code).await;
    hospital_doctor(&b, &h, &on_team, &off_team).await;
    hospital_patient(&b, &h).await;
    hospital_admin(&b, &h).await;
    hospital_admin_reports(&b, &h).await;
    hospital_lab(&b, &h).await;
    hospital_accountant(&b, &h, &on_team).await;
    security_checks(&b, &h).await;
    company_admin(&b, &company.base_url()).await;
    company_releases(&b, &company.base_url()).await;
    company_analyst(&b, &company.base_url()).await;
    company_roles_and_teams(&b, &company.base_url()).await;
    owner_admin(&b, &owner).await;
    dev_admin(&b, &dev).await;
    for app in [&hospital, &company, &owner, &dev] {
        every_demo_role_reaches_its_home(&b, app).await;
    }

    b.client.clone().close().await.expect("closing the browser");
    drop(b);
    for app in [&hospital, &company, &owner, &dev] {
        app.stop().await;
    }
    eprintln!("screenshots in {}", shots.display());
}

async fn hospital_reception(b: &Chrome, h: &str, mary: &str) -> String {
    b.goto(&format!("{h}/")).await;
    b.check_accessibility("login").await;
    b.shot("hospital-login").await;
    b.login(h, "reception", "reception123").await;
    b.wait_for_text("Your tasks").await;
    assert_eq!(b.path().await, "/home");
    b.check_accessibility("home").await;
    b.shot("hospital-home-reception").await;
    // The day's appointments, with the booking form.
    b.click("main a[href='/appointments']").await;
    b.wait_for_text("Book an appointment").await;
    b.check_accessibility("appointments").await;
    b.shot("hospital-appointments").await;
    b.goto(&format!("{h}/home")).await;
    b.wait_for_text("Your tasks").await;
    b.click("main a[href='/patients/new']").await;
    b.wait_for_text("Date of birth").await;
    b.check_accessibility("registration").await;
    b.fill("first_name", "Ada").await;
    b.fill("last_name", "Lovelace").await;
    // A date input takes the digits in the browser's locale order (en-US).
    b.fill("date_of_birth", "12101975").await;
    b.click("#sex-female").await;
    b.shot("hospital-register").await;
    b.click("form[action='/patients'] button[type=submit]")
        .await;
    b.wait_for_text("Demographics").await;
    assert!(b.path().await.starts_with("/patients/"));
    assert!(b.text().await.contains("1975-12-10"));
    // Find her by name: htmx searches as one types (a script from /static,
    // allowed by the CSP).
    b.goto(&format!("{h}/patients")).await;
    b.wait_for_text("Alan Turing").await;
    b.fill("search", "lovelace").await;
    // Only the match remains, and the address follows the search.
    b.wait_for_text("Patients matching your search").await;
    let text = b.text().await;
    assert!(
        text.contains("Ada Lovelace") && !text.contains("Alan Turing"),
        "{text}"
    );
    assert!(b
        .client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("search=lovelace"));
    b.check_accessibility("patient search").await;
    b.shot("hospital-patient-search").await;
    // Mary gets a portal enrolment code.
    b.goto(&format!("{h}/patients/{mary}")).await;
    b.click("form[action$='/portal-code'] button").await;
    b.wait_for_text("Enrolment code").await;
    b.check_accessibility("enrolment code").await;
    b.client
        .find(Locator::Id("enrolment-code"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The patient opens her portal account with the code.
async fn patient_enrols(b: &Chrome, h: &str, code: &str) {
    b.client.delete_all_cookies().await.unwrap();
    b.goto(&format!("{h}/enrol")).await;
    b.check_accessibility("enrolment").await;
    b.fill("code", code).await;
    b.fill("username", "mary").await;
    b.fill("password", STRONG_PASSWORD).await;
    b.fill("confirm_password", STRONG_PASSWORD).await;
    b.shot("hospital-portal-enrol").await;
    b.click("form[action='/enrol'] button[type=submit]").await;
    b.wait_for_text("Your account is ready").await;
}

async fn hospital_doctor(b: &Chrome, h: &str, on_team: &str, off_team: &str) {
    b.login(h, "doctor", "doctor123").await;
    b.wait_for_text("Your tasks").await;
    b.click("main a[href='/patients']").await;
    b.wait_for_text("Alan Turing").await;
    assert!(
        !b.text().await.contains("Somerville"),
        "only the doctor's patients are listed"
    );
    b.click(&format!("a[href='/patients/{on_team}']")).await;
    b.wait_for_text("Care team").await;
    assert!(b.text().await.contains("Allergies"));
    b.check_accessibility("chart").await;
    b.shot("hospital-chart-doctor").await;
    // The patient's notes and prescriptions, from the chart.
    b.click(&format!("a[href='/patients/{on_team}/notes']"))
        .await;
    b.wait_for_text("Write a note").await;
    b.fill("assessment", "Stable, no change in treatment").await;
    b.click(&format!(
        "form[action='/patients/{on_team}/notes'] button[type=submit]"
    ))
    .await;
    b.wait_for_text("soap (draft)").await;
    b.check_accessibility("clinical notes").await;
    b.shot("hospital-notes-doctor").await;
    b.goto(&format!("{h}/patients/{on_team}/prescriptions"))
        .await;
    b.wait_for_text("Medication and strength").await;
    b.check_accessibility("prescriptions").await;
    // Lab tests, ordered from the chart.
    b.goto(&format!("{h}/patients/{on_team}/labs")).await;
    b.wait_for_text("Order tests").await;
    b.fill("tests", "CBC Complete blood count\nK Potassium")
        .await;
    b.fill("notes", "Fasting sample").await;
    b.click(&format!(
        "form[action='/patients/{on_team}/labs'] button[type=submit]"
    ))
    .await;
    b.wait_for_text("Complete blood count (CBC)").await;
    b.check_accessibility("lab orders").await;
    b.shot("hospital-labs-doctor").await;
    // Referrals: the patient's form and the inbox; the wards.
    b.goto(&format!("{h}/patients/{on_team}/referrals")).await;
    b.wait_for_text("Refer the patient").await;
    b.check_accessibility("referrals of a patient").await;
    b.goto(&format!("{h}/referrals")).await;
    b.wait_for_text("No outgoing referrals.").await;
    b.check_accessibility("referral inbox").await;
    b.goto(&format!("{h}/wards")).await;
    b.wait_for_text("Occupancy").await;
    b.check_accessibility("wards (doctor)").await;
    // A file, uploaded through the form and listed.
    b.goto(&format!("{h}/patients/{on_team}/files")).await;
    b.wait_for_text("Upload a file").await;
    b.check_accessibility("files").await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let pdf = dir.path().join("Echocardiogram.pdf");
    std::fs::write(&pdf, b"%PDF-1.7\n% echocardiogram\n%%EOF\n").expect("writing the file");
    b.choose_file("file", &pdf).await;
    b.click(&format!(
        "form[action='/patients/{on_team}/files'] button[type=submit]"
    ))
    .await;
    b.wait_for_text("Echocardiogram.pdf").await;
    b.shot("hospital-files-doctor").await;
    // Off the team: refused, then break the glass.
    b.goto(&format!("{h}/patients/{off_team}")).await;
    b.wait_for_text("not on this patient's care team").await;
    assert!(!b.text().await.contains("1960-12-26"));
    b.check_accessibility("break-the-glass form").await;
    b.fill(
        "reason",
        "Patient collapsed in the waiting room, need allergy history now",
    )
    .await;
    b.shot("hospital-break-glass").await;
    b.click("form[action$='/break-glass'] button[type=submit]")
        .await;
    b.wait_for_text("1960-12-26").await;
    assert_eq!(b.path().await, format!("/patients/{off_team}"));
}

async fn hospital_patient(b: &Chrome, h: &str) {
    b.login(h, "mary", STRONG_PASSWORD).await;
    b.wait_for_text("Your tasks").await;
    b.click("main a[href='/my-record']").await;
    b.wait_for_text("Demographics").await;
    b.click("a[href$='/access-log']").await;
    b.wait_for_text("Who has read this record").await;
    let log = b.text().await;
    assert!(
        log.contains("doctor"),
        "the patient sees the doctor's read: {log}"
    );
    assert!(log.contains("patient.break_glass"), "{log}");
    b.check_accessibility("access log").await;
    b.shot("hospital-portal-access-log").await;
    b.goto(&format!("{h}/my-appointments")).await;
    b.wait_for_text("You have no appointments").await;
    b.check_accessibility("my appointments").await;
    b.goto(&format!("{h}/my-notes")).await;
    b.wait_for_text("No notes.").await;
    b.check_accessibility("my notes").await;
    b.goto(&format!("{h}/my-prescriptions")).await;
    b.wait_for_text("No prescriptions.").await;
    b.check_accessibility("my prescriptions").await;
    b.goto(&format!("{h}/my-labs")).await;
    b.wait_for_text("No lab orders.").await;
    b.check_accessibility("my lab results").await;
    b.click("nav a[href='/my-files'], main a[href='/my-files']")
        .await;
    b.wait_for_text("No files.").await;
    b.check_accessibility("my files").await;
    b.login(h, "pharmacist", "pharmacist123").await;
    b.wait_for_text("Your tasks").await;
    b.click("main a[href='/pharmacy']").await;
    b.wait_for_text("Prescriptions to dispense").await;
    b.check_accessibility("pharmacy queue").await;
    b.click("nav a[href='/messages'], main a[href='/messages']")
        .await;
    b.wait_for_text("Write a message").await;
    b.check_accessibility("messages").await;
}

/// The lab works the doctor's order (after the admin's audit check, so its
/// rows do not push the break-the-glass row off that page): results, then
/// finalize.
async fn hospital_lab(b: &Chrome, h: &str) {
    b.login(h, "lab", "lab123").await;
    b.wait_for_text("Your tasks").await;
    b.click("main a[href='/lab']").await;
    b.wait_for_text("Lab orders to work").await;
    b.check_accessibility("lab worklist").await;
    b.click("main a[href^='/lab/']").await;
    b.wait_for_text("Enter results").await;
    b.fill("value-0", "within limits").await;
    b.fill("value-1", "6.1").await;
    b.fill("unit-1", "mmol/L").await;
    b.click("form[action$='/results'] button[type=submit]")
        .await;
    b.wait_for_text("in progress").await;
    b.check_accessibility("lab order").await;
    b.shot("hospital-lab-results").await;
    b.click("form[action$='/finalize'] button[type=submit]")
        .await;
    b.wait_for_text("Amend results").await;
    b.check_accessibility("finalized lab order").await;
}

/// The accountant invoices the lab order just finalized (a date input
/// takes the digits in the browser's locale order, en-US) and records a
/// payment.
async fn hospital_accountant(b: &Chrome, h: &str, patient: &str) {
    b.login(h, "accountant", "accountant123").await;
    b.wait_for_text("Your tasks").await;
    b.click("main a[href='/billing']").await;
    b.wait_for_text("Invoice a patient").await;
    b.check_accessibility("billing").await;
    let today = chrono::Utc::now().date_naive();
    let day = |d: chrono::NaiveDate| d.format("%m%d%Y").to_string();
    b.fill("patient_id", patient).await;
    b.fill("period_from", &day(today - chrono::Duration::days(1)))
        .await;
    b.fill("period_to", &day(today + chrono::Duration::days(1)))
        .await;
    b.click("form[action='/billing'] button[type=submit]").await;
    b.wait_for_text("What was billed").await;
    b.check_accessibility("invoice").await;
    b.shot("hospital-invoice").await;
    b.fill("amount", "1.00").await;
    b.click("form[action$='/pay'] button[type=submit]").await;
    b.wait_for_text("partially paid").await;
    b.check_accessibility("invoice with a payment").await;
}

async fn hospital_admin(b: &Chrome, h: &str) {
    b.login(h, "hadmin", "hadmin123").await;
    b.wait_for_text("Your tasks").await;
    b.click("main a[href='/break-glass']").await;
    b.wait_for_text("Patient collapsed in the waiting room")
        .await;
    b.check_accessibility("break-the-glass review").await;
    b.shot("hospital-break-glass-review").await;
    // Put the nurse on Mary's care team from the chart.
    b.click("main a[href^='/patients/']").await;
    b.wait_for_text("Care team").await;
    b.fill("member", "nurse").await;
    b.click("form[action$='/care-team'] button[type=submit]")
        .await;
    b.wait_for_text("Remove").await;
    b.check_accessibility("chart with care-team form").await;
    b.shot("hospital-chart-admin").await;
    b.goto(&format!("{h}/break-glass")).await;
    b.click("form[action$='/acknowledge'] button").await;
    b.wait_for_text("Nothing to review").await;
    b.goto(&format!("{h}/audit")).await;
    b.wait_for_text("patient.break_glass").await;
    b.check_accessibility("audit log").await;
    b.goto(&format!("{h}/users")).await;
    b.wait_for_text("reception").await;
    b.check_accessibility("users").await;
    b.shot("hospital-users").await;
    b.goto(&format!("{h}/users/new")).await;
    b.wait_for_text("Initial password").await;
    b.check_accessibility("add a user").await;
    b.goto(&format!("{h}/departments")).await;
    b.wait_for_text("Clinical module").await;
    b.check_accessibility("departments").await;
    // Wards: a room added from the page.
    b.goto(&format!("{h}/wards")).await;
    b.wait_for_text("Add a room").await;
    b.fill("room-name", "East ward").await;
    b.click("form[action='/wards/rooms'] button[type=submit]")
        .await;
    b.wait_for_text("Add bed").await;
    b.check_accessibility("wards (admin)").await;
    b.shot("hospital-wards-admin").await;
    // Patient files: the doctor's workspace, its usage, the retention job.
    b.goto(&format!("{h}/files")).await;
    b.wait_for_text("Doctors' workspaces").await;
    b.check_accessibility("patient files admin").await;
    b.click("form[action='/files/retention'] button").await;
    b.wait_for_text("Retention job:").await;
    b.shot("hospital-files-admin").await;
}

/// The hospital admin sends a de-identified report now and reads its bytes.
async fn hospital_admin_reports(b: &Chrome, h: &str) {
    b.goto(&format!("{h}/reports")).await;
    b.wait_for_text("Reports made for company").await;
    b.click("form[action='/reports'] button[type=submit]").await;
    b.wait_for_text("Exactly what is sent").await;
    b.check_accessibility("a report sent to company").await;
    b.shot("hospital-report-sent").await;
}

/// The analyst finds the hospital's report on company and its series.
async fn company_analyst(b: &Chrome, c: &str) {
    b.login(c, "analyst", "analyst123").await;
    b.wait_for_text("Your tasks").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        b.goto(&format!("{c}/reports?measure=patients_registered"))
            .await;
        if b.text().await.contains(common::config::DEMO_TENANT_ID) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "company never showed the hospital's report"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    b.check_accessibility("company reports and analytics").await;
    b.shot("company-reports").await;
}

/// CSRF refusal, cookie flags, signing out, in the browser.
async fn security_checks(b: &Chrome, h: &str) {
    b.login(h, "reception", "reception123").await;
    b.wait_for_text("Your tasks").await;
    let cookies = b.client.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name() == "bulkhead-hospital-session")
        .expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
    // Scripts cannot read it.
    let seen = b
        .client
        .execute("return document.cookie", vec![])
        .await
        .unwrap();
    assert!(!seen
        .as_str()
        .unwrap_or("")
        .contains("bulkhead-hospital-session"));
    // A form whose token was tampered with is refused.
    b.goto(&format!("{h}/patients/new")).await;
    b.client
        .execute(r#"document.querySelector("form[action='/patients'] input[name=csrf]").value = "forged"; return true;"#, vec![])
        .await
        .unwrap();
    b.fill("first_name", "Forged").await;
    b.fill("last_name", "Entry").await;
    b.fill("date_of_birth", "01011980").await;
    b.click("#sex-other").await;
    b.click("form[action='/patients'] button[type=submit]")
        .await;
    b.wait_for_text("reload the page").await;
    b.check_accessibility("error page").await;
    assert!(b.text().await.contains("Correlation id"));
    // Sign out: the session is gone, pages lead back to the login form.
    b.goto(&format!("{h}/home")).await;
    b.click("form[action='/logout'] button").await;
    b.wait_for_text("Sign in").await;
    b.goto(&format!("{h}/patients")).await;
    assert_eq!(b.path().await, "/");
    assert!(b.client.find(Locator::Id("username")).await.is_ok());
}

async fn company_admin(b: &Chrome, c: &str) {
    b.login(c, "admin", "admin123").await;
    b.wait_for_text("Your tasks").await;
    b.shot("company-home").await;
    // The hospital's outbox delivers the break-the-glass event within seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        b.goto(&format!("{c}/security-events?kind=break_glass"))
            .await;
        if b.text().await.contains("break_glass") && b.text().await.contains("critical") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "company never showed the break-the-glass event"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    b.check_accessibility("security events").await;
    b.shot("company-security-events").await;
    b.goto(&format!("{c}/audit-anchors")).await;
    b.wait_for_text("Audit-chain heads").await;
    b.check_accessibility("audit anchors").await;
    // The critical break-the-glass event raised an alert; the admin acknowledges it.
    b.goto(&format!("{c}/system")).await;
    b.wait_for_text("Servers delivering to company").await;
    b.check_accessibility("system").await;
    b.shot("company-system").await;
    b.goto(&format!("{c}/alerts?status=open")).await;
    b.wait_for_text("Any critical event").await;
    b.check_accessibility("alerts").await;
    b.shot("company-alerts").await;
    b.click("form[action$='/acknowledge'] button").await;
    b.wait_for_text("Alert rules").await;
}

/// A production user promotes the release pulled from dev; a team lead approves it.
async fn company_releases(b: &Chrome, c: &str) {
    b.login(c, "production", "production123").await;
    b.wait_for_text("Your tasks").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        b.goto(&format!("{c}/releases?status=candidate")).await;
        if b.text().await.contains("1.4.0") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "company never listed dev's release"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    b.check_accessibility("company releases").await;
    b.shot("company-releases-candidate").await;
    b.click("form[action$='/promote'] button").await;
    b.goto(&format!("{c}/releases?status=promoted")).await;
    b.wait_for_text("1.4.0").await;
    b.login(c, "teamlead", "teamlead123").await;
    b.wait_for_text("Your tasks").await;
    b.goto(&format!("{c}/releases?status=promoted")).await;
    b.click("form[action$='/approve'] button").await;
    b.goto(&format!("{c}/releases?status=approved")).await;
    b.wait_for_text("1.4.0").await;
    b.wait_for_text("teamlead").await;
    b.check_accessibility("company releases approved").await;
    b.shot("company-releases-approved").await;
}

/// The admin creates a role with a chosen permission and a team; the team
/// lead's page offers the member form.
async fn company_roles_and_teams(b: &Chrome, c: &str) {
    b.login(c, "admin", "admin123").await;
    b.wait_for_text("Your tasks").await;
    b.click("main a[href='/roles']").await;
    b.wait_for_text("Roles of this server").await;
    b.check_accessibility("roles").await;
    b.goto(&format!("{c}/roles/new")).await;
    b.fill("name", "night_auditor").await;
    b.click("input[value='audit.read']").await;
    b.check_accessibility("create a role").await;
    b.click("form[action='/roles'] button[type=submit]").await;
    b.wait_for_text("night_auditor").await;
    b.shot("company-roles").await;
    b.goto(&format!("{c}/teams")).await;
    b.fill("name", "Platform").await;
    b.click("form[action='/teams'] button[type=submit]").await;
    b.wait_for_text("Members of Platform").await;
    b.check_accessibility("team (admin)").await;
    b.shot("company-team").await;
}

async fn owner_admin(b: &Chrome, app: &TestApp) {
    let (user, password) = app.admin_credentials();
    let o = &app.base_url();
    b.login(o, user, password).await;
    b.wait_for_text("Your tasks").await;
    b.click("main a[href='/tenants']").await;
    b.wait_for_text("Hosted tenants").await;
    b.check_accessibility("tenant list").await;
    b.shot("owner-tenants").await;
    b.click("table a").await;
    b.wait_for_text("Short name").await;
    b.check_accessibility("tenant detail").await;
    // Ask the hospital to ship its online copy now.
    b.wait_for_text("Online copy").await;
    b.click("form[action$='/sync'] button[type=submit]").await;
    b.wait_for_text("Sync requested").await;
    b.check_accessibility("tenant detail, sync requested").await;
    b.shot("owner-tenant-sync").await;
    b.click("nav a[href='/update'], main a[href='/update']")
        .await;
    b.wait_for_text("Approved release").await;
    b.check_accessibility("owner update").await;
    b.shot("owner-update").await;
}

async fn dev_admin(b: &Chrome, app: &TestApp) {
    let (user, password) = app.admin_credentials();
    b.login(&app.base_url(), user, password).await;
    b.wait_for_text("Your tasks").await;
    b.click("main a[href='/audit']").await;
    b.wait_for_text("Chain verification").await;
    assert!(b.text().await.contains("intact"));
    b.shot("dev-audit").await;
    b.click("nav a[href='/releases'], main a[href='/releases']")
        .await;
    b.wait_for_text("Signing keys").await;
    b.check_accessibility("releases").await;
    b.shot("dev-releases").await;
    // A developer registers a public key made on their own machine.
    b.login(&app.base_url(), "astro", "dev123456").await;
    b.wait_for_text("Your tasks").await;
    b.goto(&format!("{}/releases", app.base_url())).await;
    let (_, public) = dev::releases::manifest::generate().unwrap();
    b.fill("key-name", "browser key").await;
    b.fill("key-public", &dev::releases::manifest::b64(&public))
        .await;
    b.click("form[action='/signing-keys'] button").await;
    b.wait_for_text("Revoke browser key").await;
    b.check_accessibility("releases with a key form").await;
    b.shot("dev-releases-developer").await;
}

/// Every demo role of a server signs in and sees its home page, with the
/// admin pages only for the admin.
async fn every_demo_role_reaches_its_home(b: &Chrome, app: &TestApp) {
    let spec = app.spec();
    for (user, password, role) in spec.demo_users {
        b.login(&app.base_url(), user, password).await;
        b.wait_for_text("Your tasks").await;
        let text = b.text().await;
        assert!(text.contains(&format!("role {role}")), "{user}: {text}");
        let admin_links = b
            .client
            .find_all(Locator::Css("a[href='/users']"))
            .await
            .unwrap();
        assert_eq!(
            !admin_links.is_empty(),
            *role == spec.admin_role,
            "{}: {user} and the users page",
            app.service()
        );
        b.shot(&format!("{}-home-{role}", app.service())).await;
    }
}
