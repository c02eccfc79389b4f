//! `GET …/ws`: the WebSocket upgrade, and the task that serves one socket.
//!
//! The token: browsers cannot set headers on a WebSocket, so it is offered
//! as a subprotocol (`Sec-WebSocket-Protocol: bearer, <token>`; the server
//! answers `bearer`); other clients may send `Authorization: Bearer …`. Never
//! in the query string (URLs land in logs). The socket is receive-only:
//! sending goes through the API, under its rules.
//!
//! Each socket is pinged every `realtime.ping_secs`; at each ping, and
//! whenever the server signals a revocation (logout, password change), its
//! token and session are checked again by the rules of every request. It is
//! closed with code 4401 when the token expires or its session ends, 4408
//! when it is too slow (its queue filled) or silent past
//! `realtime.idle_timeout_secs`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{CloseCode, CloseReason, Message};
use tokio::time::{timeout, Instant};

use super::{Holder, Hub, Registration};
use crate::auth::{self, AuthContext, AuthUser};
use crate::db::Db;
use crate::error::{ApiError, ApiResult};

/// Close code: the token expired or its session ended (log in again).
pub const CLOSE_UNAUTHENTICATED: u16 = 4401;
/// Close code: the client was too slow (queue full) or silent too long.
pub const CLOSE_TOO_SLOW: u16 = 4408;

/// The subprotocol the server answers when the token came in that header.
pub const SUBPROTOCOL: &str = "bearer";

/// The channel's part of every server's document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(connect), components(schemas(super::Envelope, super::Kind)))]
struct RealtimeApi;

/// The OpenAPI description of `GET /ws` (relative to the API prefix).
pub fn api() -> utoipa::openapi::OpenApi {
    <RealtimeApi as utoipa::OpenApi>::openapi()
}

/// Mount `GET /ws` (inside the API prefix).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(crate::http::resource("/ws").route(web::get().to(connect)));
}

/// The token offered as `Sec-WebSocket-Protocol: bearer, <token>`.
fn protocol_token(req: &HttpRequest) -> Option<String> {
    let mut offered = req
        .headers()
        .get_all(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let mut seen_bearer = false;
    for p in offered.by_ref() {
        if seen_bearer {
            return Some(p.to_string());
        }
        seen_bearer = p.eq_ignore_ascii_case(SUBPROTOCOL);
    }
    None
}

#[utoipa::path(get, path = "/ws", tag = "realtime", security(("bearer" = [])),
    summary = "Open the real-time channel (WebSocket upgrade)",
    description = "A WebSocket carrying JSON frames `{type, from, to, timestamp, data}` \
        (RealtimeEnvelope). The token is offered as the subprotocol pair `bearer, <token>` \
        (browsers) or in `Authorization: Bearer`; never in the query string. Receive-only. \
        Closed with 4401 when the token expires or its session ends, 4408 when the client is \
        too slow or silent.",
    responses(
        (status = 101, description = "Switching protocols: the socket is open; its frames are RealtimeEnvelope JSON texts"),
        (status = 400, description = "Not a WebSocket upgrade"),
        (status = 401, description = "No valid token"),
        (status = 429, description = "Too many open sockets for this user"),
    ))]
async fn connect(req: HttpRequest, body: web::Payload) -> ApiResult<HttpResponse> {
    let (Some(hub), Some(ctx), Some(db)) = (
        super::hub_of(&req),
        req.app_data::<web::Data<AuthContext>>().cloned(),
        req.app_data::<web::Data<Db>>().cloned(),
    ) else {
        return Err(ApiError::Internal(anyhow::anyhow!("real-time hub missing")));
    };
    let token = protocol_token(&req).or_else(|| auth::bearer(&req));
    let user = auth::authenticate(req.clone(), token.clone()).await?;
    let token = token.unwrap_or_default();
    let (res, session, stream) = actix_ws::handle_with_protocols(&req, body, &[SUBPROTOCOL])
        .map_err(|_| ApiError::validation("this route takes a WebSocket upgrade"))?;
    let reg = hub.register(Holder {
        user_id: user.id.clone(),
        role: user.role.clone(),
        tenant_id: user.tenant_id.clone(),
        session_id: user.session_id.clone(),
    })?;
    actix_web::rt::spawn(serve(
        Socket {
            hub: hub.clone(),
            ctx,
            db,
            token,
            user,
            reg,
        },
        session,
        stream,
    ));
    Ok(res)
}

