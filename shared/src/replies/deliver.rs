//! Delivering one outbox entry: read the activity, decide, send, record. Runs from the table's
//! stream (the handoff function), from the local stack's loop, and from the replay.
//!
//! Exactly once per activity:
//! - the entry moves out of `queued`/`retrying` only by a write conditional on that state, so
//!   two deliveries of one entry cannot both finish it;
//! - the reply is stored as an agent message whose provider id is `creatio:<activity id>`, so a
//!   second attempt finds it instead of storing it twice, and sends it only if the message is
//!   still pending (the first attempt died between storing and sending);
//! - casebridge's own activities (deterministic ids, see [`written_by_casebridge`]) and its notes
//!   never go out, which stops echo loops.
//!
//! An activity on a case with no conversation linked is kept `waiting` (the handoff links the
//! session just after Creatio created the case; a rep or an automation can be faster) and is
//! queued again when the link is made ([`requeue_waiting`]). A transient failure (Creatio,
//! Twilio, the store) is retried by the stream; after [`MAX_ATTEMPTS`], and for a reply that
//! cannot be delivered at all (opted out, invalid number, closed conversation), the case gets a
//! task "casebridge: reply not delivered" saying why.

use jiff::Timestamp;
use serde_json::json;

use super::{CreatioActivity, NotAReply, ReplyRules};
pub use crate::assistant::settings::ClosedNotices;
use crate::creatio::base_ids;
use crate::creatio::config::CreatioConfig;
use crate::creatio::{CreatioClient, CreatioError};
use crate::domain::{
    ActivityId, CaseId, Channel, Customer, DeliveryStatus, MAX_MESSAGE_CHARS, MessageText,
    NewMessage, OutboxChange, OutboxEntry, OutboxState, ProviderMessageId, Role, Session,
    SessionState,
};
use crate::sms::{self, DeliverError, Delivery, SendError, SmsProvider};
use crate::store::{Appended, Store, StoreError};
use crate::widget::socket::{self, Sockets};

/// A failure that outlasts this many attempts is given up on, and the case hears of it. The
/// stream retries a failed record 8 times (template.yaml): giving up first means the rep learns
/// of it from the case, not from a dead-letter queue.
pub const MAX_ATTEMPTS: u32 = 5;

/// What a delivery needs besides the store.
#[derive(Clone, Copy)]
pub struct ReplyDeps<'a> {
    pub creatio: &'a CreatioClient,
    pub config: &'a CreatioConfig,
    /// What counts as a rep's reply.
    pub rules: &'a ReplyRules,
    /// None when SMS is not configured: an SMS reply is then not delivered, and the case says so.
    pub sms: Option<&'a dyn SmsProvider>,
    /// Told to the customer when their case closes, in their language.
    pub closed_notice: &'a ClosedNotices,
    /// Pushes what is stored for a widget conversation to its open sockets; None: the widget
    /// polls (`WIDGET_SOCKET_URL` is not set).
    pub sockets: Option<&'a Sockets>,
}

/// The owned clients behind [`ReplyDeps`], for a function that builds nothing else from the
/// Creatio settings (the reply webhook, the catch-up); built once per container.
pub struct ReplyClients {
    pub creatio: CreatioClient,
    pub config: CreatioConfig,
    pub rules: ReplyRules,
    pub sms: Option<std::sync::Arc<dyn SmsProvider>>,
    pub closed_notice: ClosedNotices,
    /// Set by `main` when `WIDGET_SOCKET_URL` is ([`ReplyClients::with_sockets`]).
    pub sockets: Option<Sockets>,
}

impl ReplyClients {
    /// From the configuration: the Creatio client (each call bounded by `timeout`), the SMS
    /// provider when Twilio is configured, and the closing notice from the settings file.
    pub fn from_config(
        config: &crate::config::Config,
        timeout: std::time::Duration,
    ) -> Result<Self, crate::config::ConfigError> {
        let creatio_config = config.creatio()?.clone();
        let http =
            crate::http::client(timeout).map_err(|e| crate::config::ConfigError::Invalid {
                name: "CREATIO_URL",
                reason: format!("cannot build an HTTP client: {e}"),
            })?;
        let settings = crate::assistant::Settings::load(config.rules_path.as_deref())?;
        Ok(Self {
            sms: crate::sms::twilio::provider(config, &http),
            creatio: CreatioClient::new(&creatio_config, http, crate::http::RetryPolicy::default()),
            config: creatio_config,
            rules: config.replies.clone(),
            closed_notice: ClosedNotices::from_settings(&settings),
            sockets: None,
        })
    }

