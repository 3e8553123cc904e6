//! The session store: the only state casebridge keeps.
//!
//! One trait, two implementations held to one contract test suite (`shared/tests/store_contract.rs`):
//! [`memory::MemoryStore`] for the local runner and fast unit tests, [`dynamo::DynamoStore`] for
//! production. Handlers take `&dyn Store`, so the same handler code runs on both.
//!
//! The rules every implementation keeps:
//! - at most one *active* (not closed) session per [`ConversationKey`]; concurrent `find_or_open`
//!   calls for a new conversation agree on one session;
//! - message seqs are 1-based, gap-free and strictly increasing per session;
//! - a message with a provider id is stored at most once per channel: a redelivery returns
//!   [`Appended::AlreadySeen`] and changes nothing;
//! - appending messages and updating the session happen together or not at all;
//! - state changes are conditional on the state the caller saw, so of N racing callers exactly one
//!   wins and the others get [`StoreError::StateChanged`];
//! - a closed session accepts nothing more;
//! - the sync watermark only moves forward;
//! - an outbox entry is recorded once per activity, and changes state only from the state the
//!   caller names (so two deliveries of one activity cannot both proceed);
//! - the catch-up marks only move forward.

pub mod dynamo;
pub mod memory;

use async_trait::async_trait;
use jiff::Timestamp;

use crate::domain::ConnectionId;
use crate::domain::{
    ActivityId, CaseId, CatchUpMark, CatchUpMarks, Channel, ConversationKey, CreatioLink, Customer,
    DeliveryStatus, Message, NewMessage, OutboxChange, OutboxEntry, OutboxSource, OutboxState,
    ProviderMessageId, Session, SessionId, SessionState, StatusCheck, Transition,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session {0} does not exist")]
    NotFound(SessionId),
    #[error("session {0} is closed")]
    Closed(SessionId),
    #[error("session {id} is {actual}, not {expected} as the caller expected")]
    StateChanged {
        id: SessionId,
        expected: SessionState,
        actual: SessionState,
    },
    #[error("message {seq} of session {id} does not exist")]
    NoSuchMessage { id: SessionId, seq: u64 },
    #[error("watermark {seq} is past the last message {last_seq} of session {id}")]
    WatermarkPastEnd {
        id: SessionId,
        seq: u64,
        last_seq: u64,
    },
    #[error("gave up on session {0} after repeated concurrent updates")]
    Contention(SessionId),
    #[error("another session is already active for that conversation")]
    AlreadyActive,
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
    /// The backing service failed; `retryable` says whether trying again may help (throttling,
    /// 5xx, timeouts) or not (bad request, missing table, no permission).
    #[error("store backend failed: {message}")]
    Backend { message: String, retryable: bool },
}

impl StoreError {
    /// Worth retrying the whole operation later (e.g. let the stream redeliver)?
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Contention(_)
                | StoreError::Backend {
                    retryable: true,
                    ..
                }
        )
    }
}

/// The outcome of an append.
#[derive(Debug, Clone, PartialEq)]
pub enum Appended {
    /// Stored: the session as it now is, and the messages with their seqs.
    Stored {
        session: Box<Session>,
        messages: Vec<Message>,
    },
    /// A message with this provider id was stored before; nothing changed. Where it went:
    AlreadySeen { session_id: SessionId, seq: u64 },
}

/// What a state transition writes besides the state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionChanges {
    pub handoff_reason: Option<String>,
    pub creatio: Option<CreatioLink>,
}

/// A state change made in the same atomic write as an append (the handoff notice and
/// `handoff_requested` land together or not at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub transition: Transition,
    /// Recorded on the session when set.
    pub handoff_reason: Option<String>,
}

impl From<Transition> for StateChange {
    fn from(transition: Transition) -> Self {
        Self {
            transition,
            handoff_reason: None,
        }
    }
}

/// Whether a customer may be sent messages on a channel (SMS STOP/START).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// No opt-out on record.
    Granted,
    /// The customer opted out at this time; nothing is sent until they opt in again.
    OptedOut { since: Timestamp },
}

/// What an inbound customer turn reads before the assistant decides (see [`Store::open_turn`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// The conversation's active session.
    pub session: Session,
    /// Its messages in seq order (empty for a session this call opened).
    pub transcript: Vec<Message>,
    /// The customer's consent to be messaged.
    pub consent: Consent,
    /// Whether this call opened the session.
    pub opened: bool,
}

/// How many of a session's latest messages a turn reads: what the assistant decides on. A long
/// conversation costs no more per message than a short one.
pub const TRANSCRIPT_WINDOW: usize = 40;

/// What [`Store::take_allowance`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    Granted,
    /// The window's allowance is used up; the next window starts this much later.
    Exhausted {
        retry_after: std::time::Duration,
    },
}

