//! The `/roles` page on every server and company's `/teams` page: the same
//! rules, stores and audit rows as the API.

use reqwest::StatusCode;
use testkit::{spawn, Method, Service};

use crate::client::Browser;

#[tokio::test]
async fn an_admin_creates_edits_and_deletes_a_role_on_the_roles_page_of_every_server() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let (admin, password) = app.admin_credentials();
        let mut b = Browser::new(&app);
        b.login_ok(admin, password, "/home").await;
        let home = b.get("/home").await;
        assert!(
            home.body.contains("href=\"/roles\""),
            "{service}: {}",
            home.body
        );
        let list = b.get("/roles").await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        assert!(list.body.contains(app.spec().admin_role));

        let form = b.get("/roles/new").await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(form.body.contains("value=\"audit.read\""), "{}", form.body);
        let bad = b
            .post(
                "/roles",
                &[
                    ("csrf", &form.csrf()),
                    ("name", "Bad Name"),
                    ("permission", "audit.read"),
                ],
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
        assert!(bad.body.contains("There is a problem"));
        let made = b
            .post(
                "/roles",
                &[
                    ("csrf", &form.csrf()),
                    ("name", "night_clerk"),
                    ("permission", "audit.read"),
                    ("permission", "users.manage"),
                ],
            )
            .await;
        assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
        let edit = b.get("/roles/night_clerk").await;
        assert_eq!(edit.status, StatusCode::OK);
        assert!(
            edit.body.contains("value=\"users.manage\" checked"),
            "{}",
            edit.body
        );
        let saved = b
            .post(
                "/roles/night_clerk",
                &[("csrf", &edit.csrf()), ("permission", "audit.read")],
            )
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
        let admin_token = app.admin_token().await;
        let (_, role) = app
            .api(Method::GET, "/roles/night_clerk", Some(&admin_token), None)
            .await;
        assert_eq!(
            role["data"]["permissions"],
            serde_json::json!(["audit.read"])
        );
        // The admin role keeps its powers on the page too.
        let admin_edit = b.get(&format!("/roles/{}", app.spec().admin_role)).await;
        let refused = b
            .post(
                &format!("/roles/{}", app.spec().admin_role),
                &[("csrf", &admin_edit.csrf()), ("permission", "audit.read")],
            )
            .await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
        assert!(refused.body.contains("must keep"), "{}", refused.body);

        let list = b.get("/roles").await;
        assert!(list.body.contains("Delete night_clerk"), "{}", list.body);
        let gone = b
            .post("/roles/night_clerk/delete", &[("csrf", &list.csrf())])
            .await;
        assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.body);
        assert!(!b.get("/roles").await.body.contains("night_clerk"));
        let rows = app.audit_rows().await;
        for action in ["role.create", "role.update", "role.delete"] {
            assert!(
                rows.iter().any(|r| r.action == action),
                "{service}: {action}"
            );
        }
    }
}

#[tokio::test]
async fn a_non_admin_has_no_roles_page() {
    let app = spawn(Service::Company).await;
    let mut b = Browser::new(&app);
    b.login_ok("analyst", "analyst123", "/home").await;
    assert!(!b.get("/home").await.body.contains("href=\"/roles\""));
    assert_eq!(b.get("/roles").await.status, StatusCode::FORBIDDEN);
    assert_eq!(b.get("/roles/admin").await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_admin_makes_a_team_and_its_lead_adds_a_member_on_the_teams_page() {
    let app = spawn(Service::Company).await;
    let admin_token = app.admin_token().await;
    let mut a = Browser::new(&app);
    a.login_ok("admin", "admin123", "/home").await;
    assert!(a.get("/home").await.body.contains("href=\"/teams\""));
    let list = a.get("/teams").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let (_, users) = app
        .api(
            Method::GET,
            "/users?page_size=100",
            Some(&admin_token),
            None,
        )
        .await;
    let id_of = |name: &str| {
        users["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let lead = id_of("teamlead");
    let analyst = id_of("analyst");
    let made = a
        .post(
            "/teams",
            &[
                ("csrf", &list.csrf()),
                ("name", "Platform"),
                ("lead_user_id", &lead),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let team_path = made.location().to_string();
    let again = a
        .post("/teams", &[("csrf", &list.csrf()), ("name", "Platform")])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

    // The lead adds the analyst; the analyst sees no teams page.
    let mut l = Browser::new(&app);
    l.login_ok("teamlead", "teamlead123", "/home").await;
    let page = l.get(&team_path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Add the member"), "{}", page.body);
    assert!(!page.body.contains("Delete the team"), "{}", page.body);
    let added = l
        .post(
            &format!("{team_path}/members"),
            &[("csrf", &page.csrf()), ("user_id", &analyst)],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let page = l.get(&team_path).await;
    assert!(page.body.contains("Remove analyst"), "{}", page.body);
    let mut n = Browser::new(&app);
    n.login_ok("analyst", "analyst123", "/home").await;
    assert_eq!(n.get("/teams").await.status, StatusCode::FORBIDDEN);

    // The admin deletes it.
    let page = a.get(&team_path).await;
    let gone = a
        .post(&format!("{team_path}/delete"), &[("csrf", &page.csrf())])
        .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.body);
    assert!(!a.get("/teams").await.body.contains("Platform"));
    let rows = app.audit_rows().await;
    for action in ["team.create", "team.member_add", "team.delete"] {
        assert!(rows.iter().any(|r| r.action == action), "{action}");
    }
}
