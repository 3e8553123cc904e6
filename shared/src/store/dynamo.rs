//! The production store: one DynamoDB table, on-demand, with a stream.
//!
//! # Table design (template.yaml must match `table_definition`; a test checks it)
//!
//! | item | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | session | `S#<session id>` | `META` | `kind=session`, `session_id`, `conv`, `state`, `created_at`, `last_activity_at`, `last_seq`, `synced_seq`, `case_id`, `case_number`, `contact_id`, `handoff_reason`, `sync_error`, `last_append` (the token of the last append, see `append`), `expires_at` |
//! | message | `S#<session id>` | `M#<seq, 10 digits>` | `kind=message`, `session_id`, `seq`, `role`, `text`, `at`, `provider_id`, `attachments` (JSON), `delivery` (JSON), `fallback` (BOOL, only when true), `expires_at` |
//! | active pointer | `C#<channel>\|<customer>\|<endpoint>` | `ACTIVE` | `kind=active`, `session_id`, `expires_at` |
//! | provider id | `P#<channel>#<provider message id>` | `P` | `kind=provider_id`, `session_id`, `seq`, `expires_at` |
//! | consent | `O#<customer>` | `CONSENT` | `kind=consent`, `opted_out_at` (absent: granted); no TTL, an opt-out must not expire |
//!
//! - **Why this shape.** A session and its transcript share a partition, so one `Query` reads the
//!   whole conversation (and `sk BETWEEN M#… AND M#9…` reads only what is new: the widget poll).
//!   Every append is one `TransactWriteItems`: the session update (conditional on the `last_seq`
//!   the writer saw, which allocates seqs without gaps or doubles), the message puts, and a
//!   provider-id item per message that has one (conditional on not existing: the dedupe). An
//!   answered message is one append: the customer's message and the reply together
//!   (`casebridge::turn`).
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
//!   and `kind = outbox` records in state `queued` (the rep replies to deliver; see [`outbox`]).
//! - State changes are `UpdateItem`s conditional on `state`, so of N racers exactly one wins.
//!   Closing a session also deletes its active pointer; a pointer left behind by a crash points at
//!   a closed session, which `find_or_open` treats as no pointer.

