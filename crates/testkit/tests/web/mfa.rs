//! The web login's second step: with MFA on, the password form leads to a
//! code form (CSRF-protected) whose right code starts the session.

use reqwest::StatusCode;
use serde_json::json;
use testkit::{spawn, Method, Service, STRONG_PASSWORD};
use totp_rs::{Builder, Secret};

use crate::client::Browser;

fn field(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = body.find(&marker).expect("the field") + marker.len();
    let end = body[at..].find('"').expect("end of the value");
    body[at..at + end].to_string()
}

#[tokio::test]
async fn the_web_login_asks_for_the_code_when_mfa_is_on() {
    let app = spawn(Service::Company).await;
    let admin = app.admin_token().await;
    let role = app.spec().admin_role;
    app.create_user(&admin, "webmfa", role).await;
    let token = app.login("webmfa", STRONG_PASSWORD).await;
    let (_, setup) = app
        .api(
            Method::POST,
            "/auth/mfa/totp/setup",
            Some(&token),
            Some(json!({})),
        )
        .await;
    let secret = setup["data"]["secret"].as_str().unwrap();
    let totp = Builder::new()
        .with_secret(Secret::try_from_base32(secret).unwrap())
        .with_skew(0)
        .build()
        .unwrap();
    // Not in the last seconds of a step, so the server's step is this one.
    let into = chrono::Utc::now().timestamp() % 30;
    if into >= 26 {
        tokio::time::sleep(std::time::Duration::from_secs(
            u64::try_from(31 - into).unwrap(),
        ))
        .await;
    }
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    // Confirm with the previous step's code, so the current one is still fresh.
    let confirm = json!({ "code": totp.generate(now - 30).to_string() });
    let (status, body) = app
        .api(
            Method::POST,
            "/auth/mfa/totp/confirm",
            Some(&token),
            Some(confirm),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut b = Browser::new(&app);
    let step2 = b.login("webmfa", STRONG_PASSWORD).await;
    assert_eq!(step2.status, StatusCode::OK, "{}", step2.body);
    assert!(step2.body.contains("name=\"code\""), "{}", step2.body);
    assert!(
        !b.cookies
            .keys()
            .any(|k| k.contains("session") && !k.contains("form")),
        "no session yet: {:?}",
        b.cookies
    );
    let mfa_token = field(&step2.body, "mfa_token");

    // Without the form's CSRF token: refused.
    let forged = b
        .post(
            "/login/mfa",
            &[
                ("csrf", "forged"),
                ("mfa_token", &mfa_token),
                ("code", "000000"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // A wrong code: the form again with the error.
    let step2 = b.login("webmfa", STRONG_PASSWORD).await;
    let (csrf, mfa_token) = (step2.csrf(), field(&step2.body, "mfa_token"));
    let wrong = b
        .post(
            "/login/mfa",
            &[
                ("csrf", &csrf),
                ("mfa_token", &mfa_token),
                ("code", "000000"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    assert!(
        wrong.body.contains("invalid or expired code"),
        "{}",
        wrong.body
    );

    // The right code: signed in.
    let csrf = wrong.csrf();
    let code = totp.generate(now + 30).to_string();
    let done = b
        .post(
            "/login/mfa",
            &[("csrf", &csrf), ("mfa_token", &mfa_token), ("code", &code)],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/home");
    let home = b.get("/home").await;
    assert_eq!(home.status, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_role_that_needs_mfa_enrols_at_the_web_login_before_any_session() {
    let app = testkit::spawn_with(
        Service::Company,
        &[("COMPANY__AUTH__MFA_REQUIRED_ROLES", "analyst")],
    )
    .await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "webneedy", "analyst").await;
    let mut b = Browser::new(&app);
    // The password leads to the enrolment page, not to a session.
    let page = b.login("webneedy", STRONG_PASSWORD).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("<svg")
            && !page.body.contains("<?xml")
            && !page.body.contains("<script>"),
        "{}",
        page.body
    );
    assert!(
        page.set_cookies().iter().all(|c| !c.contains("-session=")),
        "no session yet"
    );
    let home = b.get("/home").await;
    assert_ne!(
        home.status,
        StatusCode::OK,
        "no page before the second factor"
    );
    let at = page.body.find("id=\"totp-secret\">").expect("the key") + "id=\"totp-secret\">".len();
    let secret = &page.body[at..at + page.body[at..].find('<').unwrap()];
    let totp = Builder::new()
        .with_secret(Secret::try_from_base32(secret).unwrap())
        .with_skew(0)
        .build()
        .unwrap();
    let (csrf, enrol_token) = (page.csrf(), field(&page.body, "enrol_token"));
    // A wrong code: the page again, with a new key.
    let wrong = b
        .post(
            "/login/enrol",
            &[
                ("csrf", &csrf),
                ("enrol_token", &enrol_token),
                ("code", "000000x"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.body);
    let at = wrong.body.find("id=\"totp-secret\">").unwrap() + "id=\"totp-secret\">".len();
    let secret = wrong.body[at..at + wrong.body[at..].find('<').unwrap()].to_string();
    let totp2 = Builder::new()
        .with_secret(Secret::try_from_base32(&secret).unwrap())
        .with_skew(0)
        .build()
        .unwrap();
    drop(totp);
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    let on = b
        .post(
            "/login/enrol",
            &[
                ("csrf", &wrong.csrf()),
                ("enrol_token", &enrol_token),
                ("code", &totp2.generate(now - 30).to_string()),
            ],
        )
        .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.body);
    assert_eq!(on.body.matches("<li><code>").count(), 10, "{}", on.body);
    // Now the password asks for the code.
    let next = b.login("webneedy", STRONG_PASSWORD).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    assert!(next.body.contains("name=\"mfa_token\""), "{}", next.body);
    // A forged enrolment post (no CSRF cookie pair) is refused.
    let mut other = Browser::new(&app);
    let forged = other
        .post(
            "/login/enrol",
            &[
                ("csrf", "x"),
                ("enrol_token", &enrol_token),
                ("code", "123456"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    app.stop().await;
}
