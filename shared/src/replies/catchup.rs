//! The catch-up: casebridge asks Creatio itself for what the business processes should have
//! reported, so that an inactive, misfiltered or failing process delays a reply by at most one
//! interval and never loses it. Scheduled every `CREATIO_CATCHUP_SECONDS` (an EventBridge rule in
//! template.yaml; the local stack runs it in-process).
//!
//! One poll is **one Creatio request**, whatever the number of open cases: a `$batch` of two
//! reads,
//! - reply activities (the types and directions of [`super::ReplyRules::filter`]) created after
//!   the activities mark, oldest first;
//! - cases in a closing status modified after the cases mark.
//!
//! Each activity on a case a casebridge conversation holds is put in the outbox unless it is
//! there (one `BatchGetItem` says which are), and one that waited for its case to be linked is
//! queued again; delivery then runs as for the webhook's. Each closed case closes its
//! conversation ([`super::closure`]). The marks are Creatio's own times (`CreatedOn`,
//! `ModifiedOn`), so clock skew between Lambda and Creatio cannot make a poll skip anything.
//!
//! A reply on a case no conversation holds is either another team's case or one casebridge
//! created a moment ago and has not linked yet (the handoff links it right after Creatio answers).
//! So the activities mark is not moved past such a reply while it is younger than
//! [`LINK_GRACE`]: the next polls look at it again, and after that it is left alone.
//!
//! Nothing new costs one Creatio request and one DynamoDB read (the marks); docs/figures.md
//! gives the monthly cost, measured by the bench.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::closure::{Closure, ClosureError, close_if_closed};
use super::deliver::ReplyDeps;
use crate::creatio::odata::{date_value, lookup_value};
use crate::creatio::{CreatioError, Filter, Query};
use crate::domain::{
    ActivityId, CaseId, CatchUpMark, LookupId, OutboxChange, OutboxSource, OutboxState,
};
use crate::store::{Store, StoreError};

