//! The widget API: start or resume a session, send a message, poll for what is new.
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

use std::time::Duration;

use casebridge::config::WidgetLimits;
use casebridge::conversation::redelivery;
use casebridge::conversation::turn::{self, HandoffGate, Outcome};
use casebridge::domain::{
    Channel, ConversationKey, Customer, MAX_MESSAGE_CHARS, Message, MessageText, NewMessage,
    ProviderMessageId, Role, Session, SessionId, SessionState, VisitorId, without_hidden_chars,
};
use casebridge::store::{Allowance, Appended, Store, StoreError, TRANSCRIPT_WINDOW};
use casebridge::widget_auth::{
    issue_session_token, verify_identity, verify_session_token, verify_visitor_proof, visitor_proof,
};
use jiff::Timestamp;
use lambda_http::{Body, Request, RequestExt, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Deps, Endpoint, WidgetError, json_response};

/// Largest JSON body accepted.
const MAX_BODY: usize = 64 * 1024;
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
        return start(store, deps, event, now).await;
    }
    // An id that is not one of ours cannot name a session.
    let id = id
        .and_then(|raw| SessionId::parse(raw).ok())
        .ok_or(WidgetError::NotFound)?;
    authorize(event, deps, id, now)?;
    match endpoint {
        Endpoint::Send => send(store, deps, event, id, now).await,
        Endpoint::Poll => poll(store, deps, event, id).await,
        Endpoint::CreateAttachment => crate::attachments::create(store, deps, event, id).await,
        // Served before the API (no CORS, no token), or answered by the preflight.
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

/// The client's address as API Gateway saw it (`requestContext.http.sourceIp`; the local stack
/// sets it from the connection). Headers are not trusted: a client writes its own.
pub(crate) fn client_address(event: &Request) -> String {
    match event.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    }
    .unwrap_or_else(|| "unknown".to_owned())
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
    /// An anonymous visitor's id and its proof, as this widget issued them.
    visitor_id: Option<String>,
    visitor_secret: Option<String>,
    /// The site's signed identity JWT.
    identity: Option<String>,
    /// What the visitor typed: kept as unverified.
    name: Option<String>,
    email: Option<String>,
}

fn clean(s: &str) -> String {
    without_hidden_chars(s)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The visitor the request proves it is, or None for a new one.
fn proven_visitor(deps: &Deps, req: &StartRequest) -> Result<Option<VisitorId>, WidgetError> {
    match (&req.visitor_id, &req.visitor_secret) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(WidgetError::BadRequest(
            "visitor_secret without visitor_id".into(),
        )),
        (Some(raw), proof) => {
            let visitor = VisitorId::parse_issued(raw.trim())
                .map_err(|e| WidgetError::BadRequest(format!("visitor_id: {e}")))?;
            let secret = deps.widget.secret.expose_secret().as_bytes();
            match proof {
                Some(p) if verify_visitor_proof(secret, &visitor, p) => Ok(Some(visitor)),
                Some(_) => Err(WidgetError::Unauthorized(
                    "visitor_id and visitor_secret do not match".into(),
                )),
                None => Err(WidgetError::Unauthorized(
                    "visitor_secret is missing: a visitor resumes with the id and the secret it was issued".into(),
                )),
            }
        }
    }
}

/// Counts a new conversation for the client's address; 429 past the hour's allowance.
async fn admit_new_session(
    store: &dyn Store,
    limits: &WidgetLimits,
    event: &Request,
    now: Timestamp,
) -> Result<(), WidgetError> {
    let key = format!("widget-sessions:{}", client_address(event));
    match store
        .take_allowance(&key, HOUR, limits.sessions_per_hour, now)
        .await?
    {
        Allowance::Granted => Ok(()),
        Allowance::Exhausted { retry_after } => Err(WidgetError::TooMany {
            message: format!(
                "too many new conversations from this address; at most {} an hour",
                limits.sessions_per_hour
            ),
            retry_after: Some(retry_after),
        }),
    }
}

