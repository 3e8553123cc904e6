//! The Creatio business-process webhook (`POST /creatio/reply`, `POST /creatio/reply/{token}`).
//!
//! A process calls it when a rep adds an activity to a case (`new_activity`) or changes a case
//! (`case_updated`); see docs/creatio-setup.md. [`webhook`] authenticates the call and reads its
//! body. A `new_activity` is only recorded: one conditional write puts "deliver activity X" in the
//! outbox and the answer goes back at once, before Creatio, Twilio or the customer are involved;
//! the delivery runs from the table's stream (`casebridge::replies::deliver`), and the scheduled
//! catch-up finds what no process reported. A `case_updated` for a case with an open conversation
//! is recorded the same way, as a status check of the case (one read of the `by_case` index, one
//! write); the stream reads the case's status and closes its conversation
//! when the status is a closing one, with the closing notice (`casebridge::replies::closure`). So
//! this function never waits on Creatio or Twilio, and a failure after its 200 is retried by the
//! stream instead of being lost with the request.
//!
//! Errors become HTTP answers in one place ([`ReplyError::into_response`]): 401 for a wrong
//! token, 400 for a body that is not what the process should send, 503 when the store is down for
//! now: the process may retry, and a retry changes nothing twice.

pub mod webhook;

use casebridge::config::{Config, ConfigError};
use casebridge::domain::{OutboxSource, SessionState};
use casebridge::replies::closure::Closure;
use casebridge::routes::{self, Found, Route};
use casebridge::store::{Store, StoreError};
use jiff::Timestamp;
use lambda_http::{Body, Request, RequestExt, Response};
use secrecy::SecretString;
use serde_json::json;

/// The webhook only records: it needs the token, nothing that talks to Creatio or Twilio.
pub struct Deps {
    /// One, or two while the token is rotated (`Config::webhook_tokens`).
    pub webhook_tokens: Vec<SecretString>,
}

impl Deps {
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        Ok(Self {
            webhook_tokens: config.webhook_tokens()?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("missing or wrong webhook token")]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
    #[error("only POST is accepted here")]
    MethodNotAllowed,
    #[error("not found: the webhook is POST /creatio/reply or /creatio/reply/{{token}}")]
    NotFound,
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

impl ReplyError {
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let status = match &self {
            ReplyError::Unauthorized => 401,
            ReplyError::BadRequest(_) => 400,
            ReplyError::MethodNotAllowed => 405,
            ReplyError::NotFound => 404,
            ReplyError::Store(e) if e.is_transient() => 503,
            ReplyError::Store(_) => 500,
        };
        if status >= 500 {
            tracing::error!(error = %self, status, request_id, "creatio webhook failed");
        } else {
            tracing::warn!(error = %self, status, "creatio webhook refused");
        }
        casebridge::http::error_response(status, &self.to_string(), request_id).map(Body::from)
    }
}

pub fn json_response(status: u16, body: &serde_json::Value) -> Response<Body> {
    casebridge::http::json_response(status, body).map(Body::from)
}

/// What the webhook did, as its 200 answer says.
pub fn done(status: &str) -> Response<Body> {
    json_response(200, &json!({ "status": status }))
}

/// What a call of the webhook is for: one endpoint, reached with the token in a header or in the
/// path (for processes that cannot set headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Reply,
}

/// Every route of the webhook function (template.yaml's `CreatioReplyFunction` events).
pub const ROUTES: &[Route<Endpoint>] = &[
    Route {
        method: http::Method::POST,
        path: "/creatio/reply",
        endpoint: Endpoint::Reply,
    },
    Route {
        method: http::Method::POST,
        path: "/creatio/reply/{token}",
        endpoint: Endpoint::Reply,
    },
];

pub async fn handler(
    store: &dyn Store,
    deps: &Deps,
    event: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let request_id = casebridge::http::request_id(
        event
            .lambda_context_ref()
            .map(|context| context.request_id.as_str()),
    );
    Ok(handle(store, deps, event)
        .await
        .unwrap_or_else(|e| e.into_response(&request_id)))
}

async fn handle(
    store: &dyn Store,
    deps: &Deps,
    event: Request,
) -> Result<Response<Body>, ReplyError> {
    match routes::find(ROUTES, event.method(), event.uri().path()) {
        Found::Route(Endpoint::Reply, _) => {}
        Found::WrongMethod => return Err(ReplyError::MethodNotAllowed),
        Found::NoRoute => return Err(ReplyError::NotFound),
    }
    webhook::authenticate(&event, &deps.webhook_tokens)?;
    let call = webhook::Call::parse(event.body())?;
    let now = Timestamp::now();
    use tracing::Instrument;
    match call {
        webhook::Call::NewActivity {
            activity_id,
            case_id,
        } => {
            let span = tracing::info_span!("creatio_reply", %activity_id, case_id = ?case_id.map(|c| c.to_string()));
            async move {
                // Recorded, not delivered: the stream delivers it, and this answer does not wait
                // on Creatio or Twilio.
                let new = store
                    .enqueue(activity_id, case_id, OutboxSource::Webhook, now)
                    .await?;
                tracing::info!(new, "agent reply recorded in the outbox");
                Ok(done(if new { "queued" } else { "already queued" }))
            }
            .instrument(span)
            .await
        }
        webhook::Call::CaseUpdated { case_id } => {
            let span = tracing::info_span!("creatio_case", %case_id);
            async move {
                // Creatio's process fires for every case (e-mail cases included): a case with no
                // conversation here, or whose conversation is over, is acknowledged and left
                // alone (a 4xx would mark the process failed), with no write and no stream work.
                match store.find_by_case(case_id).await? {
                    None => return Ok(done(Closure::NoConversation.describe())),
                    Some(s) if s.state == SessionState::Closed => {
                        return Ok(done(Closure::AlreadyClosed.describe()));
                    }
                    Some(_) => {}
                }
                // Recorded, not applied: the stream reads the case's status and closes the
                // conversation when it is a closing one.
                let check = store.request_status_check(case_id, now).await?;
                tracing::info!(
                    reports = check.reports,
                    "case update recorded as a status check"
                );
                Ok(done("queued"))
            }
            .instrument(span)
            .await
        }
    }
}
