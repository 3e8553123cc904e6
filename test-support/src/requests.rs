//! Requests as API Gateway's HTTP API (payload format 2.0) hands them to a function, so that no
//! test and no bench writes one out by hand: a Twilio webhook signed as Twilio signs it, a widget
//! call with its session token, a Creatio business-process webhook, the WebSocket API's
//! `$connect` and `$disconnect`; and the JSON of an answer.

use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;

use crate::twilio::signature;

/// The form of an inbound SMS as Twilio posts it: `sid` from `from` to our number `to`.
pub fn inbound_sms<'a>(
    sid: &'a str,
    account: &'a str,
    from: &'a str,
    to: &'a str,
    body: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("MessageSid", sid),
        ("AccountSid", account),
        ("From", from),
        ("To", to),
        ("Body", body),
    ]
}

/// A Twilio webhook: `params` posted to `url` (the URL Twilio was given, `PUBLIC_BASE_URL` plus
/// the route) and signed with the account's auth `token`, as Twilio's documentation says.
pub fn twilio(token: &str, url: &str, params: &[(&str, &str)]) -> Request {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    http::Request::builder()
        .method("POST")
        .uri(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature(token, url, params))
        .body(Body::from(body))
        .expect("a valid request")
}

/// A widget call: `method` on `url` from a page on `origin`, with the session `token` when
/// given, a JSON `body` when given, from client address `ip` (API Gateway's `sourceIp`).
pub fn widget(
    ip: &str,
    origin: &str,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Request {
    let mut b = http::Request::builder()
        .method(method)
        .uri(url)
        .header("origin", origin)
        .header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let mut context =
        lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some(ip.to_owned());
    b.body(body.map_or(Body::Empty, |v| Body::from(v.to_string())))
        .expect("a valid request")
        .with_request_context(lambda_http::request::RequestContext::ApiGatewayV2(context))
}

/// The Creatio business process's call: `body` posted to `url` with the webhook `token` as a
/// bearer token.
pub fn creatio_webhook(url: &str, token: &str, body: &Value) -> Request {
    http::Request::builder()
        .method("POST")
        .uri(url)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("a valid request")
}

/// A `new_activity` webhook body for `activity` on `case`.
pub fn new_activity(case: impl std::fmt::Display, activity: impl std::fmt::Display) -> Value {
    serde_json::json!({
        "event_type": "new_activity",
        "caseId": case.to_string(),
        "activityId": activity.to_string(),
    })
}

/// `$connect` (with `query`) or `$disconnect` of `connection`, from client address `ip` on a page
/// of `origin`, as API Gateway's WebSocket API invokes the integration (the shape of AWS's
/// documented events), read by `lambda_http` as the Lambda runtime reads it.
pub fn widget_socket(
    route: &str,
    connection: &str,
    ip: &str,
    origin: &str,
    query: Option<Value>,
) -> Request {
    use serde_json::json;
    let connect = route == "$connect";
    let mut e = json!({
        "headers": {
            "Host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "Origin": origin,
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
            "X-Forwarded-For": ip,
        },
        "multiValueHeaders": {
            "Host": ["abc123.execute-api.eu-west-1.amazonaws.com"],
            "Origin": [origin],
        },
        "requestContext": {
            "routeKey": route,
            "eventType": if connect { "CONNECT" } else { "DISCONNECT" },
            "extendedRequestId": "Y2xpZW50LWlk",
            "requestTime": "07/Dec/2026:02:00:00 +0000",
            "messageDirection": "IN",
            "stage": "live",
            "connectedAt": 1796608800000_i64,
            "requestTimeEpoch": 1796608800000_i64,
            "identity": {"sourceIp": ip, "userAgent": "Mozilla/5.0"},
            "requestId": "Y2xpZW50LXJlcXVlc3Q=",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "connectionId": connection,
            "apiId": "abc123"
        },
        "isBase64Encoded": false
    });
    if !connect {
        e["requestContext"]["disconnectStatusCode"] = json!(1001);
        e["requestContext"]["disconnectReason"] = json!("Going away");
    }
    if let Some(q) = query {
        let multi: serde_json::Map<String, Value> = q
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), json!([v]))).collect())
            .unwrap_or_default();
        e["queryStringParameters"] = q;
        e["multiValueQueryStringParameters"] = Value::Object(multi);
    }
    let parsed: lambda_http::request::LambdaRequest =
        serde_json::from_value(e).expect("a WebSocket event");
    parsed.into()
}

/// An answer's JSON body (a text body that is not JSON, as a JSON string; no body, null).
pub fn json_of(answer: &Response<Body>) -> Value {
    match answer.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.clone())),
        Body::Binary(b) => serde_json::from_slice(b).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}
