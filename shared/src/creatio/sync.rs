//! Bringing Creatio up to date for one session, idempotently.
//!
//! - **No case yet** (at handoff, or at the first customer message in `every_conversation` mode):
//!   the brief (summary + AI fields) from the assistant; the contact matched or created; then one
//!   `$batch` with the contact (if new), the case (deterministic id: UUIDv5 of the session) and
//!   one activity per transcript message (UUIDv5 of session + seq). Then the session is linked to
//!   the case and moves to `with_agent`, and the watermark moves to the last message synced.
//! - **Case exists**: each message after the watermark becomes an activity on it (agent replies
//!   excepted: they came from Creatio). A new handoff request on a session that already has a case
//!   adds a "handoff note" activity instead of a second case.
//!
//! Every write carries a client-chosen id, so a retry after a crash anywhere in between finds
//! what the last attempt wrote and duplicates nothing; the watermark moves only after Creatio has
//! confirmed. A case that Creatio refuses because of an AI field is created again without the AI
//! fields, and Creatio's message is recorded on the session as a sync error.
//!
//! **Who runs it.** The handoff function (from the stream), the local stack (in-process), the CLI
//! (`resync`, `handoff`) and the bench, each with a [`SyncDeps`] built once per process
//! ([`SyncDeps::from_config`]). It lives in the shared crate, beside the client it drives, so that
//! none of them depends on a Lambda function's crate to reach it.

use super::base_ids;
use super::config::{CreatioConfig, SyncMode};
use crate::assistant::{CaseBrief, FieldContent};
use crate::creatio::error::DataErrorKind;
use crate::creatio::{BatchOp, BatchResult, Created, CreatioError};
use crate::domain::{
    Channel, CreatioLink, Language, Message, Role, Session, SessionId, SessionState, Transition,
    conversation_language, without_hidden_chars,
};
use crate::store::{SessionChanges, Store, StoreError};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use std::sync::Arc;

use crate::assistant::Concierge;
use crate::config::{BaseUrl, Config, ConfigError};
use crate::creatio::{CreatioClient, RetryPolicy};
use crate::replies::ReplyRules;
use crate::replies::deliver::ReplyDeps;
use crate::sms::SmsProvider;
use secrecy::SecretString;

use super::contact::{ContactMatch, match_contact, preferred_language};

/// Everything a sync and a delivery need besides the store; built once per container.
pub struct SyncDeps {
    pub creatio: CreatioClient,
    pub creatio_config: CreatioConfig,
    /// What counts as a rep's reply (the delivery the handoff function also runs).
    pub reply_rules: ReplyRules,
    pub concierge: Concierge,
    /// For the transcript link in the first activity (absent: no link, the session id only).
    pub public_base_url: Option<BaseUrl>,
    pub link_secret: Option<SecretString>,
    /// Sends rep replies by SMS; None when Twilio is not configured.
    pub sms: Option<Arc<dyn SmsProvider>>,
    /// Pushes to widget sockets; set by `main` when `WIDGET_SOCKET_URL` is (it needs the
    /// Lambda's AWS identity).
    pub sockets: Option<crate::widget::socket::Sockets>,
}

impl SyncDeps {
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let creatio_config = config.creatio()?.clone();
        let http =
            crate::http::client(creatio_config.timeout).map_err(|e| ConfigError::Invalid {
                name: "CREATIO_URL",
                reason: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Self {
            sms: crate::sms::twilio::provider(config, &http),
            creatio: CreatioClient::new(&creatio_config, http, RetryPolicy::default()),
            creatio_config,
            reply_rules: config.replies.clone(),
            concierge: Concierge::from_config(config)?,
            public_base_url: config.public_base_url.clone(),
            link_secret: config.widget().ok().map(|w| w.secret.clone()),
            sockets: None,
        })
    }

