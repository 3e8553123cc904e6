//! One inbound SMS, from the message the channel read to the answer it sends back (the SMS
//! channel's use case; sms-inbound only reads Twilio's form and writes TwiML around it).
//!
//! 1. Continuity: the active session for (customer number, our number). A conversation still with
//!    the assistant that has been idle longer than `SMS_IDLE_TIMEOUT_MINUTES` is closed and a new
//!    one opened. A conversation a person holds (handed off, or answered by a rep) is never
//!    idle-closed: reps answer days later, and only its case reaching a closing status ends it,
//!    so the customer's late message lands on the same case. One store call brings the session,
//!    its transcript and the customer's consent ([`Store::open_turn`]; two DynamoDB reads).
//! 2. The common case, a question from a customer who has not opted out, is one
//!    [`turn::take`]: the assistant decides on the transcript plus this message, and the message
//!    and the reply (or the handoff notice with the state change) are stored in one transaction.
//! 3. Twilio may deliver a message more than once: a `MessageSid` already stored is not stored
//!    again (the transaction refuses it and says where it is); the retry gets the answer the first
//!    delivery got (or, if the first delivery died before the reply was stored, the reply is
//!    produced now). There is no lookup before the write: duplicates are rare, and the common case
//!    should not pay a read for them.
//! 4. Compliance keywords (STOP/START/HELP) change consent and go into the transcript; they never
//!    reach the assistant. Nothing is sent to an opted-out number. These, and a session closed
//!    between the read and the write, take the two-step path: store the message, then answer.

use jiff::{SignedDuration, Timestamp};

use super::redelivery;
use super::turn::{self, Outcome};
use crate::assistant::Concierge;
use crate::domain::{
    Attachment, Channel, ConversationKey, Customer, Message, MessageText, NewMessage, PhoneNumber,
    ProviderMessageId, Role, Session, SessionId, SessionState, Transition, conversation_language,
};
use crate::sms::keywords::{self, Keyword};
use crate::store::{
    Appended, Consent, SessionChanges, StateChange, Store, StoreError, TRANSCRIPT_WINDOW, Turn,
};

/// An inbound SMS as the channel read it from the provider's webhook (sms-inbound builds it from
/// Twilio's verified form).
#[derive(Debug, Clone)]
pub struct InboundSms {
    pub sid: ProviderMessageId,
    pub from: PhoneNumber,
    /// Our number (the conversation's endpoint).
    pub to: PhoneNumber,
    pub body: String,
    pub media: Vec<Attachment>,
}

/// What the SMS flow needs besides the store.
#[derive(Clone, Copy)]
pub struct SmsRules<'a> {
    pub concierge: &'a Concierge,
    /// `SMS_IDLE_TIMEOUT_MINUTES`: a conversation only the assistant is in closes after this.
    pub idle_timeout: SignedDuration,
}

/// What the customer is answered: the text of the reply, or nothing.
pub type Reply = Option<MessageText>;

#[derive(Debug, thiserror::Error)]
pub enum SmsFlowError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The settings' `help_text` is not a message casebridge can send.
    #[error("help text: {0}")]
    HelpText(String),
}

