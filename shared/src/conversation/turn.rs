//! One customer turn: what the customer sent and the assistant's answer, stored in one write.
//!
//! Both inbound functions (SMS, widget) read the conversation once ([`Store::open_turn`],
//! [`Store::transcript`]) and hand that to [`take`] with the new message. The assistant decides
//! on the transcript with the new message added in memory, and the message and the answer are
//! written by one [`Store::append`] (one DynamoDB transaction), so an answered message costs one
//! read and one write where it used to cost a write, a read and a write.
//!
//! The one thing this must not do is let the customer's message wait on the assistant: a model
//! behind a network can take seconds, and a function that dies meanwhile would lose a message
//! nobody will resend. So the decision gets [`DURABLE_WITHIN`]; when it is not ready by then, the
//! message is stored on its own while the assistant keeps thinking, and the answer follows in a
//! second write, exactly as before. The rules assistant answers in microseconds and always takes
//! the one-write path; an OpenAI-compatible model usually takes the two-write one.

use crate::metrics::Metric;
use std::time::Duration;

use jiff::Timestamp;

use crate::assistant::{Concierge, Conversation, Decision, HandoffReason};
use crate::domain::{
    Message, MessageText, NewMessage, Role, Session, SessionId, SessionState, Transition,
};
use crate::store::{Appended, Gap, StateChange, Store, StoreError};

/// How long a customer's message may stay unstored while the assistant decides.
pub const DURABLE_WITHIN: Duration = Duration::from_millis(500);

/// Asked before a handoff is stored: the widget counts handoffs per client address (each is a
/// case, and maybe a contact, in Creatio).
#[async_trait::async_trait]
pub trait HandoffGate: Send + Sync {
    /// None: go ahead. Some(wait): refused until `wait` has passed.
    async fn admit(&self) -> Result<Option<Duration>, StoreError>;
}

/// What [`take`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The customer's messages were stored, and the answer with them when there is one.
    Stored {
        /// The session as it now is (`HandoffRequested` after a handoff).
        session: Box<Session>,
        /// Everything this turn wrote, with seqs: the customer's messages, then the answer.
        messages: Vec<Message>,
        /// What to send the customer; None when the assistant stays silent (a person has the
        /// conversation) or another writer answered first.
        reply: Option<MessageText>,
    },
    /// The first message has a provider id that was stored before (a redelivery or a retried
    /// request): nothing was written. The caller answers from what is stored.
    AlreadySeen { session_id: SessionId, seq: u64 },
    /// The assistant handed off and the gate refused it: nothing was written (unless a slow
    /// assistant made the message go in first, when only the message is stored).
    HandoffRefused { retry_after: Duration },
}

/// Stores `inbound` (the customer's message, and any notes that go with it) on `session`, asks the
/// assistant about it, and stores the answer: together when the decision is ready within
/// [`DURABLE_WITHIN`], one after the other otherwise. `transcript` is the session's messages as
/// read with `session`; it is taken by value because the assistant sees it with the new messages
/// appended, and copying a long transcript on every message is waste.
///
/// Errors: `Closed` when the session closed since it was read (nothing stored; the caller opens
/// the next one or tells the customer), and the store's own failures.
pub async fn take(
    store: &dyn Store,
    concierge: &Concierge,
    session: &Session,
    mut transcript: Vec<Message>,
    inbound: Vec<NewMessage>,
    gate: Option<&dyn HandoffGate>,
    now: Timestamp,
) -> Result<Outcome, StoreError> {
    // What the assistant sees: what is stored, then the new messages with the seqs they will most
    // likely get (the append allocates the real ones).
    transcript.extend(
        inbound
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, m)| m.stored(session.last_seq + 1 + i as u64, now)),
    );
    let decision = concierge.respond(session, &transcript, now);
    tokio::pin!(decision);
    let ready = tokio::select! {
        d = &mut decision => Some(d),
        () = tokio::time::sleep(DURABLE_WITHIN) => None,
    };
    match ready {
        Some(decision) => {
            if let Some(wait) = refused(gate, &decision).await? {
                return Ok(Outcome::HandoffRefused { retry_after: wait });
            }
            let unanswered = is_unanswered(&decision);
            let outcome = together(store, session, inbound, decision, now).await?;
            if unanswered && matches!(outcome, Outcome::Stored { .. }) {
                record_gap(store, concierge, session, &transcript, now).await;
            }
            Ok(outcome)
        }
        None => {
            tracing::info!(session_id = %session.id, "assistant is slow; storing the message first");
            let (stored, decision) =
                tokio::join!(store.append(session, inbound, None, now), decision);
            match stored? {
                Appended::Stored { session, messages } => {
                    if let Some(wait) = refused(gate, &decision).await? {
                        return Ok(Outcome::HandoffRefused { retry_after: wait });
                    }
                    let unanswered = is_unanswered(&decision);
                    let id = session.clone();
                    let outcome = then_the_answer(store, session, messages, decision, now).await?;
                    if unanswered {
                        record_gap(store, concierge, &id, &transcript, now).await;
                    }
                    Ok(outcome)
                }
                Appended::AlreadySeen { session_id, seq } => {
                    Ok(Outcome::AlreadySeen { session_id, seq })
                }
            }
        }
    }
}