mod outbox;

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
    Allowance, Appended, Consent, MessageRef, Retention, SessionChanges, StateChange, Store,
    StoreError, Turn,
};
use crate::domain::{
    ActivityId, CaseId, CatchUpMark, CatchUpMarks, Channel, ContactId, ConversationKey,
    CreatioLink, Customer, DeliveryStatus, Message, MessageText, NewMessage, OutboxChange,
    OutboxEntry, OutboxSource, ProviderMessageId, Role, Session, SessionId, SessionState,
    Transition,
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

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(out.item)
    }

    async fn get_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        self.get(session_pk(id), META)
            .await?
            .map(|i| session_from_item(&i))
            .transpose()
    }

    async fn require_session(&self, id: SessionId) -> Result<Session, StoreError> {
        self.get_session(id).await?.ok_or(StoreError::NotFound(id))
    }

    /// All items of a session's partition with `sk` in the given range (or all), in order.
    async fn query_partition(
        &self,
        id: SessionId,
        sk_range: Option<(String, String)>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(session_pk(id)))
                .set_exclusive_start_key(start.take());
            q = match &sk_range {
                Some((lo, hi)) => q
                    .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                    .expression_attribute_values(":lo", s(lo.clone()))
                    .expression_attribute_values(":hi", s(hi.clone())),
                None => q.key_condition_expression("pk = :pk"),
            };
            let out = q.send().await.map_err(backend)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    /// The session item and its messages, in one `Query` of the session's partition.
    async fn read_transcript(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, Vec<Message>)>, StoreError> {
        let items = self.query_partition(id, None).await?;
        let mut session = None;
        let mut messages = Vec::with_capacity(items.len());
        for item in &items {
            match str_attr(item, "kind")? {
                "session" => session = Some(session_from_item(item)?),
                "message" => messages.push(message_from_item(item)?),
                other => return Err(StoreError::Corrupt(format!("unexpected item kind {other}"))),
            }
        }
        // `M#` sorts before `META`, and seqs are zero-padded, so messages are already in order.
        Ok(session.map(|s| (s, messages)))
    }

    /// The session item and its latest `n` messages, in one `Query` of the partition read
    /// backwards (`META` sorts after every `M#…`, so it comes first), `Limit` n + 1.
    async fn read_recent(
        &self,
        id: SessionId,
        n: usize,
    ) -> Result<Option<(Session, Vec<Message>)>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(session_pk(id)))
            .scan_index_forward(false)
            .limit(i32::try_from(n.saturating_add(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(backend)?;
        let mut session = None;
        let mut messages = Vec::with_capacity(n);
        for item in out.items() {
            match str_attr(item, "kind")? {
                "session" => session = Some(session_from_item(item)?),
                "message" => messages.push(message_from_item(item)?),
                other => return Err(StoreError::Corrupt(format!("unexpected item kind {other}"))),
            }
        }
        messages.reverse();
        Ok(session.map(|s| (s, messages)))
    }

    /// A conversation's active pointer and its customer's consent item, in one `BatchGetItem`
    /// (they live in different partitions, so no `Query` can read both).
    async fn pointer_and_consent(
        &self,
        key: &ConversationKey,
    ) -> Result<(Option<Item>, Option<Item>), StoreError> {
        let (pointer_pk, consent_pk) = (conv_pk(key), consent_pk(&key.customer));
        let keys = KeysAndAttributes::builder()
            .keys(key_item(&pointer_pk, ACTIVE))
            .keys(key_item(&consent_pk, CONSENT))
            .consistent_read(true)
            .build()
            .map_err(build_err)?;
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.table, keys)
            .send()
            .await
            .map_err(backend)?;
        let (mut pointer, mut consent) = (None, None);
        let found = out
            .responses
            .and_then(|mut r| r.remove(&self.table))
            .unwrap_or_default();
        for item in found {
            match str_attr(&item, "sk")? {
                ACTIVE => pointer = Some(item),
                CONSENT => consent = Some(item),
                other => return Err(StoreError::Corrupt(format!("unexpected sort key {other}"))),
            }
        }
        // Keys DynamoDB did not get to (throttled partitions) come back unprocessed rather than
        // failing the call: read those one by one, each with the SDK's retries.
        let unprocessed = out
            .unprocessed_keys
            .and_then(|mut u| u.remove(&self.table))
            .map(|k| k.keys)
            .unwrap_or_default();
        for k in unprocessed {
            match str_attr(&k, "sk")? {
                ACTIVE => pointer = self.get(pointer_pk.clone(), ACTIVE).await?,
                CONSENT => consent = self.get(consent_pk.clone(), CONSENT).await?,
                other => return Err(StoreError::Corrupt(format!("unexpected sort key {other}"))),
            }
        }
        Ok((pointer, consent))
    }

    /// Opens a new session for `key` in one transaction with its active pointer: the pointer
    /// must not exist, or must still name `stale` (a closed session left behind). None when
    /// another writer opened or re-pointed the conversation first.
    async fn try_open(
        &self,
        key: &ConversationKey,
        stale: Option<SessionId>,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let session = Session::open(key.clone(), now);
        let expires = self.retention.expires_at(now);
        let put_meta = Put::builder()
            .table_name(&self.table)
            .set_item(Some(session_to_item(&session, expires)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err)?;
        let mut pointer = Put::builder()
            .table_name(&self.table)
            .item("pk", s(conv_pk(key)))
            .item("sk", s(ACTIVE))
            .item("kind", s("active"))
            .item("session_id", s(session.id.to_string()))
            .item(TTL_ATTRIBUTE, n(expires));
        pointer = match stale {
            Some(old) => pointer
                .condition_expression("attribute_not_exists(pk) OR session_id = :old")
                .expression_attribute_values(":old", s(old.to_string())),
            None => pointer.condition_expression("attribute_not_exists(pk)"),
        };
        let res = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_meta).build())
            .transact_items(
                TransactWriteItem::builder()
                    .put(pointer.build().map_err(build_err)?)
                    .build(),
            )
            .send()
            .await;
        match res {
            Ok(_) => Ok(Some(session)),
            // Somebody else opened (or re-pointed) this conversation first.
            Err(e) if cancellation_codes(&e).is_some() => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    fn update_meta(
        &self,
        id: SessionId,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(session_pk(id)))
            .key("sk", s(META))
    }

    /// Maps a failed conditional update of a session item to what the caller must hear.
    async fn explain_condition_failure(
        &self,
        id: SessionId,
        expected: Option<SessionState>,
    ) -> StoreError {
        match self.get_session(id).await {
            Ok(None) => StoreError::NotFound(id),
            Ok(Some(s)) if s.state == SessionState::Closed => StoreError::Closed(id),
            Ok(Some(s)) => match expected {
                Some(e) if e != s.state => StoreError::StateChanged {
                    id,
                    expected: e,
                    actual: s.state,
                },
                _ => StoreError::Contention(id),
            },
            Err(e) => e,
        }
    }

    /// Creates the table as `table_definition` describes it, with TTL enabled. For the local
    /// runner, the CLI and tests; production tables come from template.yaml.
    pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
        let def = table_definition();
        let res = client
            .create_table()
            .table_name(table)
            .set_attribute_definitions(Some(def.attributes))
            .set_key_schema(Some(def.key_schema))
            .set_global_secondary_indexes(Some(def.indexes))
            .billing_mode(BillingMode::PayPerRequest)
            .stream_specification(def.stream)
            .send()
            .await;
        match res {
            Ok(_) => {}
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), CreateTableError::ResourceInUseException(_)) => {}
            Err(e) => return Err(backend(e)),
        }
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(TTL_ATTRIBUTE)
                    .enabled(true)
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                // Enabling TTL twice is refused with "already enabled": that is the state we want.
                if e.code() == Some("ValidationException") {
                    Ok(())
                } else {
                    Err(backend(e))
                }
            })
    }
}

/// The table's keys, index and stream, in one place for `create_table` and the template check.
pub struct TableDefinition {
    pub attributes: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeySchemaElement>,
    pub indexes: Vec<GlobalSecondaryIndex>,
    pub stream: StreamSpecification,
}

