//! The widget API: start or resume a session, send a message, poll for what is new.
//!
//! Identity: a valid identity JWT from the site makes the visitor a verified email (the contact
//! is matched by it, and the visitor resumes their open session from any device). Without one the
//! visitor is anonymous, known by the visitor id the widget keeps; a name or email they type is
//! noted in the transcript as unverified and never used to match a contact. An anonymous visitor
//! who signs in later (the same visitor id, now with a JWT) keeps the conversation: it is linked
//! to the verified email.

use casebridge::domain::{
    Channel, ConversationKey, Customer, MAX_MESSAGE_CHARS, Message, MessageText, NewMessage,
    ProviderMessageId, Role, Session, SessionId, SessionState, VisitorId,
};
use casebridge::store::{Appended, Store, StoreError};
use casebridge::turn::{self, Outcome};
use casebridge::widget_auth::{issue_session_token, verify_identity, verify_session_token};
use jiff::Timestamp;
use lambda_http::{Body, Request, RequestExt, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Deps, WidgetError, json_response};

/// Largest JSON body accepted.
const MAX_BODY: usize = 64 * 1024;
/// Our side of every widget conversation (one widget per deployment).
const ENDPOINT: &str = "widget";

pub async fn route(
    store: &dyn Store,
    deps: &Deps,
    event: &Request,
    path: &str,
    now: Timestamp,
) -> Result<Response<Body>, WidgetError> {
    let method = event.method();
    if path.ends_with("/widget/sessions") {
        return match *method {
            http::Method::POST => start(store, deps, event, now).await,
            _ => Err(WidgetError::MethodNotAllowed),
        };
    }
    let Some(rest) = path.split("/widget/sessions/").nth(1) else {
        return Err(WidgetError::NotFound);
    };
    let (raw_id, attachments) = match (
        rest.strip_suffix("/messages"),
        rest.strip_suffix("/attachments"),
    ) {
        (Some(id), _) => (id, false),
        (None, Some(id)) => (id, true),
        (None, None) => return Err(WidgetError::NotFound),
    };
    // An id that is not one of ours cannot name a session.
    let id = SessionId::parse(raw_id).map_err(|_| WidgetError::NotFound)?;
    authorize(event, deps, id, now)?;
    match (attachments, method.clone()) {
        (false, http::Method::POST) => send(store, deps, event, id, now).await,
        (false, http::Method::GET) => poll(store, event, id).await,
        (true, http::Method::POST) => crate::attachments::create(store, deps, event, id).await,
        _ => Err(WidgetError::MethodNotAllowed),
    }
}

pub(crate) fn body_json<T: for<'de> Deserialize<'de> + Default>(
    event: &Request,
) -> Result<T, WidgetError> {
    let bytes: &[u8] = match event.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => b"",
    };
    if bytes.len() > MAX_BODY {
        return Err(WidgetError::TooLarge);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| WidgetError::BadRequest(format!("invalid JSON: {e}")))
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

pub fn message_json(m: &Message) -> Value {
    let mut v = json!({"seq": m.seq, "role": m.role.as_str(), "text": m.text.as_str(), "at": m.at.to_string()});
    if !m.attachments.is_empty() {
        v["attachments"] = m
            .attachments
            .iter()
            .map(|a| json!({"url": a.url, "content_type": a.content_type}))
            .collect();
    }
    v
}

/// 409: the conversation was closed (an agent resolved the case); the widget starts a new one.
pub(crate) fn closed() -> Response<Body> {
    json_response(
        409,
        &json!({"error": "this conversation is closed; start a new session", "state": "closed"}),
    )
}

/// What the visitor sees: everything but casebridge's own notes.
fn visible(messages: &[Message]) -> Vec<Value> {
    messages
        .iter()
        .filter(|m| m.role != Role::System)
        .map(message_json)
        .collect()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    visitor_id: Option<String>,
    /// The site's signed identity JWT.
    identity: Option<String>,
    /// What the visitor typed: kept as unverified.
    name: Option<String>,
    email: Option<String>,
}

fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>()
        .trim()
        .to_owned()
}

