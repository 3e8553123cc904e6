//! Agent replies and case status from Creatio (`POST /creatio/reply`, `POST /creatio/reply/{token}`).
//!
//! A Creatio business process calls this webhook when a rep adds an activity to a case
//! (`new_activity`) or changes a case (`case_updated`); see docs/creatio-setup.md. [`webhook`]
//! authenticates the call and reads its body; [`reply`] turns an activity into a message to the
//! customer; [`status`] closes the conversation when the case is resolved. Errors become HTTP
//! answers in one place ([`ReplyError::into_response`]): 401 for a wrong token, 400 for a body
//! that is not what the process should send, 503 when Creatio, Twilio or the store is down (the
//! process may retry, and a retry never sends twice).

pub mod reply;
pub mod status;
pub mod webhook;

use std::sync::Arc;

use casebridge::assistant::Settings;
use casebridge::config::{Config, ConfigError, CreatioConfig};
use casebridge::creatio::{CreatioClient, CreatioError, RetryPolicy};
use casebridge::sms::SmsProvider;
use casebridge::sms::twilio::TwilioClient;
use casebridge::store::{Store, StoreError};
use lambda_http::{Body, Request, Response};
use secrecy::SecretString;
use serde_json::json;

pub struct Deps {
    pub creatio: CreatioClient,
    pub creatio_config: CreatioConfig,
    pub webhook_token: SecretString,
    /// None when Twilio is not configured: SMS replies then fail with a clear error.
    pub sms: Option<Arc<dyn SmsProvider>>,
    pub settings: Arc<Settings>,
}

impl Deps {
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let creatio_config = config.creatio()?.clone();
        let http = casebridge::http::client(std::time::Duration::from_secs(10)).map_err(|e| {
            ConfigError::Invalid {
                name: "CREATIO_URL",
                reason: format!("cannot build an HTTP client: {e}"),
            }
        })?;
        let sms: Option<Arc<dyn SmsProvider>> = config.twilio().ok().map(|t| {
            let callback = config
                .public_base_url
                .as_ref()
                .map(|b| b.join("/sms/status"));
            Arc::new(TwilioClient::new(
                http.clone(),
                t.clone(),
                callback,
                RetryPolicy::default(),
            )) as Arc<dyn SmsProvider>
        });
        Ok(Self {
            creatio: CreatioClient::new(&creatio_config, http, RetryPolicy::default()),
            creatio_config,
            webhook_token: config.webhook_token()?.clone(),
            sms,
            settings: Arc::new(Settings::load(config.rules_path.as_deref())?),
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
    #[error("Creatio: {0}")]
    Creatio(#[from] CreatioError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("SMS delivery failed for now: {0}")]
    SmsUnavailable(String),
    #[error("SMS is not configured (TWILIO_ACCOUNT_SID is not set)")]
    SmsNotConfigured,
}

impl ReplyError {
    pub fn into_response(self) -> Response<Body> {
        let status = match &self {
            ReplyError::Unauthorized => 401,
            ReplyError::BadRequest(_) => 400,
            ReplyError::MethodNotAllowed => 405,
            ReplyError::Creatio(e) if e.is_transient() => 503,
            ReplyError::Creatio(_) => 502,
            ReplyError::Store(e) if e.is_transient() => 503,
            ReplyError::Store(_) => 500,
            ReplyError::SmsUnavailable(_) => 503,
            ReplyError::SmsNotConfigured => 500,
        };
        if status >= 500 {
            tracing::error!(error = %self, status, "creatio webhook failed");
        } else {
            tracing::warn!(error = %self, status, "creatio webhook refused");
        }
        json_response(status, &json!({ "error": self.to_string() }))
    }
}

pub fn json_response(status: u16, body: &serde_json::Value) -> Response<Body> {
    casebridge::http::json_response(status, body).map(Body::from)
}

/// What the webhook did, as its 200 answer says.
pub fn done(status: &str) -> Response<Body> {
    json_response(200, &json!({ "status": status }))
}

pub async fn handler(
    store: &dyn Store,
    deps: &Deps,
    event: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    Ok(handle(store, deps, event)
        .await
        .unwrap_or_else(ReplyError::into_response))
}

async fn handle(
    store: &dyn Store,
    deps: &Deps,
    event: Request,
) -> Result<Response<Body>, ReplyError> {
    if event.method() != http::Method::POST {
        return Err(ReplyError::MethodNotAllowed);
    }
    webhook::authenticate(&event, &deps.webhook_token)?;
    let call = webhook::Call::parse(event.body())?;
    use tracing::Instrument;
    let span = tracing::info_span!("creatio_reply", case_id = %call.case_id);
    async move {
        match call.event {
            webhook::EventType::NewActivity { activity_id } => {
                reply::new_activity(store, deps, call.case_id, activity_id).await
            }
            webhook::EventType::CaseUpdated => {
                status::case_updated(store, deps, call.case_id).await
            }
        }
    }
    .instrument(span)
    .await
}
