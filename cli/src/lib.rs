//! The operator CLI (`casebridge …`). Each command is a function over the store and the handoff
//! dependencies, so tests run them against the memory store and the Creatio sandbox; `main.rs`
//! only builds those from the environment, exactly as the Lambda functions do.
//!
//! - `sessions show <id>`: state, case, watermark, sync error, transcript size.
//! - `sessions pending`: sessions Creatio is behind on (handoffs without a case, unsynced
//!   messages, sync errors).
//! - `replies pending`: rep replies in the outbox not finished (queued, retrying, or waiting for
//!   a conversation on their case), with their attempts and last outcome.
//! - `resync <id>` / `resync --pending`: run the handoff sync now; `--pending` also delivers every
//!   queued or retrying reply. `--pending` is the replay path for stream records that ended in
//!   the dead-letter queue: the table holds the truth, and the sync and the delivery are
//!   idempotent, so replaying everything pending is always safe.
//! - `catch-up`: one catch-up poll now (what the schedule runs every minute).
//! - `handoff <id> [reason]`: hand a conversation to a person, as a rep would from an inbox.
//! - `knowledge gaps [days]`: the questions the assistant could not answer in the last `days`
//!   (30), most frequent first, with how close the best article came: what to write next.
//! - `knowledge sync` (in `main.rs`): read the knowledge sources now and save the table's
//!   snapshot (`casebridge::knowledge::sync`), what the knowledge-sync function runs.
//! - `export <phone|email>` / `erase <phone|email>` ([`customer_data`], dispatched in `main.rs`
//!   with the attachment bucket): a customer's data on request.

pub mod customer_data;

/// `doctor`'s alarm lines: one per alarm of the stack in alarm (with CloudWatch's reason), and
/// one saying how many are fine; a line saying why when CloudWatch cannot be asked.
pub async fn alarm_report(
    cloudwatch: &casebridge::cloudwatch::CloudWatch,
    stack: &str,
) -> Vec<(bool, String)> {
    let alarms = match cloudwatch.alarms(&format!("{stack}-")).await {
        Ok(a) => a,
        Err(e) => return vec![(false, format!("alarms: {e}"))],
    };
    if alarms.is_empty() {
        return vec![(
            false,
            format!("alarms: stack {stack} has none (is CASEBRIDGE_STACK_NAME the stack's name?)"),
        )];
    }
    let mut out: Vec<(bool, String)> = alarms
        .iter()
        .filter(|a| a.in_alarm())
        .map(|a| {
            // `<stack>-<logical id>-<suffix>`: the logical id is what docs/operations.md explains.
            let name = a
                .name
                .strip_prefix(&format!("{stack}-"))
                .and_then(|n| n.rsplit_once('-').map(|(id, _)| id))
                .unwrap_or(&a.name);
            (false, format!("alarm {name} is in ALARM: {}", a.reason))
        })
        .collect();
    let fine = alarms.len() - out.len();
    out.push((
        out.is_empty(),
        format!("alarms: {fine} of {} not in alarm", alarms.len()),
    ));
    out
}

use std::fmt::Write;

use casebridge::creatio::sync::{SyncDeps, SyncError, sync_session};
use casebridge::domain::{SessionId, SessionState, Transition};
use casebridge::replies::catchup::{self, CatchUpError};
use casebridge::replies::closure::apply_status_check;
use casebridge::replies::deliver::deliver;
use casebridge::store::{SessionChanges, Store, StoreError};

pub const USAGE: &str = "usage:
  casebridge doctor
  casebridge sessions show <session id>
  casebridge sessions pending
  casebridge replies pending
  casebridge resync <session id>
  casebridge resync --pending
  casebridge catch-up
  casebridge handoff <session id> [reason]
  casebridge knowledge sync
  casebridge knowledge gaps [days, default 30]
  casebridge export <phone|email>
  casebridge erase <phone|email>";

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}\n\n{USAGE}")]
    Usage(String),
    #[error("no session {0}")]
    NoSuchSession(SessionId),
    #[error("session {id} is {state}; only a session with the assistant can be handed off")]
    CannotHandOff { id: SessionId, state: SessionState },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    CatchUp(#[from] CatchUpError),
    #[error("the attachment bucket: {0}")]
    Files(String),
}

