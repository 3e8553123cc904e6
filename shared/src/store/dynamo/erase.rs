//! A customer's data on request: their sessions found, what else the table holds about each, and
//! all of it removed (`casebridge export` / `casebridge erase`), with a record that it was.
//!
//! | item | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | erasure | `X#erasure` | `<at>#<uuid>` | `kind=erasure`, `sessions`, `items`, `attachments`, `cases` (a list); no TTL, no customer data |
//!
//! - **Found by scan.** A customer's sessions are the session items whose `conv` names them (any
//!   channel, any of our numbers, a widget conversation linked to their verified e-mail); the
//!   gaps recorded in a session are found the same way. Scans are for the operator CLI only.
//! - **Closed, then removed in batches.** The session is closed first, so no append lands in it
//!   meanwhile (the partition is read again until it is empty). `BatchWriteItem` deletes of 25
//!   keys, with what DynamoDB leaves unprocessed asked again after a backoff: the session's
//!   partition (the session and its messages), the provider-id items its messages name, its
//!   case's outbox entries (the `by_case` index) and status check, its gaps; then the active
//!   pointer, only while it still points at this session. The count is of keys deleted (a
//!   provider id may already have expired).
//! - **Consent stays.** The `O#` consent item is the customer's opt-out, which carriers require
//!   to be honoured after the data is gone; it holds no message.

use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};

use super::gaps::gap_from_item;
use super::outbox::entry_from_item;
use super::*;
use crate::store::{Erasure, SessionRecords};

const ERASURES_PK: &str = "X#erasure";
/// `BatchWriteItem` takes at most this many requests.
const BATCH_WRITE_MAX: usize = 25;
const UNPROCESSED_ROUNDS: usize = 8;

fn key_of(item: &Item) -> Option<(String, String)> {
    Some((
        item.get("pk")?.as_s().ok()?.clone(),
        item.get("sk")?.as_s().ok()?.clone(),
    ))
}

impl DynamoStore {
    pub(super) async fn scan_customer_sessions(
        &self,
        customer: &Customer,
    ) -> Result<Vec<Session>, StoreError> {
        let items = self
            .scan_all(
                "kind = :session AND contains(conv, :customer)",
                &[
                    (":session", s("session")),
                    (":customer", s(format!("|{}|", customer.storage_key()))),
                ],
            )
            .await?;
        let mut out = Vec::new();
        for item in &items {
            let session = session_from_item(item)?;
            if &session.key.customer == customer {
                out.push(session);
            }
        }
        out.sort_by_key(|s| s.created_at);
        Ok(out)
    }

    /// The outbox items of a case (every state), from the `by_case` index.
    async fn case_outbox_items(&self, case: CaseId) -> Result<Vec<Item>, StoreError> {
        self.query_pages(|| {
            self.client
                .query()
                .table_name(&self.table)
                .index_name(CASE_INDEX)
                .key_condition_expression("case_id = :c")
                .filter_expression("kind = :outbox")
                .expression_attribute_values(":c", s(case.to_string()))
                .expression_attribute_values(":outbox", s("outbox"))
        })
        .await
    }

    async fn session_gap_items(&self, id: SessionId) -> Result<Vec<Item>, StoreError> {
        self.scan_all(
            "kind = :gap AND session_id = :s",
            &[(":gap", s("gap")), (":s", s(id.to_string()))],
        )
        .await
    }

