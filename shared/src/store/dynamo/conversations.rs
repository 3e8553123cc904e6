//! Conversations and their messages: finding or opening the session of a conversation (with its
//! active pointer), the reads of an inbound turn, and the one-transaction append.

use super::*;

pub(super) async fn find_or_open(
    store: &DynamoStore,
    key: &ConversationKey,
    now: Timestamp,
) -> Result<(Session, bool), StoreError> {
    for attempt in 0..MAX_APPEND_ATTEMPTS {
        let mut stale = None;
        if let Some(ptr) = store.get(conv_pk(key), ACTIVE).await? {
            let sid = session_id_attr(&ptr)?;
            match store.get_session(sid).await? {
                Some(s) if s.state != SessionState::Closed => return Ok((s, false)),
                _ => stale = Some(sid),
            }
        }
        if let Some(session) = store.try_open(key, stale, now).await? {
            return Ok((session, true));
        }
        contention_backoff(attempt).await;
    }
    Err(StoreError::Contention(SessionId::from_uuid(
        uuid::Uuid::nil(),
    )))
}

pub(super) async fn open_turn(
    store: &DynamoStore,
    key: &ConversationKey,
    now: Timestamp,
) -> Result<Turn, StoreError> {
    for attempt in 0..MAX_APPEND_ATTEMPTS {
        // One request for the pointer and the consent, one for the session with its messages.
        let (pointer, consent) = store.pointer_and_consent(key).await?;
        let consent = consent_from_item(consent.as_ref())?;
        let mut stale = None;
        if let Some(ptr) = pointer {
            let sid = session_id_attr(&ptr)?;
            match store
                .read_recent(sid, crate::store::TRANSCRIPT_WINDOW)
                .await?
            {
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
        if let Some(session) = store.try_open(key, stale, now).await? {
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

pub(super) async fn active_session(
    store: &DynamoStore,
    key: &ConversationKey,
) -> Result<Option<Session>, StoreError> {
    let Some(ptr) = store.get(conv_pk(key), ACTIVE).await? else {
        return Ok(None);
    };
    let sid = session_id_attr(&ptr)?;
    Ok(store
        .get_session(sid)
        .await?
        .filter(|s| s.state != SessionState::Closed))
}

pub(super) async fn session(
    store: &DynamoStore,
    id: SessionId,
) -> Result<Option<Session>, StoreError> {
    store.get_session(id).await
}

pub(super) async fn transcript(
    store: &DynamoStore,
    id: SessionId,
) -> Result<Option<(Session, Vec<Message>)>, StoreError> {
    store.read_transcript(id).await
}

pub(super) async fn recent(
    store: &DynamoStore,
    id: SessionId,
    n: usize,
) -> Result<Option<(Session, Vec<Message>)>, StoreError> {
    store.read_recent(id, n).await
}

pub(super) async fn messages_after(
    store: &DynamoStore,
    id: SessionId,
    after: u64,
    limit: usize,
) -> Result<Vec<Message>, StoreError> {
    let out = store
        .client
        .query()
        .table_name(&store.table)
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

pub(super) async fn append(
    store: &DynamoStore,
    seen: &Session,
    messages: Vec<NewMessage>,
    change: Option<StateChange>,
    now: Timestamp,
) -> Result<Appended, StoreError> {
    let transition = change.as_ref().map(|c| c.transition);
    let reason = change.and_then(|c| c.handoff_reason);
    let id = seen.id;
    let channel = seen.key.channel;
    let expires = store.retention.expires_at(now);
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
            .table_name(&store.table)
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
        let mut tx = store.client.transact_write_items().transact_items(
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
                            .table_name(&store.table)
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
                                .table_name(&store.table)
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
                    true => store.get(session_pk(id), META).await?,
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
                        return match store.find_by_provider_id(channel, pid).await? {
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
                    None => store.require_session(id).await?,
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

impl DynamoStore {
    /// A conversation's active pointer and its customer's consent item, in one `BatchGetItem`
    /// (they live in different partitions, so no `Query` can read both).
    pub(super) async fn pointer_and_consent(
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
    pub(super) async fn try_open(
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
}
