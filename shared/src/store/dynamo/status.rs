//! Case status checks (`casebridge::domain::StatusCheck`): what a `case_updated` webhook records.
//!
//! | item | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | status check | `U#<case id>` | `STATUS` | `kind=case_status`, `checked_case`, `state`, `reports`, `attempts`, `outcome`, `reported_at`, `expires_at` |
//!
//! - **One `UpdateItem` per report** (`ADD reports :one`, `SET state = queued`): creates the item
//!   or queues it again, and every report is a new stream record with `state=queued`, which
//!   template.yaml's filter passes to the handoff function (as it passes queued replies).
//! - **Finishing is conditional on `reports`**, so a check never marks done a report that came
//!   while it ran; that report's own record runs the check again.
//! - The case is `checked_case`, not `case_id`: the `by_case` index holds sessions (and replies
//!   waiting for a conversation); a status check has no business there.

use aws_sdk_dynamodb::types::ReturnValue;
use jiff::Timestamp;

use super::{
    DynamoStore, Item, TTL_ATTRIBUTE, backend, is_condition_failure, n, num_attr, opt_str, s,
    str_attr,
};
use crate::domain::{CaseId, OutboxState, StatusCheck};
use crate::store::StoreError;

const STATUS: &str = "STATUS";
const KIND: &str = "case_status";

fn status_pk(case: CaseId) -> String {
    format!("U#{case}")
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("status check item has a bad {what}"))
}

fn check_from_item(item: &Item) -> Result<StatusCheck, StoreError> {
    Ok(StatusCheck {
        case_id: CaseId::parse(str_attr(item, "checked_case")?).map_err(|_| corrupt("case"))?,
        state: OutboxState::parse(str_attr(item, "state")?).ok_or_else(|| corrupt("state"))?,
        reports: num_attr(item, "reports")?,
        attempts: num_attr(item, "attempts")
            .ok()
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(0),
        outcome: opt_str(item, "outcome"),
        reported_at: str_attr(item, "reported_at")?
            .parse()
            .map_err(|_| corrupt("reported_at"))?,
    })
}

impl DynamoStore {
    pub(super) async fn put_status_report(
        &self,
        case: CaseId,
        now: Timestamp,
    ) -> Result<StatusCheck, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(status_pk(case)))
            .key("sk", s(STATUS))
            .update_expression(
                "SET kind = :kind, checked_case = :case, #st = :queued, attempts = :zero, \
                 reported_at = :now, #ttl = :expires ADD reports :one",
            )
            .expression_attribute_names("#st", "state")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":kind", s(KIND))
            .expression_attribute_values(":case", s(case.to_string()))
            .expression_attribute_values(":queued", s(OutboxState::Queued.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":expires", n(self.retention.expires_at(now)))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(backend)?;
        check_from_item(&out.attributes.unwrap_or_default())
    }

    pub(super) async fn get_status_check(
        &self,
        case: CaseId,
    ) -> Result<Option<StatusCheck>, StoreError> {
        self.get(status_pk(case), STATUS)
            .await?
            .map(|i| check_from_item(&i))
            .transpose()
    }

    pub(super) async fn update_status_check(
        &self,
        case: CaseId,
        reports: u64,
        to: OutboxState,
        outcome: &str,
    ) -> Result<bool, StoreError> {
        let mut expression = "SET #st = :to, outcome = :outcome".to_owned();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(status_pk(case)))
            .key("sk", s(STATUS))
            .condition_expression("attribute_exists(pk) AND reports = :seen")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":outcome", s(outcome))
            .expression_attribute_values(":seen", n(reports));
        if to == OutboxState::Retrying {
            expression.push_str(" ADD attempts :one");
            req = req.expression_attribute_values(":one", n(1));
        }
        match req.update_expression(expression).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    pub(super) async fn scan_unfinished_status_checks(
        &self,
    ) -> Result<Vec<StatusCheck>, StoreError> {
        let items = self
            .scan_all(
                "kind = :kind AND #st <> :done",
                &[(":kind", s(KIND)), (":done", s(OutboxState::Done.as_str()))],
            )
            .await?;
        let mut out = items
            .iter()
            .map(check_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|c| c.reported_at);
        Ok(out)
    }
}