fn session_id(raw: Option<&String>) -> Result<SessionId, CliError> {
    let raw = raw.ok_or_else(|| CliError::Usage("a session id is required".into()))?;
    SessionId::parse(raw).map_err(|_| CliError::Usage(format!("{raw:?} is not a session id")))
}

pub async fn show(store: &dyn Store, id: SessionId) -> Result<String, CliError> {
    let (s, transcript) = store
        .transcript(id)
        .await?
        .ok_or(CliError::NoSuchSession(id))?;
    let mut out = String::new();
    let _ = writeln!(out, "session   {}", s.id);
    let _ = writeln!(out, "channel   {}", s.key.channel);
    let _ = writeln!(out, "customer  {}", s.key.customer.masked());
    let _ = writeln!(out, "state     {}", s.state);
    let _ = writeln!(
        out,
        "messages  {} (synced to Creatio: {})",
        transcript.len(),
        s.synced_seq
    );
    match &s.creatio {
        Some(l) => {
            let _ = writeln!(
                out,
                "case      {}{}",
                l.case_id,
                l.case_number
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            );
        }
        None => {
            let _ = writeln!(out, "case      none yet");
        }
    }
    if let Some(r) = &s.handoff_reason {
        let _ = writeln!(out, "handoff   {r}");
    }
    let _ = writeln!(out, "sync      {}", s.sync_error.as_deref().unwrap_or("ok"));
    Ok(out)
}

pub async fn pending(store: &dyn Store) -> Result<String, CliError> {
    let sessions = store.needing_sync().await?;
    if sessions.is_empty() {
        return Ok("no session is waiting for Creatio\n".into());
    }
    let mut out = String::new();
    for s in sessions {
        let _ = writeln!(
            out,
            "{}  {:<17}  {}/{} synced  {}",
            s.id,
            s.state.as_str(),
            s.synced_seq,
            s.last_seq,
            s.sync_error.as_deref().unwrap_or("")
        );
    }
    Ok(out)
}

pub async fn replies_pending(store: &dyn Store) -> Result<String, CliError> {
    let entries = store.unfinished_outbox().await?;
    let checks = store.unfinished_status_checks().await?;
    if entries.is_empty() && checks.is_empty() {
        return Ok("no reply is waiting to be delivered\n".into());
    }
    let mut out = String::new();
    for c in checks {
        let _ = writeln!(
            out,
            "case {}  {:<8}  status check  {} attempt(s)  {}",
            c.case_id,
            c.state.as_str(),
            c.attempts,
            c.outcome.as_deref().unwrap_or("")
        );
    }
    for e in entries {
        let _ = writeln!(
            out,
            "{}  {:<8}  case {}  {} attempt(s)  {}",
            e.activity_id,
            e.state.as_str(),
            e.case_id
                .map(|c| c.to_string())
                .unwrap_or_else(|| "unknown".into()),
            e.attempts,
            e.outcome.as_deref().unwrap_or("")
        );
    }
    Ok(out)
}

/// Delivers every queued or retrying reply in the outbox now, and runs every status check not
/// done (the replay): a line per reply and per case, and how many failed.
pub async fn redeliver_pending(
    store: &dyn Store,
    deps: &SyncDeps,
) -> Result<(String, usize), CliError> {
    let mut out = String::new();
    let mut failed = 0;
    for e in store.unfinished_outbox().await? {
        if !e.state.is_deliverable() {
            continue;
        }
        match deliver(
            store,
            &deps.replies(),
            e.activity_id,
            jiff::Timestamp::now(),
        )
        .await
        {
            Ok(d) => {
                let _ = writeln!(out, "reply {}  {}", e.activity_id, d.outcome());
            }
            Err(err) => {
                failed += 1;
                let _ = writeln!(out, "reply {}  FAILED: {err}", e.activity_id);
            }
        }
    }
    for c in store.unfinished_status_checks().await? {
        match apply_status_check(store, &deps.replies(), c.case_id, jiff::Timestamp::now()).await {
            Ok(closure) => {
                let _ = writeln!(out, "case {}  {}", c.case_id, closure.describe());
            }
            Err(err) => {
                failed += 1;
                let _ = writeln!(out, "case {}  FAILED: {err}", c.case_id);
            }
        }
    }
    Ok((out, failed))
}