/// Rows read per poll and kind; a poll that fills a page is followed by the next page at the
/// next poll.
pub const PAGE: usize = 1000;
/// How long a reply on a case no conversation holds is looked at again.
pub const LINK_GRACE: SignedDuration = SignedDuration::from_mins(2);
/// How far back the first poll of a new deployment looks, beyond one interval.
const FIRST_POLL_MARGIN: SignedDuration = SignedDuration::from_mins(5);

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Polled {
    /// Reply activities Creatio returned.
    pub activities: usize,
    /// Put in the outbox by this poll (the webhook had not reported them).
    pub queued: usize,
    /// Waiting entries queued again (their conversation is linked now).
    pub requeued: usize,
    /// Closed cases Creatio returned, and the conversations this poll closed.
    pub closed_cases: usize,
    pub closed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum CatchUpError {
    #[error("Creatio: {0}")]
    Creatio(#[from] CreatioError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Closure(#[from] ClosureError),
}

impl CatchUpError {
    pub fn is_transient(&self) -> bool {
        match self {
            CatchUpError::Creatio(e) => e.is_transient(),
            CatchUpError::Store(e) => e.is_transient(),
            CatchUpError::Closure(e) => e.is_transient(),
        }
    }
}

/// One reply activity as the poll reads it.
struct Found {
    id: ActivityId,
    case: Option<CaseId>,
    created_on: Option<Timestamp>,
}

/// One poll. `interval` is the schedule's (the first poll looks back that far and a little more).
pub async fn poll(
    store: &dyn Store,
    deps: &ReplyDeps<'_>,
    interval: Duration,
    now: Timestamp,
) -> Result<Polled, CatchUpError> {
    let marks = store.catchup_marks().await?;
    let first = now
        - SignedDuration::try_from(interval).unwrap_or(SignedDuration::from_mins(1))
        - FIRST_POLL_MARGIN;
    let activities_after = marks.activities.unwrap_or(first);
    let cases_after = marks.cases.unwrap_or(first);

    let replies = deps
        .rules
        .filter()
        .map(|f| Filter::after("CreatedOn", activities_after).and(f));
    let closing = Filter::any(
        deps.config
            .closing_status_ids
            .iter()
            .map(|s| Filter::eq_guid("Status/Id", s.as_uuid())),
    )
    .map(|f| Filter::after("ModifiedOn", cases_after).and(f));
    let (Some(replies), Some(closing)) = (replies, closing) else {
        return Ok(Polled::default());
    };
    let mut answers = deps
        .creatio
        .queries(&[
            Query {
                entity: "Activity",
                filter: Some(replies),
                select: &["Id", "CaseId", "CreatedOn"],
                orderby: Some("CreatedOn"),
                top: Some(PAGE),
            },
            Query {
                entity: "Case",
                filter: Some(closing),
                select: &["Id", "StatusId", "ModifiedOn"],
                orderby: Some("ModifiedOn"),
                top: Some(PAGE),
            },
        ])
        .await?
        .into_iter();
    let activity_rows = answers.next().unwrap_or_else(|| Ok(Vec::new()))?;
    let case_rows = answers.next().unwrap_or_else(|| Ok(Vec::new()))?;

    let mut polled = Polled {
        activities: activity_rows.len(),
        closed_cases: case_rows.len(),
        ..Polled::default()
    };
    let found: Vec<Found> = activity_rows
        .iter()
        .filter_map(|r| {
            Some(Found {
                id: ActivityId::from_uuid(lookup_value(r, "Id")?),
                case: lookup_value(r, "CaseId").map(CaseId::from_uuid),
                created_on: date_value(r, "CreatedOn"),
            })
        })
        .collect();
    if !found.is_empty() {
        replies_found(store, &found, now, &mut polled).await?;
    }
    let mut newest_case: Option<Timestamp> = None;
    for row in &case_rows {
        let (Some(case), status) = (
            lookup_value(row, "Id").map(CaseId::from_uuid),
            lookup_value(row, "StatusId").map(LookupId::from_uuid),
        ) else {
            continue;
        };
        let closure = match close_if_closed(store, deps, case, status, now).await {
            // Closed; only its notice could not go out now. The case is not polled again, so
            // the notice stays on the transcript, unsent; the other cases are not held up.
            Err(ClosureError::Notice(e)) => {
                tracing::warn!(case_id = %case, error = %e, "closing notice not sent");
                Closure::Closed
            }
            other => other?,
        };
        if closure == Closure::Closed {
            polled.closed += 1;
        }
        newest_case = newest_case.max(date_value(row, "ModifiedOn"));
    }
    if let Some(at) = newest_case {
        store.advance_catchup_mark(CatchUpMark::Cases, at).await?;
    }
    if polled != Polled::default() {
        tracing::info!(
            activities = polled.activities,
            queued = polled.queued,
            requeued = polled.requeued,
            closed = polled.closed,
            "catch-up poll"
        );
    }
    // Counted once the poll went through: a run that fails is not a run for the alarm.
    crate::metrics::emit(crate::metrics::Metric::CatchUpRun);
    Ok(polled)
}

/// The outbox side of a poll, and the activities mark.
async fn replies_found(
    store: &dyn Store,
    found: &[Found],
    now: Timestamp,
    polled: &mut Polled,
) -> Result<(), CatchUpError> {
    let ids: Vec<ActivityId> = found.iter().map(|f| f.id).collect();
    let known: HashMap<ActivityId, OutboxState> = store
        .outbox_entries(&ids)
        .await?
        .into_iter()
        .map(|e| (e.activity_id, e.state))
        .collect();
    let mut held: HashMap<CaseId, bool> = HashMap::new();
    let mut hold_back: Option<Timestamp> = None;
    let mut seen = HashSet::new();
    for f in found {
        let Some(case) = f.case else { continue };
        if !seen.insert(f.id) {
            continue;
        }
        let state = known.get(&f.id).copied();
        if matches!(state, Some(s) if s != OutboxState::Waiting) {
            continue; // reported by the webhook already
        }
        let is_ours = match held.get(&case) {
            Some(h) => *h,
            None => {
                let h = store.find_by_case(case).await?.is_some();
                held.insert(case, h);
                h
            }
        };
        if !is_ours {
            // Another team's case, or one not linked yet: look again while it is young.
            if f.created_on.is_some_and(|t| t > now - LINK_GRACE) {
                hold_back = hold_back.min(f.created_on).or(f.created_on);
            }
            continue;
        }
        match state {
            None => {
                if store
                    .enqueue(f.id, Some(case), OutboxSource::CatchUp, now)
                    .await?
                {
                    polled.queued += 1;
                    tracing::info!(activity_id = %f.id, case_id = %case, "catch-up found a reply the webhook did not report");
                    if let Some(created) = f.created_on {
                        crate::metrics::emit(crate::metrics::Metric::CatchUpLag {
                            seconds: now.duration_since(created).as_secs_f64().max(0.0),
                        });
                    }
                }
            }
            Some(_) => {
                if store
                    .change_outbox(f.id, OutboxChange::requeue())
                    .await?
                    .is_some()
                {
                    polled.requeued += 1;
                }
            }
        }
    }
    let newest = found.iter().filter_map(|f| f.created_on).max();
    let mark = match hold_back {
        // Just before the oldest young reply on an unknown case, so that it is read again.
        Some(h) => Some(h - SignedDuration::from_micros(1)),
        None => newest,
    };
    if let Some(at) = mark {
        store
            .advance_catchup_mark(CatchUpMark::Activities, at)
            .await?;
    }
    Ok(())
}
