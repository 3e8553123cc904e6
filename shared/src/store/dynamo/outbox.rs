//! The outbox of rep replies and the catch-up watermark, on the one table.
//!
//! | item | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | outbox entry | `R#<activity id>` | `OUTBOX` | `kind=outbox`, `activity_id`, `state`, `case_id` (once known), `attempts`, `outcome`, `source`, `queued_at`, `expires_at` |
//! | catch-up marks | `W#catchup` | `MARKS` | `kind=catchup`, `activities_ns`, `cases_ns` (epoch nanoseconds: Creatio's times have microseconds, and the catch-up asks for what is strictly newer); no TTL |
//!
//! - **One item per activity**, written with `attribute_not_exists(pk)`: the webhook and the
//!   catch-up may both report an activity, any number of times, and it is recorded once.
//! - **The stream** carries entries to the delivery; template.yaml's filter passes only
//!   `kind=outbox, state=queued`, so the entry's own later changes (retrying, waiting, done) do
//!   not start a second delivery.
//! - **`case_id` puts an entry in the `by_case` index** beside its session, which is how a
//!   waiting entry is found again when the conversation is linked to the case (`find_by_case`
//!   filters to sessions).
//! - **Every change is conditional on the state** the caller names, so of two deliveries of one
//!   activity only one can move it.

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};
use jiff::Timestamp;

use super::{
    CASE_INDEX, DynamoStore, Item, TTL_ATTRIBUTE, backend, build_err, is_condition_failure, n,
    num_attr, opt_str, s, str_attr,
};
use crate::domain::{
    ActivityId, CaseId, CatchUpMark, CatchUpMarks, OutboxChange, OutboxEntry, OutboxSource,
    OutboxState,
};
use crate::store::StoreError;

const OUTBOX: &str = "OUTBOX";
const MARKS_PK: &str = "W#catchup";
const MARKS: &str = "MARKS";
/// `BatchGetItem` reads at most this many keys per request.
const BATCH_GET_MAX: usize = 100;
/// How often a batch read asks again for the keys DynamoDB left unprocessed.
const UNPROCESSED_ROUNDS: usize = 8;

fn outbox_pk(activity: ActivityId) -> String {
    format!("R#{activity}")
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("outbox item has a bad {what}"))
}

fn entry_to_item(e: &OutboxEntry, expires: i64) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(outbox_pk(e.activity_id)));
    item.insert("sk".into(), s(OUTBOX));
    item.insert("kind".into(), s("outbox"));
    item.insert("activity_id".into(), s(e.activity_id.to_string()));
    item.insert("state".into(), s(e.state.as_str()));
    item.insert("attempts".into(), n(e.attempts));
    item.insert("source".into(), s(e.source.as_str()));
    item.insert("queued_at".into(), s(e.queued_at.to_string()));
    item.insert(TTL_ATTRIBUTE.into(), n(expires));
    if let Some(c) = e.case_id {
        item.insert("case_id".into(), s(c.to_string()));
    }
    if let Some(o) = &e.outcome {
        item.insert("outcome".into(), s(o.clone()));
    }
    item
}

pub(super) fn entry_from_item(item: &Item) -> Result<OutboxEntry, StoreError> {
    Ok(OutboxEntry {
        activity_id: ActivityId::parse(str_attr(item, "activity_id")?)
            .map_err(|_| corrupt("activity_id"))?,
        case_id: opt_str(item, "case_id")
            .map(|c| CaseId::parse(&c))
            .transpose()
            .map_err(|_| corrupt("case_id"))?,
        state: OutboxState::parse(str_attr(item, "state")?).ok_or_else(|| corrupt("state"))?,
        attempts: u32::try_from(num_attr(item, "attempts")?).map_err(|_| corrupt("attempts"))?,
        outcome: opt_str(item, "outcome"),
        source: OutboxSource::parse(str_attr(item, "source")?).ok_or_else(|| corrupt("source"))?,
        queued_at: str_attr(item, "queued_at")?
            .parse()
            .map_err(|_| corrupt("queued_at"))?,
    })
}