/// One inbound SMS: stored once, answered (or not) as the numbered steps above say. The caller's
/// span should have an empty `session_id` field; it is recorded here once the session is known.
pub async fn receive(
    store: &dyn Store,
    deps: SmsRules<'_>,
    sms: &InboundSms,
    now: Timestamp,
) -> Result<Reply, SmsFlowError> {
    {
        let customer = Customer::Phone(sms.from.clone());
        let key = ConversationKey::new(Channel::Sms, customer.clone(), sms.to.as_e164());
        let turn = current_turn(store, deps, &key, now).await?;
        let session = turn.session;
        tracing::Span::current().record("session_id", tracing::field::display(session.id));

        // 2. A question: the reads above, then one write for the message and the reply.
        let keyword = keywords::classify(&sms.body);
        if keyword.is_none() && turn.consent == Consent::Granted {
            let inbound = vec![inbound_message(sms)];
            let answered = turn::take(
                store,
                deps.concierge,
                &session,
                turn.transcript,
                inbound,
                None,
                now,
            )
            .await;
            match answered {
                Ok(Outcome::Stored { reply, .. }) => {
                    return Ok(reply);
                }
                Ok(Outcome::AlreadySeen { session_id, seq }) => {
                    tracing::info!(seq, "duplicate delivery");
                    return answer_again(store, deps, sms, session_id, seq, now).await;
                }
                // SMS hands off without a gate.
                Ok(Outcome::HandoffRefused { .. }) => return Ok(None),
                // Closed since it was read (the case was just resolved): the path below opens
                // the next session.
                Err(StoreError::Closed(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }

        // 4. Compliance keywords: the note for the agent goes in with the message; the consent
        // itself is recorded in `answer_again`, which also runs for redeliveries.
        let mut notes = Vec::new();
        match keyword {
            Some(Keyword::OptOut) => notes.push(system_note(
                "Customer opted out of SMS (STOP). Nothing will be sent to this number until they text START.",
            )),
            Some(Keyword::OptIn) => {
                notes.push(system_note("Customer opted back in to SMS (START)."))
            }
            Some(Keyword::Help) | None => {}
        }

        // The two-step path: store the message (and any consent note) in one transaction...
        let batch = || {
            let mut b = vec![inbound_message(sms)];
            b.extend(notes.iter().cloned());
            b
        };
        let stored = match store.append(&session, batch(), None, now).await {
            Ok(Appended::Stored { session, messages }) => (session.id, messages[0].seq),
            Ok(Appended::AlreadySeen { session_id, seq }) => {
                tracing::info!(seq, "duplicate delivery");
                (session_id, seq)
            }
            Err(StoreError::Closed(_)) => {
                // Closed between our read and our write (the case was just resolved): open the
                // next session and store it there.
                let session = current_turn(store, deps, &key, now).await?.session;
                match store.append(&session, batch(), None, now).await? {
                    Appended::Stored { session, messages } => (session.id, messages[0].seq),
                    Appended::AlreadySeen { session_id, seq } => (session_id, seq),
                }
            }
            Err(e) => return Err(e.into()),
        };
        // ... then answer it.
        answer_again(store, deps, sms, stored.0, stored.1, now).await
    }
}

/// The session this message belongs to, with its transcript and the customer's consent (1.).
async fn current_turn(
    store: &dyn Store,
    deps: SmsRules<'_>,
    key: &ConversationKey,
    now: Timestamp,
) -> Result<Turn, SmsFlowError> {
    let turn = store.open_turn(key, now).await?;
    if turn.opened
        || !turn.session.is_idle(now, deps.idle_timeout)
        || held_by_a_person(&turn.session, &turn.transcript)
    {
        return Ok(turn);
    }
    let session = &turn.session;
    let close = Transition::new(session.state, SessionState::Closed)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    match store
        .transition(session.id, close, SessionChanges::default(), now)
        .await
    {
        Ok(_) => tracing::info!(old_session = %session.id, "idle session closed"),
        // Somebody else moved it first (closed it, or handed it off): read again below.
        Err(StoreError::StateChanged { .. } | StoreError::Closed(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(store.open_turn(key, now).await?)
}

/// A conversation a person holds: handed off (its case is being created or worked), or one a rep
/// answered. Idle close is for conversations nobody but the assistant is in.
fn held_by_a_person(session: &Session, transcript: &[Message]) -> bool {
    session.state != SessionState::Assistant || transcript.iter().any(|m| m.role == Role::Agent)
}

fn inbound_message(sms: &InboundSms) -> NewMessage {
    let text = if sms.body.trim().is_empty() {
        format!("[{} attachment(s)]", sms.media.len().max(1))
    } else {
        sms.body.clone()
    };
    // Twilio caps a body at 1,600 characters, well inside MessageText's limit; an empty body
    // became the attachment marker above, so this parse cannot fail on real Twilio input.
    let text = MessageText::parse(&text).unwrap_or_else(|_| {
        MessageText::parse("[unreadable message]").unwrap_or_else(|_| unreachable!())
    });
    NewMessage::new(Role::Customer, text)
        .with_provider_id(sms.sid.clone())
        .with_attachments(sms.media.clone())
}

fn system_note(text: &str) -> NewMessage {
    NewMessage::new(
        Role::System,
        MessageText::parse(text).unwrap_or_else(|_| unreachable!("fixed, non-empty text")),
    )
}

fn assistant_message(text: MessageText, fallback: bool) -> NewMessage {
    let m = NewMessage::new(Role::Assistant, text);
    if fallback { m.as_fallback() } else { m }
}

/// The answer to inbound message `seq` of session `id`: the reply already stored after it, or a
/// new decision if it is still the newest message.
async fn answer_again(
    store: &dyn Store,
    deps: SmsRules<'_>,
    sms: &InboundSms,
    id: SessionId,
    seq: u64,
    now: Timestamp,
) -> Result<Reply, SmsFlowError> {
    let Some((session, transcript)) = store.recent(id, TRANSCRIPT_WINDOW).await? else {
        return Ok(None);
    };
    let customer = Customer::Phone(sms.from.clone());
    let keyword = keywords::classify(&sms.body);
    if let Some(k @ (Keyword::OptOut | Keyword::OptIn)) = keyword {
        // Record consent unless a later STOP/START in this conversation superseded this one
        // (a STOP redelivered after the customer's START must not opt them out again).
        let superseded = transcript.iter().any(|m| {
            m.seq > seq
                && m.role == Role::Customer
                && matches!(
                    keywords::classify(m.text.as_str()),
                    Some(Keyword::OptOut | Keyword::OptIn)
                )
        });
        if !superseded {
            let consent = match k {
                Keyword::OptOut => Consent::OptedOut { since: now },
                _ => Consent::Granted,
            };
            store.set_consent(&customer, consent, now).await?;
            tracing::info!(opted_out = k == Keyword::OptOut, "sms consent recorded");
        }
        return Ok(None);
    }
    // System notes (a consent change) may follow the message; the reply is the first message
    // after it that is not one.
    if let Some(next) = redelivery::answer_after(&transcript, seq) {
        return Ok(match next.role {
            Role::Assistant => Some(next.text.clone()),
            _ => None,
        });
    }
    if keyword == Some(Keyword::Help) {
        if let Consent::OptedOut { .. } = store.consent(&customer).await? {
            return Ok(None);
        }
        let help = &deps
            .concierge
            .settings_for(conversation_language(&transcript))
            .sms
            .help_text;
        let text = MessageText::parse(help).map_err(|e| SmsFlowError::HelpText(e.to_string()))?;
        return store_and_reply(store, &session, assistant_message(text, false), None, now).await;
    }
    if let Consent::OptedOut { .. } = store.consent(&customer).await? {
        tracing::info!("customer opted out; message stored, no reply");
        return Ok(None);
    }
    let decision = deps.concierge.respond(&session, &transcript, now).await;
    let unanswered = turn::is_unanswered(&decision);
    match turn::reply_of(decision)? {
        None => Ok(None),
        Some((message, change)) => {
            let reply = store_and_reply(store, &session, message, change, now).await?;
            // Recorded as the one-write path does: once the answer is stored.
            if unanswered && reply.is_some() {
                turn::record_gap(store, deps.concierge, &session, &transcript, now).await;
            }
            Ok(reply)
        }
    }
}

async fn store_and_reply(
    store: &dyn Store,
    session: &Session,
    message: NewMessage,
    change: Option<StateChange>,
    now: Timestamp,
) -> Result<Reply, SmsFlowError> {
    let text = message.text.clone();
    match store.append(session, vec![message], change, now).await {
        Ok(_) => Ok(Some(text)),
        // Another delivery or a person got there first: say nothing rather than twice.
        Err(StoreError::StateChanged { .. } | StoreError::Closed(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