pub fn table_definition() -> TableDefinition {
    // The builders below only fail on a missing required field, which these literals all set.
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute definition literal is complete")
    };
    let key = |name: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(t)
            .build()
            .expect("key schema literal is complete")
    };
    TableDefinition {
        attributes: vec![attr("pk"), attr("sk"), attr("case_id")],
        key_schema: vec![key("pk", KeyType::Hash), key("sk", KeyType::Range)],
        indexes: vec![
            GlobalSecondaryIndex::builder()
                .index_name(CASE_INDEX)
                .key_schema(key("case_id", KeyType::Hash))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("index literal is complete"),
        ],
        stream: StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::NewImage)
            .build()
            .expect("stream literal is complete"),
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn find_or_open(
        &self,
        key: &ConversationKey,
        now: Timestamp,
    ) -> Result<(Session, bool), StoreError> {
        for attempt in 0..MAX_APPEND_ATTEMPTS {
            let mut stale = None;
            if let Some(ptr) = self.get(conv_pk(key), ACTIVE).await? {
                let sid = session_id_attr(&ptr)?;
                match self.get_session(sid).await? {
                    Some(s) if s.state != SessionState::Closed => return Ok((s, false)),
                    _ => stale = Some(sid),
                }
            }
            if let Some(session) = self.try_open(key, stale, now).await? {
                return Ok((session, true));
            }
            contention_backoff(attempt).await;
        }
        Err(StoreError::Contention(SessionId::from_uuid(
            uuid::Uuid::nil(),
        )))
    }

    async fn open_turn(&self, key: &ConversationKey, now: Timestamp) -> Result<Turn, StoreError> {
        for attempt in 0..MAX_APPEND_ATTEMPTS {
            // One request for the pointer and the consent, one for the session with its messages.
            let (pointer, consent) = self.pointer_and_consent(key).await?;
            let consent = consent_from_item(consent.as_ref())?;
            let mut stale = None;
            if let Some(ptr) = pointer {
                let sid = session_id_attr(&ptr)?;
                match self.read_recent(sid, super::TRANSCRIPT_WINDOW).await? {
                    Some((session, transcript)) if session.state != SessionState::Closed => {
                        return Ok(Turn {
                            session,
                            transcript,
                            consent,
                            opened: false,
                        });
                    }
                    _ => stale = Some(sid),
                }
            }
            if let Some(session) = self.try_open(key, stale, now).await? {
                return Ok(Turn {
                    session,
                    transcript: Vec::new(),
                    consent,
                    opened: true,
                });
            }
            contention_backoff(attempt).await;
        }
        Err(StoreError::Contention(SessionId::from_uuid(
            uuid::Uuid::nil(),
        )))
    }

    async fn active_session(&self, key: &ConversationKey) -> Result<Option<Session>, StoreError> {
        let Some(ptr) = self.get(conv_pk(key), ACTIVE).await? else {
            return Ok(None);
        };
        let sid = session_id_attr(&ptr)?;
        Ok(self
            .get_session(sid)
            .await?
            .filter(|s| s.state != SessionState::Closed))
    }

    async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        self.get_session(id).await
    }

    async fn transcript(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, Vec<Message>)>, StoreError> {
        self.read_transcript(id).await
    }

    async fn recent(
        &self,
        id: SessionId,
        n: usize,
    ) -> Result<Option<(Session, Vec<Message>)>, StoreError> {
        self.read_recent(id, n).await
    }

    async fn messages_after(
        &self,
        id: SessionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(session_pk(id)))
            .expression_attribute_values(":lo", s(message_sk(after.saturating_add(1))))
            .expression_attribute_values(":hi", s(message_sk(MAX_SEQ)))
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(backend)?;
        out.items().iter().map(message_from_item).collect()
    }

    async fn append(
        &self,
        seen: &Session,
        messages: Vec<NewMessage>,
        change: Option<StateChange>,
        now: Timestamp,
    ) -> Result<Appended, StoreError> {
        let transition = change.as_ref().map(|c| c.transition);
        let reason = change.and_then(|c| c.handoff_reason);
        let id = seen.id;
        let channel = seen.key.channel;
        let expires = self.retention.expires_at(now);
        // Marks this append on the session item, so that a write that landed although its
        // answer was lost (the SDK then retries it, and the retry finds the seq taken) is known
        // for ours instead of being written a second time.
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut current = seen.clone();
        for attempt in 0..MAX_APPEND_ATTEMPTS {
            if attempt > 0 {
                contention_backoff(attempt).await;
            }
            let base = current.last_seq;
            let stored: Vec<Message> = messages
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, m)| m.stored(base + 1 + i as u64, now))
                .collect();
            let new_last = base + stored.len() as u64;
            let (bytes, files) = stored.iter().fold((0, 0), |(b, f), m| {
                let (mb, mf) = NewMessage::customer_share_of(m);
                (b + mb, f + mf)
            });

            let mut upd = Update::builder()
                .table_name(&self.table)
                .key("pk", s(session_pk(id)))
                .key("sk", s(META))
                .expression_attribute_names("#st", "state")
                .expression_attribute_values(":old", n(base))
                .expression_attribute_values(":new", n(new_last))
                .expression_attribute_values(":now", s(now.to_string()))
                .expression_attribute_values(":exp", n(expires))
                .expression_attribute_values(":closed", s(SessionState::Closed.as_str()))
                .expression_attribute_values(":token", s(token.clone()))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":cb", n(bytes))
                .expression_attribute_values(":ca", n(files));
            let mut set = "SET last_seq = :new, last_activity_at = :now, expires_at = :exp, last_append = :token, \
                 customer_bytes = if_not_exists(customer_bytes, :zero) + :cb, \
                 customer_attachments = if_not_exists(customer_attachments, :zero) + :ca"
                .to_owned();
            let mut cond = "attribute_exists(pk) AND last_seq = :old AND #st <> :closed".to_owned();
            if let Some(t) = transition {
                set.push_str(", #st = :to");
                cond.push_str(" AND #st = :from");
                upd = upd
                    .expression_attribute_values(":to", s(t.to().as_str()))
                    .expression_attribute_values(":from", s(t.from().as_str()));
            }
            if let Some(r) = &reason {
                set.push_str(", handoff_reason = :reason");
                upd = upd.expression_attribute_values(":reason", s(r.clone()));
            }
            let mut tx = self.client.transact_write_items().transact_items(
                TransactWriteItem::builder()
                    .update(
                        upd.update_expression(set)
                            .condition_expression(cond)
                            .build()
                            .map_err(build_err)?,
                    )
                    .build(),
            );
            // Index in the transaction of each provider-id item, to read cancellation reasons.
            let mut pid_at: Vec<(usize, ProviderMessageId)> = Vec::new();
            let mut idx = 1;
            for m in &stored {
                tx = tx.transact_items(
                    TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(&self.table)
                                .set_item(Some(message_to_item(id, m, expires)))
                                .condition_expression("attribute_not_exists(pk)")
                                .build()
                                .map_err(build_err)?,
                        )
                        .build(),
                );
                idx += 1;
                if let Some(pid) = &m.provider_id {
                    tx = tx.transact_items(
                        TransactWriteItem::builder()
                            .put(
                                Put::builder()
                                    .table_name(&self.table)
                                    .set_item(Some(provider_item(channel, pid, id, m.seq, expires)))
                                    .condition_expression("attribute_not_exists(pk)")
                                    .build()
                                    .map_err(build_err)?,
                            )
                            .build(),
                    );
                    pid_at.push((idx, pid.clone()));
                    idx += 1;
                }
            }
            match tx.send().await {
                Ok(_) => {
                    current.last_seq = new_last;
                    current.last_activity_at = now;
                    current.customer_bytes += bytes;
                    current.customer_attachments += files;
                    if let Some(t) = transition {
                        current.state = t.to();
                    }
                    if reason.is_some() {
                        current.handoff_reason = reason;
                    }
                    return Ok(Appended::Stored {
                        session: Box::new(current),
                        messages: stored,
                    });
                }
                Err(e) => {
                    let Some(codes) = cancellation_codes(&e) else {
                        return Err(backend(e));
                    };
                    // The session's seq moved: our own write, landed on an attempt whose answer
                    // was lost (the SDK retried it)? A redelivery of a provider id, the common
                    // refusal, leaves the session's condition passing and costs no read here.
                    let session_moved =
                        codes.first().map(String::as_str) == Some("ConditionalCheckFailed");
                    let item = match session_moved {
                        true => self.get(session_pk(id), META).await?,
                        false => None,
                    };
                    if let Some(item) = &item
                        && opt_str(item, "last_append").as_deref() == Some(token.as_str())
                    {
                        return Ok(Appended::Stored {
                            session: Box::new(session_from_item(item)?),
                            messages: stored,
                        });
                    }
                    // A duplicate provider id wins over everything else: nothing to write.
                    for (i, pid) in &pid_at {
                        if codes.get(*i).map(String::as_str) == Some("ConditionalCheckFailed") {
                            return match self.find_by_provider_id(channel, pid).await? {
                                Some(r) => Ok(Appended::AlreadySeen {
                                    session_id: r.session_id,
                                    seq: r.seq,
                                }),
                                None => Err(StoreError::Contention(id)),
                            };
                        }
                    }
                    // Otherwise the session moved on (or closed): re-read, then decide.
                    let fresh = match &item {
                        Some(item) => session_from_item(item)?,
                        None => self.require_session(id).await?,
                    };
                    if fresh.state == SessionState::Closed {
                        return Err(StoreError::Closed(id));
                    }
                    if let Some(t) = transition
                        && fresh.state != t.from()
                    {
                        return Err(StoreError::StateChanged {
                            id,
                            expected: t.from(),
                            actual: fresh.state,
                        });
                    }
                    current = fresh;
                }
            }
        }
        Err(StoreError::Contention(id))
    }

    async fn transition(
        &self,
        id: SessionId,
        transition: Transition,
        changes: SessionChanges,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        let mut set = vec!["#st = :to"];
        let mut req = self
            .update_meta(id)
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":to", s(transition.to().as_str()))
            .expression_attribute_values(":from", s(transition.from().as_str()))
            .condition_expression("attribute_exists(pk) AND #st = :from")
            .return_values(ReturnValue::AllNew);
        if let Some(reason) = &changes.handoff_reason {
            set.push("handoff_reason = :reason");
            req = req.expression_attribute_values(":reason", s(reason.clone()));
        }
        if let Some(link) = &changes.creatio {
            let (exprs, values) = link_update(link);
            set.extend(exprs);
            for (k, v) in values {
                req = req.expression_attribute_values(k, v);
            }
        }
        let _ = now; // Transitions are not customer activity: the idle clock is left alone.
        let out = req
            .update_expression(format!("SET {}", set.join(", ")))
            .send()
            .await;
        let item = match out {
            Ok(o) => o.attributes.unwrap_or_default(),
            Err(e) if is_condition_failure(&e) => {
                return Err(self
                    .explain_condition_failure(id, Some(transition.from()))
                    .await);
            }
            Err(e) => return Err(backend(e)),
        };
        let session = session_from_item(&item)?;
        if session.state == SessionState::Closed {
            // Best effort: a pointer left behind points at a closed session, which reads as none.
            let _ = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(conv_pk(&session.key)))
                .key("sk", s(ACTIVE))
                .condition_expression("session_id = :sid")
                .expression_attribute_values(":sid", s(id.to_string()))
                .send()
                .await;
        }
        Ok(session)
    }

    async fn link_case(&self, id: SessionId, link: CreatioLink) -> Result<Session, StoreError> {
        let (exprs, values) = link_update(&link);
        let mut req = self
            .update_meta(id)
            .update_expression(format!("SET {}", exprs.join(", ")))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllNew);
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        match req.send().await {
            Ok(o) => session_from_item(&o.attributes.unwrap_or_default()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::NotFound(id)),
            Err(e) => Err(backend(e)),
        }
    }

    async fn set_sync_error(&self, id: SessionId, error: Option<String>) -> Result<(), StoreError> {
        let req = self
            .update_meta(id)
            .condition_expression("attribute_exists(pk)");
        let req = match error {
            Some(e) => req
                .update_expression("SET sync_error = :e")
                .expression_attribute_values(":e", s(e)),
            None => req.update_expression("REMOVE sync_error"),
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::NotFound(id)),
            Err(e) => Err(backend(e)),
        }
    }

    async fn advance_watermark(&self, id: SessionId, seq: u64) -> Result<Session, StoreError> {
        let out = self
            .update_meta(id)
            .update_expression("SET synced_seq = :seq")
            .condition_expression("attribute_exists(pk) AND last_seq >= :seq AND synced_seq < :seq")
            .expression_attribute_values(":seq", n(seq))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(o) => session_from_item(&o.attributes.unwrap_or_default()),
            Err(e) if is_condition_failure(&e) => {
                let s = self.require_session(id).await?;
                if seq > s.last_seq {
                    Err(StoreError::WatermarkPastEnd {
                        id,
                        seq,
                        last_seq: s.last_seq,
                    })
                } else {
                    Ok(s) // already at or past `seq`: nothing to do
                }
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn record_delivery(
        &self,
        id: SessionId,
        seq: u64,
        status: DeliveryStatus,
        provider_id: Option<&ProviderMessageId>,
    ) -> Result<(), StoreError> {
        let delivery =
            serde_json::to_string(&status).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut upd = Update::builder()
            .table_name(&self.table)
            .key("pk", s(session_pk(id)))
            .key("sk", s(message_sk(seq)))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":d", s(delivery));
        upd = match provider_id {
            Some(pid) => upd
                .update_expression("SET delivery = :d, provider_id = :p")
                .expression_attribute_values(":p", s(pid.as_str())),
            None => upd.update_expression("SET delivery = :d"),
        };
        let mut tx = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .update(upd.build().map_err(build_err)?)
                .build(),
        );
        if let Some(pid) = provider_id {
            // Provider ids are unique per channel, and the channel lives on the session item.
            let session = self.require_session(id).await?;
            let expires = self.retention.expires_at(Timestamp::now());
            tx = tx.transact_items(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(provider_item(
                                session.key.channel,
                                pid,
                                id,
                                seq,
                                expires,
                            )))
                            .build()
                            .map_err(build_err)?,
                    )
                    .build(),
            );
        }
        match tx.send().await {
            Ok(_) => Ok(()),
            Err(e) if cancellation_codes(&e).is_some() => {
                Err(StoreError::NoSuchMessage { id, seq })
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn consent(&self, customer: &Customer) -> Result<Consent, StoreError> {
        consent_from_item(self.get(consent_pk(customer), CONSENT).await?.as_ref())
    }

    async fn set_consent(
        &self,
        customer: &Customer,
        consent: Consent,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(consent_pk(customer)))
            .item("sk", s(CONSENT))
            .item("kind", s("consent"))
            .item("changed_at", s(now.to_string()));
        let put = match consent {
            Consent::OptedOut { since } => put.item("opted_out_at", s(since.to_string())),
            Consent::Granted => put,
        };
        put.send().await.map_err(backend)?;
        Ok(())
    }

    async fn link_identity(
        &self,
        seen: &Session,
        to: &ConversationKey,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        let id = seen.id;
        let expires = self.retention.expires_at(now);
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(session_pk(id)))
            .key("sk", s(META))
            .update_expression("SET conv = :new, last_activity_at = :now")
            .condition_expression("attribute_exists(pk) AND conv = :old AND #st <> :closed")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":new", s(to.storage_key()))
            .expression_attribute_values(":old", s(seen.key.storage_key()))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":closed", s(SessionState::Closed.as_str()))
            .build()
            .map_err(build_err)?;
        let delete_old = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .key("pk", s(conv_pk(&seen.key)))
            .key("sk", s(ACTIVE))
            .condition_expression("attribute_not_exists(pk) OR session_id = :id")
            .expression_attribute_values(":id", s(id.to_string()))
            .build()
            .map_err(build_err)?;
        let put_new = Put::builder()
            .table_name(&self.table)
            .item("pk", s(conv_pk(to)))
            .item("sk", s(ACTIVE))
            .item("kind", s("active"))
            .item("session_id", s(id.to_string()))
            .item(TTL_ATTRIBUTE, n(expires))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err)?;
        let res = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(TransactWriteItem::builder().delete(delete_old).build())
            .transact_items(TransactWriteItem::builder().put(put_new).build())
            .send()
            .await;
        match res {
            Ok(_) => {}
            Err(e) => {
                let Some(codes) = cancellation_codes(&e) else {
                    return Err(backend(e));
                };
                // Which condition failed says why.
                let failed = |i: usize| codes.get(i).is_some_and(|c| c == "ConditionalCheckFailed");
                if failed(2) {
                    // The new key's pointer may be left over from a closed session.
                    let pointer = self.get(conv_pk(to), ACTIVE).await?;
                    let live = match pointer.as_ref().map(session_id_attr).transpose()? {
                        Some(other) => self
                            .get_session(other)
                            .await?
                            .is_some_and(|s| s.state != SessionState::Closed),
                        None => false,
                    };
                    if live {
                        return Err(StoreError::AlreadyActive);
                    }
                    if let Some(p) = pointer {
                        let other = session_id_attr(&p)?;
                        self.client
                            .delete_item()
                            .table_name(&self.table)
                            .key("pk", s(conv_pk(to)))
                            .key("sk", s(ACTIVE))
                            .condition_expression("session_id = :id")
                            .expression_attribute_values(":id", s(other.to_string()))
                            .send()
                            .await
                            .map_err(backend)?;
                    }
                    return Box::pin(self.link_identity(seen, to, now)).await;
                }
                return match self.get_session(id).await? {
                    None => Err(StoreError::NotFound(id)),
                    Some(s) if s.state == SessionState::Closed => Err(StoreError::Closed(id)),
                    Some(_) => Err(StoreError::Contention(id)),
                };
            }
        }
        self.get_session(id).await?.ok_or(StoreError::NotFound(id))
    }

    async fn needing_sync(&self) -> Result<Vec<Session>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(
                    "kind = :session AND (#st = :hr OR (attribute_exists(case_id) AND synced_seq < last_seq) OR attribute_exists(sync_error))",
                )
                .expression_attribute_names("#st", "state")
                .expression_attribute_values(":session", s("session"))
                .expression_attribute_values(":hr", s(SessionState::HandoffRequested.as_str()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend)?;
            for item in page.items() {
                out.push(session_from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        out.sort_by_key(|s| s.created_at);
        Ok(out)
    }

    async fn find_by_case(&self, case_id: CaseId) -> Result<Option<Session>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(CASE_INDEX)
            .key_condition_expression("case_id = :c")
            // Outbox entries that name the case share the index.
            .filter_expression("kind = :session")
            .expression_attribute_values(":c", s(case_id.to_string()))
            .expression_attribute_values(":session", s("session"))
            .send()
            .await
            .map_err(backend)?;
        let mut sessions = out
            .items
            .unwrap_or_default()
            .iter()
            .map(session_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        // Case ids are UUIDv5 of the session id, so there is one; prefer an open one regardless.
        sessions.sort_by_key(|s| s.state == SessionState::Closed);
        Ok(sessions.into_iter().next())
    }

    async fn find_by_provider_id(
        &self,
        channel: Channel,
        id: &ProviderMessageId,
    ) -> Result<Option<MessageRef>, StoreError> {
        let Some(item) = self.get(provider_pk(channel, id), "P").await? else {
            return Ok(None);
        };
        Ok(Some(MessageRef {
            session_id: session_id_attr(&item)?,
            seq: num_attr(&item, "seq")?,
        }))
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

    async fn unfinished_outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.scan_unfinished_outbox().await
    }

    async fn take_allowance(
        &self,
        key: &str,
        window: std::time::Duration,
        max: u32,
        now: Timestamp,
    ) -> Result<Allowance, StoreError> {
        let (index, retry_after) = super::window_of(window, now);
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("L#{key}#{index}")))
            .key("sk", s("LIMIT"))
            .update_expression("ADD used :one SET kind = :kind, expires_at = :exp")
            .condition_expression("attribute_not_exists(used) OR used < :max")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .expression_attribute_values(":kind", s("limit"))
            .expression_attribute_values(
                ":exp",
                n(now.as_second() + retry_after.as_secs() as i64 + 3600),
            )
            .send()
            .await;
        match res {
            Ok(_) => Ok(Allowance::Granted),
            Err(e) if is_condition_failure(&e) => Ok(Allowance::Exhausted { retry_after }),
            Err(e) => Err(backend(e)),
        }
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
}