impl DynamoStore {
    pub(super) async fn put_outbox_entry(&self, entry: &OutboxEntry) -> Result<bool, StoreError> {
        let expires = self.retention.expires_at(entry.queued_at);
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(entry_to_item(entry, expires)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    pub(super) async fn get_outbox_entry(
        &self,
        activity: ActivityId,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        self.get(outbox_pk(activity), OUTBOX)
            .await?
            .map(|i| entry_from_item(&i))
            .transpose()
    }

    /// One `BatchGetItem` per 100 ids; keys DynamoDB leaves unprocessed are asked for again.
    pub(super) async fn get_outbox_entries(
        &self,
        ids: &[ActivityId],
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(BATCH_GET_MAX) {
            let mut keys = KeysAndAttributes::builder().consistent_read(true);
            for id in chunk {
                keys = keys.keys(super::key_item(&outbox_pk(*id), OUTBOX));
            }
            let mut request = Some(keys.build().map_err(build_err)?);
            for _ in 0..UNPROCESSED_ROUNDS {
                let Some(keys) = request.take() else { break };
                let answer = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(backend)?;
                if let Some(items) = answer.responses.and_then(|mut r| r.remove(&self.table)) {
                    for item in &items {
                        out.push(entry_from_item(item)?);
                    }
                }
                request = answer
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys.is_empty());
            }
            if request.is_some() {
                return Err(StoreError::Backend {
                    message: "BatchGetItem left keys unprocessed after repeated requests".into(),
                    retryable: true,
                });
            }
        }
        Ok(out)
    }

    pub(super) async fn update_outbox_entry(
        &self,
        activity: ActivityId,
        change: OutboxChange,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        let from: Vec<String> = (0..change.from.len()).map(|i| format!(":f{i}")).collect();
        let mut set = vec!["#st = :to"];
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(outbox_pk(activity)))
            .key("sk", s(OUTBOX))
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":to", s(change.to.as_str()))
            .condition_expression(format!(
                "attribute_exists(pk) AND #st IN ({})",
                from.join(", ")
            ))
            .return_values(ReturnValue::AllNew);
        for (name, state) in from.iter().zip(&change.from) {
            req = req.expression_attribute_values(name.as_str(), s(state.as_str()));
        }
        if let Some(c) = change.case_id {
            set.push("case_id = :case");
            req = req.expression_attribute_values(":case", s(c.to_string()));
        }
        if let Some(o) = &change.outcome {
            set.push("outcome = :outcome");
            req = req.expression_attribute_values(":outcome", s(o.clone()));
        }
        let mut expression = format!("SET {}", set.join(", "));
        if change.failed_attempt {
            expression.push_str(" ADD attempts :one");
            req = req.expression_attribute_values(":one", n(1));
        }
        match req.update_expression(expression).send().await {
            Ok(o) => entry_from_item(&o.attributes.unwrap_or_default()).map(Some),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    pub(super) async fn query_waiting_for_case(
        &self,
        case_id: CaseId,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.query_case_outbox(case_id, &[OutboxState::Waiting])
            .await
    }

    /// In the order they were recorded: replies go out in that order.
    pub(super) async fn query_deliverable_for_case(
        &self,
        case_id: CaseId,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut entries = self
            .query_case_outbox(case_id, &[OutboxState::Queued, OutboxState::Retrying])
            .await?;
        entries.sort_by_key(|e| (e.queued_at, e.activity_id));
        Ok(entries)
    }

    /// The case's outbox entries in one of `states`, from the case index (which sessions share:
    /// the filter keeps the entries).
    async fn query_case_outbox(
        &self,
        case_id: CaseId,
        states: &[OutboxState],
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let names: Vec<String> = (0..states.len()).map(|i| format!(":s{i}")).collect();
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(CASE_INDEX)
            .key_condition_expression("case_id = :c")
            .filter_expression(format!("kind = :outbox AND #st IN ({})", names.join(", ")))
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":c", s(case_id.to_string()))
            .expression_attribute_values(":outbox", s("outbox"));
        for (name, state) in names.iter().zip(states) {
            query = query.expression_attribute_values(name, s(state.as_str()));
        }
        let out = query.send().await.map_err(backend)?;
        out.items()
            .iter()
            .map(entry_from_item)
            .collect::<Result<Vec<_>, _>>()
    }

    pub(super) async fn scan_unfinished_outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let items = self
            .scan_all(
                "kind = :outbox AND #st <> :done",
                &[
                    (":outbox", s("outbox")),
                    (":done", s(OutboxState::Done.as_str())),
                ],
            )
            .await?;
        let mut out = items
            .iter()
            .map(entry_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|e| e.queued_at);
        Ok(out)
    }

    pub(super) async fn read_catchup_marks(&self) -> Result<CatchUpMarks, StoreError> {
        let Some(item) = self.get(MARKS_PK.to_owned(), MARKS).await? else {
            return Ok(CatchUpMarks::default());
        };
        let mark = |name: &str| -> Result<Option<Timestamp>, StoreError> {
            let Some(v) = item.get(name) else {
                return Ok(None);
            };
            let bad = || StoreError::Corrupt(format!("catch-up mark {name} is malformed"));
            let AttributeValue::N(v) = v else {
                return Err(bad());
            };
            let ns: i128 = v.parse().map_err(|_| bad())?;
            Timestamp::from_nanosecond(ns).map(Some).map_err(|_| bad())
        };
        Ok(CatchUpMarks {
            activities: mark("activities_ns")?,
            cases: mark("cases_ns")?,
        })
    }

    pub(super) async fn write_catchup_mark(
        &self,
        mark: CatchUpMark,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let name = match mark {
            CatchUpMark::Activities => "activities_ns",
            CatchUpMark::Cases => "cases_ns",
        };
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(MARKS_PK))
            .key("sk", s(MARKS))
            .update_expression("SET #m = :ns, kind = :kind")
            .condition_expression("attribute_not_exists(#m) OR #m < :ns")
            .expression_attribute_names("#m", name)
            .expression_attribute_values(":ns", n(at.as_nanosecond()))
            .expression_attribute_values(":kind", s("catchup"))
            .send()
            .await;
        match res {
            // Already at or past `at`: nothing to do.
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }
}
