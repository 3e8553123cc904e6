//! The production store: one DynamoDB table, on-demand, with a stream.
//!
//! # Table design (template.yaml must match `table_definition`; a test checks it)
//!
//! | item | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | session | `S#<session id>` | `META` | `kind=session`, `session_id`, `conv`, `state`, `created_at`, `last_activity_at`, `last_seq`, `synced_seq`, `case_id`, `case_number`, `contact_id`, `handoff_reason`, `sync_error`, `read_seq`, `read_at`, `read_synced_seq` (read receipts), `last_append` (the token of the last append, see `append`), `expires_at` |
//! | message | `S#<session id>` | `M#<seq, 10 digits>` | `kind=message`, `session_id`, `seq`, `role`, `text`, `at`, `provider_id`, `attachments` (JSON), `delivery` (JSON), `fallback` (BOOL, only when true), `card` (JSON, an action's answer), `expires_at` |
//! | active pointer | `C#<channel>\|<customer>\|<endpoint>` | `ACTIVE` | `kind=active`, `session_id`, `expires_at` |
//! | provider id | `P#<channel>#<provider message id>` | `P` | `kind=provider_id`, `session_id`, `seq`, `expires_at` |
//! | consent | `O#<customer>` | `CONSENT` | `kind=consent`, `opted_out_at` (absent: granted); no TTL, an opt-out must not expire |
//! | allowance | `L#<what>:<client address>#<window index>` | `LIMIT` | `kind=limit`, `used`, `expires_at` (an hour after its window ends) |
//! | gap | `G#<UTC day>` | `<at>#<session id>` | `kind=gap`, `session_id`, `question`, `score`, `expires_at` (an unanswered question, `gaps.rs`) |
//! | widget socket | `N#<session id>` | `<connection id>` | `kind=socket`, `opened_at` (epoch s), `expires_at` (2 hours: API Gateway's longest connection; `sockets.rs`) |
//! | socket pointer | `NC#<connection id>` | `SOCKET` | `kind=socket_pointer`, `session_id`, `opened_at`, `expires_at` (for `$disconnect`, which names only the connection) |
//!
//! - **Why this shape.** A session and its transcript share a partition, so one `Query` reads the
//!   whole conversation (and `sk BETWEEN M#… AND M#9…` reads only what is new: the widget poll).
//!   Every append is one `TransactWriteItems`: the session update (conditional on the `last_seq`
//!   the writer saw, which allocates seqs without gaps or doubles), the message puts, and a
//!   provider-id item per message that has one (conditional on not existing: the dedupe). An
//!   answered message is one append: the customer's message and the reply together
//!   (`casebridge::conversation::turn`).
//! - **An inbound turn reads twice** (`open_turn`): one `BatchGetItem` for the conversation's
//!   active pointer and the customer's consent (two partitions, so no `Query` reaches both), then
//!   one `Query` of the session's partition for the session and its transcript. A widget message
//!   names its session, so it skips the first. Getting an SMS to one read would take keying the
//!   session partition by the conversation (every by-id access would then pay a lookup) or
//!   caching the pointer and consent in the container (a STOP handled by another container must
//!   hold at once), so it stays at two.
//! - **GSI `by_case`**: partition key `case_id`, projection ALL. Only session items carry
//!   `case_id`, so the index is sparse. The reply webhook finds the session of a case through it.
//! - **TTL** on `expires_at` (epoch seconds): every item gets written-at + retention; the session
//!   item's is refreshed on every append.
//! - **Stream** `NEW_IMAGE`: the handoff function consumes `kind = session | message` records,
//!   `kind = outbox` records in state `queued` (the rep replies to deliver; see `outbox.rs`) and
//!   `kind = case_status` records in state `queued` (cases to look at again; see `status.rs`).
//! - State changes are `UpdateItem`s conditional on `state`, so of N racers exactly one wins.
//!   Closing a session also deletes its active pointer; a pointer left behind by a crash points at
//!   a closed session, which `find_or_open` treats as no pointer.
//!
//! # Where the code is
//!
//! The [`Store`] impl below only dispatches; each operation lives in the file named for its
//! concern: `conversations.rs` (open, read a turn, append), `state.rs` (transitions, case links,
//! watermarks, lookups), `consent.rs` (opt-outs, identity links), `limits.rs` (allowances),
//! `outbox.rs` (rep replies, catch-up marks), `sockets.rs` (the widget's open sockets), `status.rs` (case status checks), `erase.rs` (a
//! customer's export and erasure). They share `reads.rs` (items and partitions), `keys.rs`,
//! `items.rs` (codecs), `errors.rs` (SDK errors to [`StoreError`]) and `schema.rs` (the table).

mod consent;
mod conversations;
mod erase;
mod errors;
mod gaps;
mod items;
mod keys;
mod knowledge;
mod limits;
mod outbox;
mod reads;
mod schema;
mod sockets;
mod state;
mod status;

