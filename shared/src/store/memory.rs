//! In-memory store: the local runner's default and the fast path for handler unit tests.
//! One mutex over everything: simple, and every rule of the contract holds trivially atomically.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use jiff::Timestamp;

use super::{
    Allowance, Appended, Consent, Erasure, Gap, MessageRef, SessionChanges, SessionRecords,
    StateChange, Store, StoreError,
};
use crate::domain::ConnectionId;
use crate::domain::{
    ActivityId, CaseId, CatchUpMark, CatchUpMarks, Channel, ConversationKey, CreatioLink, Customer,
    DeliveryStatus, Message, NewMessage, OutboxChange, OutboxEntry, OutboxSource, OutboxState,
    ProviderMessageId, Session, SessionId, SessionState, StatusCheck, Transition,
};

#[derive(Default)]
struct Inner {
    sessions: HashMap<SessionId, (Session, Vec<Message>)>,
    active: HashMap<String, SessionId>,
    provider_ids: HashMap<(Channel, ProviderMessageId), MessageRef>,
    consent: HashMap<String, Consent>,
    outbox: HashMap<ActivityId, OutboxEntry>,
    status_checks: HashMap<CaseId, StatusCheck>,
    erasures: Vec<Erasure>,
    catchup: CatchUpMarks,
    allowances: HashMap<(String, i64), u32>,
    gaps: Vec<Gap>,
    /// Open widget sockets: connection → (session, expires at, opened at).
    sockets: HashMap<ConnectionId, (SessionId, Timestamp, Timestamp)>,
}

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind, never a half-applied rule
        // (every method checks before it mutates), so a poisoned lock is safe to keep using.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every session, newest first (for the local runner's console and the CLI).
    pub fn all_sessions(&self) -> Vec<Session> {
        let mut v: Vec<Session> = self
            .lock()
            .sessions
            .values()
            .map(|(s, _)| s.clone())
            .collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        v
    }
}

impl Inner {
    fn get_mut(&mut self, id: SessionId) -> Result<&mut (Session, Vec<Message>), StoreError> {
        self.sessions.get_mut(&id).ok_or(StoreError::NotFound(id))
    }

    fn apply_transition(&mut self, id: SessionId, t: Transition) -> Result<(), StoreError> {
        let (session, _) = self.get_mut(id)?;
        if session.state != t.from() {
            return Err(StoreError::StateChanged {
                id,
                expected: t.from(),
                actual: session.state,
            });
        }
        session.state = t.to();
        if t.to() == SessionState::Closed {
            let key = session.key.storage_key();
            if self.active.get(&key) == Some(&id) {
                self.active.remove(&key);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn find_or_open(
        &self,
        key: &ConversationKey,
        now: Timestamp,
    ) -> Result<(Session, bool), StoreError> {
        let mut inner = self.lock();
        let k = key.storage_key();
        if let Some(id) = inner.active.get(&k)
            && let Some((s, _)) = inner.sessions.get(id)
            && s.state != SessionState::Closed
        {
            return Ok((s.clone(), false));
        }
        let session = Session::open(key.clone(), now);
        inner.active.insert(k, session.id);
        inner
            .sessions
            .insert(session.id, (session.clone(), Vec::new()));
        Ok((session, true))
    }

    async fn active_session(&self, key: &ConversationKey) -> Result<Option<Session>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .active
            .get(&key.storage_key())
            .and_then(|id| inner.sessions.get(id))
            .map(|(s, _)| s.clone())
            .filter(|s| s.state != SessionState::Closed))
    }

    async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        Ok(self.lock().sessions.get(&id).map(|(s, _)| s.clone()))
    }

    async fn transcript(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, Vec<Message>)>, StoreError> {
        Ok(self.lock().sessions.get(&id).cloned())
    }

    async fn recent(
        &self,
        id: SessionId,
        n: usize,
    ) -> Result<Option<(Session, Vec<Message>)>, StoreError> {
        Ok(self.lock().sessions.get(&id).map(|(s, msgs)| {
            let from = msgs.len().saturating_sub(n);
            (s.clone(), msgs[from..].to_vec())
        }))
    }

