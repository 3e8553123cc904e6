//! `POST /widget/sessions`: who the visitor is (a proven visitor id, a verified identity, or
//! someone new), the per-address allowance of new conversations, and the session it resumes or
//! opens, with a session token.

use super::*;

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
    /// The page's or the browser's language (`es`, `pt-BR`): the greeting's language until the
    /// visitor has written enough to tell. One casebridge does not ship is the default's.
    language: Option<String>,
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

pub(super) async fn start(
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
    // What the visitor wrote decides; before that, what the page says.
    let language = conversation_language(&messages)
        .or_else(|| req.language.as_deref().and_then(Language::parse));
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
            "greeting": deps.concierge.settings_for(language).assistant.greeting,
            "language": language.map(Language::code),
            "messages": visible(&messages),
            "last_seq": messages.last().map(|m| m.seq).unwrap_or(from),
            // Where to open a socket for pushes (absent: poll only).
            "socket_url": deps.sockets.as_ref().map(|s| s.url().as_str()),
            "attachments": deps.attachments.as_ref().map(|_| json!({
                "max_bytes": deps.widget.attachments.max_bytes,
                "types": deps.widget.attachments.allowed_types,
            })),
        }),
    ))
}