// ---- keys -------------------------------------------------------------------------------------

/// What a stream record is about, read from its `pk` (the key format stays private to the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamItem {
    /// A session item or one of its messages: Creatio may be behind on this session.
    Session(SessionId),
    /// An outbox entry: a rep reply to deliver.
    Outbox(ActivityId),
}

impl StreamItem {
    /// None for items the stream consumer has no business with (pointers, provider ids,
    /// consent, the catch-up marks).
    pub fn of_key(pk: &str) -> Option<Self> {
        if let Some(id) = pk.strip_prefix("S#") {
            return SessionId::parse(id).ok().map(StreamItem::Session);
        }
        if let Some(id) = pk.strip_prefix("R#") {
            return ActivityId::parse(id).ok().map(StreamItem::Outbox);
        }
        None
    }
}

/// Seqs are rendered with 10 digits so that they sort as numbers.
const MAX_SEQ: u64 = 9_999_999_999;

fn session_pk(id: SessionId) -> String {
    format!("S#{id}")
}

fn message_sk(seq: u64) -> String {
    format!("M#{seq:010}")
}

fn conv_pk(key: &ConversationKey) -> String {
    format!("C#{}", key.storage_key())
}

fn consent_pk(customer: &Customer) -> String {
    format!("O#{}", customer.storage_key())
}

