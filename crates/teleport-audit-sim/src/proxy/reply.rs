//! The proxy's HTTP replies: a JSON body, and Teleport's JSON error shape.

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;

/// The body of every reply the proxy's HTTP side makes.
pub(crate) type Body = Full<Bytes>;

/// A JSON reply with `status`.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// A Teleport-style JSON error (`trace.WriteError`).
pub(crate) fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({ "error": { "message": message } }),
    )
}
