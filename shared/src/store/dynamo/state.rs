//! A session's state and its links to Creatio: conditional transitions, the case link, the sync
//! watermark and error, delivery statuses, and the lookups by case and by provider id.

use super::*;

pub(super) async fn transition(
    store: &DynamoStore,
    id: SessionId,
    transition: Transition,
    changes: SessionChanges,
    now: Timestamp,
) -> Result<Session, StoreError> {
    let mut set = vec!["#st = :to"];
    let mut req = store
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
            return Err(store
                .explain_condition_failure(id, Some(transition.from()))
                .await);
        }
        Err(e) => return Err(backend(e)),
    };
    let session = session_from_item(&item)?;
    if session.state == SessionState::Closed {
        // Best effort: a pointer left behind points at a closed session, which reads as none.
        let _ = store
            .client
            .delete_item()
            .table_name(&store.table)
            .key("pk", s(conv_pk(&session.key)))
            .key("sk", s(ACTIVE))
            .condition_expression("session_id = :sid")
            .expression_attribute_values(":sid", s(id.to_string()))
            .send()
            .await;
    }
    Ok(session)
}

pub(super) async fn link_case(
    store: &DynamoStore,
    id: SessionId,
    link: CreatioLink,
) -> Result<Session, StoreError> {
    let (exprs, values) = link_update(&link);
    let mut req = store
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

pub(super) async fn set_sync_error(
    store: &DynamoStore,
    id: SessionId,
    error: Option<String>,
) -> Result<(), StoreError> {
    let req = store
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

pub(super) async fn advance_watermark(
    store: &DynamoStore,
    id: SessionId,
    seq: u64,
) -> Result<Session, StoreError> {
    let out = store
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
            let s = store.require_session(id).await?;
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

pub(super) async fn record_delivery(
    store: &DynamoStore,
    id: SessionId,
    seq: u64,
    status: DeliveryStatus,
    provider_id: Option<&ProviderMessageId>,
) -> Result<(), StoreError> {
    let delivery =
        serde_json::to_string(&status).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut upd = Update::builder()
        .table_name(&store.table)
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
    let mut tx = store.client.transact_write_items().transact_items(
        TransactWriteItem::builder()
            .update(upd.build().map_err(build_err)?)
            .build(),
    );
    if let Some(pid) = provider_id {
        // Provider ids are unique per channel, and the channel lives on the session item.
        let session = store.require_session(id).await?;
        let expires = store.retention.expires_at(Timestamp::now());
        tx = tx.transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&store.table)
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
        Err(e) if cancellation_codes(&e).is_some() => Err(StoreError::NoSuchMessage { id, seq }),
        Err(e) => Err(backend(e)),
    }
}

pub(super) async fn needing_sync(store: &DynamoStore) -> Result<Vec<Session>, StoreError> {
    let items = store
        .scan_all(
            "kind = :session AND (#st = :hr OR (attribute_exists(case_id) AND synced_seq < last_seq) OR attribute_exists(sync_error) OR (attribute_exists(case_id) AND read_seq > read_synced_seq))",
            &[
                (":session", s("session")),
                (":hr", s(SessionState::HandoffRequested.as_str())),
            ],
        )
        .await?;
    let mut out = items
        .iter()
        .map(session_from_item)
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|s| s.created_at);
    Ok(out)
}

pub(super) async fn mark_read(
    store: &DynamoStore,
    id: SessionId,
    seq: u64,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let out = store
        .update_meta(id)
        .update_expression(
            "SET read_seq = :seq, read_at = :at, read_synced_seq = if_not_exists(read_synced_seq, :zero)",
        )
        .condition_expression(
            "attribute_exists(pk) AND last_seq >= :seq AND (attribute_not_exists(read_seq) OR read_seq < :seq)",
        )
        .expression_attribute_values(":seq", n(seq))
        .expression_attribute_values(":at", s(at.to_string()))
        .expression_attribute_values(":zero", n(0))
        .send()
        .await;
    match out {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failure(&e) => {
            store.require_session(id).await?;
            Ok(false)
        }
        Err(e) => Err(backend(e)),
    }
}

pub(super) async fn advance_read_watermark(
    store: &DynamoStore,
    id: SessionId,
    seq: u64,
) -> Result<(), StoreError> {
    let out = store
        .update_meta(id)
        .update_expression("SET read_synced_seq = :seq")
        .condition_expression("attribute_exists(pk) AND read_synced_seq < :seq")
        .expression_attribute_values(":seq", n(seq))
        .send()
        .await;
    match out {
        Ok(_) => Ok(()),
        Err(e) if is_condition_failure(&e) => {
            store.require_session(id).await?;
            Ok(())
        }
        Err(e) => Err(backend(e)),
    }
}

pub(super) async fn find_by_case(
    store: &DynamoStore,
    case_id: CaseId,
) -> Result<Option<Session>, StoreError> {
    let out = store
        .client
        .query()
        .table_name(&store.table)
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

pub(super) async fn find_by_provider_id(
    store: &DynamoStore,
    channel: Channel,
    id: &ProviderMessageId,
) -> Result<Option<MessageRef>, StoreError> {
    let Some(item) = store.get(provider_pk(channel, id), "P").await? else {
        return Ok(None);
    };
    Ok(Some(MessageRef {
        session_id: session_id_attr(&item)?,
        seq: num_attr(&item, "seq")?,
    }))
}

impl DynamoStore {
    pub(super) fn update_meta(
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
    pub(super) async fn explain_condition_failure(
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
}