struct Socket {
    hub: web::Data<Hub>,
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    token: String,
    user: AuthUser,
    reg: Registration,
}

impl Socket {
    /// The token and its session by the rules of every request (without
    /// noting a use: an open socket is not activity).
    async fn still_valid(&self) -> Result<(), String> {
        match auth::check_token(&self.ctx, &self.db, &self.token, false).await {
            Ok(_) => Ok(()),
            Err(ApiError::Unauthenticated(why)) => Err(why),
            Err(e) => {
                // A database hiccup is not a revocation: keep the socket;
                // the next ping checks again.
                tracing::warn!(error = %e, "real-time: session re-check failed");
                Ok(())
            }
        }
    }
}

fn reason(code: u16, text: &str) -> CloseReason {
    CloseReason {
        code: CloseCode::Other(code),
        description: Some(text.to_string()),
    }
}

async fn serve(
    mut socket: Socket,
    mut session: actix_ws::Session,
    stream: actix_ws::MessageStream,
) {
    let s = socket.hub.settings().clone();
    let write = Duration::from_secs(s.write_timeout_secs);
    let idle = Duration::from_secs(s.idle_timeout_secs);
    let mut stream = stream.max_frame_size(4096);
    let mut ping = tokio::time::interval(Duration::from_secs(s.ping_secs));
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let now_unix = chrono::Utc::now().timestamp();
    let left = u64::try_from(socket.user.expires_at.saturating_sub(now_unix)).unwrap_or(0);
    let expiry = tokio::time::sleep_until(Instant::now() + Duration::from_secs(left));
    tokio::pin!(expiry);
    let mut last_seen = Instant::now();
    let signal = socket.reg.signal.clone();
    let close: Option<CloseReason> = loop {
        tokio::select! {
            queued = socket.reg.rx.recv() => match queued {
                Some(text) => {
                    if !matches!(timeout(write, session.text(&*text)).await, Ok(Ok(()))) {
                        // The client does not read: drop it without waiting more.
                        break None;
                    }
                }
                None => break Some(reason(CLOSE_TOO_SLOW, "too slow: send queue full")),
            },
            frame = stream.recv() => match frame {
                Some(Ok(Message::Ping(bytes))) => {
                    last_seen = Instant::now();
                    if !matches!(timeout(write, session.pong(&bytes)).await, Ok(Ok(()))) {
                        break None;
                    }
                }
                Some(Ok(Message::Close(_))) => break Some(CloseReason::from(CloseCode::Normal)),
                Some(Ok(_)) => last_seen = Instant::now(),
                Some(Err(_)) | None => break None,
            },
            _ = ping.tick() => {
                if last_seen.elapsed() > idle {
                    break Some(reason(CLOSE_TOO_SLOW, "no answer to pings"));
                }
                if let Err(why) = socket.still_valid().await {
                    break Some(reason(CLOSE_UNAUTHENTICATED, &why));
                }
                if !matches!(timeout(write, session.ping(b"")).await, Ok(Ok(()))) {
                    break None;
                }
            }
            _ = signal.notify.notified() => {
                if signal.slow.load(Ordering::Relaxed) {
                    break Some(reason(CLOSE_TOO_SLOW, "too slow: send queue full"));
                }
                if let Err(why) = socket.still_valid().await {
                    break Some(reason(CLOSE_UNAUTHENTICATED, &why));
                }
            }
            _ = &mut expiry => break Some(reason(CLOSE_UNAUTHENTICATED, "the token has expired")),
        }
    };
    socket.hub.unregister(&socket.user.id, socket.reg.id);
    if let Some(r) = close {
        let _ = timeout(write, session.close(Some(r))).await;
    }
}