pub async fn catch_up(
    store: &dyn Store,
    deps: &SyncDeps,
    interval: std::time::Duration,
) -> Result<String, CliError> {
    let p = catchup::poll(store, &deps.replies(), interval, jiff::Timestamp::now()).await?;
    Ok(format!(
        "catch-up: {} reply activities found, {} queued, {} queued again; {} closed cases found, {} conversations closed\n",
        p.activities, p.queued, p.requeued, p.closed_cases, p.closed
    ))
}

pub async fn resync(
    store: &dyn Store,
    deps: &SyncDeps,
    ids: Vec<SessionId>,
) -> Result<String, CliError> {
    let (mut out, failed) = sync_each(store, deps, ids).await;
    let _ = writeln!(out, "{failed} failed");
    Ok(out)
}

/// A line per session synced, and how many failed.
async fn sync_each(store: &dyn Store, deps: &SyncDeps, ids: Vec<SessionId>) -> (String, usize) {
    let mut out = String::new();
    let mut failed = 0;
    for id in ids {
        match sync_session(store, deps, id).await {
            Ok(done) => {
                let _ = writeln!(out, "{id}  {done:?}");
            }
            Err(e) => {
                failed += 1;
                let _ = writeln!(out, "{id}  FAILED: {e}");
            }
        }
    }
    (out, failed)
}

/// The replay: every session Creatio is behind on, then every reply still to deliver (a case
/// linked now lets the replies that waited for it go).
pub async fn replay_pending(store: &dyn Store, deps: &SyncDeps) -> Result<String, CliError> {
    let ids = store
        .needing_sync()
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let (mut out, mut failed) = sync_each(store, deps, ids).await;
    let (replies, reply_failures) = redeliver_pending(store, deps).await?;
    out.push_str(&replies);
    failed += reply_failures;
    let _ = writeln!(out, "{failed} failed");
    Ok(out)
}

pub async fn manual_handoff(
    store: &dyn Store,
    deps: &SyncDeps,
    id: SessionId,
    reason: &str,
) -> Result<String, CliError> {
    let s = store
        .session(id)
        .await?
        .ok_or(CliError::NoSuchSession(id))?;
    let t = Transition::new(s.state, SessionState::HandoffRequested)
        .map_err(|_| CliError::CannotHandOff { id, state: s.state })?;
    store
        .transition(
            id,
            t,
            SessionChanges {
                handoff_reason: Some(reason.to_owned()),
                creatio: None,
            },
            jiff::Timestamp::now(),
        )
        .await?;
    let done = sync_session(store, deps, id).await?;
    Ok(format!("{id} handed off: {done:?}\n"))
}

/// Runs the command in `args` (without the program name). `deps` is built only when needed.
pub async fn run<F>(store: &dyn Store, args: &[String], make_deps: F) -> Result<String, CliError>
where
    F: FnOnce() -> Result<SyncDeps, String>,
{
    let deps = |f: F| f().map_err(|e| CliError::Usage(format!("configuration: {e}")));
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["sessions", "show", ..] => show(store, session_id(args.get(2))?).await,
        ["sessions", "pending"] => pending(store).await,
        ["replies", "pending"] => replies_pending(store).await,
        ["resync", "--pending"] => replay_pending(store, &deps(make_deps)?).await,
        ["catch-up"] => {
            catch_up(store, &deps(make_deps)?, std::time::Duration::from_secs(60)).await
        }
        ["resync", _] => resync(store, &deps(make_deps)?, vec![session_id(args.get(1))?]).await,
        ["handoff", _, ..] => {
            let reason = if args.len() > 2 {
                args[2..].join(" ")
            } else {
                "handed off by an operator".to_owned()
            };
            manual_handoff(store, &deps(make_deps)?, session_id(args.get(1))?, &reason).await
        }
        ["knowledge", "gaps", rest @ ..] => {
            let days = match rest.first() {
                None => 30,
                Some(d) => d
                    .parse::<i64>()
                    .ok()
                    .filter(|d| (1..=366).contains(d))
                    .ok_or_else(|| CliError::Usage(format!("{d:?} is not a number of days")))?,
            };
            gaps(store, days, jiff::Timestamp::now()).await
        }
        [] => Err(CliError::Usage("no command given".into())),
        _ => Err(CliError::Usage(format!(
            "unknown command {:?}",
            args.join(" ")
        ))),
    }
}

