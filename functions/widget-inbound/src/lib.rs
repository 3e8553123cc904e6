//! Widget channel: the widget API, the embeddable script, and the signed transcript page.
//!
//! | route | what |
//! |---|---|
//! | `POST /widget/sessions` | start or resume a session; returns a session token |
//! | `POST /widget/sessions/{id}/messages` | a visitor message; returns the reply or the handoff notice |
//! | `GET /widget/sessions/{id}/messages?after=N` | what arrived since N (agent replies): one query |
//! | `POST /widget/sessions/{id}/read` | the visitor has seen up to a seq: the case's read receipt |
//! | `POST /widget/sessions/{id}/attachments` | a presigned upload for one file |
//! | `GET /widget.js` | the script a site embeds |
//! | `GET /transcripts/{id}?sig=…` | the read-only transcript page the case links to |
//! | WebSocket `$connect`, `$disconnect` | a socket the widget opens to be pushed to ([`socket`]) |
//! | `GET /attachments/{id}/{attachment}?sig=…` | a redirect to the file, for the case's links |
//!
//! The same routes, as the function dispatches on them, are [`ROUTES`] (with the `OPTIONS`
//! preflights); the local stack mounts that table and a test holds template.yaml to it.
//!
//! [`api`] holds the API calls, [`attachments`] the file flow (stored through
//! [`attachment_store`]), [`cors`] the origin checks, [`transcript`] the page, [`socket`] the WebSocket API's routes. Errors become JSON
//! answers in one place ([`WidgetError::into_response`]).

pub mod api;
pub mod attachment_store;
pub mod attachments;
pub mod cors;
mod file_names;
mod request;
pub mod socket;
pub mod transcript;

use std::sync::Arc;
use std::time::Duration;

use attachment_store::{AttachmentError, AttachmentStore};

use casebridge::assistant::Concierge;
use casebridge::config::{BaseUrl, Config, ConfigError, WidgetConfig};
use casebridge::domain::InvalidText;
use casebridge::routes::{self, Found, Route};
use casebridge::store::{Store, StoreError};
use casebridge::widget::auth::TokenError;
use casebridge::widget::socket::Sockets;
use jiff::Timestamp;
use lambda_http::{Body, Request, RequestExt, Response};

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
    /// Pushes to the session's other sockets (tabs) what a send stored; `None`: no push, and
    /// the widget is told no socket URL, so it polls. Set with [`Deps::with_sockets`].
    pub sockets: Option<Sockets>,
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
            sockets: None,
        })
    }

    /// Pushes through `sockets` (built in `main`, it needs the Lambda's AWS identity).
    pub fn with_sockets(mut self, sockets: Option<Sockets>) -> Self {
        self.sockets = sockets;
        self
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
    /// A limit was reached ([`casebridge::config::WidgetLimits`]): 429, with `Retry-After` when
    /// waiting helps.
    #[error("{message}")]
    TooMany {
        message: String,
        retry_after: Option<Duration>,
    },
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
    /// 429 for a conversation that reached one of its limits.
    pub(crate) fn session_full(what: &str) -> WidgetError {
        WidgetError::TooMany {
            message: format!("this conversation has reached its limit of {what}; start a new one"),
            retry_after: None,
        }
    }

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
            WidgetError::TooMany { .. } => 429,
            WidgetError::Attachment(_) => 503,
            WidgetError::Store(e) if e.is_transient() => 503,
            WidgetError::Store(_) => 500,
        }
    }

    /// The answer for this error. A 5xx says only that something failed and which request it
    /// was: the cause (a table name, an SDK message) goes to the log under the same request id,
    /// never to the browser.
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let status = self.status();
        if status >= 500 {
            tracing::error!(error = %self, request_id, "widget request failed");
        } else {
            tracing::info!(error = %self, status, "widget request refused");
        }
        let mut response =
            casebridge::http::error_response(status, &self.to_string(), request_id).map(Body::from);
        response
            .headers_mut()
            .insert("cache-control", http::HeaderValue::from_static("no-store"));
        if let WidgetError::TooMany {
            retry_after: Some(wait),
            ..
        } = &self
        {
            // Whole seconds, rounded up: a client that waits as told is never early.
            let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
                .max(1)
                .to_string();
            if let Ok(v) = http::HeaderValue::from_str(&seconds) {
                response.headers_mut().insert("retry-after", v);
            }
        }
        response
    }
}

pub fn json_response(status: u16, body: &serde_json::Value) -> Response<Body> {
    let mut r = casebridge::http::json_response(status, body).map(Body::from);
    r.headers_mut()
        .insert("cache-control", http::HeaderValue::from_static("no-store"));
    r
}

/// What a widget request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Start,
    Send,
    Poll,
    /// The visitor has seen the conversation up to a seq (a read receipt for the rep).
    Read,
    CreateAttachment,
    /// A CORS preflight of one of the API routes.
    Preflight,
    Script,
    Transcript,
    Download,
}

const fn route(method: http::Method, path: &'static str, endpoint: Endpoint) -> Route<Endpoint> {
    Route {
        method,
        path,
        endpoint,
    }
}