/// A turn the assistant could not answer: a fallback, or the handoff that unanswered turns
/// in a row lead to.
pub(crate) fn is_unanswered(decision: &Decision) -> bool {
    matches!(
        decision,
        Decision::Reply { fallback: true, .. }
            | Decision::Handoff {
                reason: HandoffReason::Unanswered { .. },
                ..
            }
    )
}

/// Records the turn's question for `casebridge knowledge gaps`, with how close the best article
/// came: after the answer is stored, one write before the function replies. Best effort: a
/// failure is logged, never the customer's.
pub(crate) async fn record_gap(
    store: &dyn Store,
    concierge: &Concierge,
    session: &Session,
    transcript: &[Message],
    now: Timestamp,
) {
    let question = Conversation::of(session, transcript).question();
    // A question an action was for is not a missing article: the call failed, or the customer
    // could not be identified. The action's audit line has it.
    if concierge
        .actions()
        .is_some_and(|a| a.triggered(&question, &session.key.customer).is_some())
    {
        return;
    }
    let gap = Gap {
        session: session.id,
        question,
        score: concierge.best_coverage(session, transcript).await,
        at: now,
    };
    if let Err(e) = store.record_gap(&gap).await {
        tracing::warn!(session_id = %session.id, error = %e, "unanswered question not recorded");
    }
}

/// The gate's answer when the decision is a handoff.
async fn refused(
    gate: Option<&dyn HandoffGate>,
    decision: &Decision,
) -> Result<Option<Duration>, StoreError> {
    match (gate, decision) {
        (Some(g), Decision::Handoff { .. }) => g.admit().await,
        _ => Ok(None),
    }
}

/// The two-write path, second write: the answer after the customer's messages (`messages`),
/// which are already stored on `session`.
async fn then_the_answer(
    store: &dyn Store,
    session: Box<Session>,
    mut messages: Vec<Message>,
    decision: Decision,
    now: Timestamp,
) -> Result<Outcome, StoreError> {
    let silent = |session, messages| {
        Ok(Outcome::Stored {
            session,
            messages,
            reply: None,
        })
    };
    let Some((answer, change)) = reply_of(decision)? else {
        return silent(session, messages);
    };
    let text = answer.text.clone();
    match store.append(&session, vec![answer], change, now).await {
        Ok(Appended::Stored {
            session,
            messages: added,
        }) => {
            messages.extend(added);
            Ok(Outcome::Stored {
                session,
                messages,
                reply: Some(text),
            })
        }
        // Another delivery or a person got there first: say nothing rather than twice.
        Ok(Appended::AlreadySeen { .. })
        | Err(StoreError::StateChanged { .. } | StoreError::Closed(_)) => silent(session, messages),
        Err(e) => Err(e),
    }
}

/// The one-write path: the customer's messages and the answer in one append.
async fn together(
    store: &dyn Store,
    session: &Session,
    inbound: Vec<NewMessage>,
    decision: Decision,
    now: Timestamp,
) -> Result<Outcome, StoreError> {
    let answer = reply_of(decision)?;
    let text = answer.as_ref().map(|(m, _)| m.text.clone());
    let mut batch = inbound.clone();
    let mut change = None;
    if let Some((m, c)) = answer {
        batch.push(m);
        change = c;
    }
    match store.append(session, batch, change, now).await {
        Ok(Appended::Stored { session, messages }) => Ok(Outcome::Stored {
            session,
            messages,
            reply: text,
        }),
        Ok(Appended::AlreadySeen { session_id, seq }) => {
            Ok(Outcome::AlreadySeen { session_id, seq })
        }
        // The handoff's transition lost: the session left the assistant since it was read (a
        // racing delivery handed off, a person took over). The customer's message still goes
        // in; the answer, decided on a state that no longer holds, does not.
        Err(StoreError::StateChanged { .. }) => {
            match store.append(session, inbound, None, now).await? {
                Appended::Stored { session, messages } => Ok(Outcome::Stored {
                    session,
                    messages,
                    reply: None,
                }),
                Appended::AlreadySeen { session_id, seq } => {
                    Ok(Outcome::AlreadySeen { session_id, seq })
                }
            }
        }
        Err(e) => Err(e),
    }
}

/// The message (and state change) a decision stores; None for silence. For a caller that decides
/// on its own (answering a redelivery from what is stored).
pub fn reply_of(
    decision: Decision,
) -> Result<Option<(NewMessage, Option<StateChange>)>, StoreError> {
    Ok(match decision {
        Decision::Silent => None,
        Decision::Reply {
            text,
            fallback,
            card,
        } => {
            crate::metrics::emit(if fallback {
                Metric::AssistantFallback
            } else {
                Metric::AssistantAnswer
            });
            let m = NewMessage::new(Role::Assistant, text).with_card(card);
            Some((if fallback { m.as_fallback() } else { m }, None))
        }
        Decision::Handoff { reason, notice } => {
            tracing::info!(reason = %reason.describe(), "handoff requested");
            crate::metrics::emit(Metric::Handoff {
                reason: reason.code(),
            });
            let transition =
                Transition::new(SessionState::Assistant, SessionState::HandoffRequested)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Some((
                NewMessage::new(Role::Assistant, notice),
                Some(StateChange {
                    transition,
                    handoff_reason: Some(reason.describe()),
                }),
            ))
        }
    })
}