fn provider_pk(channel: Channel, id: &ProviderMessageId) -> String {
    format!("P#{channel}#{}", id.as_str())
}

// ---- item mapping -----------------------------------------------------------------------------

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn str_attr<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Corrupt(format!(
            "missing string attribute {name}"
        ))),
    }
}

fn opt_str(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

fn num_attr(item: &Item, name: &str) -> Result<u64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("attribute {name} is not a count"))),
        _ => Err(StoreError::Corrupt(format!(
            "missing number attribute {name}"
        ))),
    }
}

fn time_attr(item: &Item, name: &str) -> Result<Timestamp, StoreError> {
    str_attr(item, name)?
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("attribute {name} is not a timestamp")))
}

fn session_id_attr(item: &Item) -> Result<SessionId, StoreError> {
    SessionId::parse(str_attr(item, "session_id")?).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn key_item(pk: &str, sk: &str) -> Item {
    Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn consent_from_item(item: Option<&Item>) -> Result<Consent, StoreError> {
    Ok(match item.and_then(|i| opt_str(i, "opted_out_at")) {
        Some(at) => Consent::OptedOut {
            since: at
                .parse()
                .map_err(|_| StoreError::Corrupt("consent item has a bad opted_out_at".into()))?,
        },
        None => Consent::Granted,
    })
}

fn session_to_item(session: &Session, expires: i64) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(session_pk(session.id)));
    item.insert("sk".into(), s(META));
    item.insert("kind".into(), s("session"));
    item.insert("session_id".into(), s(session.id.to_string()));
    item.insert("conv".into(), s(session.key.storage_key()));
    item.insert("state".into(), s(session.state.as_str()));
    item.insert("created_at".into(), s(session.created_at.to_string()));
    item.insert(
        "last_activity_at".into(),
        s(session.last_activity_at.to_string()),
    );
    item.insert("last_seq".into(), n(session.last_seq));
    item.insert("synced_seq".into(), n(session.synced_seq));
    item.insert("customer_bytes".into(), n(session.customer_bytes));
    item.insert(
        "customer_attachments".into(),
        n(session.customer_attachments),
    );
    item.insert(TTL_ATTRIBUTE.into(), n(expires));
    if let Some(link) = &session.creatio {
        item.insert("case_id".into(), s(link.case_id.to_string()));
        if let Some(num) = &link.case_number {
            item.insert("case_number".into(), s(num.clone()));
        }
        if let Some(c) = link.contact_id {
            item.insert("contact_id".into(), s(c.to_string()));
        }
    }
    item
}