async fn start(
    store: &dyn Store,
    deps: &Deps,
    event: &Request,
    now: Timestamp,
) -> Result<Response<Body>, WidgetError> {
    let req: StartRequest = body_json(event)?;
    let proven = proven_visitor(deps, &req)?;
    let identity = match (&req.identity, &deps.widget.identity_secret) {
        (Some(jwt), Some(secret)) => Some(
            verify_identity(
                secret.expose_secret().as_bytes(),
                jwt,
                &deps.widget.identity,
                now,
            )
            .map_err(|e| WidgetError::Unauthorized(format!("identity: {e}")))?,
        ),
        (Some(_), None) => {
            return Err(WidgetError::BadRequest(
                "identity tokens are not accepted: WIDGET_IDENTITY_SECRET is not configured".into(),
            ));
        }
        (None, _) => None,
    };
    let visitor = match &proven {
        Some(v) => v.clone(),
        None => VisitorId::new_random(),
    };
    let customer = match &identity {
        Some(i) => Customer::Email(i.email.clone()),
        None => Customer::Visitor(visitor.clone()),
    };
    let key = ConversationKey::new(Channel::Widget, customer, ENDPOINT);
    let limits = &deps.widget.limits;
    let mut linked = false;
    let (mut session, opened) = match (&identity, &proven) {
        // A verified identity on a device with a proven anonymous conversation: that
        // conversation becomes the verified visitor's, unless they already have one open
        // (then that one resumes, on this device too).
        (Some(_), Some(anon_visitor)) => match store.active_session(&key).await? {
            Some(s) => (s, false),
            None => {
                let anon = ConversationKey::new(
                    Channel::Widget,
                    Customer::Visitor(anon_visitor.clone()),
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
                    None => {
                        admit_new_session(store, limits, event, now).await?;
                        store.find_or_open(&key, now).await?
                    }
                }
            }
        },
        (Some(_), None) => match store.active_session(&key).await? {
            Some(s) => (s, false),
            None => {
                admit_new_session(store, limits, event, now).await?;
                store.find_or_open(&key, now).await?
            }
        },
        // A new anonymous visitor always opens a conversation: counted for its address.
        (None, None) => {
            admit_new_session(store, limits, event, now).await?;
            store.find_or_open(&key, now).await?
        }
        // A proven visitor resumes (or, its conversation closed, starts its next one).
        (None, Some(_)) => store.find_or_open(&key, now).await?,
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
    // The latest page: a resumed conversation shows what the visitor needs, and older
    // messages stay where they are.
    let from = session.last_seq.saturating_sub(limits.poll_page as u64);
    let messages = store
        .messages_after(session.id, from, limits.poll_page)
        .await?;
    let secret = deps.widget.secret.expose_secret().as_bytes();
    let token = issue_session_token(secret, session.id, &visitor, now);
    tracing::info!(session_id = %session.id, opened, verified = identity.is_some(), "widget session");
    Ok(json_response(
        200,
        &json!({
            "session_id": session.id.to_string(),
            "token": token,
            "visitor_id": visitor.as_str(),
            "visitor_secret": visitor_proof(secret, &visitor),
            "state": session.state.as_str(),
            "greeting": deps.concierge.settings().assistant.greeting,
            "messages": visible(&messages),
            "last_seq": messages.last().map(|m| m.seq).unwrap_or(from),
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

/// 429 for a conversation that reached one of its limits.
pub(crate) fn session_full(what: &str) -> WidgetError {
    WidgetError::TooMany {
        message: format!("this conversation has reached its limit of {what}; start a new one"),
        retry_after: None,
    }
}

/// Before anything is stored: would this message take the conversation past a limit?
fn check_session_limits(
    limits: &WidgetLimits,
    session: &Session,
    text_bytes: usize,
    attachment: bool,
) -> Result<(), WidgetError> {
    // The visitor's message and the reply to it.
    if session.last_seq + 2 > limits.max_messages {
        return Err(session_full(&format!("{} messages", limits.max_messages)));
    }
    if session.customer_bytes + text_bytes as u64 > limits.max_bytes {
        return Err(session_full(&format!("{} bytes of text", limits.max_bytes)));
    }
    if attachment && session.customer_attachments + 1 > limits.max_attachments {
        return Err(session_full(&format!("{} files", limits.max_attachments)));
    }
    Ok(())
}

/// The client's handoffs a day, counted when the assistant hands off.
struct HandoffsPerAddress<'a> {
    store: &'a dyn Store,
    key: String,
    max: u32,
    now: Timestamp,
}

#[async_trait::async_trait]
impl HandoffGate for HandoffsPerAddress<'_> {
    async fn admit(&self) -> Result<Option<Duration>, StoreError> {
        Ok(
            match self
                .store
                .take_allowance(&self.key, DAY, self.max, self.now)
                .await?
            {
                Allowance::Granted => None,
                Allowance::Exhausted { retry_after } => Some(retry_after),
            },
        )
    }
}

/// The dedupe key of a message: the widget's id for it (or the attachment's), in this session.
fn dedupe_key(
    id: SessionId,
    client_id: Option<&str>,
    attachment_id: Option<&str>,
) -> Result<Option<ProviderMessageId>, WidgetError> {
    let key = match (client_id, attachment_id) {
        (Some(c), _) => {
            let c = c.trim();
            if c.is_empty() || c.len() > MAX_CLIENT_ID || !c.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(WidgetError::BadRequest(format!(
                    "client_id must be 1 to {MAX_CLIENT_ID} printable ASCII characters"
                )));
            }
            format!("w:{id}:{c}")
        }
        (None, Some(a)) => format!("w:{id}:attachment-{}", a.trim()),
        (None, None) => return Ok(None),
    };
    ProviderMessageId::parse(&key)
        .map(Some)
        .map_err(|e| WidgetError::BadRequest(format!("client_id: {e}")))
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
    let dedupe = dedupe_key(id, req.client_id.as_deref(), req.attachment_id.as_deref())?;
    // One read for the session and its latest messages, one write for the message and the
    // answer.
    let (session, transcript) = store
        .recent(id, TRANSCRIPT_WINDOW)
        .await?
        .ok_or(WidgetError::NotFound)?;
    if session.state == SessionState::Closed {
        return Ok(closed());
    }
    let limits = &deps.widget.limits;
    let text_bytes = typed.as_ref().map(|t| t.as_str().len()).unwrap_or(0);
    check_session_limits(limits, &session, text_bytes, req.attachment_id.is_some())?;
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
    if let Some(pid) = dedupe {
        message = message.with_provider_id(pid);
    }
    let gate = HandoffsPerAddress {
        store,
        key: format!("widget-handoffs:{}", client_address(event)),
        max: limits.handoffs_per_day,
        now,
    };
    let outcome = turn::take(
        store,
        &deps.concierge,
        &session,
        transcript,
        vec![message],
        Some(&gate),
        now,
    )
    .await;
    match outcome {
        Ok(Outcome::Stored {
            session, messages, ..
        }) => Ok(sent(&session, &messages, session.last_seq)),
        // A retried POST: answer from what is stored.
        Ok(Outcome::AlreadySeen { seq, .. }) => answer_again(store, deps, id, seq, now).await,
        Ok(Outcome::HandoffRefused { retry_after }) => Err(WidgetError::TooMany {
            message: format!(
                "too many requests for a person from this address; at most {} a day",
                limits.handoffs_per_day
            ),
            retry_after: Some(retry_after),
        }),
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
async fn answer_again(
    store: &dyn Store,
    deps: &Deps,
    id: SessionId,
    seq: u64,
    now: Timestamp,
) -> Result<Response<Body>, WidgetError> {
    let (session, transcript) = store
        .recent(id, TRANSCRIPT_WINDOW)
        .await?
        .ok_or(WidgetError::NotFound)?;
    let already = redelivery::answer_after(&transcript, seq).is_some();
    let (session, added) = if already {
        (session, Some(Vec::new()))
    } else {
        decide(store, deps, &session, &transcript, now).await?
    };
    // Built from the messages already read plus what `decide` wrote; only a lost race reads
    // again.
    let new = match added {
        Some(added) => {
            let mut new: Vec<Message> = transcript.into_iter().filter(|m| m.seq >= seq).collect();
            new.extend(added);
            new
        }
        None => {
            store
                .messages_after(id, seq - 1, deps.widget.limits.poll_page)
                .await?
        }
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
    let Some((message, change)) = turn::reply_of(decision)? else {
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
    deps: &Deps,
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
    // One query of one page (one more row tells whether there is another); nothing new costs
    // the same and returns an empty list.
    let page = deps.widget.limits.poll_page;
    let mut new = store.messages_after(id, after, page + 1).await?;
    let more = new.len() > page;
    new.truncate(page);
    Ok(json_response(
        200,
        &json!({
            "messages": visible(&new),
            "last_seq": new.last().map(|m| m.seq).unwrap_or(after),
            "more": more,
        }),
    ))
}
