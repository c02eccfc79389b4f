//! Company teams (issue 14, item 3): an admin manages every team; a team
//! lead changes the members of the teams they lead only; analyst and
//! production are refused; every change is audited.

use serde_json::{json, Value};
use testkit::{
    assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.api(method, path, token, body).await
}

/// The id of the user called `username`.
async fn user_id(app: &TestApp, admin: &str, username: &str) -> String {
    let (_, list) = call(app, Method::GET, "/users?page_size=100", Some(admin), None).await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == username)
        .unwrap_or_else(|| panic!("no {username}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn create_team(app: &TestApp, admin: &str, name: &str, lead: Option<&str>) -> String {
    let (status, reply) = call(
        app,
        Method::POST,
        "/teams",
        Some(admin),
        Some(json!({ "name": name, "lead_user_id": lead })),
    )
    .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    reply["data"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_admin_manages_teams_and_a_lead_the_members_of_their_own() {
    let app = spawn(Service::Company).await;
    let admin = app.admin_token().await;
    let lead_id = user_id(&app, &admin, "teamlead").await;
    let analyst_id = user_id(&app, &admin, "analyst").await;
    let prod_id = user_id(&app, &admin, "production").await;

    let platform = create_team(&app, &admin, "Platform", Some(&lead_id)).await;
    let other = create_team(&app, &admin, "Clinical apps", None).await;

    // Bad input and conflicts.
    for body in [
        json!({ "name": "" }),
        json!({ "name": "x".repeat(101) }),
        json!({ "name": "Tabs\tinside" }),
        json!({ "name": "Ghost-led", "lead_user_id": "00000000-0000-4000-8000-000000000000" }),
        json!({ "name": "Extra", "colour": "red" }),
    ] {
        let (status, reply) = call(&app, Method::POST, "/teams", Some(&admin), Some(body)).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = call(
        &app,
        Method::POST,
        "/teams",
        Some(&admin),
        Some(json!({ "name": "Platform" })),
    )
    .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let (status, reply) = call(
        &app,
        Method::PATCH,
        &format!("/teams/{other}"),
        Some(&admin),
        Some(json!({ "name": "Platform" })),
    )
    .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let (status, reply) = call(
        &app,
        Method::PATCH,
        &format!("/teams/{other}"),
        Some(&admin),
        Some(json!({})),
    )
    .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let ghost = "00000000-0000-4000-8000-000000000000";
    for (m, path, body) in [
        (Method::GET, format!("/teams/{ghost}"), None),
        (
            Method::PATCH,
            format!("/teams/{ghost}"),
            Some(json!({ "name": "N" })),
        ),
        (Method::DELETE, format!("/teams/{ghost}"), None),
        (
            Method::POST,
            format!("/teams/{ghost}/members"),
            Some(json!({ "user_id": analyst_id })),
        ),
        (
            Method::DELETE,
            format!("/teams/{ghost}/members/{analyst_id}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/teams/{platform}/members/{analyst_id}"),
            None,
        ),
    ] {
        let (status, reply) = call(&app, m, &path, Some(&admin), body).await;
        assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    }

    // The lead adds and removes members of their team…
    let lead = app.login("teamlead", "teamlead123").await;
    let add =
        |team: &str, user: &str| (format!("/teams/{team}/members"), json!({ "user_id": user }));
    let (path, body) = add(&platform, &analyst_id);
    let (status, reply) = call(&app, Method::POST, &path, Some(&lead), Some(body.clone())).await;
    assert_ok(status, &reply, StatusCode::CREATED);
    assert_eq!(reply["data"]["username"], "analyst");
    let (status, reply) = call(&app, Method::POST, &path, Some(&lead), Some(body)).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let (path, body) = add(&platform, &prod_id);
    let (status, _) = call(&app, Method::POST, &path, Some(&lead), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, reply) = call(
        &app,
        Method::DELETE,
        &format!("/teams/{platform}/members/{prod_id}"),
        Some(&lead),
        None,
    )
    .await;
    assert_ok(status, &reply, StatusCode::OK);
    // …reads every team…
    let (status, list) = call(&app, Method::GET, "/teams", Some(&lead), None).await;
    assert_ok(status, &list, StatusCode::OK);
    assert_eq!(list["meta"]["total"], 2);
    let (status, detail) = call(
        &app,
        Method::GET,
        &format!("/teams/{platform}"),
        Some(&lead),
        None,
    )
    .await;
    assert_ok(status, &detail, StatusCode::OK);
    assert_eq!(detail["data"]["members"], 1);
    assert_eq!(detail["data"]["lead_username"], "teamlead");
    assert_eq!(
        detail["data"]["member_list"][0]["user_id"],
        analyst_id.as_str()
    );
    // …but changes nothing else.
    let (path, body) = add(&other, &analyst_id);
    let (status, reply) = call(&app, Method::POST, &path, Some(&lead), Some(body)).await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    for (m, path, body) in [
        (
            Method::POST,
            "/teams".to_string(),
            Some(json!({ "name": "Mine" })),
        ),
        (
            Method::PATCH,
            format!("/teams/{platform}"),
            Some(json!({ "lead_user_id": analyst_id })),
        ),
        (
            Method::PATCH,
            format!("/teams/{platform}"),
            Some(json!({ "name": "Renamed" })),
        ),
        (Method::DELETE, format!("/teams/{platform}"), None),
        (
            Method::DELETE,
            format!("/teams/{other}/members/{analyst_id}"),
            None,
        ),
    ] {
        let (status, reply) = call(&app, m.clone(), &path, Some(&lead), body).await;
        assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
        assert!(reply.get("data").is_none(), "{m} {path}");
    }

    // A deactivated user cannot join; the admin sets another lead and
    // the old lead loses the team.
    let gone = app.create_user(&admin, "leaver", "analyst").await;
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/users/{gone}/deactivate"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (path, body) = add(&other, &gone);
    let (status, reply) = call(&app, Method::POST, &path, Some(&admin), Some(body)).await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let (status, reply) = call(
        &app,
        Method::PATCH,
        &format!("/teams/{platform}"),
        Some(&admin),
        Some(json!({ "lead_user_id": gone })),
    )
    .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let (status, reply) = call(
        &app,
        Method::PATCH,
        &format!("/teams/{platform}"),
        Some(&admin),
        Some(json!({ "lead_user_id": null, "name": "Platform team" })),
    )
    .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["lead_user_id"], Value::Null);
    assert_eq!(reply["data"]["name"], "Platform team");
    let (status, reply) = call(
        &app,
        Method::DELETE,
        &format!("/teams/{platform}/members/{analyst_id}"),
        Some(&lead),
        None,
    )
    .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    // The admin changes any team's members, and deletes a team.
    let (path, body) = add(&other, &lead_id);
    let (status, _) = call(&app, Method::POST, &path, Some(&admin), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, reply) = call(
        &app,
        Method::DELETE,
        &format!("/teams/{other}"),
        Some(&admin),
        None,
    )
    .await;
    assert_ok(status, &reply, StatusCode::OK);
    let (status, _) = call(
        &app,
        Method::GET,
        &format!("/teams/{other}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = call(&app, Method::GET, "/teams?page_size=1", Some(&admin), None).await;
    assert_eq!(list["meta"]["total"], 1);
    assert_eq!(list["meta"]["page_size"], 1);

    let rows = app.audit_rows().await;
    let count = |action: &str| rows.iter().filter(|r| r.action == action).count();
    assert_eq!(count("team.create"), 2);
    assert_eq!(count("team.member_add"), 3);
    assert_eq!(count("team.member_remove"), 1);
    assert_eq!(count("team.update"), 1);
    assert_eq!(count("team.delete"), 1);
    let update = rows.iter().find(|r| r.action == "team.update").unwrap();
    let details: Value = serde_json::from_str(&update.details).unwrap();
    assert_eq!(details["before"]["lead_user_id"], lead_id.as_str());
    assert_eq!(details["after"]["lead_user_id"], Value::Null);
}

#[tokio::test]
async fn analyst_production_and_anonymous_are_refused_every_teams_endpoint() {
    let app = spawn(Service::Company).await;
    let admin = app.admin_token().await;
    let lead_id = user_id(&app, &admin, "teamlead").await;
    let analyst_id = user_id(&app, &admin, "analyst").await;
    let team = create_team(&app, &admin, "Platform", Some(&lead_id)).await;
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/teams/{team}/members"),
        Some(&admin),
        Some(json!({ "user_id": analyst_id })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let endpoints = [
        (Method::GET, "/teams".to_string(), None),
        (
            Method::POST,
            "/teams".to_string(),
            Some(json!({ "name": "Intruders" })),
        ),
        (Method::GET, format!("/teams/{team}"), None),
        (
            Method::PATCH,
            format!("/teams/{team}"),
            Some(json!({ "name": "Taken over" })),
        ),
        (Method::DELETE, format!("/teams/{team}"), None),
        (
            Method::POST,
            format!("/teams/{team}/members"),
            Some(json!({ "user_id": lead_id })),
        ),
        (
            Method::DELETE,
            format!("/teams/{team}/members/{analyst_id}"),
            None,
        ),
    ];
    for (username, password) in [("analyst", "analyst123"), ("production", "production123")] {
        let token = app.login(username, password).await;
        for (m, path, body) in endpoints.clone() {
            let (status, reply) = call(&app, m.clone(), &path, Some(&token), body).await;
            assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
            assert!(reply.get("data").is_none(), "{username}: {m} {path}");
        }
    }
    for (m, path, body) in endpoints.clone() {
        let (status, reply) = call(&app, m, &path, None, body).await;
        assert_error(status, &reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    // Nothing changed.
    let (_, detail) = call(
        &app,
        Method::GET,
        &format!("/teams/{team}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(detail["data"]["name"], "Platform");
    assert_eq!(detail["data"]["members"], 1);
    let (_, list) = call(&app, Method::GET, "/teams", Some(&admin), None).await;
    assert_eq!(list["meta"]["total"], 1);

    // A custom role holding teams.manage_own leads like a team lead.
    let (status, _) = call(
        &app,
        Method::POST,
        "/roles",
        Some(&admin),
        Some(json!({ "name": "squad_lead", "permissions": ["teams.manage_own"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let squad = app.create_user(&admin, "squad1", "squad_lead").await;
    let mine = create_team(&app, &admin, "Squad", Some(&squad)).await;
    let token = app.login("squad1", STRONG_PASSWORD).await;
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/teams/{mine}/members"),
        Some(&token),
        Some(json!({ "user_id": analyst_id })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/teams/{team}/members"),
        Some(&token),
        Some(json!({ "user_id": lead_id })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