fn link_update(link: &CreatioLink) -> (Vec<&'static str>, Vec<(&'static str, AttributeValue)>) {
    let mut exprs = vec!["case_id = :case"];
    let mut values = vec![(":case", s(link.case_id.to_string()))];
    if let Some(num) = &link.case_number {
        exprs.push("case_number = :num");
        values.push((":num", s(num.clone())));
    }
    if let Some(c) = link.contact_id {
        exprs.push("contact_id = :contact");
        values.push((":contact", s(c.to_string())));
    }
    (exprs, values)
}

fn session_from_item(item: &Item) -> Result<Session, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("session item has a bad {what}"));
    let id = session_id_attr(item)?;
    let key =
        ConversationKey::from_storage_key(str_attr(item, "conv")?).map_err(|_| corrupt("conv"))?;
    let state = SessionState::parse(str_attr(item, "state")?).ok_or_else(|| corrupt("state"))?;
    let creatio = match opt_str(item, "case_id") {
        Some(c) => Some(CreatioLink {
            case_id: CaseId::parse(&c).map_err(|_| corrupt("case_id"))?,
            case_number: opt_str(item, "case_number"),
            contact_id: opt_str(item, "contact_id")
                .map(|c| ContactId::parse(&c))
                .transpose()
                .map_err(|_| corrupt("contact_id"))?,
        }),
        None => None,
    };
    Ok(Session {
        id,
        key,
        state,
        created_at: time_attr(item, "created_at")?,
        last_activity_at: time_attr(item, "last_activity_at")?,
        last_seq: num_attr(item, "last_seq")?,
        synced_seq: num_attr(item, "synced_seq")?,
        creatio,
        handoff_reason: opt_str(item, "handoff_reason"),
        sync_error: opt_str(item, "sync_error"),
        customer_bytes: num_attr(item, "customer_bytes").unwrap_or(0),
        customer_attachments: num_attr(item, "customer_attachments").unwrap_or(0),
    })
}

