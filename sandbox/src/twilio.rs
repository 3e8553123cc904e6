//! A stand-in for Twilio's Messages API (`POST /2010-04-01/Accounts/{sid}/Messages.json`), as
//! documented (twilio.com/docs/messaging/api/message-resource and twilio.com/docs/api/errors): HTTP basic auth with the account SID and auth token
//! (401 with code 20003 otherwise), form fields checked the way Twilio checks them (21604 no
//! `To`, 21211 a `To` that is not E.164, 21603 neither `From` nor `MessagingServiceSid`, 21602 no
//! `Body`, 21617 a body over 1,600 characters), 21610 for a recipient who replied STOP, 201 with a
//! fresh `SM…` sid on success, Twilio's JSON error body on every refusal. Faults (429, 5xx) can be
//! queued to test retries; every accepted message is kept for assertions.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;

/// A message the stand-in accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentSms {
    pub sid: String,
    pub to: String,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub body: String,
    pub status_callback: Option<String>,
}

#[derive(Default)]
struct Inner {
    sent: Vec<SentSms>,
    attempts: usize,
    opted_out: HashSet<String>,
    faults: VecDeque<u16>,
}

#[derive(Clone)]
struct Shared {
    account_sid: String,
    auth_token: String,
    inner: Arc<Mutex<Inner>>,
}

pub struct TwilioStandIn {
    /// Base URL, to use as `TWILIO_API_URL`.
    pub url: String,
    shared: Shared,
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })),
    )
        .into_response()
}

fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

async fn create_message(
    State(shared): State<Shared>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut inner = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
    inner.attempts += 1;
    let expected = format!("{}:{}", shared.account_sid, shared.auth_token);
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .is_some_and(|creds| creds == expected.as_bytes());
    if !authorized {
        return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let account = account.trim_end_matches(".json");
    if account != shared.account_sid {
        return error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        );
    }
    if let Some(status) = inner.faults.pop_front() {
        let (code, msg) = match status {
            429 => (20429, "Too Many Requests"),
            _ => (20500, "Internal Server Error"),
        };
        return error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            msg,
        );
    }
    let form_ok = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_ok {
        return error(StatusCode::BAD_REQUEST, 20001, "Invalid content type");
    }
    let fields: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let Some(to) = field("To") else {
        return error(
            StatusCode::BAD_REQUEST,
            21604,
            "A 'To' phone number is required.",
        );
    };
    if !is_e164(&to) {
        return error(
            StatusCode::BAD_REQUEST,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        );
    }
    let from = field("From");
    let messaging_service_sid = field("MessagingServiceSid");
    if from.is_none() && messaging_service_sid.is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            21603,
            "A 'From' phone number is required.",
        );
    }
    let body = field("Body").unwrap_or_default();
    if body.is_empty() && field("MediaUrl").is_none() {
        return error(StatusCode::BAD_REQUEST, 21602, "Message body is required.");
    }
    if body.chars().count() > 1600 {
        return error(
            StatusCode::BAD_REQUEST,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    if inner.opted_out.contains(&to) {
        return error(
            StatusCode::BAD_REQUEST,
            21610,
            "Attempt to send to unsubscribed recipient",
        );
    }
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    inner.sent.push(SentSms {
        sid: sid.clone(),
        to: to.clone(),
        from: from.clone(),
        messaging_service_sid: messaging_service_sid.clone(),
        body: body.clone(),
        status_callback: field("StatusCallback"),
    });
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "sid": sid,
            "account_sid": shared.account_sid,
            "to": to,
            "from": from,
            "messaging_service_sid": messaging_service_sid,
            "body": body,
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "uri": format!("/2010-04-01/Accounts/{}/Messages/{sid}.json", shared.account_sid),
        })),
    )
        .into_response()
}

impl TwilioStandIn {
    pub async fn start(account_sid: &str, auth_token: &str) -> std::io::Result<TwilioStandIn> {
        let shared = Shared {
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            inner: Arc::default(),
        };
        let app = axum::Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/Messages.json",
                axum::routing::post(create_message),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(TwilioStandIn {
            url: format!("http://{addr}"),
            shared,
        })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Messages accepted so far, in order.
    pub fn sent(&self) -> Vec<SentSms> {
        self.inner().sent.clone()
    }

    /// Requests received so far, refused ones included.
    pub fn attempts(&self) -> usize {
        self.inner().attempts
    }

    /// As if `number` had replied STOP: sends to it get 21610.
    pub fn opt_out(&self, number: &str) {
        self.inner().opted_out.insert(number.to_owned());
    }

    /// The next requests (after auth) are answered with these statuses, in order.
    pub fn fail_next(&self, statuses: &[u16]) {
        self.inner().faults.extend(statuses.iter().copied());
    }
}