use errors::*;
use items::*;
pub use keys::StreamItem;
use keys::*;
pub use knowledge::DynamoSnapshots;
pub use schema::{TableDefinition, table_definition};

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, KeysAndAttributes, Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification, TransactWriteItem, Update,
};
use jiff::Timestamp;

use super::{
    Allowance, Appended, Consent, Gap, MessageRef, Retention, SessionChanges, StateChange, Store,
    StoreError, Turn,
};
use crate::domain::ConnectionId;
use crate::domain::{
    ActivityId, CaseId, CatchUpMark, CatchUpMarks, Channel, ContactId, ConversationKey,
    CreatioLink, Customer, DeliveryStatus, Message, MessageText, NewMessage, OutboxChange,
    OutboxEntry, OutboxSource, OutboxState, ProviderMessageId, Role, Session, SessionId,
    SessionState, StatusCheck, Transition,
};

pub const CASE_INDEX: &str = "by_case";
pub const TTL_ATTRIBUTE: &str = "expires_at";
const META: &str = "META";
const CONSENT: &str = "CONSENT";
const ACTIVE: &str = "ACTIVE";
/// How often an append re-reads and retries after another writer took the seq it wanted. Real
/// traffic rarely has two writers on one session; the bound only stops a pathological livelock.
const MAX_APPEND_ATTEMPTS: u32 = 16;

/// A short random pause before retrying a lost race, so that racers spread out (1–8 ms, doubling
/// per attempt up to 64 ms, with full jitter).
async fn contention_backoff(attempt: u32) {
    let cap_ms = 8u64 << attempt.min(3);
    tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(1..=cap_ms))).await;
}

type Item = HashMap<String, AttributeValue>;

pub struct DynamoStore {
    client: Client,
    table: String,
    retention: Retention,
}

impl DynamoStore {
    /// The table's name (the tests read it raw).
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// The knowledge snapshot kept in this table.
    pub fn knowledge_snapshots(&self) -> DynamoSnapshots {
        DynamoSnapshots::new(self.client.clone(), self.table.clone())
    }

    pub fn new(client: Client, table: impl Into<String>, retention: Retention) -> Self {
        Self {
            client,
            table: table.into(),
            retention,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn find_or_open(
        &self,
        key: &ConversationKey,
        now: Timestamp,
    ) -> Result<(Session, bool), StoreError> {
        conversations::find_or_open(self, key, now).await
    }

    async fn open_turn(&self, key: &ConversationKey, now: Timestamp) -> Result<Turn, StoreError> {
        conversations::open_turn(self, key, now).await
    }

    async fn active_session(&self, key: &ConversationKey) -> Result<Option<Session>, StoreError> {
        conversations::active_session(self, key).await
    }

    async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        conversations::session(self, id).await
    }

    async fn transcript(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, Vec<Message>)>, StoreError> {
        conversations::transcript(self, id).await
    }

    async fn recent(
        &self,
        id: SessionId,
        n: usize,
    ) -> Result<Option<(Session, Vec<Message>)>, StoreError> {
        conversations::recent(self, id, n).await
    }

    async fn messages_after(
        &self,
        id: SessionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        conversations::messages_after(self, id, after, limit).await
    }

    async fn append(
        &self,
        seen: &Session,
        messages: Vec<NewMessage>,
        change: Option<StateChange>,
        now: Timestamp,
    ) -> Result<Appended, StoreError> {
        conversations::append(self, seen, messages, change, now).await
    }

    async fn transition(
        &self,
        id: SessionId,
        transition: Transition,
        changes: SessionChanges,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        state::transition(self, id, transition, changes, now).await
    }

    async fn link_case(&self, id: SessionId, link: CreatioLink) -> Result<Session, StoreError> {
        state::link_case(self, id, link).await
    }

    async fn set_sync_error(&self, id: SessionId, error: Option<String>) -> Result<(), StoreError> {
        state::set_sync_error(self, id, error).await
    }

    async fn advance_watermark(&self, id: SessionId, seq: u64) -> Result<Session, StoreError> {
        state::advance_watermark(self, id, seq).await
    }

    async fn record_delivery(
        &self,
        id: SessionId,
        seq: u64,
        status: DeliveryStatus,
        provider_id: Option<&ProviderMessageId>,
    ) -> Result<(), StoreError> {
        state::record_delivery(self, id, seq, status, provider_id).await
    }

    async fn consent(&self, customer: &Customer) -> Result<Consent, StoreError> {
        consent::consent(self, customer).await
    }

    async fn set_consent(
        &self,
        customer: &Customer,
        consent: Consent,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        consent::set_consent(self, customer, consent, now).await
    }

    async fn link_identity(
        &self,
        seen: &Session,
        to: &ConversationKey,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        consent::link_identity(self, seen, to, now).await
    }

    async fn needing_sync(&self) -> Result<Vec<Session>, StoreError> {
        state::needing_sync(self).await
    }

    async fn find_by_case(&self, case_id: CaseId) -> Result<Option<Session>, StoreError> {
        state::find_by_case(self, case_id).await
    }

    async fn find_by_provider_id(
        &self,
        channel: Channel,
        id: &ProviderMessageId,
    ) -> Result<Option<MessageRef>, StoreError> {
        state::find_by_provider_id(self, channel, id).await
    }

    async fn enqueue(
        &self,
        activity: ActivityId,
        case_id: Option<CaseId>,
        source: OutboxSource,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.put_outbox_entry(&OutboxEntry::queued(activity, case_id, source, now))
            .await
    }

    async fn outbox_entry(&self, activity: ActivityId) -> Result<Option<OutboxEntry>, StoreError> {
        self.get_outbox_entry(activity).await
    }

    async fn outbox_entries(&self, ids: &[ActivityId]) -> Result<Vec<OutboxEntry>, StoreError> {
        self.get_outbox_entries(ids).await
    }

    async fn change_outbox(
        &self,
        activity: ActivityId,
        change: OutboxChange,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        self.update_outbox_entry(activity, change).await
    }

    async fn waiting_for_case(&self, case_id: CaseId) -> Result<Vec<OutboxEntry>, StoreError> {
        self.query_waiting_for_case(case_id).await
    }

    async fn deliverable_for_case(&self, case_id: CaseId) -> Result<Vec<OutboxEntry>, StoreError> {
        self.query_deliverable_for_case(case_id).await
    }

    async fn unfinished_outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.scan_unfinished_outbox().await
    }