    pub(super) async fn read_session_records(
        &self,
        session: &Session,
    ) -> Result<SessionRecords, StoreError> {
        let case = session.id.case_id();
        let mut outbox = self
            .case_outbox_items(case)
            .await?
            .iter()
            .map(entry_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        outbox.sort_by_key(|e| e.queued_at);
        let mut gaps: Vec<Gap> = self
            .session_gap_items(session.id)
            .await?
            .iter()
            .filter_map(gap_from_item)
            .collect();
        gaps.sort_by_key(|g| g.at);
        Ok(SessionRecords {
            outbox,
            status_check: self.status_check(case).await?,
            gaps,
        })
    }

    pub(super) async fn delete_session_items(
        &self,
        session: &Session,
    ) -> Result<usize, StoreError> {
        // Closed first: an append needs an open session, so nothing is written into the
        // partition while it is being emptied.
        let closing = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(session_pk(session.id)))
            .key("sk", s(META))
            .update_expression("SET #st = :closed")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":closed", s(SessionState::Closed.as_str()))
            .send()
            .await;
        match closing {
            Ok(_) => {}
            Err(e) if is_condition_failure(&e) => {}
            Err(e) => return Err(backend(e)),
        }
        let mut removed = 0;
        // A message written just before the close is met by the next round.
        for _ in 0..UNPROCESSED_ROUNDS {
            let keys = self.session_keys(session).await?;
            if keys.is_empty() {
                break;
            }
            self.delete_keys(&keys).await?;
            removed += keys.len();
        }
        let case = session.id.case_id();
        let mut keys: Vec<(String, String)> = Vec::new();
        for item in self.case_outbox_items(case).await? {
            keys.extend(key_of(&item));
        }
        if self.status_check(case).await?.is_some() {
            keys.push((format!("U#{case}"), "STATUS".into()));
        }
        for item in self.session_gap_items(session.id).await? {
            keys.extend(key_of(&item));
        }
        keys.sort();
        keys.dedup();
        self.delete_keys(&keys).await?;
        removed += keys.len();
        // The active pointer, only while it still names this session.
        let pointer = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(conv_pk(&session.key)))
            .key("sk", s(ACTIVE))
            .condition_expression("session_id = :id")
            .expression_attribute_values(":id", s(session.id.to_string()))
            .send()
            .await;
        match pointer {
            Ok(_) => removed += 1,
            Err(e) if is_condition_failure(&e) => {}
            Err(e) => return Err(backend(e)),
        }
        Ok(removed)
    }

    /// The keys of the session's partition (the session and its messages) and of the provider-id
    /// items its messages name.
    async fn session_keys(&self, session: &Session) -> Result<Vec<(String, String)>, StoreError> {
        let items = self
            .query_pages(|| {
                self.client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s(session_pk(session.id)))
                    .consistent_read(true)
            })
            .await?;
        let mut keys: Vec<(String, String)> = Vec::new();
        for item in &items {
            keys.extend(key_of(item));
            if let Some(pid) =
                opt_str(item, "provider_id").and_then(|p| ProviderMessageId::parse(&p).ok())
            {
                keys.push((provider_pk(session.key.channel, &pid), "P".into()));
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// `BatchWriteItem` deletes, 25 a request, with what DynamoDB leaves unprocessed asked again.
    async fn delete_keys(&self, keys: &[(String, String)]) -> Result<(), StoreError> {
        for chunk in keys.chunks(BATCH_WRITE_MAX) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|(pk, sk)| {
                    DeleteRequest::builder()
                        .set_key(Some(key_item(pk, sk)))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(build_err)
                })
                .collect::<Result<_, _>>()?;
            for round in 0..UNPROCESSED_ROUNDS {
                if requests.is_empty() {
                    break;
                }
                if round > 0 {
                    // DynamoDB leaves items unprocessed when throttled: wait before asking again.
                    let wait = 50u64 << round.min(6);
                    tokio::time::sleep(std::time::Duration::from_millis(
                        wait + fastrand::u64(0..wait),
                    ))
                    .await;
                }
                let answer = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(backend)?;
                requests = answer
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
            }
            if !requests.is_empty() {
                return Err(StoreError::Backend {
                    message: "BatchWriteItem left deletes unprocessed after repeated requests"
                        .into(),
                    retryable: true,
                });
            }
        }
        Ok(())
    }

    pub(super) async fn put_erasure(&self, erasure: &Erasure) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(ERASURES_PK))
            .item(
                "sk",
                s(format!("{}#{}", erasure.at, uuid::Uuid::new_v4().simple())),
            )
            .item("kind", s("erasure"))
            .item("at", s(erasure.at.to_string()))
            .item("sessions", n(erasure.sessions))
            .item("items", n(erasure.items))
            .item("attachments", n(erasure.attachments))
            .item(
                "cases",
                AttributeValue::L(erasure.cases.iter().map(|c| s(c.clone())).collect()),
            )
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    pub(super) async fn read_erasures(&self) -> Result<Vec<Erasure>, StoreError> {
        let items = self
            .query_pages(|| {
                self.client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s(ERASURES_PK))
                    .consistent_read(true)
            })
            .await?;
        let corrupt = || StoreError::Corrupt("erasure item is not whole".into());
        items
            .iter()
            .map(|item| {
                let count = |k: &str| num_attr(item, k).map(|n| n as usize);
                Ok(Erasure {
                    at: str_attr(item, "at")?.parse().map_err(|_| corrupt())?,
                    sessions: count("sessions")?,
                    items: count("items")?,
                    attachments: count("attachments")?,
                    cases: item
                        .get("cases")
                        .and_then(|c| c.as_l().ok())
                        .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
                        .unwrap_or_default(),
                })
            })
            .collect()
    }
}