/// The window `now` falls in (its index since the epoch) and how long until the next starts.
pub(crate) fn window_of(window: std::time::Duration, now: Timestamp) -> (i64, std::time::Duration) {
    let w = window.as_secs().max(1) as i64;
    let t = now.as_second();
    let index = t.div_euclid(w);
    let next = (index + 1) * w;
    (
        index,
        std::time::Duration::from_secs((next - t).max(1) as u64),
    )
}

/// A question the assistant could not answer: what the team should write an article about
/// (`casebridge knowledge gaps`).
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    pub session: SessionId,
    /// The customer's turn, as they wrote it.
    pub question: String,
    /// The best passage's coverage of it (0 to 1), when there is knowledge to search.
    pub score: Option<f32>,
    pub at: Timestamp,
}

/// What the table holds about a session besides its transcript ([`Store::session_records`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionRecords {
    pub outbox: Vec<OutboxEntry>,
    pub status_check: Option<StatusCheck>,
    pub gaps: Vec<Gap>,
}

/// That a customer's data was erased, and what was left elsewhere: no phone number, address or
/// text, so it may be kept as long as the team needs to show the request was met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    pub at: Timestamp,
    pub sessions: usize,
    pub items: usize,
    pub attachments: usize,
    /// The Creatio cases of the erased conversations (numbers, or ids before a number was read),
    /// for the team to handle in Creatio.
    pub cases: Vec<String>,
}

