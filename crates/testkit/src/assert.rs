//! Assertions on the response envelope, with the whole body in the message.

use reqwest::StatusCode;
use serde_json::Value;

/// A success envelope with `expected` status: `success:true` and a `data` member.
pub fn assert_ok(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "unexpected status; body: {body}");
    assert_eq!(
        body["success"],
        Value::Bool(true),
        "not a success envelope: {body}"
    );
    assert!(
        body.get("data").is_some(),
        "success envelope without data: {body}"
    );
}

/// A failure envelope with `expected` status and `code`: `success:false`
/// and `error.{code, message, details, correlation_id}`.
pub fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "unexpected status; body: {body}");
    assert_eq!(
        body["success"],
        Value::Bool(false),
        "not a failure envelope: {body}"
    );
    let error = &body["error"];
    assert_eq!(error["code"], Value::from(code), "wrong error code: {body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error without a message: {body}"
    );
    assert!(
        error.get("details").is_some(),
        "error without a details member: {body}"
    );
    assert!(
        error["correlation_id"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "error without a correlation id: {body}"
    );
}