    async fn request_status_check(
        &self,
        case: CaseId,
        now: Timestamp,
    ) -> Result<StatusCheck, StoreError> {
        self.put_status_report(case, now).await
    }

    async fn status_check(&self, case: CaseId) -> Result<Option<StatusCheck>, StoreError> {
        self.get_status_check(case).await
    }

    async fn finish_status_check(
        &self,
        case: CaseId,
        reports: u64,
        to: OutboxState,
        outcome: &str,
    ) -> Result<bool, StoreError> {
        self.update_status_check(case, reports, to, outcome).await
    }

    async fn unfinished_status_checks(&self) -> Result<Vec<StatusCheck>, StoreError> {
        self.scan_unfinished_status_checks().await
    }

    async fn customer_sessions(&self, customer: &Customer) -> Result<Vec<Session>, StoreError> {
        self.scan_customer_sessions(customer).await
    }

    async fn session_records(
        &self,
        session: &Session,
    ) -> Result<super::SessionRecords, StoreError> {
        self.read_session_records(session).await
    }

    async fn erase_session(&self, session: &Session) -> Result<usize, StoreError> {
        self.delete_session_items(session).await
    }

    async fn record_erasure(&self, erasure: &super::Erasure) -> Result<(), StoreError> {
        self.put_erasure(erasure).await
    }

    async fn erasures(&self) -> Result<Vec<super::Erasure>, StoreError> {
        self.read_erasures().await
    }

    async fn take_allowance(
        &self,
        key: &str,
        window: std::time::Duration,
        max: u32,
        now: Timestamp,
    ) -> Result<Allowance, StoreError> {
        limits::take_allowance(self, key, window, max, now).await
    }

    async fn catchup_marks(&self) -> Result<CatchUpMarks, StoreError> {
        self.read_catchup_marks().await
    }

    async fn advance_catchup_mark(
        &self,
        mark: CatchUpMark,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.write_catchup_mark(mark, at).await
    }

    async fn mark_read(&self, id: SessionId, seq: u64, at: Timestamp) -> Result<bool, StoreError> {
        state::mark_read(self, id, seq, at).await
    }

    async fn advance_read_watermark(&self, id: SessionId, seq: u64) -> Result<(), StoreError> {
        state::advance_read_watermark(self, id, seq).await
    }

    async fn add_connection(
        &self,
        session: SessionId,
        connection: &ConnectionId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sockets::add(self, session, connection, now).await
    }

    async fn connections(
        &self,
        session: SessionId,
        now: Timestamp,
    ) -> Result<Vec<ConnectionId>, StoreError> {
        sockets::of_session(self, session, now).await
    }

    async fn remove_connection(
        &self,
        connection: &ConnectionId,
        opened_before: Option<Timestamp>,
    ) -> Result<Option<SessionId>, StoreError> {
        sockets::remove(self, connection, opened_before).await
    }

    async fn record_gap(&self, gap: &Gap) -> Result<(), StoreError> {
        gaps::record(self, gap).await
    }

    async fn gaps(&self, since: Timestamp, until: Timestamp) -> Result<Vec<Gap>, StoreError> {
        gaps::between(self, since, until).await
    }
}
