//! The request's correlation id, readable anywhere inside its handling.
//!
//! The middleware runs the rest of the request inside a task-local scope,
//! so error responses, audit rows and outbound calls can pick it up without
//! threading it through every signature.

/// The header that carries it, in and out.
pub const HEADER: &str = "x-correlation-id";

tokio::task_local! {
    static CORRELATION_ID: String;
}

/// The current request's correlation id, if inside one.
pub fn current() -> Option<String> {
    CORRELATION_ID.try_with(Clone::clone).ok()
}

/// Run `fut` with `id` as the current correlation id.
pub async fn scope<F: std::future::Future>(id: String, fut: F) -> F::Output {
    CORRELATION_ID.scope(id, fut).await
}

/// Accept a client-supplied id only if it is short and plain; else make one.
pub fn accept_or_generate(supplied: Option<&str>) -> String {
    match supplied {
        Some(v)
            if !v.is_empty()
                && v.len() <= 128
                && v.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')
                }) =>
        {
            v.to_string()
        }
        _ => uuid::Uuid::new_v4().to_string(),
    }
}