fn message_to_item(id: SessionId, m: &Message, expires: i64) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(session_pk(id)));
    item.insert("sk".into(), s(message_sk(m.seq)));
    item.insert("kind".into(), s("message"));
    item.insert("session_id".into(), s(id.to_string()));
    item.insert("seq".into(), n(m.seq));
    item.insert("role".into(), s(m.role.as_str()));
    item.insert("text".into(), s(m.text.as_str()));
    item.insert("at".into(), s(m.at.to_string()));
    item.insert(TTL_ATTRIBUTE.into(), n(expires));
    if let Some(pid) = &m.provider_id {
        item.insert("provider_id".into(), s(pid.as_str()));
    }
    if !m.attachments.is_empty() {
        // Serialising plain strings cannot fail.
        if let Ok(json) = serde_json::to_string(&m.attachments) {
            item.insert("attachments".into(), s(json));
        }
    }
    if let Some(d) = &m.delivery
        && let Ok(json) = serde_json::to_string(d)
    {
        item.insert("delivery".into(), s(json));
    }
    if m.fallback {
        item.insert("fallback".into(), AttributeValue::Bool(true));
    }
    item
}

fn message_from_item(item: &Item) -> Result<Message, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("message item has a bad {what}"));
    Ok(Message {
        seq: num_attr(item, "seq")?,
        role: Role::parse(str_attr(item, "role")?).ok_or_else(|| corrupt("role"))?,
        text: MessageText::parse(str_attr(item, "text")?).map_err(|_| corrupt("text"))?,
        provider_id: opt_str(item, "provider_id")
            .map(|p| ProviderMessageId::parse(&p))
            .transpose()
            .map_err(|_| corrupt("provider_id"))?,
        at: time_attr(item, "at")?,
        attachments: match opt_str(item, "attachments") {
            Some(j) => serde_json::from_str(&j).map_err(|_| corrupt("attachments"))?,
            None => Vec::new(),
        },
        delivery: opt_str(item, "delivery")
            .map(|j| serde_json::from_str(&j))
            .transpose()
            .map_err(|_| corrupt("delivery"))?,
        fallback: matches!(item.get("fallback"), Some(AttributeValue::Bool(true))),
    })
}

