//! The session: one conversation, its state machine, and its link to Creatio.
//!
//! ```text
//! assistant ──▶ handoff_requested ──▶ with_agent ──▶ closed
//!     │                 │                              ▲
//!     └─────────────────┴──────────────────────────────┘
//! ```
//! A closed session never reopens: the customer's next message opens a new session (and, after a
//! handoff, a new case). Every transition not drawn above is refused, in code
//! ([`SessionState::can_become`]) and in the store's conditional writes.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::identity::ConversationKey;
use super::ids::{CaseId, ContactId, SessionId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// The assistant answers.
    Assistant,
    /// A person was asked for; the handoff function has not created the case yet.
    HandoffRequested,
    /// A case exists and a rep answers; the assistant stays silent.
    WithAgent,
    /// Over. Terminal.
    Closed,
}

impl SessionState {
    pub const ALL: [SessionState; 4] = [
        SessionState::Assistant,
        SessionState::HandoffRequested,
        SessionState::WithAgent,
        SessionState::Closed,
    ];

    /// The allowed transitions, and only those.
    pub fn can_become(self, next: SessionState) -> bool {
        use SessionState::*;
        matches!(
            (self, next),
            (Assistant, HandoffRequested)
                | (Assistant, Closed)
                | (HandoffRequested, WithAgent)
                | (HandoffRequested, Closed)
                | (WithAgent, Closed)
        )
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            SessionState::Assistant => "assistant",
            SessionState::HandoffRequested => "handoff_requested",
            SessionState::WithAgent => "with_agent",
            SessionState::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Does the assistant still answer in this state?
    pub fn assistant_replies(&self) -> bool {
        matches!(self, SessionState::Assistant)
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A requested state change, checked against [`SessionState::can_become`] when built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    from: SessionState,
    to: SessionState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a session cannot go from {from} to {to}")]
pub struct RefusedTransition {
    pub from: SessionState,
    pub to: SessionState,
}

impl Transition {
    pub fn new(from: SessionState, to: SessionState) -> Result<Self, RefusedTransition> {
        if from.can_become(to) {
            Ok(Self { from, to })
        } else {
            Err(RefusedTransition { from, to })
        }
    }

    pub fn from(&self) -> SessionState {
        self.from
    }

    pub fn to(&self) -> SessionState {
        self.to
    }
}

/// What links a session to Creatio once its case exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatioLink {
    pub case_id: CaseId,
    /// Creatio's human-facing number (e.g. `SR00001234`), once read back.
    pub case_number: Option<String>,
    pub contact_id: Option<ContactId>,
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub key: ConversationKey,
    pub state: SessionState,
    pub created_at: Timestamp,
    /// Last message in either direction; drives the idle timeout.
    pub last_activity_at: Timestamp,
    /// Seq of the newest message; 0 for none.
    pub last_seq: u64,
    /// Highest message seq confirmed in Creatio (the sync watermark); 0 for none.
    pub synced_seq: u64,
    pub creatio: Option<CreatioLink>,
    /// Why the session was handed off (from the assistant), once it was.
    pub handoff_reason: Option<String>,
    /// The last permanent sync failure, with Creatio's message, for the operator CLI.
    pub sync_error: Option<String>,
    /// What the customer has written in this session: bytes of text, and attachments (the
    /// widget's per-session limits).
    pub customer_bytes: u64,
    pub customer_attachments: u64,
    /// Read receipts: how far the visitor has seen the conversation on screen (a widget reports
    /// it), and how far the case shows it (the receipt activity's watermark).
    pub read: Option<ReadMark>,
    pub read_synced_seq: u64,
}

/// The visitor has seen every message up to `seq` (the rep's replies among them), at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadMark {
    pub seq: u64,
    pub at: Timestamp,
}

impl Session {
    /// A new session with the assistant.
    pub fn open(key: ConversationKey, now: Timestamp) -> Self {
        Self {
            id: SessionId::new_random(),
            key,
            state: SessionState::Assistant,
            created_at: now,
            last_activity_at: now,
            last_seq: 0,
            synced_seq: 0,
            creatio: None,
            handoff_reason: None,
            sync_error: None,
            customer_bytes: 0,
            customer_attachments: 0,
            read: None,
            read_synced_seq: 0,
        }
    }

    /// Has nothing happened for longer than `idle`?
    pub fn is_idle(&self, now: Timestamp, idle: jiff::SignedDuration) -> bool {
        now.duration_since(self.last_activity_at) > idle
    }

    /// Messages not yet confirmed in Creatio.
    pub fn unsynced(&self) -> std::ops::RangeInclusive<u64> {
        (self.synced_seq + 1)..=self.last_seq
    }
}

#[cfg(test)]
mod tests {
    use super::SessionState::*;
    use super::*;

    #[test]
    fn exactly_the_drawn_transitions_are_allowed() {
        let allowed = [
            (Assistant, HandoffRequested),
            (Assistant, Closed),
            (HandoffRequested, WithAgent),
            (HandoffRequested, Closed),
            (WithAgent, Closed),
        ];
        for from in SessionState::ALL {
            for to in SessionState::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
                assert_eq!(
                    Transition::new(from, to).is_ok(),
                    expected,
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn closed_is_terminal_and_never_reopens() {
        for to in SessionState::ALL {
            assert!(!Closed.can_become(to));
        }
        assert_eq!(
            Transition::new(Closed, Assistant).unwrap_err().to_string(),
            "a session cannot go from closed to assistant"
        );
    }

    #[test]
    fn no_going_back_to_the_assistant() {
        assert!(!HandoffRequested.can_become(Assistant));
        assert!(!WithAgent.can_become(Assistant));
        assert!(!WithAgent.can_become(HandoffRequested));
        assert!(Assistant.assistant_replies());
        assert!(!WithAgent.assistant_replies());
    }

    #[test]
    fn states_round_trip_as_strings() {
        for s in SessionState::ALL {
            assert_eq!(SessionState::parse(s.as_str()), Some(s));
        }
        assert_eq!(SessionState::parse("open"), None);
    }
}
