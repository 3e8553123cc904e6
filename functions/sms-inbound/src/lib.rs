//! SMS channel: the Twilio messaging webhook (`POST /sms/inbound`) and the delivery-status
//! callback (`POST /sms/status`).
//!
//! Follow one SMS: [`webhook`] checks Twilio's signature and reads the form into an
//! [`webhook::InboundSms`]; [`inbound`] stores it (once, however often Twilio delivers it), asks the
//! assistant and stores its answer; [`twiml`] writes the answer back to Twilio. The handoff function
//! takes it from the store to Creatio. [`delivery_status`] records what Twilio says became of a reply.
//!
//! [`handler`] is what Lambda (and the local runner, and the tests) call: it routes, and maps every
//! error to its HTTP answer in one place ([`SmsError::into_response`]). Errors are JSON with a 4xx
//! or 5xx status, never a `text/plain` 200, which Twilio would text to the customer.

pub mod delivery_status;
pub mod inbound;
pub mod twiml;
pub mod webhook;

use casebridge::assistant::Concierge;
use casebridge::config::{BaseUrl, Config, ConfigError};
use casebridge::routes::{self, Found, Route};
use casebridge::store::{Store, StoreError};
use jiff::{SignedDuration, Timestamp};
use lambda_http::{Body, Request, RequestExt, Response};
use secrecy::SecretString;

/// Everything the handler needs besides the store; built once per container.
#[derive(Clone)]
pub struct Deps {
    pub concierge: Concierge,
    /// The tokens a Twilio signature may be made with: the auth token, and the old one while it
    /// is rotated.
    pub signing_tokens: Vec<SecretString>,
    /// `PUBLIC_BASE_URL`: the URL Twilio was given. When unset, the `Host` API Gateway received
    /// is used (`https://<host>`), which is the execute-api or custom domain Twilio called.
    pub public_base_url: Option<BaseUrl>,
    pub idle_timeout: SignedDuration,
}

impl Deps {
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        Ok(Self {
            concierge: Concierge::from_config(config)?,
            signing_tokens: {
                let twilio = config.twilio()?;
                std::iter::once(twilio.auth_token.clone())
                    .chain(twilio.previous_auth_token.clone())
                    .collect()
            },
            public_base_url: config.public_base_url.clone(),
            idle_timeout: config.sms_idle_timeout,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("missing X-Twilio-Signature header")]
    MissingSignature,
    #[error("X-Twilio-Signature does not match this request")]
    BadSignature,
    #[error("{0}")]
    BadRequest(String),
    #[error("no such route")]
    NotFound,
    #[error("only POST is accepted here")]
    MethodNotAllowed,
    #[error("request body is over {0} bytes")]
    TooLarge(usize),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

impl SmsError {
    /// The one place errors become HTTP answers. A 5xx makes Twilio retry (and the retry is
    /// deduplicated); a 4xx tells it not to.
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let status = match &self {
            SmsError::MissingSignature | SmsError::BadSignature => 403,
            SmsError::BadRequest(_) => 400,
            SmsError::NotFound => 404,
            SmsError::MethodNotAllowed => 405,
            SmsError::TooLarge(_) => 413,
            SmsError::Store(e) if e.is_transient() => 503,
            SmsError::Store(_) => 500,
        };
        if status >= 500 {
            tracing::error!(error = %self, request_id, "sms webhook failed");
        } else {
            tracing::warn!(error = %self, status, "sms webhook refused");
        }
        casebridge::http::error_response(status, &self.to_string(), request_id).map(Body::from)
    }
}

pub fn json_response(status: u16, body: &serde_json::Value) -> Response<Body> {
    casebridge::http::json_response(status, body).map(Body::from)
}

/// The Lambda handler: both SMS routes.
/// What a Twilio webhook is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// An inbound message.
    Inbound,
    /// A delivery-status callback for a reply.
    Status,
}

/// Every route of the SMS function (template.yaml's `SmsInboundFunction` events).
pub const ROUTES: &[Route<Endpoint>] = &[
    Route {
        method: http::Method::POST,
        path: "/sms/inbound",
        endpoint: Endpoint::Inbound,
    },
    Route {
        method: http::Method::POST,
        path: "/sms/status",
        endpoint: Endpoint::Status,
    },
];

pub async fn handler(
    store: &dyn Store,
    deps: &Deps,
    event: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    Ok(handle(store, deps, event, Timestamp::now()).await)
}

/// [`handler`] at a given time (tests move the clock to cross the idle timeout).
pub async fn handle(
    store: &dyn Store,
    deps: &Deps,
    event: Request,
    now: Timestamp,
) -> Response<Body> {
    let path = event.uri().path().to_owned();
    let request_id = casebridge::http::request_id(
        event
            .lambda_context_ref()
            .map(|context| context.request_id.as_str()),
    );
    let result = match routes::find(ROUTES, event.method(), &path) {
        Found::Route(Endpoint::Inbound, _) => {
            route(&event, deps, "/sms/inbound", |form| {
                inbound::receive(store, deps, form, now)
            })
            .await
        }
        Found::Route(Endpoint::Status, _) => {
            route(&event, deps, "/sms/status", |form| {
                delivery_status::record(store, form, now)
            })
            .await
        }
        Found::WrongMethod => Err(SmsError::MethodNotAllowed),
        Found::NoRoute => Err(SmsError::NotFound),
    };
    result.unwrap_or_else(|e| e.into_response(&request_id))
}

async fn route<F, Fut>(
    event: &Request,
    deps: &Deps,
    path: &str,
    f: F,
) -> Result<Response<Body>, SmsError>
where
    F: FnOnce(webhook::Form) -> Fut,
    Fut: Future<Output = Result<Response<Body>, SmsError>>,
{
    let form = webhook::authenticate(event, deps, path)?;
    f(form).await
}