/// Every route of the widget function (template.yaml's `WidgetInboundFunction` events).
pub const ROUTES: &[Route<Endpoint>] = {
    use Endpoint::*;
    use http::Method as M;
    &[
        route(M::POST, "/widget/sessions", Start),
        route(M::OPTIONS, "/widget/sessions", Preflight),
        route(M::POST, "/widget/sessions/{id}/messages", Send),
        route(M::GET, "/widget/sessions/{id}/messages", Poll),
        route(M::OPTIONS, "/widget/sessions/{id}/messages", Preflight),
        route(M::POST, "/widget/sessions/{id}/read", Read),
        route(M::OPTIONS, "/widget/sessions/{id}/read", Preflight),
        route(
            M::POST,
            "/widget/sessions/{id}/attachments",
            CreateAttachment,
        ),
        route(M::OPTIONS, "/widget/sessions/{id}/attachments", Preflight),
        route(M::GET, "/attachments/{id}/{attachment}", Download),
        route(M::GET, "/widget.js", Script),
        route(M::GET, "/transcripts/{id}", Transcript),
    ]
};

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
    let request_id = casebridge::http::request_id(
        event
            .lambda_context_ref()
            .map(|context| context.request_id.as_str()),
    );
    let failed = |e: WidgetError| e.into_response(&request_id);
    // The WebSocket API's events ($connect, $disconnect) come with their own context.
    if let Some(lambda_http::request::RequestContext::WebSocket(context)) =
        event.request_context_ref()
    {
        return socket::handle(store, deps, &event, context, now)
            .await
            .unwrap_or_else(failed);
    }
    let found = routes::find(ROUTES, &method, &path);
    // The script, the transcript page and the attachment links are not API calls: no CORS, no
    // token.
    match &found {
        Found::Route(Endpoint::Script, _) => return script(),
        Found::Route(Endpoint::Transcript, params) => {
            let rest = params.get("id").unwrap_or_default();
            let mut r = transcript::page(store, deps, &event, rest, now)
                .await
                .unwrap_or_else(failed);
            casebridge::http::page_headers(r.headers_mut());
            return r;
        }
        Found::Route(Endpoint::Download, params) => {
            let rest = format!(
                "{}/{}",
                params.get("id").unwrap_or_default(),
                params.get("attachment").unwrap_or_default()
            );
            let mut r = attachments::download(deps, &event, &rest)
                .await
                .unwrap_or_else(failed);
            casebridge::http::page_headers(r.headers_mut());
            return r;
        }
        _ => {}
    }
    let origin = match cors::check(&event, &deps.widget) {
        Ok(o) => o,
        Err(e) => return failed(e),
    };
    if method == http::Method::OPTIONS {
        return cors::preflight(origin.as_deref());
    }
    let result = match found {
        Found::Route(endpoint, params) => {
            api::dispatch(store, deps, &event, endpoint, params.get("id"), now).await
        }
        Found::WrongMethod => Err(WidgetError::MethodNotAllowed),
        Found::NoRoute => Err(WidgetError::NotFound),
    };
    let mut response = result.unwrap_or_else(failed);
    response.headers_mut().insert(
        "x-content-type-options",
        http::HeaderValue::from_static("nosniff"),
    );
    cors::decorate(&mut response, origin.as_deref());
    response
}

/// `GET /widget.js`: the script, cached for five minutes.
fn script() -> Response<Body> {
    let mut r = Response::new(Body::from(WIDGET_JS));
    r.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/javascript; charset=utf-8"),
    );
    r.headers_mut().insert(
        "cache-control",
        http::HeaderValue::from_static("public, max-age=300"),
    );
    r.headers_mut().insert(
        "x-content-type-options",
        http::HeaderValue::from_static("nosniff"),
    );
    r
}

/// 409: the conversation was closed (an agent resolved the case); the widget starts a new one.
pub(crate) fn closed() -> Response<Body> {
    json_response(
        409,
        &serde_json::json!({"error": "this conversation is closed; start a new session", "state": "closed"}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &Response<Body>) -> serde_json::Value {
        match r.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("not a text body: {other:?}"),
        }
    }

    #[test]
    fn a_failure_inside_answers_a_generic_500_with_the_request_id() {
        // GIVEN the store failing with a message that names the table and the account
        let e = WidgetError::Store(StoreError::Backend {
            message: "ResourceNotFoundException: arn:aws:dynamodb:eu-west-1:123456789012:table/casebridge-prod".into(),
            retryable: false,
        });
        // WHEN it is answered
        let r = e.into_response("req-42");
        // THEN the visitor sees a generic message and the request id to quote, nothing more
        assert_eq!(r.status(), 500);
        let b = body(&r);
        assert_eq!(b["error"], casebridge::http::INTERNAL_ERROR);
        assert_eq!(b["request_id"], "req-42");
        assert!(!b.to_string().contains("arn:aws"), "{b}");
        assert!(!b.to_string().contains("casebridge-prod"), "{b}");
    }

    #[test]
    fn a_limit_answers_429_with_retry_after_in_whole_seconds() {
        let e = WidgetError::TooMany {
            message: "too many new conversations from this address".into(),
            retry_after: Some(Duration::from_millis(1500)),
        };
        let r = e.into_response("req-1");
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "2");
        assert_eq!(
            body(&r)["error"],
            "too many new conversations from this address"
        );
        // AND a limit that waiting does not lift says so by sending no Retry-After
        let e = WidgetError::TooMany {
            message: "this conversation has reached 200 messages".into(),
            retry_after: None,
        };
        let r = e.into_response("req-2");
        assert_eq!(r.status(), 429);
        assert!(r.headers().get("retry-after").is_none());
    }
}
