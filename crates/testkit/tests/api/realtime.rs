//! The real-time channel (issue 13 item 3) with a real WebSocket client:
//! live delivery, offline messages listed on reconnect, care-team fan-out
//! to exactly its members, notifications only to users who may see the
//! patient, the per-user cap, a slow reader dropped, sockets closed by
//! logout, password change and session expiry, company admins' live feed of
//! security events, and the authorization of the message routes.

use std::time::Duration;

use diesel::prelude::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use testkit::hospital::{
    add_to_care_team, patient_body, portal_account, register_patient_id, user_id,
};
use testkit::{
    assert_error, assert_ok, spawn, spawn_with, Method, Service, StatusCode, TestApp,
    STRONG_PASSWORD,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::hospital_appointments::{booking, department, slot};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Open the channel offering the token as a browser would (subprotocol).
async fn try_connect(app: &TestApp, token: &str) -> Result<Ws, tungstenite::Error> {
    let mut req = app.ws_url().into_client_request()?;
    req.headers_mut().insert(
        "sec-websocket-protocol",
        format!("bearer, {token}").parse().unwrap(),
    );
    let (ws, res) = tokio_tungstenite::connect_async(req).await?;
    assert_eq!(res.headers()["sec-websocket-protocol"], "bearer");
    Ok(ws)
}

async fn connect(app: &TestApp, token: &str) -> Ws {
    try_connect(app, token).await.expect("the socket opens")
}

/// The HTTP status a refused upgrade answered.
async fn refused(app: &TestApp, token: &str) -> u16 {
    match try_connect(app, token).await {
        Err(tungstenite::Error::Http(res)) => res.status().as_u16(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("the socket opened"),
    }
}

/// The next JSON frame (pings and pongs skipped); panics after 10 s.
async fn next_frame(ws: &mut Ws) -> Value {
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => return serde_json::from_str::<Value>(&t).unwrap(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a frame, got {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("a frame within 10 s")
}

/// The close code the server ends the socket with; panics after 20 s.
async fn close_code(ws: &mut Ws) -> u16 {
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(f)))) => return u16::from(f.code),
                Some(Ok(Message::Close(None))) => return 1005,
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("closed within 20 s")
}

async fn wait_connections(app: &TestApp, user: &str, n: usize) {
    for _ in 0..200 {
        if app.hub().connections_of(user) == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{user} still has {} sockets, not {n}",
        app.hub().connections_of(user)
    );
}

async fn send(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.api(Method::POST, "/messages", Some(token), Some(body))
        .await
}

async fn send_ok(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, reply) = send(app, token, body).await;
    assert_ok(status, &reply, StatusCode::CREATED);
    reply["data"].clone()
}

async fn inbox(app: &TestApp, token: &str) -> Value {
    let (status, reply) = app.api(Method::GET, "/messages", Some(token), None).await;
    assert_ok(status, &reply, StatusCode::OK);
    reply
}