async fn start(
    store: &dyn Store,
    deps: &Deps,
    event: &Request,
    now: Timestamp,
) -> Result<Response<Body>, WidgetError> {
    let req: StartRequest = body_json(event)?;
    let visitor = match req.visitor_id.as_deref() {
        Some(v) => {
            VisitorId::parse(v).map_err(|e| WidgetError::BadRequest(format!("visitor_id: {e}")))?
        }
        None => VisitorId::new_random(),
    };
    let identity = match (&req.identity, &deps.widget.identity_secret) {
        (Some(jwt), Some(secret)) => Some(
            verify_identity(secret.expose_secret().as_bytes(), jwt, now)
                .map_err(|e| WidgetError::Unauthorized(format!("identity: {e}")))?,
        ),
        (Some(_), None) => {
            return Err(WidgetError::BadRequest(
                "identity tokens are not accepted: WIDGET_IDENTITY_SECRET is not configured".into(),
            ));
        }
        (None, _) => None,
    };
    let customer = match &identity {
        Some(i) => Customer::Email(i.email.clone()),
        None => Customer::Visitor(visitor.clone()),
    };
    let key = ConversationKey::new(Channel::Widget, customer, ENDPOINT);
    let mut linked = false;
    let (mut session, opened) = match (&identity, &req.visitor_id) {
        // A verified identity on a device with an open anonymous conversation: that
        // conversation becomes the verified visitor's, unless they already have one open
        // (then that one resumes, on this device too).
        (Some(_), Some(_)) => match store.active_session(&key).await? {
            Some(s) => (s, false),
            None => {
                let anon = ConversationKey::new(
                    Channel::Widget,
                    Customer::Visitor(visitor.clone()),
                    ENDPOINT,
                );
                match store.active_session(&anon).await? {
                    Some(a) => match store.link_identity(&a, &key, now).await {
                        Ok(s) => {
                            linked = true;
                            (s, false)
                        }
                        Err(StoreError::AlreadyActive | StoreError::Closed(_)) => {
                            store.find_or_open(&key, now).await?
                        }
                        Err(e) => return Err(e.into()),
                    },
                    None => store.find_or_open(&key, now).await?,
                }
            }
        },
        _ => store.find_or_open(&key, now).await?,
    };
    let mut notes = Vec::new();
    if let Some(i) = &identity
        && (opened || linked)
    {
        let who = match &i.name {
            Some(n) => format!("{n} <{}>", i.email.as_str()),
            None => i.email.as_str().to_owned(),
        };
        notes.push(format!("Visitor verified by the site as {who}."));
    }
    let typed: Vec<String> = [("name", &req.name), ("email", &req.email)]
        .iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .map(clean)
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k} {v:?}"))
        })
        .collect();
    if opened && !typed.is_empty() {
        notes.push(format!("Visitor says: {} (unverified).", typed.join(", ")));
    }
    if !notes.is_empty() {
        let notes = notes
            .iter()
            .filter_map(|n| MessageText::parse(n).ok())
            .map(|t| NewMessage::new(Role::System, t))
            .collect();
        if let Appended::Stored { session: s, .. } =
            store.append(&session, notes, None, now).await?
        {
            session = *s;
        }
    }
    let messages = store.messages_after(session.id, 0).await?;
    let token = issue_session_token(
        deps.widget.secret.expose_secret().as_bytes(),
        session.id,
        &visitor,
        now,
    );
    tracing::info!(session_id = %session.id, opened, verified = identity.is_some(), "widget session");
    Ok(json_response(
        200,
        &json!({
            "session_id": session.id.to_string(),
            "token": token,
            "visitor_id": visitor.as_str(),
            "state": session.state.as_str(),
            "greeting": deps.concierge.settings().assistant.greeting,
            "messages": visible(&messages),
            "last_seq": messages.last().map(|m| m.seq).unwrap_or(0),
            "attachments": deps.attachments.as_ref().map(|_| json!({
                "max_bytes": deps.widget.attachments.max_bytes,
                "types": deps.widget.attachments.allowed_types,
            })),
        }),
    ))
}

#[derive(Deserialize, Default)]
struct SendRequest {
    text: Option<String>,
    /// The widget's id for this message, so a retried POST is stored once.
    client_id: Option<String>,
    /// A file uploaded through `/attachments` to go with this message.
    attachment_id: Option<String>,
}

