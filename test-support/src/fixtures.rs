//! Conversations in the states tests start from: "handed off" (the customer asked for a person)
//! and "with an agent" (the case exists and is linked); and an action's answer card.

use casebridge::domain::{
    Card, CardLink, CardRow, CreatioLink, MessageText, NewMessage, Role, Session, SessionId,
    SessionState, Transition,
};
use casebridge::store::{SessionChanges, StateChange, Store};
use jiff::Timestamp;

/// The customer's `text` on `session`, stored with the change to `handoff_requested`.
pub async fn hand_off(store: &dyn Store, session: &Session, text: &str, now: Timestamp) {
    let message = NewMessage::new(Role::Customer, MessageText::parse(text).expect("a text"));
    let change = StateChange {
        transition: Transition::new(SessionState::Assistant, SessionState::HandoffRequested)
            .expect("a transition the state machine allows"),
        handoff_reason: None,
    };
    store
        .append(session, vec![message], Some(change), now)
        .await
        .expect("the handoff is stored");
}

/// Session `id` (with the assistant) handed off and then linked to its case (the deterministic
/// id casebridge gives it), as the sync leaves it.
pub async fn with_an_agent(store: &dyn Store, id: SessionId, now: Timestamp) {
    for (from, to) in [
        (SessionState::Assistant, SessionState::HandoffRequested),
        (SessionState::HandoffRequested, SessionState::WithAgent),
    ] {
        let creatio = (to == SessionState::WithAgent).then(|| CreatioLink {
            case_id: id.case_id(),
            case_number: None,
            contact_id: None,
        });
        store
            .transition(
                id,
                Transition::new(from, to).expect("a transition the state machine allows"),
                SessionChanges {
                    handoff_reason: None,
                    creatio,
                },
                now,
            )
            .await
            .expect("the transition is stored");
    }
}

/// The texts of a session's agent replies, in order.
pub async fn agent_texts(store: &dyn Store, id: SessionId) -> Vec<String> {
    store
        .messages_after(id, 0, 100)
        .await
        .expect("the messages are read")
        .into_iter()
        .filter(|m| m.role == Role::Agent)
        .map(|m| m.text.as_str().to_owned())
        .collect()
}

/// `n` earlier messages on session `id`, customer and assistant in turn (each about 150 bytes),
/// written straight to the store in appends of 24: a long conversation, without asking the
/// assistant `n / 2` times.
pub async fn earlier_messages(
    store: &dyn Store,
    id: SessionId,
    n: usize,
    now: Timestamp,
) -> Result<(), casebridge::store::StoreError> {
    let mut written = 0;
    while written < n {
        let session = store
            .session(id)
            .await?
            .ok_or(casebridge::store::StoreError::NotFound(id))?;
        let batch = (written..n.min(written + 24))
            .map(|i| {
                let role = if i % 2 == 0 {
                    Role::Customer
                } else {
                    Role::Assistant
                };
                let text = format!("earlier message {i}: {}", "words ".repeat(20));
                NewMessage::new(role, MessageText::parse(&text).expect("a text"))
            })
            .collect::<Vec<_>>();
        written += batch.len();
        store.append(&session, batch, None, now).await?;
    }
    Ok(())
}

/// The card of an order-status action's answer ("Order 5511", shipped, a tracking link).
pub fn order_card() -> Card {
    Card {
        action: "order_status".into(),
        title: "Order 5511".into(),
        lead: None,
        rows: vec![CardRow {
            label: "Status".into(),
            value: "shipped".into(),
        }],
        links: vec![CardLink {
            label: "Track".into(),
            url: "https://track.example.com/1".into(),
        }],
    }
}
