//! The outbox of rep replies: "deliver activity X of case Y", recorded before anything is sent.
//!
//! A rep's reply reaches casebridge two ways: the Creatio business process calls the webhook, or
//! the scheduled catch-up finds the activity itself. Either way the first thing that happens is
//! one conditional write of an [`OutboxEntry`] keyed by the activity id, so the same activity is
//! recorded once however often it is reported, and nothing is lost when the webhook's caller gives
//! up. Delivery (read the activity, decide, send, record) runs afterwards from the table's stream.
//!
//! ```text
//! queued ──▶ done                      delivered, or decided not to be a reply
//!   │  ▲
//!   │  └── waiting ◀─┐                 its case has no conversation linked (yet)
//!   ▼                │
//! retrying ──────────┘──▶ done         a transient failure; tried again, then given up
//! ```
//! Only `queued` entries start a delivery from the stream; `waiting` ones are queued again when
//! their case's conversation is linked (or when the catch-up meets them on a case casebridge owns).

use std::fmt;

use jiff::Timestamp;

use super::ids::{ActivityId, CaseId};

/// Where an outbox entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxState {
    /// To deliver; the stream hands it to the delivery.
    Queued,
    /// The activity's case has no conversation linked: kept until one is.
    Waiting,
    /// A delivery attempt failed for now; the stream's retry (or the replay) tries again.
    Retrying,
    /// Delivered, or decided: see the outcome.
    Done,
}

impl OutboxState {
    pub const ALL: [OutboxState; 4] = [
        OutboxState::Queued,
        OutboxState::Waiting,
        OutboxState::Retrying,
        OutboxState::Done,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            OutboxState::Queued => "queued",
            OutboxState::Waiting => "waiting",
            OutboxState::Retrying => "retrying",
            OutboxState::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// A delivery may work on it now.
    pub fn is_deliverable(&self) -> bool {
        matches!(self, OutboxState::Queued | OutboxState::Retrying)
    }
}

impl fmt::Display for OutboxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who reported the activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxSource {
    /// The Creatio business process, through `POST /creatio/reply`.
    Webhook,
    /// The scheduled catch-up, which asks Creatio itself.
    CatchUp,
}

impl OutboxSource {
    pub fn as_str(&self) -> &'static str {
        match self {
            OutboxSource::Webhook => "webhook",
            OutboxSource::CatchUp => "catch-up",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "webhook" => Some(OutboxSource::Webhook),
            "catch-up" => Some(OutboxSource::CatchUp),
            _ => None,
        }
    }
}

/// One activity to deliver, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub activity_id: ActivityId,
    /// The case, when the caller named it or the delivery read it from the activity.
    pub case_id: Option<CaseId>,
    pub state: OutboxState,
    /// Failed delivery attempts so far.
    pub attempts: u32,
    /// What became of it (`Done`), or the last failure (`Retrying`, `Waiting`).
    pub outcome: Option<String>,
    pub source: OutboxSource,
    pub queued_at: Timestamp,
}

impl OutboxEntry {
    /// A new entry, as [`crate::store::Store::enqueue`] records it.
    pub fn queued(
        activity_id: ActivityId,
        case_id: Option<CaseId>,
        source: OutboxSource,
        now: Timestamp,
    ) -> Self {
        Self {
            activity_id,
            case_id,
            state: OutboxState::Queued,
            attempts: 0,
            outcome: None,
            source,
            queued_at: now,
        }
    }
}

/// A change to an outbox entry, applied only while it is in one of the `from` states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxChange {
    pub from: Vec<OutboxState>,
    pub to: OutboxState,
    /// Recorded when set (the case read from the activity).
    pub case_id: Option<CaseId>,
    /// Replaces the outcome when set.
    pub outcome: Option<String>,
    /// Counts one more failed attempt.
    pub failed_attempt: bool,
}

impl OutboxChange {
    /// From any state a delivery works on to `to`.
    pub fn from_deliverable(to: OutboxState) -> Self {
        Self {
            from: vec![OutboxState::Queued, OutboxState::Retrying],
            to,
            case_id: None,
            outcome: None,
            failed_attempt: false,
        }
    }

    pub fn with_case(mut self, case_id: CaseId) -> Self {
        self.case_id = Some(case_id);
        self
    }

    pub fn with_outcome(mut self, outcome: impl Into<String>) -> Self {
        self.outcome = Some(outcome.into());
        self
    }

    pub fn counting_a_failure(mut self) -> Self {
        self.failed_attempt = true;
        self
    }

    /// `waiting` → `queued`: the case's conversation is linked now.
    pub fn requeue() -> Self {
        Self {
            from: vec![OutboxState::Waiting],
            to: OutboxState::Queued,
            case_id: None,
            outcome: None,
            failed_attempt: false,
        }
    }
}

/// "Look at case X's status again": what a `case_updated` webhook records, in the same table as
/// the replies' outbox and for the same reason. The webhook answers once it is written; the
/// stream applies it ([`crate::replies::closure::apply_status_check`]): the case's status read
/// from Creatio, the conversation closed and the closing notice sent when it is a closing one.
/// A failure after the webhook's 200 is retried by the stream, so nothing is lost with it.
///
/// One item per case, not per report: every report counts one more (`reports`) and queues it
/// again, which the stream sees as a new record. A check records what it found only while no
/// newer report came (`finish_status_check` names the count it saw), so a status change reported
/// while a check runs is never marked done by the older check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCheck {
    pub case_id: CaseId,
    /// `Queued`, `Retrying` or `Done`.
    pub state: OutboxState,
    /// Reports so far.
    pub reports: u64,
    /// Failed attempts since the last report.
    pub attempts: u32,
    /// What the last check found, or its failure.
    pub outcome: Option<String>,
    /// When it was last reported.
    pub reported_at: Timestamp,
}

/// How far the catch-up has read Creatio: the newest `CreatedOn` of the reply activities and the
/// newest `ModifiedOn` of the closed cases it has seen. Creatio's own times, so a clock that is
/// off on either side cannot make it skip anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatchUpMarks {
    pub activities: Option<Timestamp>,
    pub cases: Option<Timestamp>,
}

/// One of the two [`CatchUpMarks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUpMark {
    Activities,
    Cases,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_only_queued_or_retrying_are_delivered() {
        for s in OutboxState::ALL {
            assert_eq!(OutboxState::parse(s.as_str()), Some(s));
        }
        assert!(OutboxState::Queued.is_deliverable());
        assert!(OutboxState::Retrying.is_deliverable());
        assert!(!OutboxState::Waiting.is_deliverable());
        assert!(!OutboxState::Done.is_deliverable());
        for s in [OutboxSource::Webhook, OutboxSource::CatchUp] {
            assert_eq!(OutboxSource::parse(s.as_str()), Some(s));
        }
    }
}