/// Where a provider message id was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRef {
    pub session_id: SessionId,
    pub seq: u64,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// The active session for this conversation, or a new one with the assistant.
    /// Returns the session and whether it was opened by this call.
    async fn find_or_open(
        &self,
        key: &ConversationKey,
        now: Timestamp,
    ) -> Result<(Session, bool), StoreError>;

    /// Everything an inbound turn reads before the assistant decides: the conversation's active
    /// session (opened when there is none, as [`Store::find_or_open`]), its latest
    /// [`TRANSCRIPT_WINDOW`] messages and the customer's consent. One call so that a backend can read them in as few requests as it
    /// allows (DynamoDB: one `BatchGetItem` and one `Query` for an open session, instead of four
    /// reads).
    async fn open_turn(&self, key: &ConversationKey, now: Timestamp) -> Result<Turn, StoreError> {
        let (session, opened) = self.find_or_open(key, now).await?;
        let (session, transcript) = if opened {
            (session, Vec::new())
        } else {
            self.recent(session.id, TRANSCRIPT_WINDOW)
                .await?
                .unwrap_or((session, Vec::new()))
        };
        let consent = self.consent(&key.customer).await?;
        Ok(Turn {
            session,
            transcript,
            consent,
            opened,
        })
    }

    /// The active session for this conversation, if any.
    async fn active_session(&self, key: &ConversationKey) -> Result<Option<Session>, StoreError>;

    async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError>;

    /// The session and all its messages in seq order.
    async fn transcript(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, Vec<Message>)>, StoreError>;

    /// The session and its latest `n` messages in seq order: one read whatever the session's
    /// length.
    async fn recent(
        &self,
        id: SessionId,
        n: usize,
    ) -> Result<Option<(Session, Vec<Message>)>, StoreError>;

    /// At most `limit` messages with seq > `after`, in order (the widget's poll). Cheap when
    /// there are none.
    async fn messages_after(
        &self,
        id: SessionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError>;

    /// Appends `messages` (in order) to the session the caller last saw, and applies `change`
    /// in the same atomic write. `seen` is only a hint for the next seq: a stale view costs a
    /// re-read, never a wrong seq. Refused on a closed session, and with `StateChanged` when the
    /// transition's `from` is no longer the state.
    async fn append(
        &self,
        seen: &Session,
        messages: Vec<NewMessage>,
        change: Option<StateChange>,
        now: Timestamp,
    ) -> Result<Appended, StoreError>;

    /// Changes state if, and only if, the session is in `transition.from()`.
    async fn transition(
        &self,
        id: SessionId,
        transition: Transition,
        changes: SessionChanges,
        now: Timestamp,
    ) -> Result<Session, StoreError>;

    /// Moves an open session to another conversation key: an anonymous widget visitor who later
    /// presents a verified identity keeps their conversation, now under the verified email. The
    /// old active pointer goes, the new one is created; refused with `AlreadyActive` when the new
    /// key already has an active session, and with `Closed` for a closed session.
    async fn link_identity(
        &self,
        seen: &Session,
        to: &ConversationKey,
        now: Timestamp,
    ) -> Result<Session, StoreError>;

    /// Records the Creatio link without a state change (case created early, number read back).
    async fn link_case(&self, id: SessionId, link: CreatioLink) -> Result<Session, StoreError>;

    /// Records (Some) or clears (None) the last permanent sync failure.
    async fn set_sync_error(&self, id: SessionId, error: Option<String>) -> Result<(), StoreError>;

    /// Moves the sync watermark up to `seq`; a lower value than the current one changes nothing.
    async fn advance_watermark(&self, id: SessionId, seq: u64) -> Result<Session, StoreError>;

    /// Records the delivery status of outbound message `seq`, and the provider's id for it when
    /// first known (so that the provider's status callback can find the message).
    async fn record_delivery(
        &self,
        id: SessionId,
        seq: u64,
        status: DeliveryStatus,
        provider_id: Option<&ProviderMessageId>,
    ) -> Result<(), StoreError>;

    /// The customer's consent to be messaged (kept across sessions; an SMS STOP outlives the
    /// conversation it was sent in).
    async fn consent(&self, customer: &Customer) -> Result<Consent, StoreError>;

    async fn set_consent(
        &self,
        customer: &Customer,
        consent: Consent,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Sessions Creatio may be behind on: a handoff not yet turned into a case, messages after the
    /// watermark on a session with a case, or a recorded sync error. This is the replay path after
    /// records went to the dead-letter queue, because the table, not the stream record, holds the
    /// truth. It scans the whole table: for the operator CLI, never for the request path.
    async fn needing_sync(&self) -> Result<Vec<Session>, StoreError>;

    /// The session linked to this Creatio case.
    async fn find_by_case(&self, case_id: CaseId) -> Result<Option<Session>, StoreError>;

    /// Where a provider message id (inbound or outbound) was stored.
    async fn find_by_provider_id(
        &self,
        channel: Channel,
        id: &ProviderMessageId,
    ) -> Result<Option<MessageRef>, StoreError>;

    /// Records "deliver activity `activity`" in the outbox, `queued`, unless it is there
    /// already: true when this call recorded it. One conditional write.
    async fn enqueue(
        &self,
        activity: ActivityId,
        case_id: Option<CaseId>,
        source: OutboxSource,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    async fn outbox_entry(&self, activity: ActivityId) -> Result<Option<OutboxEntry>, StoreError>;

    /// The entries of those activities that have one, in no particular order (the catch-up asks
    /// which of the activities it found are known, in one read).
    async fn outbox_entries(&self, ids: &[ActivityId]) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Applies `change` if, and only if, the entry is in one of `change.from`: the entry as it
    /// now is, or None when it is not there or in another state (someone else moved it).
    async fn change_outbox(
        &self,
        activity: ActivityId,
        change: OutboxChange,
    ) -> Result<Option<OutboxEntry>, StoreError>;

    /// Entries `waiting` for a conversation on this case (queued again once it is linked).
    async fn waiting_for_case(&self, case_id: CaseId) -> Result<Vec<OutboxEntry>, StoreError>;

    /// This case's entries still to deliver (`queued` or `retrying`), in the order they were
    /// recorded (`queued_at`, then activity id): replies go out in that order.
    async fn deliverable_for_case(&self, case_id: CaseId) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Entries not `done`: the replay path after the dead-letter queue. Scans the whole table:
    /// for the operator CLI, never for the request path.
    async fn unfinished_outbox(&self) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Records one more report that case `case` changed: its status check, queued (again).
    /// One write; the check as it now is.
    async fn request_status_check(
        &self,
        case: CaseId,
        now: Timestamp,
    ) -> Result<StatusCheck, StoreError>;

    async fn status_check(&self, case: CaseId) -> Result<Option<StatusCheck>, StoreError>;

    /// Records what a check found (`Done`) or that it failed for now (`Retrying`, one more
    /// attempt), if no report came since the `reports` it saw: false when one did (the newer
    /// report's check will run) or there is no check for the case.
    async fn finish_status_check(
        &self,
        case: CaseId,
        reports: u64,
        to: OutboxState,
        outcome: &str,
    ) -> Result<bool, StoreError>;

    /// Checks not `done` (the local stack's loop, the replay after the dead-letter queue). Scans
    /// the whole table: never for the request path.
    async fn unfinished_status_checks(&self) -> Result<Vec<StatusCheck>, StoreError>;

    /// Every session of `customer` (any channel, any of our numbers), oldest first: a customer's
    /// export and erasure. Scans the whole table: for the operator CLI, never for the request path.
    async fn customer_sessions(&self, customer: &Customer) -> Result<Vec<Session>, StoreError>;

    /// What the table holds about a session besides its transcript: its case's outbox entries
    /// and status check, and the unanswered questions recorded in it (a scan, for the CLI).
    async fn session_records(&self, session: &Session) -> Result<SessionRecords, StoreError>;

    /// Removes the session with its messages, its active pointer, its provider ids and
    /// everything [`Store::session_records`] finds: the number of items removed. The customer's
    /// consent (an opt-out, which carriers require to be kept) is left as it is.
    async fn erase_session(&self, session: &Session) -> Result<usize, StoreError>;

    /// Keeps the record of an erasure (no customer data in it), and lists them.
    async fn record_erasure(&self, erasure: &Erasure) -> Result<(), StoreError>;
    async fn erasures(&self) -> Result<Vec<Erasure>, StoreError>;

    /// Counts one use of `key` in the current window of `window` (windows start at multiples of
    /// it since the epoch): granted while fewer than `max` were counted, otherwise when the next
    /// window starts. One conditional write; windows expire with DynamoDB's TTL.
    async fn take_allowance(
        &self,
        key: &str,
        window: std::time::Duration,
        max: u32,
        now: Timestamp,
    ) -> Result<Allowance, StoreError>;

    /// How far the catch-up has read Creatio (one read for both marks).
    async fn catchup_marks(&self) -> Result<CatchUpMarks, StoreError>;

    /// Moves one catch-up mark to `at`; an earlier time than the current one changes nothing.
    async fn advance_catchup_mark(
        &self,
        mark: CatchUpMark,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// The visitor has seen the conversation up to `seq` (at most its last message), at `at`:
    /// recorded when it moves the mark forward (true), ignored otherwise (false).
    async fn mark_read(&self, id: SessionId, seq: u64, at: Timestamp) -> Result<bool, StoreError>;

    /// The case shows the read mark up to `seq` (the receipt activity's watermark; only moves
    /// forward).
    async fn advance_read_watermark(&self, id: SessionId, seq: u64) -> Result<(), StoreError>;

    /// Records an open widget socket of `session` (`crate::widget::socket`), kept as long as
    /// API Gateway keeps a connection.
    async fn add_connection(
        &self,
        session: SessionId,
        connection: &ConnectionId,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// The open widget sockets of `session` at `now`.
    async fn connections(
        &self,
        session: SessionId,
        now: Timestamp,
    ) -> Result<Vec<ConnectionId>, StoreError>;

    /// Forgets a widget socket (only if it was opened before `opened_before`, when given); the
    /// session it was for, when it was forgotten.
    async fn remove_connection(
        &self,
        connection: &ConnectionId,
        opened_before: Option<Timestamp>,
    ) -> Result<Option<SessionId>, StoreError>;

    /// Records an unanswered question (kept for the retention period).
    async fn record_gap(&self, gap: &Gap) -> Result<(), StoreError>;

    /// The unanswered questions recorded from `since` to `until`, oldest first.
    async fn gaps(&self, since: Timestamp, until: Timestamp) -> Result<Vec<Gap>, StoreError>;
}

/// How long data is kept before DynamoDB's TTL removes it.
#[derive(Debug, Clone, Copy)]
pub struct Retention(pub jiff::SignedDuration);

impl Default for Retention {
    fn default() -> Self {
        Retention(jiff::SignedDuration::from_hours(24 * 90))
    }
}

impl Retention {
    /// Epoch seconds after which an item written at `now` may be deleted.
    pub fn expires_at(&self, now: Timestamp) -> i64 {
        now.as_second().saturating_add(self.0.as_secs())
    }
}

/// The production store for a Lambda function: DynamoDB on `TABLE_NAME`, with the region,
/// credentials and endpoint the Lambda runtime's variables give ([`crate::aws::lambda_sdk_config`]).
/// Called once in `main`.
pub fn connect_lambda_dynamodb(
    config: &crate::config::Config,
) -> Result<dynamo::DynamoStore, crate::config::ConfigError> {
    let sdk = crate::aws::lambda_sdk_config(&crate::config::ProcessEnv)?;
    connect_dynamodb_with(&sdk, config)
}

/// The store for the operator CLI: DynamoDB on `TABLE_NAME` through the SDK's full
/// region/credential/endpoint chain (profiles, `AWS_PROFILE`, assumed roles).
pub async fn connect_dynamodb(
    config: &crate::config::Config,
) -> Result<dynamo::DynamoStore, crate::config::ConfigError> {
    connect_dynamodb_with(&crate::aws::sdk_config().await, config)
}

/// [`connect_dynamodb`] on an SDK configuration the caller already loaded (for a function that
/// builds a second client from it).
pub fn connect_dynamodb_with(
    sdk: &aws_config::SdkConfig,
    config: &crate::config::Config,
) -> Result<dynamo::DynamoStore, crate::config::ConfigError> {
    let table = config.table_name()?.to_owned();
    Ok(dynamo::DynamoStore::new(
        crate::aws::dynamodb_client(sdk),
        table,
        Retention(config.retention),
    ))
}