/// The unanswered questions of the last `days`, grouped by their words (case and spacing
/// ignored), most frequent first: how often, the best article's highest coverage, the latest
/// wording.
pub async fn gaps(store: &dyn Store, days: i64, now: jiff::Timestamp) -> Result<String, CliError> {
    let since = now - jiff::SignedDuration::from_hours(24 * days);
    let mut groups: Vec<(String, usize, Option<f32>, String)> = Vec::new();
    for gap in store.gaps(since, now).await? {
        let key = gap
            .question
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => {
                g.1 += 1;
                // The latest wording is the example.
                g.3.clone_from(&gap.question);
                g.2 = match (g.2, gap.score) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
            None => groups.push((key, 1, gap.score, gap.question.clone())),
        }
    }
    groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total: usize = groups.iter().map(|g| g.1).sum();
    let mut out = format!("{total} unanswered question(s) in the last {days} day(s)\n");
    for (_, count, score, example) in groups.iter().take(50) {
        let score = score.map_or("-".to_owned(), |s| format!("{s:.2}"));
        let _ = writeln!(
            out,
            "{count:>5}  best {score:>4}  {}",
            example.replace('\n', " ")
        );
    }
    Ok(out)
}

/// The configured lookup GUIDs and AI dropdown values, checked against Creatio: each line is
/// (ok, what). A GUID from another installation is the usual reason cases fail to be created.
pub async fn check_lookups(deps: &SyncDeps) -> Vec<(bool, String)> {
    let c = &deps.creatio_config;
    let mut ids: Vec<(&str, &str, casebridge::domain::LookupId)> = vec![
        ("CaseStatus", "CREATIO_NEW_STATUS_ID", c.new_status_id),
        ("CaseOrigin", "CREATIO_SMS_ORIGIN_ID", c.sms_origin_id),
        ("CaseOrigin", "CREATIO_WIDGET_ORIGIN_ID", c.widget_origin_id),
    ];
    if let Some(r) = c.resolved_status_id {
        ids.push(("CaseStatus", "CREATIO_RESOLVED_STATUS_ID", r));
    }
    if let Some(o) = c.case_owner_id {
        ids.push(("Contact", "CREATIO_CASE_OWNER_ID", o));
    }
    if let Some(g) = c.case_group_id {
        ids.push(("SysAdminUnit", "CREATIO_CASE_GROUP_ID", g));
    }
    for s in &c.closing_status_ids {
        ids.push(("CaseStatus", "CREATIO_CLOSED_STATUS_IDS", *s));
    }
    let mut out = Vec::new();
    for (entity, var, id) in ids {
        let line = match deps
            .creatio
            .get(entity, id.as_uuid(), &["Id", "Name"])
            .await
        {
            Ok(Some(row)) => (
                true,
                format!(
                    "{var}: {entity} {id} ({})",
                    row.get("Name").and_then(|n| n.as_str()).unwrap_or("?")
                ),
            ),
            Ok(None) => (
                false,
                format!(
                    "{var}: {entity} {id} does not exist in this Creatio; set {var} to one of its {entity} ids"
                ),
            ),
            Err(e) => (false, format!("{var}: {e}")),
        };
        out.push(line);
    }
    for f in &deps.concierge.settings().fields {
        let Some(entity) = &f.lookup else { continue };
        for v in &f.values {
            out.push(match deps.creatio.lookup_id(entity, &v.name).await {
                Ok(id) => (
                    true,
                    format!("AI field {}: {entity} {:?} = {id}", f.column, v.name),
                ),
                Err(e) => (
                    false,
                    format!(
                        "AI field {}: {e}; fix the value in CASEBRIDGE_CONFIG",
                        f.column
                    ),
                ),
            });
        }
    }
    out
}
