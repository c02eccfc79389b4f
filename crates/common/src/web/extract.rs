//! `WebUser`: the caller of a page, from the session cookie, checked by the
//! rules a bearer token is checked by (revoked token id, session epoch,
//! active account), plus the idle timeout. A refusal later in the request
//! is raised as a security event like the API's (the middleware finds the
//! caller in the request's extensions).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use super::render::{server_name, Layout, PageError, SignedIn};
use super::session::{self, Session};
use super::{NavLink, WebSettings};
use crate::accounts::store;
use crate::auth::{AuthContext, AuthUser};
use crate::db::{now, Db};
use crate::error::ApiError;
use crate::rbac::CorePermission;

/// A signed-in page caller.
#[derive(Debug, Clone)]
pub struct WebUser {
    /// The caller, as API handlers see it.
    pub user: AuthUser,
    /// The session's CSRF token (for the page's forms).
    pub csrf: String,
    /// The stored session's key (logout deletes it).
    pub session_hash: String,
    /// The account must change its password before anything else.
    pub must_change_password: bool,
    settings: web::Data<WebSettings>,
    service: crate::service::Service,
    path: String,
}

impl WebUser {
    /// The layout of a page titled `title` for this caller.
    pub fn layout(&self, title: &str) -> Layout {
        Layout {
            title: title.to_string(),
            server: server_name(self.service),
            user: Some(SignedIn {
                username: self.user.username.clone(),
                role: self.user.role.clone(),
            }),
            csrf: self.csrf.clone(),
            nav: self.nav(),
            current: self.path.clone(),
        }
    }

    /// The caller's tasks: the server's, then the kernel's admin pages.
    fn nav(&self) -> Vec<NavLink> {
        let mut nav = (self.settings.pages.nav)(&self.user);
        if self.user.can(CorePermission::UsersManage) {
            nav.push(NavLink {
                href: "/users",
                label: "Users",
                hint: "see who has an account here and their roles",
            });
        }
        if crate::accounts::roles::may_manage(&self.user) {
            nav.push(NavLink {
                href: "/roles",
                label: "Roles",
                hint: "choose what each role may do, and create roles",
            });
        }
        if self.user.can(CorePermission::AuditRead) {
            nav.push(NavLink {
                href: "/audit",
                label: "Audit log",
                hint: "every action recorded on this server, with its verification",
            });
        }
        nav
    }

    /// Refuse a state-changing request whose form token is not this
    /// session's (constant-time comparison).
    pub fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        if same_token(sent, &self.csrf) {
            Ok(())
        } else {
            tracing::warn!(user = %self.user.id, "csrf token refused");
            Err(PageError::Api(ApiError::Forbidden(
                "this form has expired or did not come from this site; reload the page and try again"
                    .into(),
            )))
        }
    }
}

/// Constant-time equality, so the token cannot be guessed byte by byte
/// from response times.
/// Whether a token sent with a form is the expected one, in constant
/// time (a mismatch anywhere costs the same).
pub(crate) fn same_token(sent: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    !sent.is_empty() && bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
}

impl FromRequest for WebUser {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let missing =
                || PageError::Api(ApiError::Internal(anyhow::anyhow!("web app data missing")));
            let ctx = req
                .app_data::<web::Data<AuthContext>>()
                .cloned()
                .ok_or_else(missing)?;
            let db = req
                .app_data::<web::Data<Db>>()
                .cloned()
                .ok_or_else(missing)?;
            let settings = req
                .app_data::<web::Data<WebSettings>>()
                .cloned()
                .ok_or_else(missing)?;
            let name = session::cookie_name(&settings);
            // Every refusal below: sign in again (and drop the cookie).
            let signed_out = || PageError::SignedOut(name);
            let value = req
                .cookie(name)
                .map(|c| c.value().to_string())
                .ok_or_else(signed_out)?;
            let found: Option<(Session, Option<store::TokenState>)> = db
                .run(move |c| {
                    let Some(s) = session::find(c, &value)? else {
                        return Ok(None);
                    };
                    let sid = s.auth_session_id.clone();
                    let user = store::find_for_token(c, &s.user_id, &s.jti, sid.as_deref())?;
                    Ok(Some((s, user)))
                })
                .await?;
            let (s, user) = found.ok_or_else(signed_out)?;
            let at = now();
            let session_at = ctx.clock.now();
            let valid = match &user {
                Some((u, revoked, Some(auth))) => {
                    !revoked
                        && u.active
                        && u.session_epoch == s.session_epoch
                        && auth.check(session_at).is_ok()
                }
                _ => false,
            };
            let (Some((user, _, Some(auth))), true, false) =
                (user, valid, session::is_stale(&s, settings.idle, at))
            else {
                let hash = s.id_hash.clone();
                db.write(move |c| session::delete(c, &hash)).await?;
                return Err(PageError::SignedOut(name));
            };
            // One write a minute at most per session, not one per page.
            let touch_web = at - s.last_seen_at > chrono::TimeDelta::seconds(60);
            if touch_web || auth.needs_touch(session_at) {
                let (hash, sid) = (s.id_hash.clone(), auth.id.clone());
                db.write(move |c| {
                    session::touch(c, &hash)?;
                    crate::auth::session::touch(c, &sid, session_at)
                })
                .await?;
            }
            let must_change_password = user.must_change_password;
            // As on the API: until the password is changed, nothing else.
            let path = req.path();
            if must_change_password && path != "/password" && path != "/logout" {
                return Err(PageError::Redirect("/password"));
            }
            let policy = ctx.policy.current(&db, &user.tenant_id).await?;
            let auth = AuthUser::from_session(
                user,
                s.jti.clone(),
                s.expires_at.and_utc().timestamp(),
                auth.id,
                policy,
            );
            req.extensions_mut().insert(auth.clone());
            Ok(WebUser {
                user: auth,
                csrf: s.csrf_token,
                session_hash: s.id_hash,
                must_change_password,
                settings,
                service: ctx.service,
                path: req.path().to_string(),
            })
        })
    }
}