    /// Pushes to widget sockets through `sockets` (it needs the Lambda's AWS identity, so `main`
    /// builds it).
    pub fn with_sockets(mut self, sockets: Option<Sockets>) -> Self {
        self.sockets = sockets;
        self
    }

    pub fn deps(&self) -> ReplyDeps<'_> {
        ReplyDeps {
            creatio: &self.creatio,
            config: &self.config,
            rules: &self.rules,
            sms: self.sms.as_deref(),
            closed_notice: &self.closed_notice,
            sockets: self.sockets.as_ref(),
        }
    }
}

/// What became of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Sent by SMS.
    Sent,
    /// Stored for the widget, which polls.
    ForWidget,
    /// A rep's reply that could not reach the customer; the case has a note saying why.
    NotDelivered(String),
    /// Not a reply (or not one for a casebridge conversation).
    Ignored(String),
    /// Its case has no conversation linked (yet).
    Waiting,
    /// Nothing to do: finished before, or not in the outbox.
    Finished,
}

impl Delivered {
    /// The outcome recorded on the entry.
    pub fn outcome(&self) -> String {
        match self {
            Delivered::Sent => "sent".into(),
            Delivered::ForWidget => "stored for the widget".into(),
            Delivered::NotDelivered(why) => format!("not delivered: {why}"),
            Delivered::Ignored(why) => format!("ignored: {why}"),
            Delivered::Waiting => "waiting: no conversation for this case yet".into(),
            Delivered::Finished => "finished".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("Creatio: {0}")]
    Creatio(#[from] CreatioError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("SMS: {0}")]
    Sms(SendError),
}

impl DeliveryError {
    pub fn is_transient(&self) -> bool {
        match self {
            DeliveryError::Creatio(e) => e.is_transient(),
            DeliveryError::Store(e) => e.is_transient(),
            DeliveryError::Sms(e) => e.is_transient(),
        }
    }
}

impl From<DeliverError> for DeliveryError {
    fn from(e: DeliverError) -> Self {
        match e {
            DeliverError::Transient(e) => DeliveryError::Sms(e),
            DeliverError::Store(e) => DeliveryError::Store(e),
        }
    }
}

/// Did casebridge write this activity (a synced message or a note)?
pub fn written_by_casebridge(session: &Session, activity: ActivityId) -> bool {
    activity == session.id.note_activity_id("handoff")
        || activity == session.id.note_activity_id("read")
        || (1..=session.last_seq).any(|seq| session.id.activity_id(seq) == activity)
}

/// Delivers the outbox entry of `activity`, after the case's replies recorded before it. `Err`
/// only for a transient failure the caller should have retried (the stream's partial batch
/// failure); the entry that failed is then `retrying`.
///
/// In order: a rep who writes twice expects the customer to read the two replies in that order,
/// but each has its own stream record, retried on its own, so a reply whose first try failed
/// would otherwise arrive after the next one (the soak saw it). The case's earlier replies still
/// to deliver go first; while one of them fails, this one waits, unattempted (its stream record
/// is retried, and counts no failed attempt of its own).
pub async fn deliver(
    store: &dyn Store,
    deps: &ReplyDeps<'_>,
    activity: ActivityId,
    now: Timestamp,
) -> Result<Delivered, DeliveryError> {
    let Some(entry) = store.outbox_entry(activity).await? else {
        return Ok(Delivered::Finished);
    };
    if !entry.state.is_deliverable() {
        return Ok(Delivered::Finished);
    }
    if let Some(case) = entry.case_id {
        for earlier in store.deliverable_for_case(case).await? {
            if (earlier.queued_at, earlier.activity_id) >= (entry.queued_at, entry.activity_id) {
                break;
            }
            deliver_entry(store, deps, earlier, now).await?;
        }
    }
    deliver_entry(store, deps, entry, now).await
}

/// Delivers one deliverable entry, as read.
async fn deliver_entry(
    store: &dyn Store,
    deps: &ReplyDeps<'_>,
    entry: OutboxEntry,
    now: Timestamp,
) -> Result<Delivered, DeliveryError> {
    let span = tracing::info_span!("deliver_reply", activity_id = %entry.activity_id, session_id = tracing::field::Empty);
    use tracing::Instrument;
    async move {
        // The case, once known (named by the webhook, or read from the activity).
        let mut case = entry.case_id;
        let result = attempt(store, deps, &entry, &mut case, now).await;
        let entry = OutboxEntry {
            case_id: case,
            ..entry
        };
        match result {
            Ok(Delivered::Waiting) => wait_for_link(store, &entry).await,
            Ok(done) => finish(store, &entry, done).await,
            Err(e) if e.is_transient() => failed_attempt(store, deps, &entry, e).await,
            Err(e) => {
                // Permanent (no rights on Activity, a store item that cannot be read): recorded,
                // never retried; the operator sees it in the logs and on the entry.
                tracing::error!(error = %e, "reply delivery failed for good");
                finish(store, &entry, Delivered::NotDelivered(e.to_string())).await
            }
        }
    }
    .instrument(span)
    .await
}

async fn finish(
    store: &dyn Store,
    entry: &OutboxEntry,
    done: Delivered,
) -> Result<Delivered, DeliveryError> {
    let change = OutboxChange::from_deliverable(OutboxState::Done).with_outcome(done.outcome());
    match store.change_outbox(entry.activity_id, change).await? {
        Some(_) => {
            match &done {
                Delivered::NotDelivered(why) => {
                    tracing::warn!(reason = %why, "agent reply not delivered");
                    crate::metrics::emit(crate::metrics::Metric::ReplyNotDelivered {
                        reason: not_delivered_reason(why),
                    });
                }
                other => {
                    tracing::info!(outcome = %other.outcome(), "agent reply handled");
                    if matches!(other, Delivered::Sent | Delivered::ForWidget) {
                        crate::metrics::emit(crate::metrics::Metric::ReplyDelivered);
                    }
                }
            }
            Ok(done)
        }
        // Another delivery finished it first.
        None => Ok(Delivered::Finished),
    }
}

/// `waiting` until the case's conversation is linked; queued again at once if it was linked
/// while this delivery looked.
async fn wait_for_link(store: &dyn Store, entry: &OutboxEntry) -> Result<Delivered, DeliveryError> {
    let Some(case) = entry.case_id else {
        return Ok(Delivered::Waiting);
    };
    let change = OutboxChange::from_deliverable(OutboxState::Waiting)
        .with_case(case)
        .with_outcome(Delivered::Waiting.outcome());
    if store
        .change_outbox(entry.activity_id, change)
        .await?
        .is_some()
        && store.find_by_case(case).await?.is_some()
    {
        store
            .change_outbox(entry.activity_id, OutboxChange::requeue())
            .await?;
    }
    tracing::info!(case_id = %case, "agent reply waits for its conversation to be linked");
    Ok(Delivered::Waiting)
}

async fn failed_attempt(
    store: &dyn Store,
    deps: &ReplyDeps<'_>,
    entry: &OutboxEntry,
    error: DeliveryError,
) -> Result<Delivered, DeliveryError> {
    if entry.attempts + 1 >= MAX_ATTEMPTS {
        let why = format!("gave up after {MAX_ATTEMPTS} attempts: {error}");
        if let Some(case) = entry.case_id
            && let Some(session) = store.find_by_case(case).await?
        {
            note_on_case(deps, &session, case, entry.activity_id, &why).await?;
        }
        return finish(store, entry, Delivered::NotDelivered(why)).await;
    }
    tracing::warn!(attempt = entry.attempts + 1, error = %error, "agent reply delivery failed; will retry");
    let mut change = OutboxChange::from_deliverable(OutboxState::Retrying)
        .with_outcome(error.to_string())
        .counting_a_failure();
    if let Some(case) = entry.case_id {
        change = change.with_case(case);
    }
    store.change_outbox(entry.activity_id, change).await?;
    Err(error)
}

/// One try: everything up to the send, and the send.
async fn attempt(
    store: &dyn Store,
    deps: &ReplyDeps<'_>,
    entry: &OutboxEntry,
    known_case: &mut Option<CaseId>,
    now: Timestamp,
) -> Result<Delivered, DeliveryError> {
    let ignored = |why: &str| Ok(Delivered::Ignored(why.to_owned()));
    // Every column: one Creatio version lacks a column another has, and `$select` of a missing
    // column fails the whole read.
    let Some(row) = deps
        .creatio
        .get("Activity", entry.activity_id.as_uuid(), &[])
        .await?
    else {
        return ignored("no such activity");
    };
    let Some(activity) = CreatioActivity::from_row(&row) else {
        return ignored("the activity has no id");
    };
    let case = match (activity.case_id, entry.case_id) {
        (Some(on), Some(named)) if on != named => {
            return ignored("the activity belongs to another case");
        }
        (Some(on), _) => on,
        (None, _) => return ignored("the activity is not on a case"),
    };
    *known_case = Some(case);
    let Some(session) = store.find_by_case(case).await? else {
        // A case casebridge created a moment ago, or another team's case: kept either way.
        return Ok(Delivered::Waiting);
    };
    tracing::Span::current().record("session_id", tracing::field::display(session.id));
    if written_by_casebridge(&session, activity.id) {
        return ignored(&NotAReply::Ours.to_string());
    }
    let text = match deps.rules.judge(&activity) {
        Ok(t) => t,
        Err(why) => return ignored(&why.to_string()),
    };
    let text: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    let Ok(text) = MessageText::parse(&text) else {
        return ignored(&NotAReply::NoText.to_string());
    };
    if session.state == SessionState::Closed {
        return not_delivered(
            deps,
            &session,
            case,
            activity.id,
            "the conversation is closed",
        )
        .await;
    }
    let pid = ProviderMessageId::parse(&format!("creatio:{}", activity.id))
        .map_err(|_| StoreError::Corrupt("activity id".into()))?;
    let message = NewMessage::new(Role::Agent, text.clone()).with_provider_id(pid);
    let (id, seq) = match store.append(&session, vec![message], None, now).await {
        Ok(Appended::Stored { session, messages }) => {
            socket::push(store, deps.sockets, &session, &messages).await;
            (session.id, messages[0].seq)
        }
        Ok(Appended::AlreadySeen { session_id, seq }) => {
            // Stored by an earlier attempt: send only if that attempt did not get it out.
            let pending = store
                .transcript(session_id)
                .await?
                .and_then(|(_, t)| t.into_iter().find(|m| m.seq == seq))
                .is_some_and(|m| m.delivery == Some(DeliveryStatus::Pending));
            if !pending || session.key.channel != Channel::Sms {
                return ignored("already delivered");
            }
            (session_id, seq)
        }
        Err(StoreError::Closed(_)) => {
            return not_delivered(
                deps,
                &session,
                case,
                activity.id,
                "the conversation is closed",
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(seq, "agent reply stored");
    let Customer::Phone(phone) = &session.key.customer else {
        return Ok(Delivered::ForWidget);
    };
    let Some(provider) = deps.sms else {
        return not_delivered(
            deps,
            &session,
            case,
            activity.id,
            "SMS is not configured (TWILIO_ACCOUNT_SID is not set)",
        )
        .await;
    };
    match sms::deliver(store, provider, id, seq, phone, text.as_str(), now).await? {
        Delivery::Sent(_) => Ok(Delivered::Sent),
        Delivery::OptedOut => {
            not_delivered(
                deps,
                &session,
                case,
                activity.id,
                "the customer has opted out of SMS (replied STOP)",
            )
            .await
        }
        Delivery::Failed(reason) => not_delivered(deps, &session, case, activity.id, &reason).await,
    }
}

/// The `Reason` dimension of an undelivered reply: a fixed word, not the free text.
fn not_delivered_reason(why: &str) -> &'static str {
    if why.contains("opted out") {
        "opted_out"
    } else if why.contains("not configured") {
        "not_configured"
    } else {
        "failed"
    }
}

async fn not_delivered(
    deps: &ReplyDeps<'_>,
    session: &Session,
    case: CaseId,
    activity: ActivityId,
    why: &str,
) -> Result<Delivered, DeliveryError> {
    note_on_case(deps, session, case, activity, why).await?;
    Ok(Delivered::NotDelivered(why.to_owned()))
}

/// "Reply not delivered: <why>" as a task on the case, where the rep works. Its id is derived
/// from the session and the activity, so a retry writes the same task again, not a second one.
async fn note_on_case(
    deps: &ReplyDeps<'_>,
    session: &Session,
    case: CaseId,
    activity: ActivityId,
    why: &str,
) -> Result<(), DeliveryError> {
    let id = session
        .id
        .note_activity_id(&format!("not-delivered:{activity}"));
    deps.creatio
        .create(
            "Activity",
            id.as_uuid(),
            json!({
                "Title": "casebridge: reply not delivered",
                "Notes": format!("Reply not delivered: {why}"),
                "TypeId": base_ids::ACTIVITY_TYPE_TASK,
                "ActivityCategoryId": base_ids::ACTIVITY_CATEGORY_TODO,
                "StatusId": base_ids::ACTIVITY_STATUS_NOT_STARTED,
                "CaseId": case.to_string(),
            }),
        )
        .await?;
    Ok(())
}

/// After a conversation is linked to `case`: the replies that waited for it are queued again.
pub async fn requeue_waiting(store: &dyn Store, case: CaseId) -> Result<usize, StoreError> {
    let mut n = 0;
    for e in store.waiting_for_case(case).await? {
        if store
            .change_outbox(e.activity_id, OutboxChange::requeue())
            .await?
            .is_some()
        {
            n += 1;
        }
    }
    if n > 0 {
        tracing::info!(case_id = %case, replies = n, "waiting agent replies queued again");
    }
    Ok(n)
}
