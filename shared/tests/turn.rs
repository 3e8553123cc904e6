//! One customer turn ([`casebridge::conversation::turn::take`]) on the memory store: the message and the
//! answer land together, a slow assistant never holds the message back, a lost handoff race
//! keeps the message, and a redelivery writes nothing.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use casebridge::assistant::*;
use casebridge::conversation::turn::{DURABLE_WITHIN, Outcome, take};
use casebridge::domain::*;
use casebridge::store::memory::MemoryStore;
use casebridge::store::{SessionChanges, Store};
use tokio::sync::Notify;

use test_support::now;

fn key() -> ConversationKey {
    let ann = PhoneNumber::parse("+15551230001", None).unwrap();
    ConversationKey::new(Channel::Sms, Customer::Phone(ann), "+15557654321")
}

fn customer(text: &str) -> NewMessage {
    NewMessage::new(Role::Customer, MessageText::parse(text).unwrap())
}

/// One turn with the rules assistant on the session as `turn` read it.
async fn ask(
    store: &MemoryStore,
    turn: &casebridge::store::Turn,
    message: NewMessage,
) -> Result<Outcome, casebridge::store::StoreError> {
    take(
        store,
        &Concierge::embedded_default(),
        &turn.session,
        turn.transcript.clone(),
        vec![message],
        None,
        now(),
    )
    .await
}

fn roles(messages: &[Message]) -> Vec<Role> {
    messages.iter().map(|m| m.role).collect()
}

/// An assistant that answers only when the test lets it.
struct Gated(Arc<Notify>);

#[async_trait]
impl Assistant for Gated {
    async fn answer(&self, _: &Settings, _: Conversation<'_>) -> Result<Answer, AssistantError> {
        self.0.notified().await;
        Ok(Answer::Reply("Here is the answer.".into()))
    }
    async fn brief(
        &self,
        _: &Settings,
        _: Conversation<'_>,
        _: &str,
    ) -> Result<CaseBrief, AssistantError> {
        Err(AssistantError::Status { status: 500 })
    }
}

#[tokio::test]
async fn the_message_and_the_answer_are_stored_together() {
    // GIVEN an open session with the rules assistant
    let store = MemoryStore::new();
    let turn = store.open_turn(&key(), now()).await.unwrap();
    // WHEN the customer asks something it knows
    let out = ask(&store, &turn, customer("What is your return policy?"))
        .await
        .unwrap();
    // THEN both are stored, in order, and the reply is what was stored
    let Outcome::Stored {
        session,
        messages,
        reply,
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(roles(&messages), [Role::Customer, Role::Assistant]);
    assert_eq!(reply.as_ref(), Some(&messages[1].text));
    let (_, stored) = store.transcript(session.id).await.unwrap().unwrap();
    assert_eq!(stored, messages);
    assert_eq!(session.last_seq, 2);
}

#[tokio::test]
async fn a_handoff_lands_with_the_message_and_the_state_change() {
    let store = MemoryStore::new();
    let turn = store.open_turn(&key(), now()).await.unwrap();
    let out = ask(&store, &turn, customer("I want to talk to a person"))
        .await
        .unwrap();
    let Outcome::Stored {
        session, messages, ..
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(roles(&messages), [Role::Customer, Role::Assistant]);
    assert_eq!(session.state, SessionState::HandoffRequested);
    let stored = store.session(session.id).await.unwrap().unwrap();
    assert_eq!(stored.state, SessionState::HandoffRequested);
    assert!(stored.handoff_reason.is_some());
}

#[tokio::test(start_paused = true)]
async fn a_slow_assistant_never_holds_the_message_back() {
    // GIVEN an assistant that has not answered yet
    let store = Arc::new(MemoryStore::new());
    let gate = Arc::new(Notify::new());
    let concierge = Concierge::new(
        Arc::new(Gated(gate.clone())),
        Arc::new(Settings::embedded()),
    );
    let turn = store.open_turn(&key(), now()).await.unwrap();
    let id = turn.session.id;
    let task = tokio::spawn({
        let store = store.clone();
        async move {
            take(
                store.as_ref(),
                &concierge,
                &turn.session,
                turn.transcript,
                vec![customer("Where is my order?")],
                None,
                now(),
            )
            .await
        }
    });
    // WHEN more than DURABLE_WITHIN passes
    tokio::time::sleep(DURABLE_WITHIN + Duration::from_millis(100)).await;
    // THEN the customer's message is already stored, alone
    let (_, stored) = store.transcript(id).await.unwrap().unwrap();
    assert_eq!(roles(&stored), [Role::Customer]);
    assert!(!task.is_finished());
    // AND when the assistant answers, the answer follows it
    gate.notify_one();
    let out = task.await.unwrap().unwrap();
    let Outcome::Stored {
        messages, reply, ..
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(roles(&messages), [Role::Customer, Role::Assistant]);
    assert_eq!(reply.unwrap().as_str(), "Here is the answer.");
    let (_, stored) = store.transcript(id).await.unwrap().unwrap();
    assert_eq!(stored, messages);
}

#[tokio::test]
async fn a_lost_handoff_race_keeps_the_message_and_drops_the_answer() {
    // GIVEN a session read while the assistant had it
    let store = MemoryStore::new();
    let turn = store.open_turn(&key(), now()).await.unwrap();
    // AND handed off by someone else since
    let t = Transition::new(SessionState::Assistant, SessionState::HandoffRequested).unwrap();
    store
        .transition(turn.session.id, t, SessionChanges::default(), now())
        .await
        .unwrap();
    // WHEN this turn decides to hand off too
    let out = ask(&store, &turn, customer("agent please")).await.unwrap();
    // THEN the message is stored and no second notice is
    let Outcome::Stored {
        messages, reply, ..
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(roles(&messages), [Role::Customer]);
    assert_eq!(reply, None);
    let (_, stored) = store.transcript(turn.session.id).await.unwrap().unwrap();
    assert_eq!(roles(&stored), [Role::Customer]);
}

#[tokio::test]
async fn a_redelivery_writes_nothing() {
    let store = MemoryStore::new();
    let turn = store.open_turn(&key(), now()).await.unwrap();
    let sid = ProviderMessageId::parse("SM0001").unwrap();
    let first = ask(
        &store,
        &turn,
        customer("What is your return policy?").with_provider_id(sid.clone()),
    )
    .await
    .unwrap();
    assert!(matches!(first, Outcome::Stored { .. }));
    let again = ask(
        &store,
        &turn,
        customer("What is your return policy?").with_provider_id(sid),
    )
    .await
    .unwrap();
    assert_eq!(
        again,
        Outcome::AlreadySeen {
            session_id: turn.session.id,
            seq: 1
        }
    );
    let (_, stored) = store.transcript(turn.session.id).await.unwrap().unwrap();
    assert_eq!(stored.len(), 2);
}

#[tokio::test]
async fn a_session_closed_since_it_was_read_stores_nothing_and_says_so() {
    let store = MemoryStore::new();
    let turn = store.open_turn(&key(), now()).await.unwrap();
    let t = Transition::new(SessionState::Assistant, SessionState::Closed).unwrap();
    store
        .transition(turn.session.id, t, SessionChanges::default(), now())
        .await
        .unwrap();
    let err = ask(&store, &turn, customer("hello?")).await.unwrap_err();
    assert!(
        matches!(err, casebridge::store::StoreError::Closed(_)),
        "{err}"
    );
}
