//! `POST …/messages` and `GET …/messages?after=N`: a visitor's message checked against the
//! conversation's limits, deduplicated by its `client_id` within the session, stored with the
//! assistant's answer (the handoff gated per address), and the poll's page of what is new; and
//! `POST …/read`, how far the visitor has seen it.

use super::*;

#[derive(Deserialize, Default)]
struct SendRequest {
    text: Option<String>,
    /// The widget's id for this message, so a retried POST is stored once.
    client_id: Option<String>,
    /// A file uploaded through `/attachments` to go with this message.
    attachment_id: Option<String>,
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
        return Err(WidgetError::session_full(&format!(
            "{} messages",
            limits.max_messages
        )));
    }
    if session.customer_bytes + text_bytes as u64 > limits.max_bytes {
        return Err(WidgetError::session_full(&format!(
            "{} bytes of text",
            limits.max_bytes
        )));
    }
    if attachment && session.customer_attachments + 1 > limits.max_attachments {
        return Err(WidgetError::session_full(&format!(
            "{} files",
            limits.max_attachments
        )));
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

pub(super) async fn send(
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
        return Ok(crate::closed());
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
        }) => {
            // The visitor's other tabs: this one reads the answer below (and shows a seq once).
            casebridge::widget::socket::push(store, deps.sockets.as_ref(), &session, &messages)
                .await;
            Ok(sent(&session, &messages, session.last_seq))
        }
        // A retried POST: answer from what is stored.
        Ok(Outcome::AlreadySeen { seq, .. }) => answer_again(store, deps, id, seq, now).await,
        Ok(Outcome::HandoffRefused { retry_after }) => Err(WidgetError::TooMany {
            message: format!(
                "too many requests for a person from this address; at most {} a day",
                limits.handoffs_per_day
            ),
            retry_after: Some(retry_after),
        }),
        Err(StoreError::Closed(_)) => Ok(crate::closed()),
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

pub(super) async fn poll(
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReadRequest {
    seq: Option<u64>,
}

/// `POST …/read {"seq": N}`: the visitor has seen the conversation up to N on screen (the widget
/// says so when a rep's reply is in view). Recorded when it moves the mark forward; the handoff
/// sync then shows it on the case ([`casebridge::creatio::sync`], the read receipt). One
/// conditional write; a mark that does not move anything writes nothing.
pub(super) async fn read(
    store: &dyn Store,
    event: &Request,
    id: SessionId,
    now: Timestamp,
) -> Result<Response<Body>, WidgetError> {
    let req: ReadRequest = body_json(event)?;
    let seq = req
        .seq
        .filter(|s| *s > 0)
        .ok_or_else(|| WidgetError::BadRequest("seq must be a message's seq".into()))?;
    let moved = store.mark_read(id, seq, now).await?;
    if !moved {
        let session = store.session(id).await?.ok_or(WidgetError::NotFound)?;
        if seq > session.last_seq {
            return Err(WidgetError::BadRequest(format!(
                "seq {seq} is past the conversation's last message ({})",
                session.last_seq
            )));
        }
    }
    Ok(json_response(
        200,
        &json!({"read_seq": seq, "recorded": moved}),
    ))
}