fn provider_item(
    channel: Channel,
    pid: &ProviderMessageId,
    id: SessionId,
    seq: u64,
    expires: i64,
) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(provider_pk(channel, pid)));
    item.insert("sk".into(), s("P"));
    item.insert("kind".into(), s("provider_id"));
    item.insert("session_id".into(), s(id.to_string()));
    item.insert("seq".into(), n(seq));
    item.insert(TTL_ATTRIBUTE.into(), n(expires));
    item
}

// ---- errors -----------------------------------------------------------------------------------

/// Error codes DynamoDB answers when trying again later can succeed.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
];

fn backend<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let retryable = match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => se
            .err()
            .code()
            .is_some_and(|c| RETRYABLE_CODES.contains(&c)),
        _ => false,
    };
    let message = match e.code() {
        Some(code) => format!("{code}: {}", e.message().unwrap_or("no message")),
        None => aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
    };
    StoreError::Backend { message, retryable }
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Corrupt(format!("request could not be built: {e}"))
}

fn is_condition_failure<E, R>(e: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    e.code() == Some("ConditionalCheckFailedException")
}

/// The per-item cancellation codes of a cancelled transaction ("None", "ConditionalCheckFailed"…),
/// or None when the error is something else.
fn cancellation_codes<R>(
    e: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> Option<Vec<String>> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match e {
        SdkError::ServiceError(se) => match se.err() {
            TransactWriteItemsError::TransactionCanceledException(tc) => Some(
                tc.cancellation_reasons()
                    .iter()
                    .map(|r| r.code().unwrap_or("None").to_owned())
                    .collect(),
            ),
            _ => None,
        },
        _ => None,
    }
}
