//! The widget API: start or resume a session, send a message, poll for what is new, say what
//! was read.
//!
//! **Who the visitor is.** A valid identity JWT from the site makes the visitor a verified
//! email: the contact is matched by it, and the visitor resumes their open conversation from any
//! device. Without one the visitor is anonymous: casebridge issues a visitor id (244 random bits)
//! and its proof (an HMAC of the id under `WIDGET_SECRET`), the widget keeps both in the browser,
//! and only the two together resume the conversation. An id the server did not issue is refused
//! with a 400; an id without its proof with a 401, so whoever saw an id (it never reaches
//! Creatio or a page, which show [`casebridge::domain::VisitorId::label`]) gets neither the
//! conversation nor its history. A name or email the visitor types is noted as unverified and
//! never used to match a contact. A proven anonymous visitor who signs in later keeps the
//! conversation: it is linked to the verified email.
//!
//! **What a visitor may do** ([`casebridge::config::WidgetLimits`]): per conversation, a number
//! of messages, bytes of text and attachments; per client address, new conversations an hour
//! and handoffs a day (each is a case in Creatio), counted in the table with a TTL. Past a limit
//! the answer is 429 (with `Retry-After` for the per-client ones) and nothing more is stored.
//! The assistant reads the latest messages only ([`casebridge::store::TRANSCRIPT_WINDOW`]) and a
//! poll answers one page, so a long conversation costs no more per message than a short one.
//!
//! **Dedupe.** The widget's `client_id` for a message is scoped to its session: a retried POST
//! is stored once, and no other session's ids can make a message look seen.

mod messages;
mod sessions;

use std::time::Duration;

use casebridge::config::WidgetLimits;
use casebridge::conversation::redelivery;
use casebridge::conversation::turn::{self, HandoffGate, Outcome};
use casebridge::domain::{
    Channel, ConversationKey, Customer, Language, MAX_MESSAGE_CHARS, Message, MessageText,
    NewMessage, ProviderMessageId, Role, Session, SessionId, SessionState, VisitorId,
    conversation_language, without_hidden_chars,
};
use casebridge::store::{Allowance, Appended, Store, StoreError, TRANSCRIPT_WINDOW};
use casebridge::widget::auth::{
    issue_session_token, verify_identity, verify_session_token, verify_visitor_proof, visitor_proof,
};
use jiff::Timestamp;
use lambda_http::{Body, Request, RequestExt, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use crate::request::{body_json, client_address};
use crate::{Deps, Endpoint, WidgetError, json_response};

/// Our side of every widget conversation (one widget per deployment).
const ENDPOINT: &str = "widget";
/// Longest `client_id` the widget may send (it is stored with the session id in front).
const MAX_CLIENT_ID: usize = 64;
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Runs an API endpoint of [`crate::ROUTES`]; `id` is the route's session id, when it has one.
pub async fn dispatch(
    store: &dyn Store,
    deps: &Deps,
    event: &Request,
    endpoint: Endpoint,
    id: Option<&str>,
    now: Timestamp,
) -> Result<Response<Body>, WidgetError> {
    if endpoint == Endpoint::Start {
        return sessions::start(store, deps, event, now).await;
    }
    // An id that is not one of ours cannot name a session.
    let id = id
        .and_then(|raw| SessionId::parse(raw).ok())
        .ok_or(WidgetError::NotFound)?;
    authorize(event, deps, id, now)?;
    match endpoint {
        Endpoint::Send => messages::send(store, deps, event, id, now).await,
        Endpoint::Poll => messages::poll(store, deps, event, id).await,
        Endpoint::Read => messages::read(store, event, id, now).await,
        Endpoint::CreateAttachment => crate::attachments::create(store, deps, event, id, now).await,
        // Served before the API (no CORS, no token), or answered by the preflight.
        _ => Err(WidgetError::MethodNotAllowed),
    }
}

/// The session token must be for this session.
fn authorize(
    event: &Request,
    deps: &Deps,
    id: SessionId,
    now: Timestamp,
) -> Result<VisitorId, WidgetError> {
    let token = event
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| WidgetError::Unauthorized("no Authorization: Bearer header".into()))?;
    let (sid, vid) = verify_session_token(
        deps.widget.secret.expose_secret().as_bytes(),
        token.trim(),
        now,
    )?;
    if sid != id {
        return Err(WidgetError::Forbidden);
    }
    Ok(vid)
}

/// How a message reads on the wire: one shape for the poll, the send's answer and the push.
pub use casebridge::widget::socket::{message_json, visible};