    /// What a reply delivery (and the catch-up) borrows from these.
    pub fn replies(&self) -> ReplyDeps<'_> {
        ReplyDeps {
            creatio: &self.creatio,
            config: &self.creatio_config,
            rules: &self.reply_rules,
            sms: self.sms.as_deref(),
            closed_notice: self.concierge.closed_notices(),
            sockets: self.sockets.as_ref(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Creatio(#[from] CreatioError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Creatio refused the case for good; `because` says which setting to fix when casebridge
    /// can tell.
    #[error("Creatio refused the case: {because} ({source})")]
    CaseRefused {
        because: String,
        source: CreatioError,
    },
}

impl SyncError {
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Creatio(e) => e.is_transient(),
            SyncError::Store(e) => e.is_transient(),
            SyncError::CaseRefused { .. } => false,
        }
    }
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Synced {
    /// Nothing to do (still with the assistant, unknown session, up to date).
    Nothing,
    CaseCreated {
        activities: usize,
    },
    Appended {
        activities: usize,
    },
}

pub async fn sync_session(
    store: &dyn Store,
    deps: &SyncDeps,
    id: SessionId,
) -> Result<Synced, SyncError> {
    use tracing::Instrument;
    sync_inner(store, deps, id)
        .instrument(tracing::info_span!("sync", session_id = %id))
        .await
}

async fn sync_inner(
    store: &dyn Store,
    deps: &SyncDeps,
    id: SessionId,
) -> Result<Synced, SyncError> {
    let Some((session, transcript)) = store.transcript(id).await? else {
        return Ok(Synced::Nothing);
    };
    let mode = deps.creatio_config.sync_mode;
    let wants_case = match session.state {
        SessionState::Assistant => {
            mode == SyncMode::EveryConversation
                && transcript.iter().any(|m| m.role == Role::Customer)
        }
        SessionState::HandoffRequested | SessionState::WithAgent => true,
        // A closed session keeps a case it has in sync; it gets one only in every_conversation.
        SessionState::Closed => {
            session.creatio.is_some()
                || (mode == SyncMode::EveryConversation
                    && transcript.iter().any(|m| m.role == Role::Customer))
        }
    };
    if !wants_case {
        return Ok(Synced::Nothing);
    }
    let result = match &session.creatio {
        None => create_case(store, deps, &session, &transcript).await,
        Some(link) => append_activities(store, deps, &session, &transcript, link).await,
    };
    match &result {
        Err(e) if !e.is_transient() => {
            // Permanent: the operator CLI shows it; the stream must not retry forever.
            store.set_sync_error(id, Some(e.to_string())).await?;
        }
        _ => {}
    }
    result
}

fn author(role: Role) -> &'static str {
    match role {
        Role::Customer => "Customer",
        Role::Assistant => "Assistant",
        Role::Agent => "Agent",
        Role::System => "casebridge",
    }
}

fn first_words(text: &str, max_chars: usize) -> String {
    crate::assistant::format::shorten(
        &text.split_whitespace().collect::<Vec<_>>().join(" "),
        max_chars,
    )
}

/// The activity for one message. `header` goes before the text (the first activity's session id
/// and transcript link).
fn activity(
    session: &Session,
    m: &Message,
    case_id: uuid::Uuid,
    contact_id: Option<uuid::Uuid>,
    header: Option<&str>,
) -> BatchOp {
    let mut notes = String::new();
    if let Some(h) = header {
        notes.push_str(h);
        notes.push_str("\n\n");
    }
    notes.push_str(m.text.as_str());
    if let Some(card) = &m.card {
        notes.push_str(&format!("\n\nAnswered by the action {}.", card.action));
    }
    for a in &m.attachments {
        notes.push_str(&format!(
            "\nAttachment: {}{}",
            a.url,
            a.content_type
                .as_deref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default()
        ));
    }
    let at = m.at.to_string();
    let mut body = json!({
        "Title": format!("{}: {}", author(m.role), first_words(m.text.as_str(), 200)),
        "Notes": notes,
        "TypeId": base_ids::ACTIVITY_TYPE_TASK,
        "ActivityCategoryId": base_ids::ACTIVITY_CATEGORY_TODO,
        "StatusId": base_ids::ACTIVITY_STATUS_COMPLETED,
        "StartDate": at,
        "DueDate": at,
        "CaseId": case_id.to_string(),
    });
    // An unknown contact is left out, not written as the zero GUID.
    if let Some(c) = contact_id {
        body["ContactId"] = json!(c.to_string());
    }
    BatchOp::create("Activity", session.id.activity_id(m.seq).as_uuid(), body)
}

/// Messages that belong in Creatio: everything but agent replies, which came from it.
fn to_sync(m: &Message) -> bool {
    m.role != Role::Agent
}

fn case_subject(session: &Session, transcript: &[Message]) -> String {
    let channel = match session.key.channel {
        Channel::Sms => "SMS",
        Channel::Widget => "Chat",
    };
    let first = transcript
        .iter()
        .find(|m| m.role == Role::Customer)
        .map(|m| first_words(m.text.as_str(), 80))
        .unwrap_or_default();
    format!("{channel}: {first}")
}

/// The case body; AI fields resolved to values (dropdowns to lookup GUIDs). A dropdown value
/// without a lookup row is left out and reported.
async fn case_body(
    deps: &SyncDeps,
    session: &Session,
    transcript: &[Message],
    brief: &CaseBrief,
    contact_id: uuid::Uuid,
    language: Option<Language>,
    problems: &mut Vec<String>,
) -> Result<(Map<String, Value>, Map<String, Value>), CreatioError> {
    let c = &deps.creatio_config;
    let origin = match session.key.channel {
        Channel::Sms => c.sms_origin_id,
        Channel::Widget => c.widget_origin_id,
    };
    let mut body = Map::new();
    body.insert("Subject".into(), json!(case_subject(session, transcript)));
    // The summary and the AI fields are the model's words, not the customer's: they pass the
    // same filter as message texts before they reach a rep.
    body.insert(
        "Symptoms".into(),
        json!(without_hidden_chars(&brief.summary)),
    );
    body.insert("ContactId".into(), json!(contact_id.to_string()));
    body.insert("OriginId".into(), json!(origin.to_string()));
    body.insert("StatusId".into(), json!(c.new_status_id.to_string()));
    if let Some(o) = c.case_owner_id {
        body.insert("OwnerId".into(), json!(o.to_string()));
    }
    if let Some(g) = c.case_group_id {
        body.insert("GroupId".into(), json!(g.to_string()));
    }

    let mut fields = Map::new();
    // The customer's language (the contact's, or the conversation's), for the team to route or
    // answer in it; a column Creatio refuses is dropped with the AI fields, as they are.
    if let (Some(column), Some(language)) = (&c.language_column, language) {
        fields.insert(column.clone(), json!(language.code()));
    }
    for f in &brief.fields {
        let value = match &f.value {
            FieldContent::Text(t) => json!(without_hidden_chars(t)),
            FieldContent::Lookup { entity, name } => {
                match deps.creatio.lookup_id(entity, name).await {
                    Ok(id) => json!(id.to_string()),
                    Err(e @ CreatioError::LookupNotFound { .. }) => {
                        problems.push(format!("AI field {}: {e}", f.column));
                        continue;
                    }
                    Err(e) if e.is_transient() => return Err(e),
                    Err(e) => {
                        problems.push(format!("AI field {}: {e}", f.column));
                        continue;
                    }
                }
            }
        };
        fields.insert(f.column.clone(), value);
    }
    Ok((body, fields))
}

fn with_fields(body: &Map<String, Value>, fields: &Map<String, Value>) -> Value {
    let mut all = body.clone();
    all.extend(fields.clone());
    Value::Object(all)
}

/// The first error among results, preferring a transient one (so the stream retries).
fn first_error(results: &[BatchResult]) -> Option<CreatioError> {
    let errors: Vec<&CreatioError> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    errors
        .iter()
        .find(|e| e.is_transient())
        .or(errors.first())
        .map(|e| (*e).clone())
}

async fn create_case(
    store: &dyn Store,
    deps: &SyncDeps,
    session: &Session,
    transcript: &[Message],
) -> Result<Synced, SyncError> {
    let case_id = session.id.case_id().as_uuid();
    let brief = deps.concierge.brief(session, transcript).await;
    let contact = match_contact(&deps.creatio, &session.key.customer).await?;
    let contact_id = contact.id().as_uuid();
    // A contact that exists may carry the team's language for this customer.
    let language = match &contact {
        ContactMatch::Found(id) => {
            preferred_language(&deps.creatio, &deps.creatio_config, Some(*id)).await
        }
        ContactMatch::Create { .. } => None,
    }
    .or_else(|| conversation_language(transcript));
    let mut problems = Vec::new();
    let (body, fields) = case_body(
        deps,
        session,
        transcript,
        &brief,
        contact_id,
        language,
        &mut problems,
    )
    .await?;

    let header = {
        let mut h = format!("casebridge session {}", session.id);
        if let (Some(base), Some(secret)) = (&deps.public_base_url, &deps.link_secret) {
            h.push_str(&format!(
                "\nTranscript: {}",
                crate::widget::links::transcript_url(
                    base,
                    secret.expose_secret().as_bytes(),
                    session.id
                )
            ));
        }
        if let Some(reason) = &session.handoff_reason {
            h.push_str(&format!("\nHandoff reason: {reason}"));
        }
        h
    };
    let messages: Vec<&Message> = transcript.iter().filter(|m| to_sync(m)).collect();
    let mut ops: Vec<BatchOp> = Vec::with_capacity(messages.len() + 2);
    if let ContactMatch::Create { op, .. } = &contact {
        ops.push(op.clone());
    }
    let case_at = ops.len();
    ops.push(BatchOp::create(
        "Case",
        case_id,
        with_fields(&body, &fields),
    ));
    for (i, m) in messages.iter().enumerate() {
        let h = (i == 0).then_some(header.as_str());
        ops.push(activity(session, m, case_id, Some(contact_id), h));
    }
    let mut results = deps.creatio.batch(&ops).await?;

    // A case refused for good, with AI fields on it: the fields are the likely cause (a column
    // that does not exist, a value of the wrong type). Create it without them, then the rest.
    if let Err(e) = &results[case_at]
        && !e.is_transient()
        && !fields.is_empty()
    {
        problems.push(format!("Creatio refused the case with its AI fields: {e}"));
        tracing::warn!(error = %e, "case refused with AI fields; creating it without them");
        let mut retry_ops = vec![BatchOp::create(
            "Case",
            case_id,
            Value::Object(body.clone()),
        )];
        let failed: Vec<usize> = (case_at + 1..ops.len())
            .filter(|&i| results[i].is_err())
            .collect();
        retry_ops.extend(failed.iter().map(|&i| ops[i].clone()));
        let retried = deps.creatio.batch(&retry_ops).await?;
        results[case_at] = retried[0].clone();
        for (k, &i) in failed.iter().enumerate() {
            results[i] = retried[k + 1].clone();
        }
    }
    if let Err(e) = &results[case_at]
        && !e.is_transient()
    {
        let because = match e.data_kind() {
            Some(DataErrorKind::ForeignKey) => {
                let missing = missing_lookups(deps, session).await;
                if missing.is_empty() {
                    "a lookup value of the case does not exist".to_owned()
                } else {
                    missing.join("; ")
                }
            }
            Some(kind) => kind.describe().to_owned(),
            None => "see Creatio's message".to_owned(),
        };
        return Err(SyncError::CaseRefused {
            because,
            source: e.clone(),
        });
    }
    if let Some(e) = first_error(&results) {
        return Err(e.into());
    }
    let case_number = match &results[case_at] {
        Ok(Created::New(v)) => crate::creatio::odata::text_value(v, "Number").map(str::to_owned),
        _ => None,
    };
    store
        .link_case(
            session.id,
            CreatioLink {
                case_id: session.id.case_id(),
                case_number,
                contact_id: Some(contact.id()),
            },
        )
        .await?;
    finish(store, deps, session, transcript, problems).await?;
    tracing::info!(activities = messages.len(), "case created in Creatio");
    crate::metrics::emit(crate::metrics::Metric::CaseCreated);
    crate::metrics::emit(crate::metrics::Metric::ActivitiesSynced(messages.len()));
    Ok(Synced::CaseCreated {
        activities: messages.len(),
    })
}

/// The configured lookups of a case (status, origin, owner, group) that have no row in this
/// Creatio, each named with its setting: a GUID copied from another installation is the usual
/// reason Creatio refuses a case. One `$batch` of reads, only after a refusal.
async fn missing_lookups(deps: &SyncDeps, session: &Session) -> Vec<String> {
    let c = &deps.creatio_config;
    let (origin_var, origin) = match session.key.channel {
        Channel::Sms => ("CREATIO_SMS_ORIGIN_ID", c.sms_origin_id),
        Channel::Widget => ("CREATIO_WIDGET_ORIGIN_ID", c.widget_origin_id),
    };
    let mut checks = vec![
        (
            "CREATIO_NEW_STATUS_ID",
            "StatusId",
            "CaseStatus",
            c.new_status_id,
        ),
        (origin_var, "OriginId", "CaseOrigin", origin),
    ];
    if let Some(o) = c.case_owner_id {
        checks.push(("CREATIO_CASE_OWNER_ID", "OwnerId", "Contact", o));
    }
    if let Some(g) = c.case_group_id {
        checks.push(("CREATIO_CASE_GROUP_ID", "GroupId", "SysAdminUnit", g));
    }
    let queries: Vec<crate::creatio::Query> = checks
        .iter()
        .map(|(_, _, entity, id)| crate::creatio::Query {
            entity,
            filter: Some(crate::creatio::Filter::eq_guid("Id", id.as_uuid())),
            select: &["Id"],
            orderby: None,
            top: Some(1),
        })
        .collect();
    let Ok(answers) = deps.creatio.queries(&queries).await else {
        return Vec::new();
    };
    checks
        .iter()
        .zip(answers)
        .filter(|(_, a)| a.as_ref().is_ok_and(Vec::is_empty))
        .map(|((var, column, entity, id), _)| {
            format!("{column} {id} ({var}) is not a row of {entity} in this Creatio; set {var} to one of its {entity} ids")
        })
        .collect()
}

/// The case's read receipt, when the visitor has seen more than it shows: one activity casebridge
/// owns (a deterministic id, like the handoff note), created once and then rewritten in place.
///
/// Why an activity: Creatio's e-mail activity has no documented column for "the recipient read
/// it" on an outgoing message, a case column would need a schema change in every customer's
/// Creatio, and an activity per read would bury the conversation. One completed task on the case,
/// titled "casebridge: the customer has read 2 of 3 replies", sits in the case's activities next
/// to the replies it counts, written in the same `$batch` as the rest, with no new rights.
fn read_receipt(session: &Session, transcript: &[Message], case_id: uuid::Uuid) -> Vec<BatchOp> {
    let Some(read) = session.read.filter(|r| r.seq > session.read_synced_seq) else {
        return Vec::new();
    };
    let replies: Vec<&Message> = transcript
        .iter()
        .filter(|m| m.role == Role::Agent)
        .collect();
    let seen: Vec<&&Message> = replies.iter().filter(|m| m.seq <= read.seq).collect();
    let Some(last) = seen.last() else {
        return Vec::new();
    };
    let at = read.at.to_string();
    let body = json!({
        "Title": format!(
            "casebridge: the customer has read {} of {} replies",
            seen.len(),
            replies.len()
        ),
        "Notes": format!(
            "Seen on the customer's screen by {at} (UTC), up to the reply \"{}\".",
            first_words(last.text.as_str(), 120)
        ),
        "StartDate": at,
        "DueDate": at,
    });
    let id = session.id.note_activity_id("read").as_uuid();
    // Created (a create that finds it there already is done: the batch checks), then rewritten
    // with the latest count. Always both, so a receipt someone deleted in Creatio comes back.
    let mut first = body.clone();
    first["TypeId"] = json!(base_ids::ACTIVITY_TYPE_TASK);
    first["ActivityCategoryId"] = json!(base_ids::ACTIVITY_CATEGORY_TODO);
    first["StatusId"] = json!(base_ids::ACTIVITY_STATUS_COMPLETED);
    first["CaseId"] = json!(case_id.to_string());
    vec![
        BatchOp::create("Activity", id, first),
        BatchOp::patch("Activity", id, body),
    ]
}

/// The read mark the last sync dealt with is the case's now.
async fn advance_read(store: &dyn Store, session: &Session) -> Result<(), StoreError> {
    match session.read.filter(|r| r.seq > session.read_synced_seq) {
        Some(read) => store.advance_read_watermark(session.id, read.seq).await,
        None => Ok(()),
    }
}

/// After Creatio confirmed: the replies that waited for a new case, `handoff_requested` →
/// `with_agent`, the watermark, the sync error.
async fn finish(
    store: &dyn Store,
    deps: &SyncDeps,
    session: &Session,
    transcript: &[Message],
    problems: Vec<String>,
) -> Result<(), SyncError> {
    // Nothing confirmed before this sync: the case is new (or its first sync was interrupted
    // after the link). A rep, or an automation, may have answered on it before it was linked.
    if session.synced_seq == 0 {
        crate::replies::deliver::requeue_waiting(store, session.id.case_id()).await?;
    }
    if session.state == SessionState::HandoffRequested {
        let t = Transition::new(SessionState::HandoffRequested, SessionState::WithAgent)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        match store
            .transition(
                session.id,
                t,
                SessionChanges::default(),
                jiff::Timestamp::now(),
            )
            .await
        {
            // The widget shows "you are chatting with our support team" at once.
            Ok(moved) => {
                crate::widget::socket::push(store, deps.sockets.as_ref(), &moved, &[]).await;
            }
            // Closed meanwhile (the case was resolved at once): nothing left to move.
            Err(StoreError::StateChanged { .. } | StoreError::Closed(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(last) = transcript.last() {
        store.advance_watermark(session.id, last.seq).await?;
    }
    if session.creatio.is_some() {
        advance_read(store, session).await?;
    }
    let error = (!problems.is_empty()).then(|| problems.join("; "));
    if error.is_some() || session.sync_error.is_some() {
        store.set_sync_error(session.id, error).await?;
    }
    Ok(())
}

async fn append_activities(
    store: &dyn Store,
    deps: &SyncDeps,
    session: &Session,
    transcript: &[Message],
    link: &CreatioLink,
) -> Result<Synced, SyncError> {
    let case_id = link.case_id.as_uuid();
    let contact_id = link.contact_id.map(|c| c.as_uuid());
    let mut ops: Vec<BatchOp> = transcript
        .iter()
        .filter(|m| m.seq > session.synced_seq && to_sync(m))
        .map(|m| activity(session, m, case_id, contact_id, None))
        .collect();
    // A handoff request on a session whose case was created before it (every_conversation):
    // a note, not a second case. (A case whose first sync was interrupted between its link and
    // `with_agent` has nothing confirmed yet: that is the same handoff, finished below.)
    if session.state == SessionState::HandoffRequested && session.synced_seq > 0 {
        let reason = session
            .handoff_reason
            .clone()
            .unwrap_or_else(|| "handoff requested".into());
        ops.push(BatchOp::create(
            "Activity",
            session.id.note_activity_id("handoff").as_uuid(),
            json!({
                "Title": format!("casebridge: handoff requested ({reason})"),
                "Notes": format!("The customer was handed to a person: {reason}."),
                "TypeId": base_ids::ACTIVITY_TYPE_TASK,
                "ActivityCategoryId": base_ids::ACTIVITY_CATEGORY_TODO,
                "StatusId": base_ids::ACTIVITY_STATUS_COMPLETED,
                "CaseId": case_id.to_string(),
            }),
        ));
    }
    // A conversation the assistant closed on its own (idle, never handed off, no rep in it) has
    // its case resolved: that only happens in every_conversation mode, where such a case exists.
    // A conversation a person holds is never closed by casebridge, so its case is never touched;
    // and a case Creatio closed already has a closing status, so nothing is written back to it.
    let c = &deps.creatio_config;
    let closed_by_the_assistant = session.state == SessionState::Closed
        && session.handoff_reason.is_none()
        && !transcript.iter().any(|m| m.role == Role::Agent);
    let resolve = closed_by_the_assistant && c.sync_mode == SyncMode::EveryConversation && {
        let status = deps.creatio.get("Case", case_id, &["StatusId"]).await?;
        // An empty status reads back as the zero GUID: no status, not a status to compare.
        let status = status
            .as_ref()
            .and_then(|v| crate::creatio::odata::lookup_value(v, "StatusId"))
            .map(crate::domain::LookupId::from_uuid);
        status.is_some() && !c.is_closing(status)
    };
    if resolve {
        let status = deps
            .creatio_config
            .resolved_status_id
            .map(|s| s.to_string())
            .unwrap_or_else(|| base_ids::CASE_STATUS_RESOLVED.to_owned());
        ops.push(BatchOp::patch(
            "Case",
            case_id,
            json!({ "StatusId": status }),
        ));
    }
    // The read receipt goes last in the batch, so that its results can be told apart: it is a
    // courtesy to the rep, and its failure never holds the conversation's own activities back.
    let own = ops.len();
    ops.extend(read_receipt(session, transcript, case_id));
    let up_to_date = own == 0;
    if !ops.is_empty() {
        let results = deps.creatio.batch(&ops).await?;
        let (own_results, receipt_results) = results.split_at(own.min(results.len()));
        if let Some(e) = first_error(own_results) {
            return Err(e.into());
        }
        if let Some(e) = first_error(receipt_results) {
            // Not retried: the next read the visitor reports writes it again.
            tracing::warn!(error = %e, "read receipt not written to the case");
        }
    }
    let last = transcript.last().map(|m| m.seq).unwrap_or(0);
    if up_to_date && last <= session.synced_seq && session.state != SessionState::HandoffRequested {
        // Nothing of the conversation's own to write: the read mark, if one was waiting, is
        // done (shown, or with no reply to count yet).
        advance_read(store, session).await?;
        return Ok(Synced::Nothing);
    }
    finish(store, deps, session, transcript, Vec::new()).await?;
    tracing::info!(activities = own, "case brought up to date");
    crate::metrics::emit(crate::metrics::Metric::ActivitiesSynced(own));
    Ok(Synced::Appended { activities: own })
}
