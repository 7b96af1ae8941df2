//! Mocked API server helpers: every request is checked against `rbac.json`.

use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::Value;
use tower_test::mock::{Handle, SendResponse};

/// How long any single mocked exchange may take before the test fails.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// (apiGroup, resource[/subresource], verb) of a request, as RBAC sees it.
pub fn rbac_attributes(method: &Method, uri: &http::Uri) -> (String, String, String) {
    let path = uri.path();
    let query = uri.query().unwrap_or("");
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // /api/v1/... or /apis/<group>/<version>/...
    let (group, rest) = match parts.first() {
        Some(&"api") => ("", &parts[2..]),
        Some(&"apis") => (parts[1], &parts[3..]),
        _ => panic!("unexpected path {path}"),
    };
    let rest: Vec<&str> = if rest.first() == Some(&"namespaces") && rest.len() > 2 {
        rest[2..].to_vec()
    } else {
        rest.to_vec()
    };
    let resource = match rest.len() {
        1 | 2 => rest[0].to_string(),
        3 => format!("{}/{}", rest[0], rest[2]),
        _ => panic!("unexpected path {path}"),
    };
    let named = rest.len() >= 2;
    let verb = match *method {
        Method::GET if named => "get",
        Method::GET if query.contains("watch=true") => "watch",
        Method::GET => "list",
        Method::POST => "create",
        Method::PATCH => "patch",
        Method::PUT => "update",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => panic!("unexpected method {method}"),
    };
    (group.to_string(), resource, verb.to_string())
}

/// Panics unless `rbac.json` grants the request.
pub fn assert_allowed(method: &Method, uri: &http::Uri) {
    let rbac: Value =
        serde_json::from_str(include_str!("../../rbac.json")).expect("rbac.json parses");
    let (group, resource, verb) = rbac_attributes(method, uri);
    let allowed = rbac["rules"].as_array().unwrap().iter().any(|rule| {
        let has = |key: &str, want: &str| {
            rule[key]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v == want || v == "*")
        };
        has("apiGroups", &group) && has("resources", &resource) && has("verbs", &verb)
    });
    assert!(
        allowed,
        "{method} {uri} needs {verb} on {group:?}/{resource}, which rbac.json does not grant"
    );
}

/// A JSON response.
pub fn json(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

/// A Kubernetes `Status` error.
pub fn status_error(code: u16, reason: &str, message: &str) -> Response<Body> {
    json(
        StatusCode::from_u16(code).unwrap(),
        &serde_json::json!({
            "apiVersion": "v1", "kind": "Status", "status": "Failure",
            "message": message, "reason": reason, "code": code
        }),
    )
}

/// One received request, its body parsed as JSON when it has one.
pub struct Received {
    pub method: Method,
    pub uri: http::Uri,
    pub body: Value,
    pub send: SendResponse<Response<Body>>,
}

impl Received {
    pub fn path(&self) -> &str {
        self.uri.path()
    }
    pub fn query(&self) -> &str {
        self.uri.query().unwrap_or("")
    }
    pub fn respond(self, response: Response<Body>) {
        self.send.send_response(response);
    }
    /// Answers with the request's own body (what create and apply return, near enough).
    pub fn echo(self, status: StatusCode) {
        let body = self.body.clone();
        self.send.send_response(json(status, &body));
    }
}

/// The next request, checked against RBAC, within [`EXCHANGE_TIMEOUT`]; `None` once the
/// operator's client is gone.
pub async fn next(handle: &mut Handle<Request<Body>, Response<Body>>) -> Option<Received> {
    let (request, send) = tokio::time::timeout(EXCHANGE_TIMEOUT, handle.next_request())
        .await
        .expect(
            "timed out waiting for the operator's next API request (or for its client to go away)",
        )?;
    let (parts, body) = request.into_parts();
    assert_allowed(&parts.method, &parts.uri);
    let bytes = body.collect_bytes().await.expect("request body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Some(Received {
        method: parts.method,
        uri: parts.uri,
        body,
        send,
    })
}