    async fn messages_after(
        &self,
        id: SessionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let inner = self.lock();
        let (_, msgs) = inner.sessions.get(&id).ok_or(StoreError::NotFound(id))?;
        Ok(msgs
            .iter()
            .filter(|m| m.seq > after)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn append(
        &self,
        seen: &Session,
        messages: Vec<NewMessage>,
        change: Option<StateChange>,
        now: Timestamp,
    ) -> Result<Appended, StoreError> {
        let transition = change.as_ref().map(|c| c.transition);
        let mut inner = self.lock();
        let id = seen.id;
        let channel = seen.key.channel;
        // Check everything before changing anything.
        let (session, _) = inner.sessions.get(&id).ok_or(StoreError::NotFound(id))?;
        if session.state == SessionState::Closed {
            return Err(StoreError::Closed(id));
        }
        if let Some(t) = transition
            && session.state != t.from()
        {
            return Err(StoreError::StateChanged {
                id,
                expected: t.from(),
                actual: session.state,
            });
        }
        for m in &messages {
            if let Some(pid) = &m.provider_id
                && let Some(r) = inner.provider_ids.get(&(channel, pid.clone()))
            {
                return Ok(Appended::AlreadySeen {
                    session_id: r.session_id,
                    seq: r.seq,
                });
            }
        }
        if let Some(t) = transition {
            inner.apply_transition(id, t)?;
        }
        let (session, msgs) = inner.get_mut(id)?;
        if let Some(reason) = change.and_then(|c| c.handoff_reason) {
            session.handoff_reason = Some(reason);
        }
        let mut stored = Vec::with_capacity(messages.len());
        for m in messages {
            let (bytes, files) = m.customer_share();
            session.customer_bytes += bytes;
            session.customer_attachments += files;
            session.last_seq += 1;
            let msg = m.stored(session.last_seq, now);
            msgs.push(msg.clone());
            stored.push(msg);
        }
        session.last_activity_at = now;
        let session = session.clone();
        for m in &stored {
            if let Some(pid) = &m.provider_id {
                inner.provider_ids.insert(
                    (channel, pid.clone()),
                    MessageRef {
                        session_id: id,
                        seq: m.seq,
                    },
                );
            }
        }
        Ok(Appended::Stored {
            session: Box::new(session),
            messages: stored,
        })
    }

    async fn transition(
        &self,
        id: SessionId,
        transition: Transition,
        changes: SessionChanges,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        let mut inner = self.lock();
        inner.apply_transition(id, transition)?;
        let (session, _) = inner.get_mut(id)?;
        if changes.handoff_reason.is_some() {
            session.handoff_reason = changes.handoff_reason;
        }
        if changes.creatio.is_some() {
            session.creatio = changes.creatio;
        }
        session.last_activity_at = session.last_activity_at.max(now);
        Ok(session.clone())
    }

    async fn link_case(&self, id: SessionId, link: CreatioLink) -> Result<Session, StoreError> {
        let mut inner = self.lock();
        let (session, _) = inner.get_mut(id)?;
        session.creatio = Some(link);
        Ok(session.clone())
    }

    async fn set_sync_error(&self, id: SessionId, error: Option<String>) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.get_mut(id)?.0.sync_error = error;
        Ok(())
    }

    async fn advance_watermark(&self, id: SessionId, seq: u64) -> Result<Session, StoreError> {
        let mut inner = self.lock();
        let (session, _) = inner.get_mut(id)?;
        if seq > session.last_seq {
            return Err(StoreError::WatermarkPastEnd {
                id,
                seq,
                last_seq: session.last_seq,
            });
        }
        session.synced_seq = session.synced_seq.max(seq);
        Ok(session.clone())
    }

    async fn record_delivery(
        &self,
        id: SessionId,
        seq: u64,
        status: DeliveryStatus,
        provider_id: Option<&ProviderMessageId>,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let (session, msgs) = inner.get_mut(id)?;
        let channel = session.key.channel;
        let msg = msgs
            .iter_mut()
            .find(|m| m.seq == seq)
            .ok_or(StoreError::NoSuchMessage { id, seq })?;
        msg.delivery = Some(status);
        if let Some(pid) = provider_id {
            msg.provider_id = Some(pid.clone());
            inner.provider_ids.insert(
                (channel, pid.clone()),
                MessageRef {
                    session_id: id,
                    seq,
                },
            );
        }
        Ok(())
    }

    async fn consent(&self, customer: &Customer) -> Result<Consent, StoreError> {
        Ok(self
            .lock()
            .consent
            .get(&customer.storage_key())
            .copied()
            .unwrap_or(Consent::Granted))
    }

    async fn set_consent(
        &self,
        customer: &Customer,
        consent: Consent,
        _now: Timestamp,
    ) -> Result<(), StoreError> {
        self.lock().consent.insert(customer.storage_key(), consent);
        Ok(())
    }

    async fn link_identity(
        &self,
        seen: &Session,
        to: &ConversationKey,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        let mut inner = self.lock();
        let id = seen.id;
        let new_key = to.storage_key();
        if let Some(other) = inner.active.get(&new_key)
            && *other != id
            && inner
                .sessions
                .get(other)
                .is_some_and(|(s, _)| s.state != SessionState::Closed)
        {
            return Err(StoreError::AlreadyActive);
        }
        let (session, _) = inner.sessions.get(&id).ok_or(StoreError::NotFound(id))?;
        if session.state == SessionState::Closed {
            return Err(StoreError::Closed(id));
        }
        let old_key = session.key.storage_key();
        if inner.active.get(&old_key) == Some(&id) {
            inner.active.remove(&old_key);
        }
        inner.active.insert(new_key, id);
        let (session, _) = inner.get_mut(id)?;
        session.key = to.clone();
        session.last_activity_at = now;
        Ok(session.clone())
    }

    async fn needing_sync(&self) -> Result<Vec<Session>, StoreError> {
        let inner = self.lock();
        let mut out: Vec<Session> = inner
            .sessions
            .values()
            .map(|(s, _)| s)
            .filter(|s| {
                s.state == SessionState::HandoffRequested
                    || (s.creatio.is_some() && s.synced_seq < s.last_seq)
                    || s.sync_error.is_some()
                    || (s.creatio.is_some() && s.read.is_some_and(|r| r.seq > s.read_synced_seq))
            })
            .cloned()
            .collect();
        out.sort_by_key(|s| s.created_at);
        Ok(out)
    }

    async fn find_by_case(&self, case_id: CaseId) -> Result<Option<Session>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .sessions
            .values()
            .map(|(s, _)| s)
            .find(|s| s.creatio.as_ref().map(|l| l.case_id) == Some(case_id))
            .cloned())
    }

    async fn find_by_provider_id(
        &self,
        channel: Channel,
        id: &ProviderMessageId,
    ) -> Result<Option<MessageRef>, StoreError> {
        Ok(self
            .lock()
            .provider_ids
            .get(&(channel, id.clone()))
            .copied())
    }

    async fn enqueue(
        &self,
        activity: ActivityId,
        case_id: Option<CaseId>,
        source: OutboxSource,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if inner.outbox.contains_key(&activity) {
            return Ok(false);
        }
        inner.outbox.insert(
            activity,
            OutboxEntry::queued(activity, case_id, source, now),
        );
        Ok(true)
    }

    async fn outbox_entry(&self, activity: ActivityId) -> Result<Option<OutboxEntry>, StoreError> {
        Ok(self.lock().outbox.get(&activity).cloned())
    }

    async fn outbox_entries(&self, ids: &[ActivityId]) -> Result<Vec<OutboxEntry>, StoreError> {
        let inner = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| inner.outbox.get(id).cloned())
            .collect())
    }

    async fn change_outbox(
        &self,
        activity: ActivityId,
        change: OutboxChange,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        let mut inner = self.lock();
        let Some(entry) = inner.outbox.get_mut(&activity) else {
            return Ok(None);
        };
        if !change.from.contains(&entry.state) {
            return Ok(None);
        }
        entry.state = change.to;
        if change.case_id.is_some() {
            entry.case_id = change.case_id;
        }
        if change.outcome.is_some() {
            entry.outcome = change.outcome;
        }
        if change.failed_attempt {
            entry.attempts += 1;
        }
        Ok(Some(entry.clone()))
    }

    async fn waiting_for_case(&self, case_id: CaseId) -> Result<Vec<OutboxEntry>, StoreError> {
        Ok(self
            .lock()
            .outbox
            .values()
            .filter(|e| e.state == OutboxState::Waiting && e.case_id == Some(case_id))
            .cloned()
            .collect())
    }

    async fn deliverable_for_case(&self, case_id: CaseId) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut out: Vec<OutboxEntry> = self
            .lock()
            .outbox
            .values()
            .filter(|e| e.state.is_deliverable() && e.case_id == Some(case_id))
            .cloned()
            .collect();
        out.sort_by_key(|e| (e.queued_at, e.activity_id));
        Ok(out)
    }

    async fn unfinished_outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut out: Vec<OutboxEntry> = self
            .lock()
            .outbox
            .values()
            .filter(|e| e.state != OutboxState::Done)
            .cloned()
            .collect();
        out.sort_by_key(|e| e.queued_at);
        Ok(out)
    }

    async fn request_status_check(
        &self,
        case: CaseId,
        now: Timestamp,
    ) -> Result<StatusCheck, StoreError> {
        let mut inner = self.lock();
        let check = inner.status_checks.entry(case).or_insert(StatusCheck {
            case_id: case,
            state: OutboxState::Queued,
            reports: 0,
            attempts: 0,
            outcome: None,
            reported_at: now,
        });
        check.reports += 1;
        check.state = OutboxState::Queued;
        check.attempts = 0;
        check.reported_at = now;
        Ok(check.clone())
    }

    async fn status_check(&self, case: CaseId) -> Result<Option<StatusCheck>, StoreError> {
        Ok(self.lock().status_checks.get(&case).cloned())
    }

    async fn finish_status_check(
        &self,
        case: CaseId,
        reports: u64,
        to: OutboxState,
        outcome: &str,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(check) = inner
            .status_checks
            .get_mut(&case)
            .filter(|c| c.reports == reports)
        else {
            return Ok(false);
        };
        check.state = to;
        check.outcome = Some(outcome.to_owned());
        if to == OutboxState::Retrying {
            check.attempts += 1;
        }
        Ok(true)
    }

    async fn unfinished_status_checks(&self) -> Result<Vec<StatusCheck>, StoreError> {
        let mut out: Vec<StatusCheck> = self
            .lock()
            .status_checks
            .values()
            .filter(|c| c.state != OutboxState::Done)
            .cloned()
            .collect();
        out.sort_by_key(|c| c.reported_at);
        Ok(out)
    }

    async fn customer_sessions(&self, customer: &Customer) -> Result<Vec<Session>, StoreError> {
        let mut out: Vec<Session> = self
            .lock()
            .sessions
            .values()
            .filter(|(s, _)| &s.key.customer == customer)
            .map(|(s, _)| s.clone())
            .collect();
        out.sort_by_key(|s| s.created_at);
        Ok(out)
    }

    async fn session_records(&self, session: &Session) -> Result<SessionRecords, StoreError> {
        let inner = self.lock();
        let case = session.id.case_id();
        let mut outbox: Vec<OutboxEntry> = inner
            .outbox
            .values()
            .filter(|e| e.case_id == Some(case))
            .cloned()
            .collect();
        outbox.sort_by_key(|e| e.queued_at);
        Ok(SessionRecords {
            outbox,
            status_check: inner.status_checks.get(&case).cloned(),
            gaps: inner
                .gaps
                .iter()
                .filter(|g| g.session == session.id)
                .cloned()
                .collect(),
        })
    }

    async fn erase_session(&self, session: &Session) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let case = session.id.case_id();
        let mut removed = 0;
        if let Some((_, messages)) = inner.sessions.remove(&session.id) {
            removed += 1 + messages.len();
        }
        let before = inner.active.len();
        inner.active.retain(|_, id| *id != session.id);
        removed += before - inner.active.len();
        let before = inner.provider_ids.len();
        inner.provider_ids.retain(|_, r| r.session_id != session.id);
        removed += before - inner.provider_ids.len();
        let before = inner.outbox.len();
        inner.outbox.retain(|_, e| e.case_id != Some(case));
        removed += before - inner.outbox.len();
        removed += usize::from(inner.status_checks.remove(&case).is_some());
        let before = inner.gaps.len();
        inner.gaps.retain(|g| g.session != session.id);
        removed += before - inner.gaps.len();
        Ok(removed)
    }

    async fn record_erasure(&self, erasure: &Erasure) -> Result<(), StoreError> {
        self.lock().erasures.push(erasure.clone());
        Ok(())
    }

    async fn erasures(&self) -> Result<Vec<Erasure>, StoreError> {
        Ok(self.lock().erasures.clone())
    }

    async fn take_allowance(
        &self,
        key: &str,
        window: std::time::Duration,
        max: u32,
        now: Timestamp,
    ) -> Result<Allowance, StoreError> {
        let (index, retry_after) = super::window_of(window, now);
        let mut inner = self.lock();
        let used = inner.allowances.entry((key.to_owned(), index)).or_default();
        if *used >= max {
            return Ok(Allowance::Exhausted { retry_after });
        }
        *used += 1;
        Ok(Allowance::Granted)
    }

    async fn catchup_marks(&self) -> Result<CatchUpMarks, StoreError> {
        Ok(self.lock().catchup)
    }

    async fn advance_catchup_mark(
        &self,
        mark: CatchUpMark,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let slot = match mark {
            CatchUpMark::Activities => &mut inner.catchup.activities,
            CatchUpMark::Cases => &mut inner.catchup.cases,
        };
        if slot.is_none_or(|w| w < at) {
            *slot = Some(at);
        }
        Ok(())
    }

    async fn mark_read(&self, id: SessionId, seq: u64, at: Timestamp) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let (session, _) = inner.get_mut(id)?;
        if seq > session.last_seq || session.read.is_some_and(|r| r.seq >= seq) {
            return Ok(false);
        }
        session.read = Some(crate::domain::ReadMark { seq, at });
        Ok(true)
    }

    async fn advance_read_watermark(&self, id: SessionId, seq: u64) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let (session, _) = inner.get_mut(id)?;
        session.read_synced_seq = session.read_synced_seq.max(seq);
        Ok(())
    }

    async fn add_connection(
        &self,
        session: SessionId,
        connection: &ConnectionId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let until = now + crate::domain::CONNECTION_LIFETIME;
        self.lock()
            .sockets
            .insert(connection.clone(), (session, until, now));
        Ok(())
    }

    async fn connections(
        &self,
        session: SessionId,
        now: Timestamp,
    ) -> Result<Vec<ConnectionId>, StoreError> {
        let mut open: Vec<ConnectionId> = self
            .lock()
            .sockets
            .iter()
            .filter(|(_, (s, until, _))| *s == session && *until > now)
            .map(|(c, _)| c.clone())
            .collect();
        open.sort();
        Ok(open)
    }

    async fn remove_connection(
        &self,
        connection: &ConnectionId,
        opened_before: Option<Timestamp>,
    ) -> Result<Option<SessionId>, StoreError> {
        let mut inner = self.lock();
        let fresh = |opened: Timestamp| opened_before.is_some_and(|cut| opened >= cut);
        match inner.sockets.get(connection) {
            Some((_, _, opened)) if fresh(*opened) => Ok(None),
            Some(_) => Ok(inner.sockets.remove(connection).map(|(s, _, _)| s)),
            None => Ok(None),
        }
    }

    async fn record_gap(&self, gap: &Gap) -> Result<(), StoreError> {
        self.lock().gaps.push(gap.clone());
        Ok(())
    }

    async fn gaps(&self, since: Timestamp, until: Timestamp) -> Result<Vec<Gap>, StoreError> {
        let mut gaps: Vec<Gap> = self
            .lock()
            .gaps
            .iter()
            .filter(|g| g.at >= since && g.at <= until)
            .cloned()
            .collect();
        gaps.sort_by_key(|g| g.at);
        Ok(gaps)
    }
}
