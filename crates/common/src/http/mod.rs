//! HTTP plumbing shared by every public listener.

pub mod correlation;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod origin;
pub mod ratelimit;

pub use health::{ReadyDetails, ReadyProbe};

/// A resource that answers 405 in the envelope for methods it lacks
/// (a bare `cfg.route` would fall through to 404). Every public route is
/// mounted through it, which also lets the OpenAPI test list them.
pub fn resource(path: &str) -> actix_web::Resource {
    openapi::mounted::note(path);
    actix_web::web::resource(path).default_service(actix_web::web::to(method_not_allowed))
}

/// 405 in the envelope, with the `Allow` header RFC 9110 asks for (the
/// route's methods, as the OpenAPI document lists them).
async fn method_not_allowed(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    let mut res =
        crate::error::ApiError::MethodNotAllowed("method not allowed on this route".into())
            .error_response();
    let allow = req
        .app_data::<actix_web::web::Data<openapi::ApiDocument>>()
        .zip(req.match_pattern())
        .and_then(|(doc, pattern)| doc.allow(&pattern));
    if let Some(allow) = allow {
        res.headers_mut()
            .insert(actix_web::http::header::ALLOW, allow);
    }
    res
}

/// Bytes read from disk per chunk of a streamed file.
const FILE_CHUNK: usize = 256 * 1024;

/// A file on disk as a response body of `size` bytes, read in 256 KiB
/// chunks as the client takes them (never held whole in memory).
pub fn file_body(
    file: tokio::fs::File,
    size: u64,
) -> actix_web::body::SizedStream<
    impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Unpin,
> {
    use tokio::io::AsyncReadExt;
    let stream = futures_util::stream::unfold(Some(file), |state| async move {
        let mut file = state?;
        let mut buf = vec![0u8; FILE_CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    actix_web::body::SizedStream::new(size, Box::pin(stream))
}
