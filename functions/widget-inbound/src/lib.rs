//! Widget channel: the widget API, the embeddable script, and the signed transcript page.
//!
//! | route | what |
//! |---|---|
//! | `POST /widget/sessions` | start or resume a session; returns a session token |
//! | `POST /widget/sessions/{id}/messages` | a visitor message; returns the reply or the handoff notice |
//! | `GET /widget/sessions/{id}/messages?after=N` | what arrived since N (agent replies): one query |
//! | `POST /widget/sessions/{id}/attachments` | a presigned upload for one file |
//! | `GET /widget.js` | the script a site embeds |
//! | `GET /transcripts/{id}?sig=…` | the read-only transcript page the case links to |
//! | `GET /attachments/{id}/{attachment}?sig=…` | a redirect to the file, for the case's links |
//!
//! [`api`] holds the API calls, [`attachments`] the file flow (stored through
//! [`attachment_store`]), [`cors`] the origin checks, [`transcript`] the page. Errors become JSON
//! answers in one place ([`WidgetError::into_response`]).

pub mod api;
pub mod attachment_store;
pub mod attachments;
pub mod cors;
pub mod transcript;

use std::sync::Arc;

use attachment_store::{AttachmentError, AttachmentStore};

use casebridge::assistant::Concierge;
use casebridge::config::{BaseUrl, Config, ConfigError, WidgetConfig};
use casebridge::domain::InvalidText;
use casebridge::store::{Store, StoreError};
use casebridge::widget_auth::TokenError;
use jiff::Timestamp;
use lambda_http::{Body, Request, Response};
use serde_json::json;

/// The embeddable script, served as is.
pub const WIDGET_JS: &str = include_str!("widget.js");

#[derive(Clone)]
pub struct Deps {
    pub concierge: Concierge,
    pub widget: WidgetConfig,
    /// Where attachments go; `None` turns attachments off (404, and no attach button).
    pub attachments: Option<Arc<dyn AttachmentStore>>,
    /// Base of the links this function hands out; `None` → the request's Host.
    pub public_base_url: Option<BaseUrl>,
}

impl Deps {
    /// Everything but attachment storage, which needs an SDK client: see
    /// [`Deps::with_attachments`].
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        Ok(Self {
            concierge: Concierge::from_config(config)?,
            widget: config.widget()?.clone(),
            attachments: None,
            public_base_url: config.public_base_url.clone(),
        })
    }

    pub fn with_attachments(mut self, store: Arc<dyn AttachmentStore>) -> Self {
        self.attachments = Some(store);
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WidgetError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid session token: {0}")]
    Unauthorized(String),
    #[error("this token is for another session")]
    Forbidden,
    #[error("origin not allowed")]
    OriginNotAllowed,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body too large")]
    TooLarge,
    #[error("{0}")]
    FileTooLarge(String),
    #[error("attachments are not enabled on this widget")]
    AttachmentsOff,
    #[error(transparent)]
    Attachment(#[from] AttachmentError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

impl From<InvalidText> for WidgetError {
    fn from(e: InvalidText) -> Self {
        WidgetError::BadRequest(format!("text: {e}"))
    }
}

impl From<TokenError> for WidgetError {
    fn from(e: TokenError) -> Self {
        WidgetError::Unauthorized(e.to_string())
    }
}

impl WidgetError {
    pub fn status(&self) -> u16 {
        match self {
            WidgetError::BadRequest(_) => 400,
            WidgetError::Unauthorized(_) => 401,
            WidgetError::Forbidden | WidgetError::OriginNotAllowed => 403,
            WidgetError::NotFound
            | WidgetError::AttachmentsOff
            | WidgetError::Store(StoreError::NotFound(_)) => 404,
            WidgetError::MethodNotAllowed => 405,
            WidgetError::TooLarge | WidgetError::FileTooLarge(_) => 413,
            WidgetError::Attachment(_) => 503,
            WidgetError::Store(e) if e.is_transient() => 503,
            WidgetError::Store(_) => 500,
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        if status >= 500 {
            tracing::error!(error = %self, "widget request failed");
        } else {
            tracing::info!(error = %self, status, "widget request refused");
        }
        json_response(status, &json!({ "error": self.to_string() }))
    }
}

pub fn json_response(status: u16, body: &serde_json::Value) -> Response<Body> {
    let mut r = casebridge::http::json_response(status, body).map(Body::from);
    r.headers_mut()
        .insert("cache-control", http::HeaderValue::from_static("no-store"));
    r
}

pub async fn handler(
    store: &dyn Store,
    deps: &Deps,
    event: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    Ok(handle(store, deps, event, Timestamp::now()).await)
}

pub async fn handle(
    store: &dyn Store,
    deps: &Deps,
    event: Request,
    now: Timestamp,
) -> Response<Body> {
    let path = event.uri().path().trim_end_matches('/').to_owned();
    let method = event.method().clone();
    // The script and the transcript page are not API calls: no CORS, no token.
    if path.ends_with("/widget.js") {
        let mut r = Response::new(Body::from(WIDGET_JS));
        r.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/javascript; charset=utf-8"),
        );
        r.headers_mut().insert(
            "cache-control",
            http::HeaderValue::from_static("public, max-age=300"),
        );
        return r;
    }
    if let Some(rest) = path.split("/transcripts/").nth(1) {
        return transcript::page(store, deps, &event, rest, now)
            .await
            .unwrap_or_else(WidgetError::into_response);
    }
    if !path.contains("/widget/")
        && let Some(rest) = path.split("/attachments/").nth(1)
    {
        return attachments::download(deps, &event, rest)
            .await
            .unwrap_or_else(WidgetError::into_response);
    }
    let origin = match cors::check(&event, &deps.widget) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    if method == http::Method::OPTIONS {
        return cors::preflight(origin.as_deref());
    }
    let result = api::route(store, deps, &event, &path, now).await;
    let mut response = result.unwrap_or_else(WidgetError::into_response);
    cors::decorate(&mut response, origin.as_deref());
    response
}