async fn send(
    store: &dyn Store,
    deps: &Deps,
    event: &Request,
    id: SessionId,
    now: Timestamp,
) -> Result<Response<Body>, WidgetError> {
    let req: SendRequest = body_json(event)?;
    // With a file the text is optional (a blank one is dropped); without one it is required.
    let typed = match (req.text.as_deref(), &req.attachment_id) {
        (None, None) => return Err(WidgetError::BadRequest("text is missing".into())),
        (Some(t), Some(_)) if t.trim().is_empty() => None,
        (t, _) => t
            .map(|t| MessageText::parse_with_limit(t, MAX_MESSAGE_CHARS))
            .transpose()?,
    };
    // One read for the session and its transcript, one write for the message and the answer.
    let (session, transcript) = store.transcript(id).await?.ok_or(WidgetError::NotFound)?;
    if session.state == SessionState::Closed {
        return Ok(closed());
    }
    let mut message = match (&req.attachment_id, typed) {
        (Some(raw), typed) => {
            let (attachment, said) = crate::attachments::resolve(deps, event, id, raw).await?;
            let text = match typed {
                Some(t) => t,
                None => MessageText::parse(&said)?,
            };
            NewMessage::new(Role::Customer, text).with_attachments(vec![attachment])
        }
        (None, Some(text)) => NewMessage::new(Role::Customer, text),
        (None, None) => return Err(WidgetError::BadRequest("text is missing".into())),
    };
    // A retried POST is stored once: by the widget's id for it, else by the attachment's.
    let dedupe = match (&req.client_id, &req.attachment_id) {
        (Some(c), _) => Some(c.clone()),
        (None, Some(a)) => Some(format!("attachment-{}", a.trim())),
        (None, None) => None,
    };
    if let Some(c) = dedupe.as_deref() {
        let pid = ProviderMessageId::parse(c)
            .map_err(|e| WidgetError::BadRequest(format!("client_id: {e}")))?;
        message = message.with_provider_id(pid);
    }
    let outcome = turn::answer(
        store,
        &deps.concierge,
        &session,
        transcript,
        vec![message],
        now,
    )
    .await;
    match outcome {
        Ok(Outcome::Stored {
            session, messages, ..
        }) => Ok(sent(&session, &messages, session.last_seq)),
        // A retried POST: answer from what is stored.
        Ok(Outcome::AlreadySeen { seq, .. }) => answer(store, deps, id, seq, now).await,
        Err(StoreError::Closed(_)) => Ok(closed()),
        Err(e) => Err(e.into()),
    }
}

/// The answer to a send: the visitor's message and whatever followed it.
fn sent(session: &Session, new: &[Message], fallback_seq: u64) -> Response<Body> {
    json_response(
        200,
        &json!({
            "state": session.state.as_str(),
            "messages": visible(new),
            "last_seq": new.last().map(|m| m.seq).unwrap_or(fallback_seq),
        }),
    )
}

/// The reply to message `seq`: the one already stored after it, or a new decision.
async fn answer(
    store: &dyn Store,
    deps: &Deps,
    id: SessionId,
    seq: u64,
    now: Timestamp,
) -> Result<Response<Body>, WidgetError> {
    let (session, transcript) = store.transcript(id).await?.ok_or(WidgetError::NotFound)?;
    let already = transcript
        .iter()
        .any(|m| m.seq > seq && m.role != Role::System);
    let (session, added) = if already {
        (session, Some(Vec::new()))
    } else {
        decide(store, deps, &session, &transcript, now).await?
    };
    // Built from the transcript already read plus what `decide` wrote; only a lost race reads
    // again.
    let new = match added {
        Some(added) => {
            let mut new: Vec<Message> = transcript.into_iter().filter(|m| m.seq >= seq).collect();
            new.extend(added);
            new
        }
        None => store.messages_after(id, seq - 1).await?,
    };
    Ok(sent(&session, &new, seq))
}

async fn decide(
    store: &dyn Store,
    deps: &Deps,
    session: &Session,
    transcript: &[Message],
    now: Timestamp,
) -> Result<(Session, Option<Vec<Message>>), WidgetError> {
    let decision = deps.concierge.respond(session, transcript, now).await;
    let Some((message, change)) = turn::answer_of(decision)? else {
        return Ok((session.clone(), Some(Vec::new())));
    };
    match store.append(session, vec![message], change, now).await {
        Ok(Appended::Stored { session, messages }) => Ok((*session, Some(messages))),
        Ok(Appended::AlreadySeen { .. }) => Ok((session.clone(), None)),
        // Another request got there first: read what it wrote.
        Err(StoreError::StateChanged { .. } | StoreError::Closed(_)) => Ok((
            store
                .session(session.id)
                .await?
                .unwrap_or_else(|| session.clone()),
            None,
        )),
        Err(e) => Err(e.into()),
    }
}

async fn poll(
    store: &dyn Store,
    event: &Request,
    id: SessionId,
) -> Result<Response<Body>, WidgetError> {
    let after = event
        .query_string_parameters_ref()
        .and_then(|q| q.first("after").map(str::to_owned))
        .or_else(|| {
            // Invoked without API Gateway's parsed parameters: read the URI.
            event.uri().query().and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "after")
                    .map(|(_, v)| v.into_owned())
            })
        });
    let after = match after {
        None => 0,
        Some(a) => a
            .parse::<u64>()
            .map_err(|_| WidgetError::BadRequest("after must be a whole number".into()))?,
    };
    // One query; nothing new costs the same and returns an empty list.
    let new = store.messages_after(id, after).await?;
    Ok(json_response(
        200,
        &json!({
            "messages": visible(&new),
            "last_seq": new.last().map(|m| m.seq).unwrap_or(after),
        }),
    ))
}
