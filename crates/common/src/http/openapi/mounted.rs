//! The routes a server really mounts, for the test that holds the
//! document to the router: every public route goes through
//! [`crate::http::resource`], which notes its path here while a
//! collection runs (and costs one thread-local look-up otherwise).

use std::cell::RefCell;

use actix_web::web::ServiceConfig;

use crate::server::Spec;

thread_local! {
    static COLLECTING: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Note a resource's path pattern if a collection is running on this thread.
pub(crate) fn note(path: &str) {
    COLLECTING.with(|c| {
        if let Some(paths) = c.borrow_mut().as_mut() {
            paths.push(path.to_string());
        }
    });
}

/// The path patterns `register` mounts through `resource`, relative to
/// where it is mounted. The routes are configured on a throw-away app:
/// nothing is served, no handler runs.
pub fn collect(register: impl FnOnce(&mut ServiceConfig)) -> Vec<String> {
    COLLECTING.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let _ = actix_web::App::new().configure(register);
    COLLECTING.with(|c| c.borrow_mut().take().unwrap_or_default())
}

/// Every path pattern of `spec`'s public listener, as actix writes it
/// (`/api/v1/tenant/users/{id}/{switch:activate|deactivate}`).
pub fn public_paths(spec: &'static Spec) -> Vec<String> {
    let mut paths = collect(crate::http::health::routes);
    let prefix = spec.service.api_prefix();
    paths.extend(
        collect(|cfg| crate::server::api_routes(spec, cfg))
            .into_iter()
            .map(|p| format!("{prefix}{p}")),
    );
    paths
}

/// An actix pattern as OpenAPI writes it: `{switch:activate|deactivate}`
/// becomes `{switch}`.
pub fn openapi_path(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut in_regex = false;
    for ch in pattern.chars() {
        match ch {
            ':' if open_brace(&out) => in_regex = true,
            '}' => {
                in_regex = false;
                out.push(ch);
            }
            _ if in_regex => {}
            _ => out.push(ch),
        }
    }
    out
}

/// Whether `s` has an unclosed `{`.
fn open_brace(s: &str) -> bool {
    s.rfind('{') > s.rfind('}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_become_openapi_templates() {
        assert_eq!(
            openapi_path("/users/{id}/{switch:activate|deactivate}"),
            "/users/{id}/{switch}"
        );
        assert_eq!(openapi_path("/patients/{id}"), "/patients/{id}");
        assert_eq!(openapi_path("/healthz"), "/healthz");
    }

    #[test]
    fn collection_sees_resources_and_only_while_it_runs() {
        note("/not-collected");
        let paths = collect(|cfg| {
            cfg.service(crate::http::resource("/a"))
                .service(crate::http::resource("/b/{id}"));
        });
        assert_eq!(paths, vec!["/a".to_string(), "/b/{id}".to_string()]);
        assert!(collect(|_| {}).is_empty());
    }
}