async fn stored_messages(app: &TestApp) -> Vec<(String, String)> {
    use hospital::schema::messages;
    app.db()
        .run(|c| {
            Ok(messages::table
                .select((messages::recipient_id, messages::body_enc))
                .load(c)?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_message_to_a_connected_colleague_arrives_live_sealed_and_listed_with_an_audit_row() {
    let app = spawn(Service::Hospital).await;
    let doctor = app.login("doctor", "doctor123").await;
    let nurse = app.login("nurse", "nurse123").await;
    let (doctor_id, nurse_id) = (user_id(&app, &doctor).await, user_id(&app, &nurse).await);
    let mut ws = connect(&app, &doctor).await;
    wait_connections(&app, &doctor_id, 1).await;

    let text = "Bed 4 asks for you, Quixotic-Marmalade";
    let sent = send_ok(
        &app,
        &nurse,
        json!({ "to": { "user": doctor_id }, "body": text }),
    )
    .await;
    assert_eq!(sent["recipients"], 1);
    assert_eq!(sent["delivered_live"], 1);
    let frame = next_frame(&mut ws).await;
    assert_eq!(frame["type"], "message", "{frame}");
    assert_eq!(frame["from"], nurse_id.as_str());
    assert_eq!(frame["to"], doctor_id.as_str());
    assert!(
        frame["timestamp"].as_str().unwrap().ends_with('Z'),
        "{frame}"
    );
    assert_eq!(frame["data"]["body"], text);

    // Sealed at rest.
    let rows = stored_messages(&app).await;
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].1.contains("Quixotic"), "the body is stored sealed");

    let list = inbox(&app, &doctor).await;
    assert_eq!(list["meta"]["total"], 1, "{list}");
    assert_eq!(list["data"][0]["body"], text);
    let id = list["data"][0]["id"].as_str().unwrap().to_string();
    let audit = app.audit_rows().await;
    assert!(audit
        .iter()
        .any(|r| r.action == "message.send" && r.actor == nurse_id));
    assert!(audit.iter().any(|r| r.action == "message.read"
        && r.actor == doctor_id
        && r.resource == format!("message:{id}")));
    // The sender's inbox does not hold it.
    assert_eq!(inbox(&app, &nurse).await["meta"]["total"], 0);
}

#[tokio::test]
async fn a_message_to_an_offline_user_is_listed_when_they_reconnect() {
    let app = spawn(Service::Hospital).await;
    let doctor = app.login("doctor", "doctor123").await;
    let lab = app.login("lab", "lab123").await;
    let lab_id = user_id(&app, &lab).await;
    let sent = send_ok(
        &app,
        &doctor,
        json!({ "to": { "user": lab_id }, "body": "results?" }),
    )
    .await;
    assert_eq!(sent["delivered_live"], 0);

    let mut ws = connect(&app, &lab).await;
    let list = inbox(&app, &lab).await;
    assert_eq!(list["data"][0]["body"], "results?", "{list}");
    // Nothing replayed on the socket: the next frame is the next message.
    send_ok(
        &app,
        &doctor,
        json!({ "to": { "user": lab_id }, "body": "second" }),
    )
    .await;
    assert_eq!(next_frame(&mut ws).await["data"]["body"], "second");
}

struct Ward {
    app: TestApp,
    admin: String,
    doctor: String,
    nurse: String,
    doctor_id: String,
    nurse_id: String,
    patient: String,
}

impl Ward {
    /// A patient whose care team is the doctor and the nurse.
    async fn new(app: TestApp) -> Self {
        let admin = app.admin_token().await;
        let doctor = app.login("doctor", "doctor123").await;
        let nurse = app.login("nurse", "nurse123").await;
        let (doctor_id, nurse_id) = (user_id(&app, &doctor).await, user_id(&app, &nurse).await);
        let patient =
            register_patient_id(&app, &admin, patient_body("Ada", "Byron", "1970-01-01")).await;
        add_to_care_team(&app, &admin, &patient, &doctor_id).await;
        add_to_care_team(&app, &admin, &patient, &nurse_id).await;
        Self {
            app,
            admin,
            doctor,
            nurse,
            doctor_id,
            nurse_id,
            patient,
        }
    }

    /// Another nurse, on no care team.
    async fn outsider(&self) -> (String, String) {
        let id = self
            .app
            .create_user(&self.admin, "nurse-two", "nurse")
            .await;
        (self.app.login("nurse-two", STRONG_PASSWORD).await, id)
    }
}

#[tokio::test]
async fn a_care_team_message_reaches_exactly_its_members() {
    let w = Ward::new(spawn(Service::Hospital).await).await;
    let app = &w.app;
    let (outsider, outsider_id) = w.outsider().await;
    portal_account(app, &w.admin, &w.patient, "ada-portal").await;
    let patient = app.login("ada-portal", STRONG_PASSWORD).await;
    let reception = app.login("reception", "reception123").await;

    let mut doctor_ws = connect(app, &w.doctor).await;
    let mut nurse_ws = connect(app, &w.nurse).await;
    let mut outsider_ws = connect(app, &outsider).await;
    let mut reception_ws = connect(app, &reception).await;
    let reception_id = user_id(app, &reception).await;
    for u in [&w.doctor_id, &w.nurse_id, &outsider_id, &reception_id] {
        wait_connections(app, u, 1).await;
    }

    let body = json!({ "to": { "care_team": w.patient }, "body": "My knee is worse" });
    let sent = send_ok(app, &patient, body).await;
    assert_eq!(sent["recipients"], 2, "{sent}");
    assert_eq!(sent["delivered_live"], 2, "{sent}");
    for ws in [&mut doctor_ws, &mut nurse_ws] {
        let f = next_frame(ws).await;
        assert_eq!(f["type"], "message");
        assert_eq!(f["data"]["patient_id"], w.patient.as_str());
        assert_eq!(f["data"]["body"], "My knee is worse");
    }
    // The non-members got nothing: their next frame is a later one.
    let marker = json!({ "to": { "user": outsider_id }, "body": "marker" });
    send_ok(app, &w.doctor, marker).await;
    assert_eq!(next_frame(&mut outsider_ws).await["data"]["body"], "marker");
    let marker = json!({ "to": { "user": reception_id }, "body": "marker" });
    send_ok(app, &w.doctor, marker).await;
    assert_eq!(
        next_frame(&mut reception_ws).await["data"]["body"],
        "marker"
    );
    let rows = stored_messages(app).await;
    let mut to_team: Vec<&str> = rows
        .iter()
        .map(|(r, _)| r.as_str())
        .filter(|r| *r == w.doctor_id || *r == w.nurse_id)
        .collect();
    to_team.sort();
    assert_eq!(to_team.len(), 2);
    assert_eq!(inbox(app, &outsider).await["meta"]["total"], 1);
}

#[tokio::test]
async fn notifications_reach_only_users_who_may_see_the_patient() {
    let w = Ward::new(spawn(Service::Hospital).await).await;
    let app = &w.app;
    let (outsider, outsider_id) = w.outsider().await;
    let reception = app.login("reception", "reception123").await;
    let mut doctor_ws = connect(app, &w.doctor).await;
    let mut outsider_ws = connect(app, &outsider).await;
    wait_connections(app, &w.doctor_id, 1).await;
    wait_connections(app, &outsider_id, 1).await;

    // Break-the-glass by the outsider: the care team hears of it.
    let (status, reply) = app
        .api(
            Method::POST,
            &format!("/patients/{}/break-glass", w.patient),
            Some(&outsider),
            Some(json!({ "reason": "Unconscious in the corridor, no team reachable" })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let f = next_frame(&mut doctor_ws).await;
    assert_eq!(f["type"], "notification", "{f}");
    assert_eq!(f["data"]["event"], "break_glass");
    assert_eq!(f["data"]["patient_id"], w.patient.as_str());
    assert_eq!(f["from"], outsider_id.as_str());
    assert!(
        f["data"].get("reason").is_none(),
        "no PHI in a notification"
    );

    // A new patient the outsider is added to: the outsider is told.
    let other =
        register_patient_id(app, &w.admin, patient_body("Bo", "Diddley", "1980-02-02")).await;
    add_to_care_team(app, &w.admin, &other, &outsider_id).await;
    let f = next_frame(&mut outsider_ws).await;
    assert_eq!(f["data"]["event"], "care_team.added", "{f}");
    assert_eq!(f["data"]["patient_id"], other.as_str());

    // A booking with the doctor: the doctor is told; the outsider is not.
    let dept = department(app, &w.admin).await;
    let (status, reply) = app
        .api(
            Method::POST,
            "/appointments",
            Some(&reception),
            Some(booking(&w.patient, &w.doctor_id, &dept, &slot(0))),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let f = next_frame(&mut doctor_ws).await;
    assert_eq!(f["data"]["event"], "appointment.booked", "{f}");
    assert_eq!(f["data"]["appointment_id"], reply["data"]["id"]);
    send_ok(
        app,
        &w.doctor,
        json!({ "to": { "user": outsider_id }, "body": "marker" }),
    )
    .await;
    assert_eq!(next_frame(&mut outsider_ws).await["data"]["body"], "marker");
}

#[tokio::test]
async fn the_message_routes_refuse_every_caller_outside_their_rules() {
    let w = Ward::new(spawn(Service::Hospital).await).await;
    let app = &w.app;
    let (outsider, _) = w.outsider().await;
    portal_account(app, &w.admin, &w.patient, "ada-portal").await;
    let patient = app.login("ada-portal", STRONG_PASSWORD).await;
    let patient_user = user_id(app, &patient).await;
    let lab = app.login("lab", "lab123").await;
    let other =
        register_patient_id(app, &w.admin, patient_body("Cy", "Twombly", "1960-03-03")).await;
    add_to_care_team(app, &w.admin, &other, &w.doctor_id).await;

    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        // A patient writes to their own care team only.
        (
            &patient,
            json!({ "to": { "user": w.doctor_id }, "body": "hi" }),
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
        ),
        (
            &patient,
            json!({ "to": { "care_team": other }, "body": "hi" }),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        // Lab and pharmacy see no patients: no care-team messages.
        (
            &lab,
            json!({ "to": { "care_team": w.patient }, "body": "hi" }),
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
        ),
        // A nurse off the team: the patient does not exist for them.
        (
            &outsider,
            json!({ "to": { "care_team": w.patient }, "body": "hi" }),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        // Staff do not write to a patient's account directly.
        (
            &w.doctor,
            json!({ "to": { "user": patient_user }, "body": "hi" }),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            &w.doctor,
            json!({ "to": { "user": "no-such-user" }, "body": "hi" }),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            &w.doctor,
            json!({ "to": { "user": w.nurse_id }, "body": "  " }),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            &w.doctor,
            json!({ "to": { "user": w.nurse_id }, "body": "x".repeat(4001) }),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            &w.doctor,
            json!({ "to": { "user": w.nurse_id }, "body": "hi", "cc": "x" }),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            &w.doctor,
            json!({ "to": { "group": "all" }, "body": "hi" }),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
    ];
    for (token, body, status, code) in cases {
        let (got, reply) = send(app, token, body.clone()).await;
        assert_error(got, &reply, status, code);
    }
    assert!(
        stored_messages(app).await.is_empty(),
        "refused writes change nothing"
    );

    for (method, body) in [
        (Method::GET, None),
        (
            Method::POST,
            Some(json!({ "to": { "user": w.nurse_id }, "body": "hi" })),
        ),
    ] {
        let (status, reply) = app.api(method, "/messages", None, body).await;
        assert_error(status, &reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    // The socket: no token, a token in the query string, a bad token.
    let mut url = app.ws_url();
    assert_eq!(plain_upgrade(&url, None).await, 401);
    url.push_str(&format!("?access_token={}", w.doctor));
    assert_eq!(plain_upgrade(&url, None).await, 401);
    assert_eq!(refused(app, "not-a-token").await, 401);
    // A non-browser client may use the Authorization header.
    assert_eq!(plain_upgrade(&app.ws_url(), Some(&w.doctor)).await, 101);
}

/// Upgrade without the subprotocol; the HTTP status.
async fn plain_upgrade(url: &str, bearer: Option<&str>) -> u16 {
    let mut req = url.into_client_request().unwrap();
    if let Some(t) = bearer {
        req.headers_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((_, res)) => res.status().as_u16(),
        Err(tungstenite::Error::Http(res)) => res.status().as_u16(),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn a_user_may_hold_only_so_many_sockets() {
    let app = spawn_with(
        Service::Hospital,
        &[("HOSPITAL__REALTIME__MAX_CONNECTIONS_PER_USER", "2")],
    )
    .await;
    let doctor = app.login("doctor", "doctor123").await;
    let id = user_id(&app, &doctor).await;
    let mut first = connect(&app, &doctor).await;
    let _second = connect(&app, &doctor).await;
    assert_eq!(refused(&app, &doctor).await, 429);
    // Another user is not affected.
    let nurse = app.login("nurse", "nurse123").await;
    let _nurse_ws = connect(&app, &nurse).await;
    first.close(None).await.unwrap();
    wait_connections(&app, &id, 1).await;
    let _third = connect(&app, &doctor).await;
}

#[tokio::test]
async fn a_reader_too_slow_for_its_queue_is_dropped() {
    let app = spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__REALTIME__QUEUE_LEN", "4"),
            ("HOSPITAL__REALTIME__WRITE_TIMEOUT_SECS", "2"),
        ],
    )
    .await;
    let doctor = app.login("doctor", "doctor123").await;
    let id = user_id(&app, &doctor).await;
    let mut ws = connect(&app, &doctor).await;
    wait_connections(&app, &id, 1).await;
    // The client reads nothing; the server keeps sending large frames.
    let big = "x".repeat(256 * 1024);
    let frame = common::realtime::Envelope::new(
        common::realtime::Kind::Update,
        "system",
        &id,
        json!({ "filler": big }),
    );
    let mut sent = 0;
    while app.hub().connections_of(&id) > 0 {
        assert!(sent < 20_000, "never dropped after {sent} frames");
        app.hub().send_to_user(&id, &frame);
        sent += 1;
        if sent % 4 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // The socket ends (after whatever was buffered).
    let end = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(f))) => return f.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    };
    let code = tokio::time::timeout(Duration::from_secs(30), end)
        .await
        .expect("the dropped socket ends");
    assert!(matches!(code, None | Some(4408)), "{code:?}");
    // Memory does not grow: nothing is queued for the user any more.
    assert_eq!(app.hub().send_to_user(&id, &frame), 0);
}

#[tokio::test]
async fn logout_closes_the_socket() {
    let app = spawn(Service::Hospital).await;
    let doctor = app.login("doctor", "doctor123").await;
    let mut ws = connect(&app, &doctor).await;
    let (status, reply) = app
        .api(Method::POST, "/auth/logout", Some(&doctor), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(close_code(&mut ws).await, 4401);
    assert_eq!(refused(&app, &doctor).await, 401);
}

#[tokio::test]
async fn deactivating_the_user_closes_their_socket_at_once() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let id = app.create_user(&admin, "dr-gone", "doctor").await;
    let token = app.login("dr-gone", STRONG_PASSWORD).await;
    let mut ws = connect(&app, &token).await;
    let (status, reply) = app
        .api(
            Method::POST,
            &format!("/users/{id}/deactivate"),
            Some(&admin),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(close_code(&mut ws).await, 4401);
}

#[tokio::test]
async fn a_password_change_closes_the_old_sessions_sockets() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "dr-who", "doctor").await;
    let first = app.login("dr-who", STRONG_PASSWORD).await;
    let second = app.login("dr-who", STRONG_PASSWORD).await;
    let mut ws = connect(&app, &first).await;
    let body =
        json!({ "current_password": STRONG_PASSWORD, "new_password": "another-horse-battery-7" });
    let (status, reply) = app
        .api(Method::POST, "/auth/password", Some(&second), Some(body))
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(close_code(&mut ws).await, 4401);
}

#[tokio::test]
async fn an_expired_session_closes_the_socket_at_the_next_ping() {
    let app = spawn_with(Service::Hospital, &[("HOSPITAL__REALTIME__PING_SECS", "1")]).await;
    let doctor = app.login("doctor", "doctor123").await;
    let mut ws = connect(&app, &doctor).await;
    // Answering pings keeps the socket, not the session, alive.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.advance_clock(9 * 3600);
    assert_eq!(close_code(&mut ws).await, 4401);
}

#[tokio::test]
async fn company_admins_receive_stored_security_events_live() {
    let app = spawn(Service::Company).await;
    let admin = app.login("admin", "admin123").await;
    let analyst = app.login("analyst", "analyst123").await;
    let admin_id = user_id(&app, &admin).await;
    let analyst_id = user_id(&app, &analyst).await;
    let mut admin_ws = connect(&app, &admin).await;
    let mut analyst_ws = connect(&app, &analyst).await;
    wait_connections(&app, &admin_id, 1).await;
    wait_connections(&app, &analyst_id, 1).await;

    // A failed login raises an event; the outbox worker stores it.
    let (status, _) = app
        .api(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({ "username": "analyst", "password": "wrong-password" })),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let moved = company::plane::move_own_events(&app.db(), app.hub())
        .await
        .unwrap();
    assert!(moved >= 1);
    let f = next_frame(&mut admin_ws).await;
    assert_eq!(f["type"], "update", "{f}");
    assert_eq!(f["to"], admin_id.as_str());
    assert_eq!(
        f["data"]["security_event"]["kind"], "auth.login_failed",
        "{f}"
    );
    // The analyst's role does not read security events: nothing arrives.
    let quiet = tokio::time::timeout(Duration::from_millis(1500), analyst_ws.next()).await;
    assert!(
        !matches!(quiet, Ok(Some(Ok(Message::Text(_))))),
        "the analyst received {quiet:?}"
    );
}

#[tokio::test]
async fn company_admins_receive_raised_alerts_live() {
    let app = spawn(Service::Company).await;
    let admin = app.login("admin", "admin123").await;
    let admin_id = user_id(&app, &admin).await;
    let rule = json!({ "name": "Any failed login", "kind_pattern": "auth.login_failed",
        "min_severity": "info", "threshold": 1, "window_minutes": 1, "per": "none" });
    let (status, reply) = app
        .api(Method::POST, "/alert-rules", Some(&admin), Some(rule))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let mut ws = connect(&app, &admin).await;
    wait_connections(&app, &admin_id, 1).await;
    let (status, _) = app
        .api(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({ "username": "analyst", "password": "wrong-password" })),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    company::plane::move_own_events(&app.db(), app.hub())
        .await
        .unwrap();
    // The stored event comes first, then the alert it raised.
    let alert = loop {
        let f = next_frame(&mut ws).await;
        assert_eq!(f["type"], "update", "{f}");
        if f["data"]["event"] == "alert" {
            break f;
        }
    };
    assert_eq!(alert["to"], admin_id.as_str());
    assert_eq!(
        alert["data"]["alert"]["rule_name"], "Any failed login",
        "{alert}"
    );
    assert_eq!(alert["data"]["alert"]["event_count"], 1, "{alert}");
}
