//! A mocked API server (tower-test) for the commands: each test answers the requests it
//! expects, in order; every request is checked against `rbac.json`, every exchange has a
//! timeout, and a request after the last expected one fails the test.
#![allow(dead_code)]

use std::{future::Future, time::Duration};

use chrono::{DateTime, Utc};
use clap::Parser;
use crds::ChannelCollection;
use http::{Method, Request, Response, StatusCode};
use kube::{Client, client::Body};
use kubectl_chc::{
    cli::Cli,
    commands::{Ctx, Error, Outcome, execute},
};
use serde_json::{Value, json};
use tower_test::mock::{Handle, SendResponse};

/// How long any single mocked exchange may take before the test fails.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);

pub const COLLECTIONS: &str =
    "/apis/collection.mtproto.dev/v1alpha1/namespaces/telegram/channelcollections";
pub const NEWS: &str =
    "/apis/collection.mtproto.dev/v1alpha1/namespaces/telegram/channelcollections/news";
pub const PODS: &str = "/api/v1/namespaces/telegram/pods";

/// (apiGroup, resource[/subresource], verb) of a request, as RBAC sees it.
pub fn rbac_attributes(method: &Method, uri: &http::Uri) -> (String, String, String) {
    let path = uri.path();
    let query = uri.query().unwrap_or("");
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
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
    let rbac: Value = serde_json::from_str(include_str!("../../rbac.json")).expect("rbac.json");
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
pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

/// A plain-text response (pod logs).
pub fn text_response(text: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/plain")
        .body(Body::from(text.as_bytes().to_vec()))
        .unwrap()
}

/// A Kubernetes `Status` error.
pub fn status_error(code: u16, reason: &str, message: &str) -> Response<Body> {
    json_response(
        StatusCode::from_u16(code).unwrap(),
        &json!({
            "apiVersion": "v1", "kind": "Status", "status": "Failure",
            "message": message, "reason": reason, "code": code
        }),
    )
}

/// A list of collections at resourceVersion 100.
pub fn list(items: &[ChannelCollection]) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({
            "apiVersion": "collection.mtproto.dev/v1alpha1",
            "kind": "ChannelCollectionList",
            "metadata": {"resourceVersion": "100"},
            "items": items,
        }),
    )
}

/// A watch response: one `MODIFIED` event per object, then the end of the stream.
pub fn watch_events(objects: &[ChannelCollection]) -> Response<Body> {
    let events: Vec<(&str, &ChannelCollection)> = objects.iter().map(|o| ("MODIFIED", o)).collect();
    watch_body(&events)
}

/// A watch response of these `(type, object)` events, then the end of the stream.
pub fn watch_body(events: &[(&str, &ChannelCollection)]) -> Response<Body> {
    let mut body = Vec::new();
    for (i, (kind, object)) in events.iter().enumerate() {
        let mut object = serde_json::to_value(object).unwrap();
        object["metadata"]["resourceVersion"] = json!((101 + i).to_string());
        body.extend(serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap());
        body.push(b'\n');
    }
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

/// One received request.
pub struct Received {
    pub method: Method,
    pub uri: http::Uri,
    pub content_type: Option<String>,
    /// The body parsed as JSON; `Null` when empty.
    pub body: Value,
    send: SendResponse<Response<Body>>,
}

impl Received {
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The query's `key=value` pairs, decoded.
    pub fn query(&self) -> Vec<(String, String)> {
        let query = self.uri.query().unwrap_or("");
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(k), decode(v))
            })
            .collect()
    }

    /// The value of query parameter `key`.
    pub fn param(&self, key: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn respond(self, response: Response<Body>) {
        self.send.send_response(response);
    }
}

/// Percent-decoding of a query component (what the client encodes: `/`, `=`, `:`).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// The mocked API server a test scripts.
pub struct ApiServer {
    handle: Handle<Request<Body>, Response<Body>>,
}

impl ApiServer {
    /// The next request, checked against RBAC.
    pub async fn next(&mut self) -> Received {
        self.try_next()
            .await
            .expect("the plugin stopped before making the request the test expects")
    }

    async fn try_next(&mut self) -> Option<Received> {
        let (request, send) = tokio::time::timeout(EXCHANGE_TIMEOUT, self.handle.next_request())
            .await
            .expect("timed out waiting for the plugin's next request (or for it to end)")?;
        let (parts, body) = request.into_parts();
        assert_allowed(&parts.method, &parts.uri);
        let bytes = body.collect_bytes().await.expect("request body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("a JSON request body")
        };
        Some(Received {
            content_type: parts
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            method: parts.method,
            uri: parts.uri,
            body,
            send,
        })
    }

    /// Expects `method path` next.
    pub async fn expect(&mut self, method: Method, path: &str) -> Received {
        let request = self.next().await;
        assert_eq!(
            (&request.method, request.path()),
            (&method, path),
            "unexpected request {}",
            request.uri
        );
        request
    }

    /// Expects the watcher's list of the one collection `news`.
    pub async fn expect_list_of_news(&mut self) -> Received {
        let request = self.expect(Method::GET, COLLECTIONS).await;
        assert_eq!(
            request.param("fieldSelector").as_deref(),
            Some("metadata.name=news")
        );
        assert_eq!(request.param("watch"), None);
        request
    }

    /// Expects the watcher's watch of the one collection `news`, from the list's version.
    pub async fn expect_watch_of_news(&mut self) -> Received {
        let request = self.expect(Method::GET, COLLECTIONS).await;
        assert_eq!(request.param("watch").as_deref(), Some("true"));
        assert_eq!(
            request.param("fieldSelector").as_deref(),
            Some("metadata.name=news")
        );
        assert_eq!(request.param("resourceVersion").as_deref(), Some("100"));
        request
    }

    /// Expects no further request: the plugin's client goes away.
    pub async fn done(mut self) {
        if let Some(request) = self.try_next().await {
            panic!("unexpected request {} {}", request.method, request.uri);
        }
    }
}

/// What a command did.
pub struct Ran {
    pub result: Result<Outcome, Error>,
    pub out: String,
    pub err: String,
}

impl Ran {
    /// The process exit code `main` turns this into.
    pub fn exit_code(&self) -> u8 {
        match &self.result {
            Ok(outcome) => outcome.exit_code(),
            Err(_) => kubectl_chc::commands::EXIT_ERROR,
        }
    }

    pub fn error(&self) -> String {
        match &self.result {
            Ok(outcome) => panic!("expected an error, got {outcome:?}; out:\n{}", self.out),
            Err(e) => telemetry::one_line(e),
        }
    }
}

/// Runs `kubectl chc <args>` at `now` (kubeconfig namespace `telegram`, not a terminal)
/// against the API server `script` plays.
pub async fn run<S, F>(args: &[&str], now: DateTime<Utc>, script: S) -> Ran
where
    S: FnOnce(ApiServer) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "telegram");
    let server = tokio::spawn(script(ApiServer { handle }));
    let cli = Cli::try_parse_from(std::iter::once("kubectl-chc").chain(args.iter().copied()))
        .expect("the test's arguments parse");
    let clock = move || now;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let result = {
        let mut ctx = Ctx::new(client, cli.namespace, &clock, &mut out, &mut err, false);
        tokio::time::timeout(Duration::from_secs(10), execute(&mut ctx, cli.command))
            .await
            .expect("the command finished in time")
    };
    // The client is gone with the context: the script's `done` sees the end.
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the mocked API server ended")
        .expect("the mocked API server's assertions held");
    Ran {
        result,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}
