//! What the widget tests share: the deployment they run against, requests as API Gateway hands
//! them over (with the client's address as `sourceIp`), and JWTs written from RFC 7519 rather
//! than with the code under test.
#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use casebridge::store::Store;
use hmac::{Hmac, KeyInit, Mac};
use lambda_http::{Body, Response};
use serde_json::{Value, json};
use widget_inbound::{Deps, handle};

pub const SECRET: &str = "widget-secret-for-tests-0123456789abcdef";
pub const IDENTITY: &str = "site-identity-secret-0123456789";
pub const SITE: &str = "https://shop.example.com";
/// The address requests come from unless a test says otherwise.
pub const CLIENT: &str = "198.51.100.7";

/// The widget function as deployed for the shop: its secret, the identity secret, its site.
pub fn deps() -> Deps {
    Deps::from_config(&test_support::config(&[
        ("WIDGET_SECRET", SECRET),
        ("WIDGET_IDENTITY_SECRET", IDENTITY),
        ("WIDGET_ALLOWED_ORIGINS", SITE),
    ]))
    .unwrap()
}

pub use test_support::now;

pub fn req(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> lambda_http::Request {
    req_from(CLIENT, method, path, token, body)
}

/// A request as API Gateway's HTTP API hands it over from client address `ip`.
pub fn req_from(
    ip: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> lambda_http::Request {
    test_support::requests::widget(
        ip,
        SITE,
        method,
        &format!("https://api.example.com{path}"),
        token,
        body,
    )
}

pub fn body_of(resp: &Response<Body>) -> Value {
    match resp.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::String(t.clone())),
        _ => Value::Null,
    }
}

pub async fn call_with(
    store: &dyn Store,
    deps: &Deps,
    r: lambda_http::Request,
) -> (u16, Value, Response<Body>) {
    let resp = handle(store, deps, r, now()).await;
    (resp.status().as_u16(), body_of(&resp), resp)
}

pub async fn call(store: &dyn Store, r: lambda_http::Request) -> (u16, Value, Response<Body>) {
    call_with(store, &deps(), r).await
}

pub async fn start_with(store: &dyn Store, deps: &Deps, body: Value) -> Value {
    let (status, b, _) = call_with(
        store,
        deps,
        req("POST", "/widget/sessions", None, Some(body)),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    b
}

pub async fn start(store: &dyn Store, body: Value) -> Value {
    start_with(store, &deps(), body).await
}

/// What the widget sends to resume: the issued visitor id and its secret.
pub fn resume(started: &Value) -> Value {
    json!({"visitor_id": started["visitor_id"], "visitor_secret": started["visitor_secret"]})
}

pub fn messages_path(b: &Value) -> String {
    format!(
        "/widget/sessions/{}/messages",
        b["session_id"].as_str().unwrap()
    )
}

pub fn session_id(b: &Value) -> casebridge::domain::SessionId {
    casebridge::domain::SessionId::parse(b["session_id"].as_str().unwrap()).unwrap()
}

pub fn jwt(header: &str, claims: &Value, key: &str) -> String {
    let input = format!("{}.{}", B64.encode(header), B64.encode(claims.to_string()));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", B64.encode(mac.finalize().into_bytes()))
}

pub fn b64(s: &str) -> String {
    B64.encode(s)
}

pub fn identity(email: &str, exp: i64, key: &str) -> String {
    jwt(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &json!({"email": email, "name": "Ann Lee", "exp": exp}),
        key,
    )
}

pub fn later() -> i64 {
    now().as_second() + 3600
}

/// A rep's reply on session `id`, stored as creatio-reply's delivery stores it.
pub async fn agent_reply(store: &dyn Store, id: casebridge::domain::SessionId, text: &str) {
    use casebridge::domain::{MessageText, NewMessage, Role};
    let session = store.session(id).await.unwrap().unwrap();
    let reply = NewMessage::new(Role::Agent, MessageText::parse(text).unwrap());
    store
        .append(&session, vec![reply], None, now())
        .await
        .unwrap();
}
